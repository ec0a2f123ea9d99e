package africastalking

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/adapters/internal/wire"
	"github.com/payg-gateway/gateway/core"
)

// maxResponseBytes caps what is read of an answer.
const maxResponseBytes = 1 << 20

// MessagingPath is the send endpoint, under base_url.
const MessagingPath = "/version1/messaging"

// phonePattern is a recipient in E.164 with the leading "+". It also keeps
// the comma that separates recipients out of a number.
var phonePattern = regexp.MustCompile(`^\+[1-9][0-9]{3,14}$`)

// SendSMS sends msg in one request (§6.1): a form POST to
// /version1/messaging with the recipients comma-separated. It returns one
// receipt per recipient, in the order of msg.To; see the package
// documentation for the mapping of the per-recipient statusCode. A
// recipient that is not "+" and digits is refused locally (rejected,
// never sent). A non-2xx answer is an *adapters.ProviderError, retryable
// for 429 and 5xx; a 2xx answer that cannot be read is a plain error (the
// outcome is unknown).
func (a *Adapter) SendSMS(ctx context.Context, msg adapters.SMS) ([]adapters.SMSReceipt, error) {
	if len(msg.To) == 0 {
		return nil, fmt.Errorf("africastalking: send sms: %w", core.Errorf(core.EINVALID, "no recipients"))
	}
	if strings.TrimSpace(msg.Body) == "" {
		return nil, fmt.Errorf("africastalking: send sms: %w", core.Errorf(core.EINVALID, "empty body"))
	}
	receipts := make([]adapters.SMSReceipt, len(msg.To))
	var to []string
	seen := make(map[string]bool, len(msg.To))
	for i, n := range msg.To {
		receipts[i].To = n
		if seen[n] {
			return nil, fmt.Errorf("africastalking: send sms: %w", core.Errorf(core.EINVALID, "recipient %s given twice", n))
		}
		seen[n] = true
		if !phonePattern.MatchString(n) {
			receipts[i].State, receipts[i].Reason = adapters.SMSRejected, "not an E.164 number with a leading +"
			continue
		}
		to = append(to, n)
	}
	if len(to) == 0 {
		return receipts, nil
	}
	from := msg.From
	if from == "" {
		from = a.s.From
	}
	if strings.ContainsAny(from, ",&=\r\n") {
		return nil, fmt.Errorf("africastalking: send sms: %w", core.Errorf(core.EINVALID, "sender id %q", from))
	}
	body := a.sendForm(to, msg.Body, from)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.s.BaseURL+MessagingPath, strings.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("africastalking: send sms: %w", err)
	}
	req.Header.Set("apiKey", a.s.APIKey.Value())
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := a.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("africastalking: send sms: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("africastalking: send sms: read answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, providerError(resp.StatusCode, raw)
	}
	got, err := ParseSendResponse(raw)
	if err != nil {
		return nil, fmt.Errorf("africastalking: send sms: %w", err)
	}
	if len(got) == 0 {
		// A whole-request refusal in a 2xx answer, such as
		// {"SMSMessageData":{"Message":"InvalidSenderId","Recipients":[]}}.
		return nil, &adapters.ProviderError{Provider: "africastalking", Op: "send sms", HTTPStatus: resp.StatusCode,
			Message: wire.Clip(sendMessage(raw))}
	}
	// Matched by digits, in case the answer writes a number without its
	// "+".
	byNumber := make(map[string][]adapters.SMSReceipt, len(got))
	for _, r := range got {
		k := digits(r.To)
		byNumber[k] = append(byNumber[k], r)
	}
	for i := range receipts {
		if receipts[i].State != "" {
			continue
		}
		to, k := receipts[i].To, digits(receipts[i].To)
		rs := byNumber[k]
		if len(rs) == 0 {
			// Not in the answer: its fate is unknown. Sending again may
			// duplicate it; not sending may lose it. Nothing is lost.
			a.log.Warn("africastalking: recipient missing from the send answer", "instance", a.instance)
			receipts[i].State, receipts[i].Reason = adapters.SMSRetry, "missing from the provider's answer"
			continue
		}
		receipts[i], byNumber[k] = rs[0], rs[1:]
		receipts[i].To = to
	}
	return receipts, nil
}

// digits keeps the digits of a number.
func digits(n string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, n)
}

