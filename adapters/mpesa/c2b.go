package mpesa

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/adapters/internal/wire"
	"github.com/payg-gateway/gateway/core"
)

// c2bPayload is the flat C2B validation and confirmation body (§1.3).
// Every field is read as text, whether Safaricom sends a string or a
// number.
type c2bPayload struct {
	TransactionType   wire.Text `json:"TransactionType"`
	TransID           wire.Text `json:"TransID"`
	TransTime         wire.Text `json:"TransTime"`
	TransAmount       wire.Text `json:"TransAmount"`
	BusinessShortCode wire.Text `json:"BusinessShortCode"`
	BillRefNumber     wire.Text `json:"BillRefNumber"`
	InvoiceNumber     wire.Text `json:"InvoiceNumber"`
	OrgAccountBalance wire.Text `json:"OrgAccountBalance"`
	ThirdPartyTransID wire.Text `json:"ThirdPartyTransID"`
	MSISDN            wire.Text `json:"MSISDN"`
	FirstName         wire.Text `json:"FirstName"`
	MiddleName        wire.Text `json:"MiddleName"`
	LastName          wire.Text `json:"LastName"`
}

// c2bProblem says what makes a C2B body unusable; amount reports that the
// amount is what is wrong (validation answers C2B00013 for it).
type c2bProblem struct {
	reason string
	amount bool
}

// readC2B decodes a C2B body into a notice and the BillRefNumber as sent.
// The notice's Status is NoticeSucceeded; validation overrides it. A
// non-nil problem means the body cannot be applied; the notice then holds
// what could be read.
func (a *Adapter) readC2B(body []byte) (n core.PaymentNotice, rawRef string, prob *c2bProblem) {
	n = core.PaymentNotice{Instance: a.instance, Status: core.NoticeSucceeded, Raw: body}
	var p c2bPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return n, "", &c2bProblem{reason: "body is not a C2B JSON object: " + wire.Quote(err.Error(), 80)}
	}
	rawRef = p.BillRefNumber.S
	n.ProviderTxID = strings.TrimSpace(p.TransID.S)
	n.AccountRef = adapters.NormalizeAccountRef(p.BillRefNumber.S)
	n.PayerMSISDN, n.PayerMSISDNHash = classifyMSISDN(p.MSISDN.S)
	n.PayerName = joinName(p.FirstName.S, p.MiddleName.S, p.LastName.S)
	n.OccurredAt = parseDarajaTime(p.TransTime.S)
	switch {
	case !p.TransAmount.Present:
		return n, rawRef, &c2bProblem{reason: "TransAmount missing", amount: true}
	default:
		m, err := adapters.ParseAmount(strings.TrimSpace(p.TransAmount.S), a.currency)
		if err != nil {
			return n, rawRef, &c2bProblem{reason: "TransAmount " + wire.Quote(p.TransAmount.S, 40) + " is not an amount", amount: true}
		}
		if !m.IsPositive() {
			return n, rawRef, &c2bProblem{reason: "TransAmount is zero", amount: true}
		}
		n.Amount = m
	}
	if n.ProviderTxID == "" {
		return n, rawRef, &c2bProblem{reason: "TransID missing: no idempotency key"}
	}
	if len(n.ProviderTxID) > 64 || strings.ContainsAny(n.ProviderTxID, " \t\r\n") {
		return n, rawRef, &c2bProblem{reason: "TransID " + wire.Quote(n.ProviderTxID, 40) + " is not a receipt number"}
	}
	return n, rawRef, nil
}

// parseConfirmation reads a C2B confirmation. The money has moved: the
// answer is always the success acknowledgement, and an unusable body is
// quarantined (then reconciled by Transaction Status on Ref.ProviderTxID).
func (a *Adapter) parseConfirmation(req *adapters.Request) *adapters.CallbackResult {
	n, _, prob := a.readC2B(req.Body)
	res := &adapters.CallbackResult{Ack: ack(), Ref: adapters.PaymentRef{ProviderTxID: n.ProviderTxID}}
	if prob != nil {
		res.Quarantine = &adapters.Quarantine{Reason: "mpesa: parse confirmation: " + prob.reason}
		return res
	}
	res.Notices = []core.PaymentNotice{n}
	return res
}

// Validation result codes (§1.3) and their answers.
const (
	codeAccepted       = "0"
	codeInvalidAccount = "C2B00012"
	codeInvalidAmount  = "C2B00013"
	codeOtherError     = "C2B00016"
)

