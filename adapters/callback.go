package adapters

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/payg-gateway/gateway/core"
)

// Request is a provider's callback as the host received it, without any
// HTTP framework types. The host fills every field; adapters never modify
// it.
type Request struct {
	// Method is the HTTP method, e.g. POST or PUT.
	Method string
	// Path is the request path as received. It may contain secrets: never
	// log it.
	Path string
	// Kind is the route's {kind} segment (Route.Kind).
	Kind string
	// PathParams holds the segments after {kind}, by the names declared in
	// Route.Params.
	PathParams map[string]string
	// Header is the request's headers.
	Header http.Header
	// Body is the raw body, exactly as received. Adapters keep it in
	// PaymentNotice.Raw.
	Body []byte
	// RemoteAddr is the caller's address, after the host has applied its
	// trusted-proxy rules.
	RemoteAddr netip.Addr
	// ReceivedAt is when the host received the request.
	ReceivedAt time.Time
}

// Response is the exact HTTP answer an adapter wants sent to the provider.
type Response struct {
	// Status is the HTTP status code, e.g. 200.
	Status int
	// ContentType is the Content-Type header; empty when Body is empty.
	ContentType string
	// Body is sent byte for byte; it may be empty.
	Body []byte
}

// Route is one callback route of an adapter instance. The host serves it at
//
//	/callbacks/{instance}/{Kind}/{Params[0]}/{Params[1]}/…
//
// for each of Methods, and builds a Request with Kind and PathParams set.
type Route struct {
	// Kind is the fixed path segment after the instance name, e.g.
	// "c2b-confirmation".
	Kind string
	// Methods are the HTTP methods to accept, e.g. [POST] or [PUT POST].
	Methods []string
	// Params name the path segments after Kind, in order, e.g. ["secret"]
	// or ["reference", "token"]. They may hold secrets: the host masks
	// them in logs.
	Params []string
	// Validation marks a synchronous accept/reject route: the host calls
	// CallbackValidator.ValidateCallback instead of
	// CallbackParser.ParseCallback and sends the answer at once.
	Validation bool
}

// CallbackRouter lists the callback routes an instance serves.
type CallbackRouter interface {
	CallbackRoutes() []Route
}

// CallbackVerifier checks that a callback comes from the provider, using
// whatever the provider and the instance's settings allow: source address
// allow-list, secret path segment, HTTP Basic credentials, signature. The
// host calls it before ParseCallback or ValidateCallback, for every route.
//
// It returns nil or an error wrapping *AuthError; any other error is an
// internal failure (the host answers 500 and the provider retries).
type CallbackVerifier interface {
	VerifyCallback(ctx context.Context, req *Request) error
}

// AuthError reports a callback that failed an authenticity check. The host
// answers Status with no body, keeps the raw request for audit, applies
// nothing, and may alert.
type AuthError struct {
	// Status is the HTTP status to answer: 401, 403 or 404 (404 for a
	// wrong secret path segment, so the route's existence is not
	// confirmed).
	Status int
	// Check names the failed check: "source_ip", "path_secret",
	// "path_token", "basic_auth" or "signature".
	Check string
	// Reason says what was wrong, without secrets.
	Reason string
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("callback authentication failed: %s: %s", e.Check, e.Reason)
}

// CallbackParser turns a verified callback into payment notices and the
// acknowledgement the provider expects.
//
// For every route it declares, ParseCallback returns a result with an Ack,
// whatever the body holds: a callback that cannot be read is reported in
// CallbackResult.Quarantine, never as an error, so the provider is still
// answered as it expects and stops retrying. The error is non-nil only
// for a Kind the adapter does not serve (wrapping ErrUnknownKind; the host
// answers 404) or a cancelled context.
type CallbackParser interface {
	ParseCallback(ctx context.Context, req *Request) (*CallbackResult, error)
}

// ErrUnknownKind is returned for a Request.Kind the adapter does not serve.
var ErrUnknownKind = errors.New("unknown callback kind")

