package mpesa

import (
	"encoding/json"
	"strings"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/adapters/internal/wire"
	"github.com/payg-gateway/gateway/core"
)

// resultEnvelope is the Result body that Transaction Status and Reversal
// post to ResultURL and QueueTimeOutURL (§1.6, §1.7). ResultCode may be a
// number (0) or a string ("SFC_IC0003"); ResultParameters may be
// {"ResultParameter":[…]}, {"ResultParameter":{…}} or a bare list.
type resultEnvelope struct {
	Result *struct {
		ResultType               wire.Text       `json:"ResultType"`
		ResultCode               wire.Text       `json:"ResultCode"`
		ResultDesc               wire.Text       `json:"ResultDesc"`
		OriginatorConversationID wire.Text       `json:"OriginatorConversationID"`
		ConversationID           wire.Text       `json:"ConversationID"`
		TransactionID            wire.Text       `json:"TransactionID"`
		ResultParameters         json.RawMessage `json:"ResultParameters"`
	} `json:"Result"`
}

// transactionStatuses maps the TransactionStatus result parameter to a
// notice status. Values not listed are NoticePending.
var transactionStatuses = map[string]core.NoticeStatus{
	"completed": core.NoticeSucceeded,
	"failed":    core.NoticeFailed,
	"cancelled": core.NoticeFailed,
	"declined":  core.NoticeFailed,
	"expired":   core.NoticeFailed,
	"reversed":  core.NoticeReversed,
	"pending":   core.NoticePending,
}

// reversalOutcomes maps reversal ResultCode values to outcomes; any other
// non-zero code is OutcomeFailed.
var reversalOutcomes = map[string]adapters.OutcomeResult{
	"0":       adapters.OutcomeSucceeded,
	"R000001": adapters.OutcomeAlreadyDone, // already reversed
}

// readResult decodes the envelope and fills the outcome's ids. It returns
// the parameters by key, or a quarantine reason.
func readResult(body []byte, op adapters.Operation, timeoutKind bool) (*adapters.RequestOutcome, map[string]wire.Text, string) {
	var env resultEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, nil, "body is not a Result envelope: " + wire.Quote(err.Error(), 80)
	}
	r := env.Result
	if r == nil {
		return nil, nil, "no Result object"
	}
	out := &adapters.RequestOutcome{
		AsyncRequest: adapters.AsyncRequest{
			Operation:   op,
			RequestRef:  strings.TrimSpace(r.OriginatorConversationID.S),
			ProviderRef: strings.TrimSpace(r.ConversationID.S),
		},
		Code:        strings.TrimSpace(r.ResultCode.S),
		Description: r.ResultDesc.S,
	}
	if out.RequestRef == "" && out.ProviderRef == "" {
		return nil, nil, "no OriginatorConversationID or ConversationID"
	}
	if timeoutKind || strings.TrimSpace(r.ResultType.S) == "1" {
		out.Result = adapters.OutcomeTimedOut
		return out, nil, ""
	}
	if out.Code == "" {
		return out, nil, "ResultCode missing"
	}
	params, err := wire.Items(r.ResultParameters, "ResultParameter")
	if err != nil {
		return out, nil, "ResultParameters: " + wire.Quote(err.Error(), 80)
	}
	params["TransactionID"] = r.TransactionID
	return out, params, ""
}

