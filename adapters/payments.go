package adapters

import (
	"context"
	"errors"
	"fmt"

	"github.com/payg-gateway/gateway/core"
)

// PaymentInitiator starts a payment the customer approves on their phone
// (M-Pesa STK push, MTN request-to-pay).
//
// A *ProviderError means the provider answered and refused. Any other
// error (network, timeout) leaves the outcome unknown: the request may
// have landed. The host then queries the status (StatusQuerier) before
// retrying, and retries with the same PaymentRequest.ReferenceID.
type PaymentInitiator interface {
	InitiatePayment(ctx context.Context, req PaymentRequest) (*PaymentInitiation, error)
}

// PaymentRequest is a payment the gateway asks a customer to make.
type PaymentRequest struct {
	// RequestID is the gateway's id for the attempt, unique per instance;
	// sent where the provider echoes it (MTN externalId).
	RequestID string
	// ReferenceID is an idempotency key the host generated (a UUIDv4, see
	// NewReferenceID) and stored with the attempt before calling. MTN uses
	// it as X-Reference-Id, so it is required there and a retry with the
	// same value cannot create a second request. Ignored by M-Pesa.
	ReferenceID string
	// Amount is what to collect, in the instance's currency.
	Amount core.Money
	// MSISDN is the payer's phone: digits with the country code, no "+"
	// (254700000123).
	MSISDN string
	// AccountRef is the account shown to the payer (M-Pesa
	// AccountReference, at most 12 characters; MTN payeeNote).
	AccountRef string
	// Description is a short text for the payer (M-Pesa TransactionDesc,
	// at most 13 characters; MTN payerMessage). Optional.
	Description string
}

// PaymentInitiation is the provider's synchronous answer to an initiation.
// It only says whether the request was accepted; the result comes later
// by callback or status query.
type PaymentInitiation struct {
	// RequestID is the id callbacks and status answers will carry in
	// PaymentNotice.RequestID (MTN externalId; M-Pesa CheckoutRequestID).
	// Store it on the attempt.
	RequestID string
	// ProviderRef is what StatusQuerier needs (MTN X-Reference-Id; M-Pesa
	// CheckoutRequestID). Store it on the attempt.
	ProviderRef string
	// Status is NoticePending when the provider accepted the request, or
	// NoticeFailed when it refused it in a 2xx answer (then no callback
	// will come).
	Status core.NoticeStatus
	// Duplicate reports that the provider already had this request (MTN
	// 409 for a reused X-Reference-Id): it landed earlier, so wait for it.
	Duplicate bool
	// Reason is the provider's code and text when Status is failed, or its
	// message otherwise.
	Reason string
	// Raw is the provider's response body.
	Raw []byte
}

// StatusQuerier asks the provider what became of a payment.
//
// The answer's Notice has Status NoticePending while the payment is not
// final or when the provider's status is not known to the adapter. When
// the provider answers asynchronously (M-Pesa Transaction Status), Async
// identifies the request and the result arrives as a callback. An error
// wrapping ErrPaymentNotFound means the provider has no such payment (an
// initiation that never landed: safe to initiate again with the same
// ReferenceID).
type StatusQuerier interface {
	QueryStatus(ctx context.Context, ref PaymentRef) (*PaymentStatus, error)
}

// ReceiptQuerier is a StatusQuerier that, as configured, can ask about a
// payment knowing only the provider's transaction id (PaymentRef with
// ProviderTxID alone), as M-Pesa Transaction Status can. Operators' status
// queries (POST /v1/status-queries) need it.
type ReceiptQuerier interface {
	StatusQuerier
	QueriesByReceipt() bool
}

// PaymentStatus is a status query's answer.
type PaymentStatus struct {
	// Notice is the payment as the provider now reports it; apply it like
	// a callback's notice. Its Raw is the provider's response body. It is
	// the zero value when Async is set.
	Notice core.PaymentNotice
	// Async is set when the answer will arrive later as a callback
	// (CallbackResult.Outcome with the same ids); store it.
	Async *AsyncRequest
}

// URLRegistrar registers the instance's callback URLs with the provider
// (M-Pesa C2B register URL). The host calls it from an operator command,
// not at every start: production registrations are one-time.
type URLRegistrar interface {
	RegisterURLs(ctx context.Context) (*URLRegistration, error)
}

// URLRegistration is the provider's answer to a URL registration.
type URLRegistration struct {
	// URLs are the registered URLs by purpose, e.g. "confirmation". They
	// contain the instance's path secret: do not log them.
	URLs map[string]string
	// ProviderRef is the provider's id for the request, if any.
	ProviderRef string
	// Message is the provider's description.
	Message string
	// Raw is the provider's response body.
	Raw []byte
}

// ErrPaymentNotFound reports that the provider has no record of a payment.
var ErrPaymentNotFound = errors.New("payment not found at the provider")

// ErrNotConfigured reports a capability the instance's settings do not
// enable (for example outbound calls without API credentials). The message
// names the missing settings.
var ErrNotConfigured = errors.New("not configured")

// ProviderError is a provider's refusal of an outbound call.
type ProviderError struct {
	// Provider and Op say who refused what, e.g. "mpesa", "stk push".
	Provider string
	Op       string
	// HTTPStatus is the response's status code.
	HTTPStatus int
	// Code and Message are the provider's error code and text, e.g.
	// "500.001.1001", "Unable to lock subscriber".
	Code    string
	Message string
	// Retryable says that the same request may succeed later (rate
	// limiting, the provider's transient errors). The host retries with
	// backoff; otherwise it gives up and marks the attempt failed.
	Retryable bool
}

func (e *ProviderError) Error() string {
	s := fmt.Sprintf("%s: %s: HTTP %d", e.Provider, e.Op, e.HTTPStatus)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}
