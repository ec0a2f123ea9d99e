package adapters

import (
	"context"

	"github.com/payg-gateway/gateway/core"
)

// CallbackValidator answers a provider's synchronous "may this payment
// go ahead?" request (M-Pesa C2B validation). The adapter reads the
// request, asks the host's AccountChecker, and renders the provider's
// accept or reject body. Nothing is applied: the payment, if it happens,
// arrives later as a separate callback.
//
// It returns a result for every request on a validation route, including
// malformed ones (rejected in the provider's terms). If the checker fails,
// it returns both a result, whose Ack is the instance's fallback answer,
// and the checker's error: the host logs the error and still sends
// result.Ack. The error is the only value only for ErrUnknownKind or a
// cancelled context.
type CallbackValidator interface {
	ValidateCallback(ctx context.Context, req *Request, accounts AccountChecker) (*ValidationResult, error)
}

// AccountChecker is implemented by the host: it decides whether a payment
// to an account reference would be accepted. It must be fast (M-Pesa
// waits about 8 seconds in all) and must not change anything.
type AccountChecker interface {
	CheckAccount(ctx context.Context, q AccountQuery) (AccountDecision, error)
}

// AccountQuery is what the adapter asks about.
type AccountQuery struct {
	// Instance and Tenant are the instance's name and tenant.
	Instance string
	Tenant   string
	// AccountRef is the reference the payer typed, normalised with
	// NormalizeAccountRef. Empty for payments without one (M-Pesa till /
	// Buy Goods); the host decides whether to accept those, usually yes.
	AccountRef string
	// RawAccountRef is the reference exactly as the provider sent it.
	RawAccountRef string
	// Amount is what the payer is about to pay.
	Amount core.Money
	// PayerMSISDN and PayerMSISDNHash are as in core.PaymentNotice.
	PayerMSISDN     string
	PayerMSISDNHash string
}

// AccountVerdict is the host's decision on a payment.
type AccountVerdict string

// Account verdicts. An adapter treats any other value as AccountRejected.
const (
	AccountAccepted       AccountVerdict = "accepted"        // take the payment
	AccountUnknown        AccountVerdict = "unknown"         // no such account (M-Pesa C2B00012)
	AccountAmountRejected AccountVerdict = "amount_rejected" // below the minimum or otherwise refused for its amount (M-Pesa C2B00013)
	AccountRejected       AccountVerdict = "rejected"        // refused for another reason (M-Pesa C2B00016)
)

// AccountDecision is the host's answer.
type AccountDecision struct {
	Verdict AccountVerdict
	// Reason is for logs; it is not sent to the provider.
	Reason string
}

// ValidationResult is the answer to a validation request.
type ValidationResult struct {
	// Ack is the exact answer to send, at once.
	Ack Response
	// Accepted reports whether Ack accepts the payment.
	Accepted bool
	// Code is the provider result code sent ("0", "C2B00012", …).
	Code string
	// Reason says why, for logs: the checker's reason, the adapter's own
	// rule (minimum amount), or what was malformed.
	Reason string
	// Notice is the adapter's reading of the request, with Status
	// NoticePending, for the audit log. It is never applied.
	Notice core.PaymentNotice
}
