// Package adapters is the registry of provider adapters and the small
// capability interfaces the host uses to drive them. Adapters live in
// subpackages (adapters/mpesa, adapters/mtnmomo, …) and never see HTTP
// framework types or the store; the package adapters/all selects which are
// built into the binary with blank imports. The native token engines in
// adapters/openpaygo and adapters/nexus are plain libraries, not registered
// modules.
//
// # Modules and instances
//
// Each adapter registers an ID ("payments.mpesa") and a constructor in its
// init function, which does nothing else:
//
//	func init() {
//		adapters.Register(adapters.AdapterInfo{ID: "payments.mpesa", New: func() adapters.Adapter { return new(Adapter) }})
//	}
//
// Configuration declares named instances (InstanceConfig) that pick an
// adapter by ID and carry its settings. Provision (or ProvisionAll) checks
// the common fields, constructs the adapter, and calls its Provision, which
// decodes its settings with DecodeSettings and resolves secret references
// (env:NAME, file:/path) through Deps.Secrets, and then Validate. Errors
// name the instance and the setting path.
//
// # Capabilities
//
// The host discovers what an instance can do with type assertions:
//
//	CallbackRouter     the routes to serve: /callbacks/{instance}/{kind}/{params…}
//	CallbackVerifier   authenticity: allow-list, secret path segment, token, signature
//	CallbackParser     notices plus the exact acknowledgement, or a quarantine
//	CallbackValidator  synchronous accept/reject, asking the host's AccountChecker
//	PaymentInitiator   start a payment (STK push, request-to-pay)
//	StatusQuerier      ask the provider what became of a payment
//	URLRegistrar       register callback URLs with the provider
//	SMSSender          send text messages; delivery reports come back as
//	                   CallbackResult.Deliveries
//
// # The callback path, as the host runs it
//
//  1. Build a Request from the HTTP request (raw body, headers, caller
//     address after trusted proxies, the route's Kind and PathParams) and
//     store it raw.
//  2. VerifyCallback. On *AuthError answer its Status, apply nothing.
//  3. On a Route with Validation set: ValidateCallback with the host's
//     AccountChecker, send result.Ack at once. Done.
//  4. Otherwise ParseCallback. If result.Quarantine is set, store the
//     quarantine record and send result.Ack (and, when result.Ref names a
//     payment request, schedule a status check of it). If
//     NeedsConfirmation is set and the notices name payment requests,
//     record them as pending, send result.Ack, and confirm them with
//     QueryStatus in a durable job; for other notices confirm with
//     QueryStatus(result.Ref) before applying. Otherwise, in
//     one transaction, deduplicate each notice on (Instance, ProviderTxID)
//     — (Instance, RequestID, Status) when ProviderTxID is empty, and
//     (Instance, ProviderTxID, reversed) for reversals — apply it, handle
//     result.Outcome, commit, and only then send result.Ack. A duplicate
//     gets the same Ack.
//
// Provider statuses an adapter does not know become core.NoticePending;
// the host's janitor re-queries pending payments with StatusQuerier.
//
// # Payment requests
//
// POST /v1/payment-requests stores a request with a ReferenceID (see
// NewReferenceID) and enqueues its initiation; a durable job calls
// InitiatePayment, never inside a transaction. A *ProviderError that is
// not Retryable (or an EINVALID refusal) fails the request; a Retryable
// one is initiated again later; any other error leaves the outcome
// unknown, and the janitor calls QueryStatus before anything else. An
// ErrPaymentNotFound answer while the payer's window lasts means the
// request never landed: it is initiated again with the same ReferenceID.
// Notices are matched to requests by PaymentNotice.RequestID.
package adapters
