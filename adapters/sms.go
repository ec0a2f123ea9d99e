package adapters

import (
	"context"
	"time"
)

// SMSSender sends text messages (sms.africastalking, sms.twilio).
//
// SendSMS sends one body to one or more recipients (more than one is a
// bulk send where the provider supports it; an adapter without bulk sends
// loops). It returns one receipt per recipient, in the order of msg.To.
//
// The error is non-nil only when the request as a whole failed: a network
// error or timeout (outcome unknown), or a *ProviderError for a refusal of
// the whole request (bad credentials, insufficient balance, 5xx), whose
// Retryable says whether the same send may succeed later. Per-recipient
// refusals are receipts, not errors.
type SMSSender interface {
	SendSMS(ctx context.Context, msg SMS) ([]SMSReceipt, error)
}

// SMS is a message to send.
type SMS struct {
	// To are the recipients in E.164 with the leading "+".
	To []string
	// Body is the text, already rendered; the provider splits it into
	// segments.
	Body string
	// From overrides the instance's configured sender id or number; empty
	// uses the configured one.
	From string
	// Reference is the gateway's id of the message (one recipient) or
	// batch, for providers that echo a client reference; may be empty.
	Reference string
}

// SMSState is where a message stands at the provider, normalised.
type SMSState string

// SMS states. Accepted, Sent and Delivered move forward only; Delivered,
// Failed and Rejected are final. A report never moves a final state back
// to a non-final one.
const (
	// SMSAccepted: the provider took the message (queued, processed,
	// buffered, submitted, sending); its fate is not known yet.
	SMSAccepted SMSState = "accepted"
	// SMSSent: the provider handed it to the network.
	SMSSent SMSState = "sent"
	// SMSDelivered: the handset received it (final).
	SMSDelivered SMSState = "delivered"
	// SMSFailed: it could not be delivered (final): undelivered, failed,
	// expired, cancelled.
	SMSFailed SMSState = "failed"
	// SMSRejected: the provider refused it for this recipient and a retry
	// will not help (invalid number, blacklist, invalid sender id)
	// (final).
	SMSRejected SMSState = "rejected"
	// SMSRetry: the provider could not take it for this recipient now
	// (its internal error, insufficient balance); send it again later.
	// Only in receipts, never in delivery reports.
	SMSRetry SMSState = "retry"
)

// Final reports whether no later report may change s.
func (s SMSState) Final() bool {
	return s == SMSDelivered || s == SMSFailed || s == SMSRejected
}

// SMSReceipt is the provider's synchronous answer for one recipient.
type SMSReceipt struct {
	// To is the recipient as sent.
	To string
	// ProviderID is the provider's message id (Africa's Talking messageId,
	// Twilio sid), the key of later delivery reports. Empty when the
	// provider gave none (a refused recipient: AT's "None" is empty here).
	ProviderID string
	State      SMSState
	// Code and Reason are the provider's status code and text, e.g. "406",
	// "UserInBlacklist".
	Code   string
	Reason string
	// Cost is the provider's cost text as given, e.g. "KES 0.8000"; may be
	// empty.
	Cost string
	// Alert marks a refusal an operator must act on (insufficient balance,
	// an unregistered sender id).
	Alert bool
}

// DeliveryReport is a provider's report on a message it accepted, read
// from a callback (Africa's Talking delivery report, Twilio status
// callback). CallbackParser returns them in CallbackResult.Deliveries; the
// host hands them to the message store, which ignores unknown ids and
// never downgrades a final state.
type DeliveryReport struct {
	// ProviderID is the provider's message id (SMSReceipt.ProviderID).
	ProviderID string
	State      SMSState
	// ProviderStatus is the provider's own status text (Buffered,
	// undelivered); Code and Reason its error code and failure reason
	// when given (30003, DeliveryFailure).
	ProviderStatus string
	Code           string
	Reason         string
	// At is when the provider says the state was reached; zero when it
	// does not say (use the time received).
	At time.Time
}
