// Package mtnmomo is the MTN Mobile Money (MoMo Open API) collection
// adapter, registered as "payments.mtn_momo" (shared/docs/providers.md §2).
//
// # Flow
//
// The host generates a UUIDv4 (adapters.NewReferenceID), stores it with
// the attempt, and calls InitiatePayment: a request-to-pay with that
// X-Reference-Id, our externalId (PaymentRequest.RequestID) and an
// X-Callback-Url of
//
//	{callback_base_url}/requesttopay/{reference}/{token}
//
// where token is the first 32 hex characters of
// HMAC-SHA256(callback_key, reference). MTN calls back by PUT or POST; the
// body does not contain the reference, so it comes from the path. Every
// callback is answered 200 with an empty body.
//
// Callbacks are not signed. VerifyCallback checks the path token (404) and,
// when allowed_cidrs is set, the caller's address (403). Even then, with
// confirm_by_status_query on (the default), CallbackResult.NeedsConfirmation
// is set: the host acknowledges the callback, records its notice as
// pending, and a durable job calls QueryStatus with the payment request's
// stored reference and applies the answer, whose amount and currency must
// be the request's (else the money waits in suspense). A callback that
// names no payment request of the gateway is confirmed at once with
// CallbackResult.Ref (the path's reference as ProviderRef).
//
// Notices: RequestID is externalId, ProviderTxID financialTransactionId,
// Amount and currency from the body, PayerMSISDN payer.partyId. Status
// SUCCESSFUL, FAILED and PENDING are mapped by an explicit table; any other
// status is pending. reason may be a string or a {code,message} object;
// Reason is "CODE" or "CODE: message". A body without status or
// externalId, with an unreadable amount or currency, or SUCCESSFUL without
// financialTransactionId or amount, is quarantined.
//
// # Settings
//
//	callback_key            required: key of the path token, at least 32 characters (secret)
//	callback_base_url       public URL of this instance's callbacks, e.g.
//	                        https://gateway.example.com/callbacks/mtn-ug; its host must be the
//	                        API user's registered providerCallbackHost. Plain http only in sandbox
//	environment             sandbox (default) or production; picks base_url
//	base_url                MoMo API URL (default from environment)
//	target_environment      X-Target-Environment, e.g. mtnuganda (default sandbox in sandbox)
//	subscription_key        the Collection product's Ocp-Apim-Subscription-Key (secret)
//	api_user, api_key       the API user (UUID) and its key (secret)
//	confirm_by_status_query true (default): callback notices need confirmation by GET status
//	allowed_cidrs           optional allow-list of callback source addresses
//
// The access token (POST /collection/token/) is cached until 5 minutes
// before it expires, by the injected clock, and refetched once on a 401.
// The sandbox only accepts EUR, so a sandbox instance has currency EUR.
package mtnmomo
