// Package twilio is the Twilio SMS adapter, registered as "sms.twilio"
// (shared/docs/providers.md §7). It sends messages (adapters.SMSSender) and
// reads status callbacks (CallbackParser, into CallbackResult.Deliveries).
// Nothing it does moves money.
//
// # Sending
//
// SendSMS makes one POST per recipient to
// {base_url}/2010-04-01/Accounts/{account_sid}/Messages.json with HTTP
// Basic auth (account_sid, auth_token) and the form fields To, From
// (msg.From, else the configured from; omitted when both are empty),
// MessagingServiceSid (when configured), Body and StatusCallback
// (status_callback_url).
//
// msg.Reference is not sent (Twilio echoes no client reference). The
// instance needs no currency (only payment adapters do).
//
// A 2xx answer is a Message resource: ProviderID is its sid (the key of
// later status callbacks), the state follows its status as in the table
// below (normally queued or accepted: accepted), Code and Reason are
// error_code and error_message (Reason is the status when there is no
// error), Cost is price_unit and price when priced. A 2xx answer without a
// sid is an error (the outcome is unknown).
//
// A 400 is Twilio's refusal of that message for that recipient: rejected,
// with Code and Reason from its error body ({"code":21211,"message":…}:
// 21211 invalid To, 21610 unsubscribed, 21614 not a mobile number…),
// never retried; Alert is set for the codes about our own sender or
// account (21212, 21408, 21606, 21611, 21612, 21703). Any other non-2xx
// is an *adapters.ProviderError with Twilio's code and message: 401
// (20003, bad credentials), 403 and 404 are not retryable, 429 (20429) and
// 5xx are. A recipient that is not "+" and 4-15 digits is rejected locally
// and never sent.
//
// SendSMS returns an error only when the first request it makes fails as a
// whole (a network error, outcome unknown, or a ProviderError). When a
// later request fails that way, that recipient and every later one get a
// retry receipt (Alert when the failure is not retryable) and the receipts
// of the messages already sent are returned: a caller sending to several
// recipients must retry only the retry receipts.
//
// # Status callbacks
//
// StatusCallback is status_callback_url, the public URL of
//
//	/callbacks/{instance}/status
//
// Twilio posts a form (MessageSid, MessageStatus, ErrorCode, To, From,
// AccountSid, ApiVersion, and the legacy SmsSid and SmsStatus), signed:
// X-Twilio-Signature is base64(HMAC-SHA1(auth_token, URL + every parameter
// name and value, sorted by name)), where URL is the URL Twilio called.
// VerifyCallback computes it over status_callback_url exactly as
// configured (scheme, host, port, path and query), so that setting must be
// the URL as Twilio sees it, whatever proxies lie in between. A missing or
// wrong signature is a 403 (AuthError "signature").
//
// ParseCallback answers 200 with an empty body and returns one
// DeliveryReport: ProviderID is MessageSid (else SmsSid), ProviderStatus
// MessageStatus (else SmsStatus), Code ErrorCode, Reason ErrorMessage or,
// for the common delivery errors, Twilio's name of the code (30003
// "Unreachable destination handset"), At zero (Twilio gives no time).
// States:
//
//	queued, accepted, scheduled, sending  accepted
//	sent                                  sent
//	delivered, read                       delivered (final)
//	undelivered, failed, canceled         failed (final)
//	anything else                         accepted (not final)
//
// A genuine (signed) callback without MessageSid or status, or with one of
// the read fields given twice, is answered 400 and quarantined
// (CallbackResult.Quarantine, no Deliveries).
//
// The host hands Deliveries to the message store, which ignores a sid it
// did not issue, never moves a final state back (read after delivered
// stays delivered; a late sent after undelivered is ignored), and treats
// a repeated callback as a no-op.
//
// # Settings
//
//	account_sid            required: AC and 32 hex digits
//	auth_token             required: the account's auth token (secret reference allowed);
//	                       it signs status callbacks
//	from                   a Twilio number in E.164 or an alphanumeric sender id; required
//	                       unless messaging_service_sid is set
//	messaging_service_sid  MG and 32 hex digits: send through a Messaging Service
//	status_callback_url    required: the public URL of /callbacks/{instance}/status as Twilio
//	                       calls it (at most 4000 characters, no '_' in the host name)
//	base_url               REST API URL (default https://api.twilio.com)
package twilio