// sendForm is the send body with the fields in the order of §6.1 and
// send_sms_request.txt: username, to, message, from, bulkSMSMode, enqueue.
func (a *Adapter) sendForm(to []string, message, from string) string {
	var b strings.Builder
	add := func(k, v string) {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(k))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(v))
	}
	add("username", a.s.Username)
	add("to", strings.Join(to, ","))
	add("message", message)
	if from != "" {
		add("from", from)
	}
	if a.bulk {
		add("bulkSMSMode", "1")
	} else {
		add("bulkSMSMode", "0")
	}
	if a.s.Enqueue {
		add("enqueue", "1")
	}
	return b.String()
}

// providerError reads a non-2xx answer; Africa's Talking answers those in
// plain text ("The supplied authentication is invalid"). 429 and 5xx are
// retryable.
func providerError(status int, body []byte) error {
	msg := strings.TrimSpace(string(body[:min(len(body), 200)]))
	if m := sendMessage(body); m != "" {
		msg = m
	}
	return &adapters.ProviderError{Provider: "africastalking", Op: "send sms", HTTPStatus: status, Message: wire.Clip(msg),
		Retryable: status == http.StatusTooManyRequests || status >= 500}
}

// sendResponse is the 2xx answer to a send (§6.1).
type sendResponse struct {
	SMSMessageData *struct {
		Message    string      `json:"Message"`
		Recipients []recipient `json:"Recipients"`
	} `json:"SMSMessageData"`
}

type recipient struct {
	StatusCode wire.Text `json:"statusCode"`
	Number     wire.Text `json:"number"`
	Cost       wire.Text `json:"cost"`
	Status     wire.Text `json:"status"`
	MessageID  wire.Text `json:"messageId"`
}

// sendMessage returns SMSMessageData.Message of a body, or "".
func sendMessage(body []byte) string {
	var r sendResponse
	if json.Unmarshal(body, &r) != nil || r.SMSMessageData == nil {
		return ""
	}
	return strings.TrimSpace(r.SMSMessageData.Message)
}

// ParseSendResponse reads the per-recipient results of a 2xx send answer,
// in the answer's order, each with To set to the answer's number. It
// fails when the body is not the documented JSON.
func ParseSendResponse(body []byte) ([]adapters.SMSReceipt, error) {
	var r sendResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("unreadable answer: %s", wire.Quote(err.Error(), 80))
	}
	if r.SMSMessageData == nil {
		return nil, fmt.Errorf("unreadable answer: no SMSMessageData")
	}
	out := make([]adapters.SMSReceipt, 0, len(r.SMSMessageData.Recipients))
	for _, rc := range r.SMSMessageData.Recipients {
		out = append(out, receipt(rc))
	}
	return out, nil
}

// receipt maps one recipient's result:
//
//	100 Processed, 102 Queued   accepted
//	101 Sent                    sent (handed to the telco; a delivery report follows)
//	405 InsufficientBalance     retry, alert
//	401 RiskHold, 402 InvalidSenderId  rejected, alert
//	other 4xx                   rejected
//	5xx                         retry
//
// A code outside these ranges is accepted when the answer gives a message
// id, else retry with an alert. messageId "None" is no id.
func receipt(rc recipient) adapters.SMSReceipt {
	r := adapters.SMSReceipt{
		To:     strings.TrimSpace(rc.Number.S),
		Code:   wire.Clip(strings.TrimSpace(rc.StatusCode.S)),
		Reason: wire.Clip(strings.TrimSpace(rc.Status.S)),
		Cost:   wire.Clip(strings.TrimSpace(rc.Cost.S)),
	}
	if id := strings.TrimSpace(rc.MessageID.S); id != "None" {
		r.ProviderID = wire.Clip(id)
	}
	code, err := strconv.Atoi(r.Code)
	switch {
	case err != nil:
		// Not a number: decided below.
	case code == 101:
		r.State = adapters.SMSSent
	case code >= 100 && code <= 199:
		r.State = adapters.SMSAccepted
	case code == 405:
		r.State, r.Alert = adapters.SMSRetry, true
	case code == 401 || code == 402:
		r.State, r.Alert = adapters.SMSRejected, true
	case code >= 400 && code <= 499:
		r.State = adapters.SMSRejected
	case code >= 500 && code <= 599:
		r.State = adapters.SMSRetry
	}
	if r.State == "" {
		if r.ProviderID != "" {
			r.State = adapters.SMSAccepted
		} else {
			r.State, r.Alert = adapters.SMSRetry, true
		}
	}
	return r
}
