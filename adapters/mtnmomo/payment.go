package mtnmomo

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/adapters/internal/wire"
	"github.com/payg-gateway/gateway/core"
)

// statuses maps MTN's request-to-pay status (§2.3, §2.4) to a notice
// status. Anything else, including a status MTN may add later, is
// NoticePending.
var statuses = map[string]core.NoticeStatus{
	"SUCCESSFUL": core.NoticeSucceeded,
	"FAILED":     core.NoticeFailed,
	"PENDING":    core.NoticePending,
}

// payment is the request-to-pay object: the callback body and the GET
// status answer share it.
type payment struct {
	FinancialTransactionID wire.Text `json:"financialTransactionId"`
	ExternalID             wire.Text `json:"externalId"`
	Amount                 wire.Text `json:"amount"`
	Currency               wire.Text `json:"currency"`
	Payer                  *struct {
		PartyIDType wire.Text `json:"partyIdType"`
		PartyID     wire.Text `json:"partyId"`
	} `json:"payer"`
	PayerMessage wire.Text `json:"payerMessage"`
	PayeeNote    wire.Text `json:"payeeNote"`
	Status       wire.Text `json:"status"`
	Reason       reason    `json:"reason"`
}

// reason is a failure reason, sent either as a string ("NOT_ENOUGH_FUNDS")
// or as an object ({"code":"PAYER_NOT_FOUND","message":"…"}).
type reason struct {
	Code    string
	Message string
}

// UnmarshalJSON accepts both shapes; anything else is kept as text.
func (r *reason) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || bytes.Equal(b, []byte("null")):
		*r = reason{}
	case b[0] == '{':
		var o struct {
			Code    wire.Text `json:"code"`
			Message wire.Text `json:"message"`
		}
		if err := json.Unmarshal(b, &o); err != nil {
			return err
		}
		*r = reason{Code: o.Code.S, Message: o.Message.S}
	default:
		var t wire.Text
		if err := json.Unmarshal(b, &t); err != nil {
			return err
		}
		*r = reason{Code: t.S}
	}
	return nil
}

func (r reason) String() string {
	switch {
	case r.Code != "" && r.Message != "":
		return r.Code + ": " + r.Message
	case r.Code != "":
		return r.Code
	}
	return r.Message
}

// readPayment reads a request-to-pay object into a notice. A non-empty
// problem means the body cannot be applied (quarantine); the notice then
// holds what could be read. The notice's RequestID is our externalId.
func (a *Adapter) readPayment(body []byte) (core.PaymentNotice, string) {
	n := core.PaymentNotice{Instance: a.instance, Raw: body}
	var p payment
	if err := json.Unmarshal(body, &p); err != nil {
		return n, "body is not a request-to-pay JSON object: " + wire.Quote(err.Error(), 80)
	}
	n.RequestID = strings.TrimSpace(p.ExternalID.S)
	n.ProviderTxID = strings.TrimSpace(p.FinancialTransactionID.S)
	if p.Payer != nil {
		n.PayerMSISDN = strings.TrimSpace(p.Payer.PartyID.S)
	}
	status := strings.ToUpper(strings.TrimSpace(p.Status.S))
	if status == "" {
		return n, "status missing"
	}
	st, known := statuses[status]
	if !known {
		st = core.NoticePending
	}
	n.Status = st
	if n.RequestID == "" {
		return n, "externalId missing"
	}
	cur := a.currency
	if c := strings.TrimSpace(p.Currency.S); c != "" {
		pc, err := core.ParseCurrency(c)
		if err != nil {
			return n, "currency " + wire.Quote(c, 10) + " is not an ISO 4217 code"
		}
		if _, err := adapters.MinorUnitExponent(pc); err != nil {
			return n, "currency " + c + " is not supported"
		}
		cur = pc
	} else if st == core.NoticeSucceeded {
		return n, "currency missing"
	}
	switch {
	case p.Amount.Present:
		m, err := adapters.ParseAmount(strings.TrimSpace(p.Amount.S), cur)
		if err != nil {
			return n, "amount " + wire.Quote(p.Amount.S, 40) + " is not an amount"
		}
		if st == core.NoticeSucceeded && !m.IsPositive() {
			return n, "amount is zero"
		}
		n.Amount = m
	case st == core.NoticeSucceeded:
		return n, "amount missing"
	}
	if st == core.NoticeSucceeded && n.ProviderTxID == "" {
		return n, "SUCCESSFUL without financialTransactionId: no idempotency key"
	}
	switch {
	case !known:
		n.Reason = "unknown status " + status
		if r := p.Reason.String(); r != "" {
			n.Reason += ": " + r
		}
	case st == core.NoticeFailed:
		n.Reason = p.Reason.String()
		if n.Reason == "" {
			n.Reason = "FAILED without a reason"
		}
	}
	return n, ""
}
