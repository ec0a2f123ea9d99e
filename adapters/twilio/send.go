package twilio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/adapters/internal/wire"
	"github.com/payg-gateway/gateway/core"
)

// maxResponseBytes caps what is read of an answer.
const maxResponseBytes = 1 << 20

// phonePattern is a recipient in E.164 with the leading "+".
var phonePattern = regexp.MustCompile(`^\+[1-9][0-9]{3,14}$`)

// alertCodes are refusals an operator must act on: the sender or the
// account's settings, not the recipient.
var alertCodes = map[string]bool{
	"21212": true, // invalid From number
	"21408": true, // permission to send to this region is not enabled
	"21606": true, // the From number is not SMS-capable
	"21611": true, // the From number's queue is full
	"21612": true, // cannot route between this From and To
	"21703": true, // the messaging service has no senders
}

// MessagesPath is the send endpoint of an account, under base_url.
func MessagesPath(accountSID string) string {
	return "/2010-04-01/Accounts/" + url.PathEscape(accountSID) + "/Messages.json"
}

// SendSMS sends msg with one request per recipient (Twilio has no bulk
// send), in the order of msg.To; see the package documentation. A
// recipient that is not "+" and digits is refused locally (rejected,
// never sent).
//
// The error is non-nil only when the first request fails as a whole (a
// network error, or an *adapters.ProviderError: 401, 403 and 404 are not
// retryable, 429 and 5xx are). When a later request fails that way, that
// recipient and every one after it get a retry receipt instead, so the
// receipts of the messages already sent are not lost.
func (a *Adapter) SendSMS(ctx context.Context, msg adapters.SMS) ([]adapters.SMSReceipt, error) {
	if len(msg.To) == 0 {
		return nil, fmt.Errorf("twilio: send sms: %w", core.Errorf(core.EINVALID, "no recipients"))
	}
	if strings.TrimSpace(msg.Body) == "" {
		return nil, fmt.Errorf("twilio: send sms: %w", core.Errorf(core.EINVALID, "empty body"))
	}
	receipts := make([]adapters.SMSReceipt, len(msg.To))
	sent := 0 // requests made
	var stopped error
	for i, to := range msg.To {
		receipts[i].To = to
		if stopped != nil {
			receipts[i].State, receipts[i].Reason = adapters.SMSRetry, "not sent: an earlier request failed"
			continue
		}
		if !phonePattern.MatchString(to) {
			receipts[i].State, receipts[i].Reason = adapters.SMSRejected, "not an E.164 number with a leading +"
			continue
		}
		r, err := a.sendOne(ctx, to, msg)
		sent++
		if err == nil {
			receipts[i] = r
			continue
		}
		if sent == 1 {
			return nil, err
		}
		stopped = err
		receipts[i].State, receipts[i].Reason = adapters.SMSRetry, wire.Clip(err.Error())
		var pe *adapters.ProviderError
		receipts[i].Alert = errors.As(err, &pe) && !pe.Retryable
	}
	return receipts, nil
}

// messageAnswer is the 2xx answer to a send: a Message resource.
type messageAnswer struct {
	SID          string    `json:"sid"`
	Status       string    `json:"status"`
	ErrorCode    wire.Text `json:"error_code"`
	ErrorMessage wire.Text `json:"error_message"`
	Price        wire.Text `json:"price"`
	PriceUnit    wire.Text `json:"price_unit"`
}

// errorAnswer is Twilio's error body: {"code":21211,"message":"…",
// "more_info":"…","status":400}.
type errorAnswer struct {
	Code    wire.Text `json:"code"`
	Message string    `json:"message"`
}

// sendOne sends to one recipient. A 400 is that recipient's refusal (a
// receipt); any other non-2xx answer is an error.
func (a *Adapter) sendOne(ctx context.Context, to string, msg adapters.SMS) (adapters.SMSReceipt, error) {
	form := url.Values{"To": {to}, "Body": {msg.Body}, "StatusCallback": {a.s.StatusCallbackURL}}
	from := msg.From
	if from == "" {
		from = a.s.From
	}
	if from != "" {
		form.Set("From", from)
	}
	if a.s.MessagingServiceSID != "" {
		form.Set("MessagingServiceSid", a.s.MessagingServiceSID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.s.BaseURL+MessagesPath(a.s.AccountSID), strings.NewReader(form.Encode()))
	if err != nil {
		return adapters.SMSReceipt{}, fmt.Errorf("twilio: send sms: %w", err)
	}
	req.SetBasicAuth(a.s.AccountSID, a.s.AuthToken.Value())
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := a.http.Do(req)
	if err != nil {
		return adapters.SMSReceipt{}, fmt.Errorf("twilio: send sms: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return adapters.SMSReceipt{}, fmt.Errorf("twilio: send sms: read answer: %w", err)
	}
	if resp.StatusCode/100 == 2 {
		r, err := ParseSendResponse(raw)
		if err != nil {
			// The message may exist: the outcome is unknown.
			return adapters.SMSReceipt{}, fmt.Errorf("twilio: send sms: %w", err)
		}
		r.To = to
		return r, nil
	}
	var e errorAnswer
	_ = json.Unmarshal(raw, &e)
	code, text := wire.Clip(strings.TrimSpace(e.Code.S)), wire.Clip(strings.TrimSpace(e.Message))
	if resp.StatusCode == http.StatusBadRequest {
		return adapters.SMSReceipt{To: to, State: adapters.SMSRejected, Code: code, Reason: text, Alert: alertCodes[code]}, nil
	}
	if code == "" && text == "" {
		text = wire.Clip(strings.TrimSpace(string(raw[:min(len(raw), 200)])))
	}
	return adapters.SMSReceipt{}, &adapters.ProviderError{Provider: "twilio", Op: "send sms", HTTPStatus: resp.StatusCode, Code: code, Message: text,
		Retryable: resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500}
}

// ParseSendResponse reads the 2xx answer to a send (a Message resource)
// into a receipt without To: ProviderID is sid, the state follows status
// (States), Code and Reason are error_code and error_message (else the
// status), Cost is price and price_unit when Twilio gives a price. It
// fails without a sid.
func ParseSendResponse(body []byte) (adapters.SMSReceipt, error) {
	var m messageAnswer
	if err := json.Unmarshal(body, &m); err != nil {
		return adapters.SMSReceipt{}, fmt.Errorf("unreadable answer: %s", wire.Quote(err.Error(), 80))
	}
	sid := strings.TrimSpace(m.SID)
	if sid == "" || len(sid) > 200 {
		return adapters.SMSReceipt{}, fmt.Errorf("unreadable answer: sid %s", wire.Quote(sid, 40))
	}
	r := adapters.SMSReceipt{ProviderID: sid, State: state(m.Status), Code: wire.Clip(strings.TrimSpace(m.ErrorCode.S)),
		Reason: wire.Clip(strings.TrimSpace(m.ErrorMessage.S))}
	if r.Reason == "" {
		r.Reason = wire.Clip(strings.TrimSpace(m.Status))
	}
	if p := strings.TrimSpace(m.Price.S); p != "" {
		r.Cost = wire.Clip(strings.TrimSpace(strings.TrimSpace(m.PriceUnit.S) + " " + p))
	}
	return r, nil
}