// validationAck renders the validation answer: ResultCode is a string here.
func validationAck(code string) adapters.Response {
	desc := "Rejected"
	if code == codeAccepted {
		desc = "Accepted"
	}
	body, _ := json.Marshal(struct {
		ResultCode string `json:"ResultCode"`
		ResultDesc string `json:"ResultDesc"`
	}{code, desc})
	return adapters.Response{Status: 200, ContentType: "application/json", Body: body}
}

// verdictCodes maps the host's decision to the validation result code.
var verdictCodes = map[adapters.AccountVerdict]string{
	adapters.AccountAccepted:       codeAccepted,
	adapters.AccountUnknown:        codeInvalidAccount,
	adapters.AccountAmountRejected: codeInvalidAmount,
	adapters.AccountRejected:       codeOtherError,
}

// ValidateCallback answers a C2B validation request: malformed amounts are
// rejected with C2B00013, other malformed requests with C2B00016, amounts
// below validation_min_amount with C2B00013; otherwise the host's
// AccountChecker decides (unknown account: C2B00012). If the checker
// fails, the answer follows validation_on_error and the error is returned
// alongside it.
func (a *Adapter) ValidateCallback(ctx context.Context, req *adapters.Request, accounts adapters.AccountChecker) (*adapters.ValidationResult, error) {
	if req.Kind != KindC2BValidation {
		return nil, fmt.Errorf("mpesa: validate %q: %w", req.Kind, adapters.ErrUnknownKind)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n, rawRef, prob := a.readC2B(req.Body)
	n.Status = core.NoticePending
	result := func(code, reason string) *adapters.ValidationResult {
		return &adapters.ValidationResult{Ack: validationAck(code), Accepted: code == codeAccepted, Code: code, Reason: reason, Notice: n}
	}
	if prob != nil {
		code := codeOtherError
		if prob.amount {
			code = codeInvalidAmount
		}
		return result(code, prob.reason), nil
	}
	if a.minAmt.IsPositive() && n.Amount.Amount < a.minAmt.Amount {
		return result(codeInvalidAmount, fmt.Sprintf("amount %s is below validation_min_amount %s", n.Amount, a.minAmt)), nil
	}
	if accounts == nil {
		accounts = noChecker{}
	}
	d, err := accounts.CheckAccount(ctx, adapters.AccountQuery{
		Instance:        a.instance,
		Tenant:          a.tenant,
		AccountRef:      n.AccountRef,
		RawAccountRef:   rawRef,
		Amount:          n.Amount,
		PayerMSISDN:     n.PayerMSISDN,
		PayerMSISDNHash: n.PayerMSISDNHash,
	})
	if err != nil {
		code := codeOtherError
		if a.s.ValidationOnError == "accept" {
			code = codeAccepted
		}
		return result(code, "account check failed; validation_on_error="+a.s.ValidationOnError), fmt.Errorf("mpesa: validate: check account: %w", err)
	}
	code, ok := verdictCodes[d.Verdict]
	if !ok {
		code = codeOtherError
	}
	reason := string(d.Verdict)
	if d.Reason != "" {
		reason += ": " + d.Reason
	}
	return result(code, reason), nil
}

// classifyMSISDN sorts the MSISDN field into the notice's two fields: a
// 64-character hex SHA-256 (C2B v1) goes to the hash, in lower case;
// anything else (masked "2547 ***** 126", full digits) is opaque text.
func classifyMSISDN(s string) (msisdn, hash string) {
	s = strings.TrimSpace(s)
	if len(s) == 64 && isHex(s) {
		return "", strings.ToLower(s)
	}
	return s, ""
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func joinName(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " ")
}

// parseDarajaTime reads YYYYMMDDHHmmss in Kenyan time; anything else gives
// the zero time (the time is informative, never needed to apply).
func parseDarajaTime(s string) time.Time {
	t, err := time.ParseInLocation("20060102150405", strings.TrimSpace(s), eat)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// splitParty splits Daraja's "2547 ***** 123 - JANE" into the number and
// the name.
func splitParty(s string) (msisdn, hash, name string) {
	num, nm, ok := strings.Cut(s, " - ")
	if !ok {
		return "", "", ""
	}
	msisdn, hash = classifyMSISDN(num)
	return msisdn, hash, strings.TrimSpace(nm)
}

// noChecker stands in for a missing AccountChecker: every check fails, so
// the answer follows validation_on_error.
type noChecker struct{}

func (noChecker) CheckAccount(context.Context, adapters.AccountQuery) (adapters.AccountDecision, error) {
	return adapters.AccountDecision{}, errors.New("no AccountChecker given")
}