// parseStatusResult reads a Transaction Status result or timeout. A
// completed query yields a notice for the receipt (same key space as C2B
// and STK, so an already-applied payment deduplicates); a failed query
// only an outcome.
func (a *Adapter) parseStatusResult(req *adapters.Request) *adapters.CallbackResult {
	res := &adapters.CallbackResult{Ack: ack()}
	out, params, reason := readResult(req.Body, adapters.OperationStatusQuery, req.Kind == KindStatusTimeout)
	res.Outcome = out
	quarantine := func(reason string) *adapters.CallbackResult {
		res.Quarantine = &adapters.Quarantine{Reason: "mpesa: parse transaction status result: " + reason}
		res.Outcome = nil
		return res
	}
	if reason != "" {
		return quarantine(reason)
	}
	if out.Result == adapters.OutcomeTimedOut {
		return res
	}
	if out.Code != "0" {
		out.Result = adapters.OutcomeFailed
		return res
	}
	out.Result = adapters.OutcomeSucceeded
	n := core.PaymentNotice{Instance: a.instance, Raw: req.Body}
	n.ProviderTxID = strings.TrimSpace(params["ReceiptNo"].S)
	res.Ref.ProviderTxID = n.ProviderTxID
	if n.ProviderTxID == "" {
		return quarantine("ReceiptNo missing")
	}
	ts := strings.TrimSpace(params["TransactionStatus"].S)
	n.Status = core.NoticePending
	if st, ok := transactionStatuses[strings.ToLower(ts)]; ok {
		n.Status = st
	}
	if n.Status != core.NoticeSucceeded {
		n.Reason = "TransactionStatus " + ts
	}
	var err error
	amt := strings.TrimSpace(params["Amount"].S)
	if n.Amount, err = adapters.ParseAmount(amt, a.currency); err != nil || !n.Amount.IsPositive() {
		if n.Status == core.NoticeSucceeded || n.Status == core.NoticeReversed {
			return quarantine("Amount " + wire.Quote(amt, 40) + " is not a positive amount")
		}
		n.Amount = core.Money{}
	}
	n.PayerMSISDN, n.PayerMSISDNHash, n.PayerName = splitParty(params["DebitPartyName"].S)
	n.OccurredAt = parseDarajaTime(params["FinalisedTime"].S)
	if n.OccurredAt.IsZero() {
		n.OccurredAt = parseDarajaTime(params["InitiatedTime"].S)
	}
	res.Notices = []core.PaymentNotice{n}
	return res
}

// parseReversalResult reads a Reversal result or timeout. A completed
// reversal yields a NoticeReversed for the original receipt; "already
// reversed" (R000001) only an outcome, since its body does not name the
// original transaction: the host finds it by the outcome's ids.
func (a *Adapter) parseReversalResult(req *adapters.Request) *adapters.CallbackResult {
	res := &adapters.CallbackResult{Ack: ack()}
	out, params, reason := readResult(req.Body, adapters.OperationReversal, req.Kind == KindReversalTimeout)
	res.Outcome = out
	quarantine := func(reason string) *adapters.CallbackResult {
		res.Quarantine = &adapters.Quarantine{Reason: "mpesa: parse reversal result: " + reason}
		res.Outcome = nil
		return res
	}
	if reason != "" {
		return quarantine(reason)
	}
	if out.Result == adapters.OutcomeTimedOut {
		return res
	}
	res.Ref.ProviderTxID = strings.TrimSpace(params["OriginalTransactionID"].S)
	r, ok := reversalOutcomes[out.Code]
	if !ok {
		r = adapters.OutcomeFailed
	}
	out.Result = r
	if r != adapters.OutcomeSucceeded {
		return res
	}
	n := core.PaymentNotice{Instance: a.instance, Status: core.NoticeReversed, ProviderTxID: res.Ref.ProviderTxID, Raw: req.Body}
	if n.ProviderTxID == "" {
		return quarantine("OriginalTransactionID missing")
	}
	amt := strings.TrimSpace(params["Amount"].S)
	var err error
	if n.Amount, err = adapters.ParseAmount(amt, a.currency); err != nil || !n.Amount.IsPositive() {
		return quarantine("Amount " + wire.Quote(amt, 40) + " is not a positive amount")
	}
	n.Reason = "reversed by " + strings.TrimSpace(params["TransactionID"].S) + ": " + out.Description
	n.PayerMSISDN, n.PayerMSISDNHash, n.PayerName = splitParty(params["CreditPartyPublicName"].S)
	n.OccurredAt = parseDarajaTime(params["TransCompletedTime"].S)
	res.Notices = []core.PaymentNotice{n}
	return res
}
