package core

import "time"

// NoticeStatus is what a provider says happened to a payment.
type NoticeStatus string

// Notice statuses. An adapter maps every provider status it knows
// explicitly; anything else is NoticePending, never failed: a janitor
// re-queries pending payments until they are final.
const (
	NoticeSucceeded NoticeStatus = "succeeded" // money moved: apply it
	NoticeFailed    NoticeStatus = "failed"    // definitely did not move (cancelled, insufficient funds, expired)
	NoticePending   NoticeStatus = "pending"   // not final, or a status the adapter does not know
	NoticeReversed  NoticeStatus = "reversed"  // a completed payment was reversed by the provider
)

// PaymentNotice is an adapter's normalized reading of one provider callback
// (or status-query answer) about one payment. It is what the core applies;
// adapters never touch the store.
type PaymentNotice struct {
	// Instance is the configured adapter instance that received it, e.g.
	// "mpesa-ke". With ProviderTxID it is the deduplication key.
	Instance string
	// ProviderTxID is the provider's own transaction id (M-Pesa TransID or
	// MpesaReceiptNumber, MTN financialTransactionId, …). Empty only for a
	// failed or pending notice about a request the gateway started, which
	// is then identified by RequestID.
	ProviderTxID string
	// RequestID is the gateway's own payment-request id echoed by the
	// provider (STK CheckoutRequestID, MTN externalId/X-Reference-Id), when
	// the payment was started by the gateway.
	RequestID string
	Status    NoticeStatus
	Amount    Money
	// AccountRef is the reference the payer typed (M-Pesa BillRefNumber);
	// matched against contract account numbers, then device serials.
	AccountRef string
	// PayerMSISDN is the payer's number as the provider gave it: full,
	// masked ("2547 ***** 123") or empty. Stored as opaque text.
	PayerMSISDN string
	// PayerMSISDNHash is a hex SHA-256 of the payer's MSISDN when the
	// provider sends only a hash (M-Pesa C2B v1); matched against the
	// hashes of customers' phones.
	PayerMSISDNHash string
	PayerName       string
	// OccurredAt is the provider's time of the transaction, zero if not given.
	OccurredAt time.Time
	// Reason is the provider's code and text for a failure or reversal.
	Reason string
	// Raw is the request body exactly as received, kept for audit and
	// reprocessing.
	Raw []byte
}
