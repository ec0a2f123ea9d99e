package mpesa

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/adapters/internal/wire"
	"github.com/payg-gateway/gateway/core"
)

// stkResultStatus maps STK ResultCode values (§1.5) to notice statuses.
// Codes not listed are NoticePending: the janitor re-queries them.
var stkResultStatus = map[string]core.NoticeStatus{
	"0":          core.NoticeSucceeded, // success
	"1":          core.NoticeFailed,    // insufficient balance
	"2":          core.NoticeFailed,    // amount below the minimum
	"3":          core.NoticeFailed,    // amount above the maximum
	"4":          core.NoticeFailed,    // would exceed the daily limit
	"8":          core.NoticeFailed,    // would exceed the paybill's maximum balance
	"17":         core.NoticeFailed,    // rule limited (same amount, same customer, within 2 minutes)
	"1019":       core.NoticeFailed,    // transaction expired
	"1025":       core.NoticeFailed,    // push failed (prompt too long or unreachable)
	"1032":       core.NoticeFailed,    // cancelled by the user
	"1037":       core.NoticeFailed,    // phone unreachable
	"2001":       core.NoticeFailed,    // wrong PIN
	"2028":       core.NoticeFailed,    // wrong TransactionType / PartyB
	"SFC_IC0003": core.NoticeFailed,    // wrong TransactionType / PartyB
	"8006":       core.NoticeFailed,    // security credential locked
}

// stkStatus returns the status for an STK result code.
func stkStatus(code string) core.NoticeStatus {
	if s, ok := stkResultStatus[code]; ok {
		return s
	}
	return core.NoticePending
}

type stkEnvelope struct {
	Body *struct {
		StkCallback *struct {
			MerchantRequestID wire.Text `json:"MerchantRequestID"`
			CheckoutRequestID wire.Text `json:"CheckoutRequestID"`
			ResultCode        wire.Text `json:"ResultCode"`
			ResultDesc        wire.Text `json:"ResultDesc"`
			CallbackMetadata  *struct {
				Item json.RawMessage `json:"Item"`
			} `json:"CallbackMetadata"`
		} `json:"stkCallback"`
	} `json:"Body"`
}

// parseSTK reads an STK push result. Correlation is by CheckoutRequestID
// (the notice's RequestID); the receipt is the ProviderTxID, in the same
// key space as C2B TransID.
func (a *Adapter) parseSTK(req *adapters.Request) *adapters.CallbackResult {
	res := &adapters.CallbackResult{Ack: ack()}
	quarantine := func(reason string) *adapters.CallbackResult {
		res.Quarantine = &adapters.Quarantine{Reason: "mpesa: parse stk callback: " + reason}
		return res
	}
	var env stkEnvelope
	if err := json.Unmarshal(req.Body, &env); err != nil {
		return quarantine("body is not an STK callback: " + wire.Quote(err.Error(), 80))
	}
	if env.Body == nil || env.Body.StkCallback == nil {
		return quarantine("no Body.stkCallback")
	}
	cb := env.Body.StkCallback
	checkout := strings.TrimSpace(cb.CheckoutRequestID.S)
	res.Ref = adapters.PaymentRef{RequestID: checkout, ProviderRef: checkout}
	if checkout == "" {
		return quarantine("CheckoutRequestID missing")
	}
	code := strings.TrimSpace(cb.ResultCode.S)
	if code == "" {
		return quarantine("ResultCode missing")
	}
	n := core.PaymentNotice{
		Instance:  a.instance,
		RequestID: checkout,
		Status:    stkStatus(code),
		Raw:       req.Body,
	}
	if n.Status != core.NoticeSucceeded {
		n.Reason = code + ": " + cb.ResultDesc.S
		if n.Status == core.NoticePending {
			n.Reason = "unknown ResultCode " + n.Reason
		}
		res.Notices = []core.PaymentNotice{n}
		return res
	}
	if cb.CallbackMetadata == nil {
		return quarantine("ResultCode 0 without CallbackMetadata: query the receipt and amount")
	}
	items, err := wire.Items(cb.CallbackMetadata.Item)
	if err != nil {
		return quarantine("CallbackMetadata.Item: " + wire.Quote(err.Error(), 80))
	}
	n.ProviderTxID = strings.TrimSpace(items["MpesaReceiptNumber"].S)
	res.Ref.ProviderTxID = n.ProviderTxID
	if n.ProviderTxID == "" {
		return quarantine("ResultCode 0 without MpesaReceiptNumber")
	}
	amt := items["Amount"]
	if !amt.Present {
		return quarantine("ResultCode 0 without Amount")
	}
	if n.Amount, err = adapters.ParseAmount(strings.TrimSpace(amt.S), a.currency); err != nil || !n.Amount.IsPositive() {
		return quarantine("Amount " + wire.Quote(amt.S, 40) + " is not a positive amount")
	}
	n.PayerMSISDN, n.PayerMSISDNHash = classifyMSISDN(items["PhoneNumber"].S)
	n.OccurredAt = parseDarajaTime(items["TransactionDate"].S)
	res.Notices = []core.PaymentNotice{n}
	return res
}

