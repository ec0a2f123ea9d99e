package mtnmomo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/adapters/internal/wire"
	"github.com/payg-gateway/gateway/core"
)

// maxResponseBytes caps what is read of a MoMo response.
const maxResponseBytes = 1 << 20

type tokenResponse struct {
	AccessToken string    `json:"access_token"`
	TokenType   string    `json:"token_type"`
	ExpiresIn   wire.Text `json:"expires_in"`
}

// fetchToken gets a collection access token (§2.1): POST
// /collection/token/ with the API user and key as Basic credentials.
func (a *Adapter) fetchToken(ctx context.Context) (string, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.s.BaseURL+"/collection/token/", nil)
	if err != nil {
		return "", 0, fmt.Errorf("token: %w", err)
	}
	req.SetBasicAuth(a.s.APIUser, a.s.APIKey.Value())
	req.Header.Set("Ocp-Apim-Subscription-Key", a.s.SubscriptionKey.Value())
	status, body, err := a.do(req)
	if err != nil {
		return "", 0, fmt.Errorf("token: %w", err)
	}
	if status/100 != 2 {
		return "", 0, providerError("token", status, body)
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return "", 0, fmt.Errorf("token: decode response: %w", err)
	}
	secs, err := strconv.ParseInt(strings.TrimSpace(tr.ExpiresIn.S), 10, 64)
	if err != nil || secs <= 0 {
		return "", 0, fmt.Errorf("token: expires_in %s: not a positive number of seconds", wire.Quote(tr.ExpiresIn.S, 20))
	}
	return tr.AccessToken, time.Duration(secs) * time.Second, nil
}

func (a *Adapter) do(req *http.Request) (int, []byte, error) {
	resp, err := a.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return 0, nil, fmt.Errorf("read response: %w", err)
	}
	return resp.StatusCode, body, nil
}

