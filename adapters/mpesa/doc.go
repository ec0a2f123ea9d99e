// Package mpesa is the Safaricom M-Pesa Daraja adapter, registered as
// "payments.mpesa" (shared/docs/providers.md §1).
//
// # Callbacks
//
// Routes, all POST, at /callbacks/{instance}/{kind}/{secret}:
//
//	c2b-validation    C2B validation: synchronous accept/reject (CallbackValidator)
//	c2b-confirmation  C2B confirmation: the money has moved
//	stk               STK push result
//	status-result     Transaction Status result    status-timeout    its QueueTimeOutURL
//	reversal-result   Reversal result              reversal-timeout  its QueueTimeOutURL
//
// Every callback but validation is answered {"ResultCode":0,"ResultDesc":"Success"},
// including malformed ones, which are quarantined (Safaricom would
// otherwise retry, and errors count towards its Spike Arrest). Validation
// answers {"ResultCode":"0","ResultDesc":"Accepted"} or
// {"ResultCode":"C2B000NN","ResultDesc":"Rejected"}: C2B00012 for an
// unknown account, C2B00013 for a malformed amount or one refused for its
// amount, C2B00016 for anything else.
//
// Notices:
//   - C2B: ProviderTxID is TransID, AccountRef the normalised BillRefNumber
//     (empty for till payments; the raw text stays in Raw), Amount
//     TransAmount in cents, OccurredAt TransTime read as Kenyan time. A
//     64-character hex MSISDN (C2B v1) goes to PayerMSISDNHash in lower
//     case; a masked or full one to PayerMSISDN, as opaque text. PayerName
//     joins the non-empty name parts.
//   - STK: RequestID is the CheckoutRequestID; success needs the
//     MpesaReceiptNumber (ProviderTxID, the same key space as TransID) and
//     Amount, read by Name from CallbackMetadata; otherwise it is
//     quarantined. ResultCode is mapped by an explicit table; unknown codes
//     are pending.
//   - Transaction Status: a completed query yields a notice for ReceiptNo
//     (so a payment missing from the ledger is applied, an applied one
//     deduplicates) and an Outcome; a failed or timed-out query only an
//     Outcome. The result carries no BillRefNumber: a payment first learnt
//     this way has no account reference.
//   - Reversal: success yields a NoticeReversed whose ProviderTxID is the
//     OriginalTransactionID; R000001 (already reversed) is an Outcome with
//     OutcomeAlreadyDone only, as its body does not name the original.
//
// # Protection
//
// Daraja does not sign callbacks. Each instance has two checks, both on by
// default: the caller's address must be in allowed_cidrs (default: the
// Safaricom addresses in SafaricomCallbackIPs), and the last path segment
// must equal callback_secret. Check the host's trusted-proxy setting, or
// every caller looks like the load balancer. STK callbacks should also
// match a CheckoutRequestID the host issued, and large C2B payments may be
// confirmed by Transaction Status before a token is released.
//
// # Settings
//
//	short_code             required: the paybill or till number (a string)
//	callback_secret        required: the secret path segment; 16-128 of A-Z a-z 0-9 _ -;
//	                       secret reference allowed; must not contain a word Daraja refuses
//	allowed_cidrs          CIDRs or addresses callbacks may come from (default: Safaricom's list;
//	                       ["0.0.0.0/0", "::/0"] turns the check off)
//	environment            sandbox (default) or production; picks base_url
//	base_url               Daraja API URL (default from environment)
//	callback_base_url      public URL of this instance's callbacks, e.g.
//	                       https://gateway.example.com/callbacks/ke-paybill; needed for STK,
//	                       URL registration and Transaction Status. Daraja refuses URLs containing
//	                       mpesa, m-pesa, safaricom, exe, exec, cmd, sql or query, so name the
//	                       instance accordingly ("ke-paybill", not "mpesa-ke")
//	consumer_key, consumer_secret   the Daraja app's credentials (secrets); enable outbound calls
//	c2b_version            v1 or v2 (default) for URL registration (v1: hashed MSISDN, v2: masked)
//	response_type          Completed (default) or Cancelled: what M-Pesa does when validation times out
//	validation_min_amount  reject validations below this amount with C2B00013 (e.g. "50")
//	validation_on_error    reject (default, C2B00016) or accept when the AccountChecker fails
//	stk_passkey            the Lipa Na M-Pesa passkey (secret); enables STK push and STK query
//	stk_short_code         BusinessShortCode for STK (default short_code)
//	stk_transaction_type   CustomerPayBillOnline (default) or CustomerBuyGoodsOnline
//	stk_party_b            PartyB for STK (default short_code; the till number for Buy Goods)
//	initiator              API operator name; enables Transaction Status queries
//	security_credential    the initiator password encrypted with Safaricom's certificate, base64 (secret)
//	identifier_type        4 (default, shortcode), 2 (till) or 1 (MSISDN)
//
// # Outbound
//
// InitiatePayment sends an STK push; QueryStatus runs a Transaction Status
// query for a receipt (answer by callback: the host stores the query under
// the OriginatorConversationID and ConversationID it returns, matches the
// result's Outcome to it and sends it again after a timeout) or an STK
// query for a
// CheckoutRequestID (no receipt in its answer: a completed push stays
// pending until its callback); RegisterURLs registers the C2B URLs. The
// OAuth token is fetched once, cached until 5 minutes before it expires
// (by the injected clock), and refetched once on a 401.
package mpesa