var (
	kenyanMSISDN = regexp.MustCompile(`^254[17][0-9]{8}$`)
	printable    = regexp.MustCompile(`^[A-Za-z0-9 ._-]*$`)
)

// stkPushRequest is the body of /mpesa/stkpush/v1/processrequest.
type stkPushRequest struct {
	BusinessShortCode string `json:"BusinessShortCode"`
	Password          string `json:"Password"`
	Timestamp         string `json:"Timestamp"`
	TransactionType   string `json:"TransactionType"`
	Amount            string `json:"Amount"`
	PartyA            string `json:"PartyA"`
	PartyB            string `json:"PartyB"`
	PhoneNumber       string `json:"PhoneNumber"`
	CallBackURL       string `json:"CallBackURL"`
	AccountReference  string `json:"AccountReference"`
	TransactionDesc   string `json:"TransactionDesc"`
}

type stkPushResponse struct {
	MerchantRequestID   string    `json:"MerchantRequestID"`
	CheckoutRequestID   string    `json:"CheckoutRequestID"`
	ResponseCode        wire.Text `json:"ResponseCode"`
	ResponseDescription string    `json:"ResponseDescription"`
	CustomerMessage     string    `json:"CustomerMessage"`
}

// InitiatePayment sends an STK push (M-Pesa Express). The amount must be a
// whole number of shillings; AccountRef (at most 12 characters) is shown
// to the payer; Description defaults to "Payment" (at most 13). The
// answer's RequestID and ProviderRef are the CheckoutRequestID.
func (a *Adapter) InitiatePayment(ctx context.Context, req adapters.PaymentRequest) (*adapters.PaymentInitiation, error) {
	if a.client == nil || a.s.STKPasskey.IsZero() {
		return nil, fmt.Errorf("mpesa: stk push: %w: set settings.consumer_key, consumer_secret, stk_passkey and callback_base_url", adapters.ErrNotConfigured)
	}
	if req.Amount.Currency != a.currency {
		return nil, fmt.Errorf("mpesa: stk push: %w", core.Errorf(core.EINVALID, "amount in %s, instance pays in %s", req.Amount.Currency, a.currency))
	}
	whole, err := adapters.WholeMajorUnits(req.Amount)
	if err != nil || whole <= 0 {
		return nil, fmt.Errorf("mpesa: stk push: %w", core.Errorf(core.EINVALID, "amount %s: want a positive whole number of shillings", req.Amount))
	}
	if !kenyanMSISDN.MatchString(req.MSISDN) {
		return nil, fmt.Errorf("mpesa: stk push: %w", core.Errorf(core.EINVALID, "msisdn %q: want 2547XXXXXXXX or 2541XXXXXXXX", req.MSISDN))
	}
	if req.AccountRef == "" || len(req.AccountRef) > 12 || !printable.MatchString(req.AccountRef) {
		return nil, fmt.Errorf("mpesa: stk push: %w", core.Errorf(core.EINVALID, "account reference %q: want 1-12 letters, digits, spaces or . _ -", req.AccountRef))
	}
	desc := req.Description
	if desc == "" {
		desc = "Payment"
	}
	if len(desc) > 13 || !printable.MatchString(desc) {
		return nil, fmt.Errorf("mpesa: stk push: %w", core.Errorf(core.EINVALID, "description %q: want at most 13 letters, digits, spaces or . _ -", desc))
	}
	ts, password := a.stkPassword()
	body := stkPushRequest{
		BusinessShortCode: a.s.STKShortCode,
		Password:          password,
		Timestamp:         ts,
		TransactionType:   a.s.STKTransactionType,
		Amount:            strconv.FormatInt(whole, 10),
		PartyA:            req.MSISDN,
		PartyB:            a.s.STKPartyB,
		PhoneNumber:       req.MSISDN,
		CallBackURL:       a.callbackURL(KindSTK),
		AccountReference:  req.AccountRef,
		TransactionDesc:   desc,
	}
	var out stkPushResponse
	raw, err := a.client.post(ctx, "stk push", "/mpesa/stkpush/v1/processrequest", body, &out)
	if err != nil {
		return nil, fmt.Errorf("mpesa: %w", err)
	}
	init := &adapters.PaymentInitiation{
		RequestID:   out.CheckoutRequestID,
		ProviderRef: out.CheckoutRequestID,
		Status:      core.NoticePending,
		Reason:      out.ResponseDescription,
		Raw:         raw,
	}
	if code := strings.TrimSpace(out.ResponseCode.S); code != "0" {
		init.Status = core.NoticeFailed
		init.Reason = code + ": " + out.ResponseDescription
		return init, nil
	}
	if out.CheckoutRequestID == "" {
		return nil, errors.New("mpesa: stk push: accepted without a CheckoutRequestID")
	}
	return init, nil
}