// call sends an authorised request; a 401 drops the token and retries
// once. build returns a fresh request for each attempt.
func (a *Adapter) call(ctx context.Context, op string, build func(token string) (*http.Request, error)) (int, []byte, error) {
	for attempt := 0; ; attempt++ {
		tok, err := a.tokens.Token(ctx)
		if err != nil {
			return 0, nil, fmt.Errorf("%s: %w", op, err)
		}
		req, err := build(tok)
		if err != nil {
			return 0, nil, fmt.Errorf("%s: %w", op, err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("X-Target-Environment", a.s.TargetEnvironment)
		req.Header.Set("Ocp-Apim-Subscription-Key", a.s.SubscriptionKey.Value())
		status, body, err := a.do(req)
		if err != nil {
			return 0, nil, fmt.Errorf("%s: %w", op, err)
		}
		if status == http.StatusUnauthorized && attempt == 0 {
			a.tokens.Invalidate(tok)
			continue
		}
		return status, body, nil
	}
}

// momoError is MoMo's error body; the API gateway in front of it answers
// {"statusCode":401,"message":"…"} instead.
type momoError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// providerError reads MoMo's error body. 429 and 5xx are retryable.
func providerError(op string, status int, body []byte) error {
	var e momoError
	_ = json.Unmarshal(body, &e)
	pe := &adapters.ProviderError{Provider: "mtnmomo", Op: op, HTTPStatus: status, Code: e.Code, Message: e.Message}
	if pe.Code == "" && pe.Message == "" {
		pe.Message = strings.TrimSpace(string(body[:min(len(body), 200)]))
	}
	pe.Retryable = status == http.StatusTooManyRequests || status >= 500
	return pe
}

// requestToPay is the body of POST /collection/v1_0/requesttopay; the
// field order matches MTN's documentation.
type requestToPay struct {
	Amount     string `json:"amount"`
	Currency   string `json:"currency"`
	ExternalID string `json:"externalId"`
	Payer      party  `json:"payer"`
	PayerMsg   string `json:"payerMessage"`
	PayeeNote  string `json:"payeeNote"`
}

type party struct {
	PartyIDType string `json:"partyIdType"`
	PartyID     string `json:"partyId"`
}

var (
	msisdnPattern = regexp.MustCompile(`^[1-9][0-9]{7,14}$`)
	notAlnumSpace = regexp.MustCompile(`[^A-Za-z0-9 ]+`)
)

// cleanText keeps ASCII letters, digits and single spaces: MTN's telcos
// refuse characters such as '&' in payerMessage and payeeNote.
func cleanText(s string) string {
	return strings.Join(strings.Fields(notAlnumSpace.ReplaceAllString(s, " ")), " ")
}

// InitiatePayment sends a request-to-pay. req.ReferenceID (a UUIDv4 the
// host stored first) is the X-Reference-Id and req.RequestID our
// externalId, echoed in callbacks as the notice's RequestID. MTN answers
// 202 with no body; 409 (the reference exists) means an earlier attempt
// landed and is reported as Duplicate. payerMessage is Description (or
// "Payment <AccountRef>"), payeeNote is AccountRef (or RequestID); both
// are reduced to ASCII letters, digits and spaces.
func (a *Adapter) InitiatePayment(ctx context.Context, req adapters.PaymentRequest) (*adapters.PaymentInitiation, error) {
	body, err := a.requestBody(req)
	if err != nil {
		return nil, fmt.Errorf("mtnmomo: request to pay: %w", err)
	}
	payload, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("mtnmomo: request to pay: %w", err)
	}
	status, raw, err := a.call(ctx, "request to pay", func(string) (*http.Request, error) {
		r, err := http.NewRequestWithContext(ctx, http.MethodPost, a.s.BaseURL+"/collection/v1_0/requesttopay", bytes.NewReader(payload))
		if err != nil {
			return nil, err
		}
		r.Header.Set("X-Reference-Id", req.ReferenceID)
		r.Header.Set("Content-Type", "application/json")
		if cb := a.CallbackURL(req.ReferenceID); cb != "" {
			r.Header.Set("X-Callback-Url", cb)
		}
		return r, nil
	})
	if err != nil {
		return nil, fmt.Errorf("mtnmomo: %w", err)
	}
	init := &adapters.PaymentInitiation{RequestID: req.RequestID, ProviderRef: req.ReferenceID, Status: core.NoticePending, Raw: raw}
	switch {
	case status/100 == 2: // 202 Accepted
		return init, nil
	case status == http.StatusConflict:
		init.Duplicate = true
		init.Reason = "RESOURCE_ALREADY_EXIST: the reference was used before; waiting for that request"
		return init, nil
	}
	return nil, fmt.Errorf("mtnmomo: %w", providerError("request to pay", status, raw))
}

// requestBody checks a payment request and builds the body.
func (a *Adapter) requestBody(req adapters.PaymentRequest) (requestToPay, error) {
	if a.tokens == nil {
		return requestToPay{}, fmt.Errorf("%w: set settings.api_user, api_key and subscription_key", adapters.ErrNotConfigured)
	}
	if !adapters.IsUUIDv4(req.ReferenceID) {
		return requestToPay{}, core.Errorf(core.EINVALID, "reference id %q: want a UUIDv4 generated and stored before the call", req.ReferenceID)
	}
	if req.RequestID == "" {
		return requestToPay{}, core.Errorf(core.EINVALID, "request id (externalId): required")
	}
	if req.Amount.Currency != a.currency {
		return requestToPay{}, core.Errorf(core.EINVALID, "amount in %s, instance collects %s", req.Amount.Currency, a.currency)
	}
	if !req.Amount.IsPositive() {
		return requestToPay{}, core.Errorf(core.EINVALID, "amount %s: want a positive amount", req.Amount)
	}
	amount, err := adapters.FormatAmount(req.Amount)
	if err != nil {
		return requestToPay{}, core.Errorf(core.EINVALID, "amount: %v", err)
	}
	if !msisdnPattern.MatchString(req.MSISDN) {
		return requestToPay{}, core.Errorf(core.EINVALID, "msisdn %q: want digits with the country code and no +", req.MSISDN)
	}
	msg := cleanText(req.Description)
	note := cleanText(req.AccountRef)
	if msg == "" {
		msg = cleanText("Payment " + req.AccountRef)
	}
	if note == "" {
		note = cleanText(req.RequestID)
	}
	if note == "" {
		note = "Payment"
	}
	return requestToPay{
		Amount:     amount,
		Currency:   string(req.Amount.Currency),
		ExternalID: req.RequestID,
		Payer:      party{PartyIDType: "MSISDN", PartyID: req.MSISDN},
		PayerMsg:   msg,
		PayeeNote:  note,
	}, nil
}

// QueryStatus gets a request-to-pay by its X-Reference-Id
// (ref.ProviderRef): GET /collection/v1_0/requesttopay/{ref}. This is the
// authoritative answer MTN offers. 404 wraps adapters.ErrPaymentNotFound;
// an unreadable answer is an error (retry later).
func (a *Adapter) QueryStatus(ctx context.Context, ref adapters.PaymentRef) (*adapters.PaymentStatus, error) {
	if a.tokens == nil {
		return nil, fmt.Errorf("mtnmomo: query status: %w: set settings.api_user, api_key and subscription_key", adapters.ErrNotConfigured)
	}
	if ref.ProviderRef == "" {
		return nil, fmt.Errorf("mtnmomo: query status: %w", core.Errorf(core.EINVALID, "need the X-Reference-Id in ProviderRef"))
	}
	status, raw, err := a.call(ctx, "get status", func(string) (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodGet, a.s.BaseURL+"/collection/v1_0/requesttopay/"+url.PathEscape(ref.ProviderRef), nil)
	})
	if err != nil {
		return nil, fmt.Errorf("mtnmomo: %w", err)
	}
	if status == http.StatusNotFound {
		return nil, fmt.Errorf("mtnmomo: get status %s: %w", ref.ProviderRef, adapters.ErrPaymentNotFound)
	}
	if status/100 != 2 {
		return nil, fmt.Errorf("mtnmomo: %w", providerError("get status", status, raw))
	}
	n, problem := a.readPayment(raw)
	if problem != "" {
		return nil, fmt.Errorf("mtnmomo: get status %s: unreadable answer: %s", ref.ProviderRef, problem)
	}
	return &adapters.PaymentStatus{Notice: n}, nil
}