// CallbackResult is an adapter's reading of one callback.
//
// The host: stores the raw request; if Quarantine is set, stores the
// quarantine record (raw body, reason, Ref) and alerts; otherwise, unless
// NeedsConfirmation, applies Notices in one transaction, deduplicating
// each on (Instance, ProviderTxID) — or (Instance, RequestID, Status) when
// ProviderTxID is empty — and handles Outcome; commits; and only then
// sends Ack. A duplicate gets the same Ack and no new side effect.
type CallbackResult struct {
	// Ack is the exact answer to send after the commit.
	Ack Response
	// Notices are the payments the callback reports, usually zero or one.
	// Status is explicit: NoticePending for anything not final or not
	// known to the adapter. Empty when Quarantine is set.
	//
	// For NoticeReversed, ProviderTxID is the receipt of the original
	// payment that was reversed (the one to take back), so the
	// deduplication key of a reversal is (Instance, ProviderTxID,
	// NoticeReversed).
	Notices []core.PaymentNotice
	// NeedsConfirmation says the notices are unauthenticated hints: before
	// applying them, the host calls StatusQuerier.QueryStatus(ctx, Ref),
	// compares the answer with the notice and its stored attempt (amount,
	// currency, payer) and applies the answer's notice instead. The Ack
	// does not depend on it, so the host may acknowledge first and confirm
	// in a job.
	NeedsConfirmation bool
	// Ref identifies the payment the callback is about, as far as it could
	// be read, for confirmation, for resolving a quarantine by a status
	// query, or for alerts.
	Ref PaymentRef
	// Quarantine is set when the callback looks genuine (it passed
	// verification) but cannot be applied: unparseable, or missing an
	// amount, a status or an idempotency key. Nothing is applied from it.
	Quarantine *Quarantine
	// Outcome reports the result of an asynchronous request the gateway
	// made earlier (a transaction status query, a reversal), or nil. It is
	// nil when Quarantine is set.
	Outcome *RequestOutcome
	// Deliveries are the message delivery reports an SMS callback carries
	// (see DeliveryReport). They never move money.
	Deliveries []DeliveryReport
}

// Quarantine says why a genuine callback cannot be applied. The host keeps
// the raw request with this reason, raises an ops task, and reconciles by
// a status query on CallbackResult.Ref when it has enough of one.
type Quarantine struct {
	// Reason is a short, log-safe description, e.g. "TransAmount
	// \"1,500.00x\" is not an amount".
	Reason string
}

// PaymentRef identifies a payment at a provider.
type PaymentRef struct {
	// RequestID is the id that callbacks and status answers carry in
	// PaymentNotice.RequestID (PaymentInitiation.RequestID): MTN
	// externalId, M-Pesa STK CheckoutRequestID. Empty for payments the
	// customer started.
	RequestID string
	// ProviderRef is the provider-side handle a status query needs: MTN
	// X-Reference-Id, M-Pesa STK CheckoutRequestID.
	ProviderRef string
	// ProviderTxID is the provider's transaction id when known (M-Pesa
	// receipt, MTN financialTransactionId).
	ProviderTxID string
}

// Operation names an asynchronous request the gateway makes.
type Operation string

// Operations.
const (
	// OperationStatusQuery is a transaction status query whose answer
	// arrives later as a callback (M-Pesa Transaction Status).
	OperationStatusQuery Operation = "status_query"
	// OperationReversal is a reversal request (M-Pesa Reversal).
	OperationReversal Operation = "reversal"
)

// AsyncRequest identifies an asynchronous request the gateway made; the
// host stores it when the request is accepted and finds it again by these
// ids when the result arrives (RequestOutcome).
type AsyncRequest struct {
	Operation Operation
	// RequestRef is the first id the provider returned for the request
	// (M-Pesa OriginatorConversationID).
	RequestRef string
	// ProviderRef is the provider's id for it (M-Pesa ConversationID).
	ProviderRef string
}

// OutcomeResult is how an asynchronous request ended.
type OutcomeResult string

// Outcome results.
const (
	// OutcomeSucceeded: the request was carried out; any effect on a
	// payment is also in CallbackResult.Notices.
	OutcomeSucceeded OutcomeResult = "succeeded"
	// OutcomeFailed: the provider refused or could not do it; Code and
	// Description say why. No ledger change.
	OutcomeFailed OutcomeResult = "failed"
	// OutcomeTimedOut: the provider gave up waiting (M-Pesa
	// QueueTimeOutURL); retry the request later.
	OutcomeTimedOut OutcomeResult = "timed_out"
	// OutcomeAlreadyDone: it had been done before (M-Pesa R000001, already
	// reversed). Book it if the ledger does not have it yet, and alert.
	OutcomeAlreadyDone OutcomeResult = "already_done"
)

// RequestOutcome is the result of an asynchronous request, as reported by
// a callback.
type RequestOutcome struct {
	AsyncRequest
	Result OutcomeResult
	// Code and Description are the provider's result code and text.
	Code        string
	Description string
}