// stkPassword returns the timestamp and base64(ShortCode+Passkey+Timestamp).
func (a *Adapter) stkPassword() (ts, password string) {
	ts = a.clock.Now().In(eat).Format("20060102150405")
	return ts, base64.StdEncoding.EncodeToString([]byte(a.s.STKShortCode + a.s.STKPasskey.Value() + ts))
}

type stkQueryRequest struct {
	BusinessShortCode string `json:"BusinessShortCode"`
	Password          string `json:"Password"`
	Timestamp         string `json:"Timestamp"`
	CheckoutRequestID string `json:"CheckoutRequestID"`
}

type stkQueryResponse struct {
	ResponseCode      wire.Text `json:"ResponseCode"`
	CheckoutRequestID string    `json:"CheckoutRequestID"`
	ResultCode        wire.Text `json:"ResultCode"`
	ResultDesc        string    `json:"ResultDesc"`
}

// querySTK asks for an STK push's result. The answer carries no receipt
// or amount, so a completed push is reported as pending (apply it from
// its callback, a C2B confirmation or a Transaction Status result), and
// only failures are final.
func (a *Adapter) querySTK(ctx context.Context, checkout string) (*adapters.PaymentStatus, error) {
	ts, password := a.stkPassword()
	var out stkQueryResponse
	raw, err := a.client.post(ctx, "stk query", "/mpesa/stkpushquery/v1/query",
		stkQueryRequest{BusinessShortCode: a.s.STKShortCode, Password: password, Timestamp: ts, CheckoutRequestID: checkout}, &out)
	n := core.PaymentNotice{Instance: a.instance, RequestID: checkout, Status: core.NoticePending, Raw: raw}
	var pe *adapters.ProviderError
	if errors.As(err, &pe) && pe.Code == "500.001.1001" {
		n.Reason = "still being processed: " + pe.Message
		return &adapters.PaymentStatus{Notice: n}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("mpesa: %w", err)
	}
	code := strings.TrimSpace(out.ResultCode.S)
	switch stkStatus(code) {
	case core.NoticeSucceeded:
		n.Reason = "0: completed per STK query; the receipt comes with the callback, a C2B confirmation or Transaction Status"
	case core.NoticeFailed:
		n.Status = core.NoticeFailed
		n.Reason = code + ": " + out.ResultDesc
	default:
		n.Reason = "unknown ResultCode " + code + ": " + out.ResultDesc
	}
	return &adapters.PaymentStatus{Notice: n}, nil
}
