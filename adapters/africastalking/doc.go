// Package africastalking is the Africa's Talking SMS adapter, registered as
// "sms.africastalking" (shared/docs/providers.md §6). It sends messages
// (adapters.SMSSender) and reads delivery reports (CallbackParser, into
// CallbackResult.Deliveries). Nothing it does moves money.
//
// # Sending
//
// SendSMS makes one form POST to {base_url}/version1/messaging with the
// headers apiKey, Accept: application/json and Content-Type:
// application/x-www-form-urlencoded, and the fields username, to (the
// recipients, comma-separated), message, from (msg.From, else the
// configured sender id; omitted when both are empty), bulkSMSMode and,
// when enqueue is set, enqueue=1.
//
// msg.Reference is not sent: Africa's Talking echoes no client reference.
// The instance needs no currency (only payment adapters do).
//
// The answer is read per recipient, by number (digits only, so a number
// answered without its "+" still matches), into one receipt per
// msg.To in order. ProviderID is messageId (the key of later delivery
// reports; "None" becomes empty), Code the statusCode, Reason the status
// text, Cost the cost text. The state follows statusCode, never the text:
//
//	100 Processed, 102 Queued          accepted
//	101 Sent                           sent: Africa's Talking handed it to the telco
//	                                   (its status text is "Success", but only a
//	                                   delivery report says it was delivered)
//	405 InsufficientBalance            retry, Alert (top up, then it goes out)
//	401 RiskHold, 402 InvalidSenderId  rejected, Alert (the account or sender id
//	                                   needs an operator)
//	403-409, other 4xx                 rejected: permanent for this recipient, never retried
//	500 501 502, other 5xx             retry
//	anything else                      accepted when it has a messageId, else retry with Alert
//
// A recipient that is not "+" and 4-15 digits is refused locally
// (rejected, never sent); one missing from the answer is retry (its fate is
// unknown, and losing a token message is worse than sending it twice). A
// recipient listed twice in msg.To is an invalid request.
//
// The error is non-nil only for the request as a whole: a network error
// (outcome unknown), a 2xx answer that cannot be read (outcome unknown), or
// an *adapters.ProviderError for a non-2xx answer (Retryable for 429 and
// 5xx; 401 is a wrong api_key or username) or for a 2xx answer that lists
// no recipient at all (Message is Africa's Talking's Message, e.g.
// "InvalidSenderId"; not retryable).
//
// # Delivery reports
//
// Configure the delivery report URL in the dashboard (SMS → SMS Callback
// URLs → Delivery Reports) as
//
//	{public base}/callbacks/{instance}/delivery-report/{callback_secret}
//
// Africa's Talking posts a form (id, status, phoneNumber, networkCode,
// failureReason, retryCount) and does not sign it. VerifyCallback checks
// allowed_cidrs when set (403) and the secret path segment (404).
// ParseCallback answers every report 200 with an empty body and returns
// one DeliveryReport: ProviderID is id, ProviderStatus the status text,
// Reason failureReason (free text), At zero (the report carries no time).
// States:
//
//	Sent, Submitted, Buffered   sent (not final)
//	Success                     delivered (final)
//	Failed                      failed (final)
//	Rejected                    rejected (final)
//	anything else               accepted (not final), text kept in ProviderStatus
//
// A report without id or status, with either given twice, or whose body is
// not a form, is answered 200 and quarantined (CallbackResult.Quarantine,
// no Deliveries): Africa's Talking would otherwise retry a report that can
// never be applied, and the raw body stays visible.
//
// The adapter reports faithfully and decides nothing else. The host hands
// Deliveries to the message store, which must: ignore an id it did not
// issue (dlr_unknown_id.txt: answer 200, log only); never move a final
// state (delivered, failed, rejected) back to a non-final one (a Sent
// arriving after Success, dlr_out_of_order_after_final.txt); treat a
// repeated report as a no-op (dlr_duplicate.txt); and never let a report
// trigger money movement.
//
// # Settings
//
//	username         required: the app's username; "sandbox" exactly when sandbox is true
//	api_key          required: the app's API key (secret reference allowed)
//	from             registered alphanumeric sender id or short code (default: none, AT's shared one)
//	sandbox          true: the sandbox host (it only delivers to the AT simulator)
//	base_url         API URL (default https://api.africastalking.com, or the sandbox host)
//	bulk_sms_mode    true (default): bulkSMSMode=1, the sender pays; false sends 0
//	enqueue          true: enqueue=1, for large batches (answers faster)
//	callback_secret  required: the delivery report path segment, 16-128 of A-Z a-z 0-9 _ -
//	                 (secret reference allowed)
//	allowed_cidrs    optional allow-list of delivery report source addresses
package africastalking
