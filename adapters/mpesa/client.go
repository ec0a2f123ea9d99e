package mpesa

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/adapters/internal/tokencache"
	"github.com/payg-gateway/gateway/adapters/internal/wire"
	"github.com/payg-gateway/gateway/core"
)

// maxResponseBytes caps what is read of a Daraja response.
const maxResponseBytes = 1 << 20

// client calls the Daraja API with a cached OAuth token.
type client struct {
	http        *http.Client
	base        string
	key, secret string
	tokens      *tokencache.Cache
}

func newClient(hc *http.Client, base, key, secret string) *client {
	return &client{http: hc, base: base, key: key, secret: secret}
}

type tokenResponse struct {
	AccessToken string    `json:"access_token"`
	ExpiresIn   wire.Text `json:"expires_in"` // a number in the docs, a string in some answers
}

// fetchToken gets a new OAuth token (§1.1). Daraja invalidates the
// previous token on every fetch, so it is only called through the cache.
func (c *client) fetchToken(ctx context.Context) (string, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/oauth/v1/generate?grant_type=client_credentials", nil)
	if err != nil {
		return "", 0, fmt.Errorf("oauth: %w", err)
	}
	req.SetBasicAuth(c.key, c.secret)
	req.Header.Set("Accept", "application/json")
	status, body, err := c.do(req)
	if err != nil {
		return "", 0, fmt.Errorf("oauth: %w", err)
	}
	if status/100 != 2 {
		return "", 0, providerError("oauth", status, body)
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return "", 0, fmt.Errorf("oauth: decode token response: %w", err)
	}
	secs, err := strconv.ParseInt(strings.TrimSpace(tr.ExpiresIn.S), 10, 64)
	if err != nil || secs <= 0 {
		return "", 0, fmt.Errorf("oauth: expires_in %s: not a positive number of seconds", wire.Quote(tr.ExpiresIn.S, 20))
	}
	return tr.AccessToken, time.Duration(secs) * time.Second, nil
}

func (c *client) do(req *http.Request) (int, []byte, error) {
	resp, err := c.http.Do(req)
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

// post sends body as JSON to path with the bearer token and decodes a 2xx
// answer into out. A 401 drops the token and retries once with a new one.
// It returns the raw answer.
func (c *client) post(ctx context.Context, op, path string, body, out any) ([]byte, error) {
	payload, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	for attempt := 0; ; attempt++ {
		tok, err := c.tokens.Token(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(payload))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		status, raw, err := c.do(req)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		if status == http.StatusUnauthorized && attempt == 0 {
			c.tokens.Invalidate(tok)
			continue
		}
		if status/100 != 2 {
			return raw, providerError(op, status, raw)
		}
		var e darajaError
		if json.Unmarshal(raw, &e) == nil && e.ErrorCode != "" {
			return raw, providerError(op, status, raw)
		}
		if err := json.Unmarshal(raw, out); err != nil {
			return raw, fmt.Errorf("%s: decode response: %w", op, err)
		}
		return raw, nil
	}
}

// darajaError is Daraja's error body.
type darajaError struct {
	RequestID    string `json:"requestId"`
	ErrorCode    string `json:"errorCode"`
	ErrorMessage string `json:"errorMessage"`
}

// permanentCodes are 5xx error codes that retrying will not fix.
var permanentCodes = map[string]bool{
	"500.003.1001": true, // URLs are already registered
}

// providerError reads Daraja's error body into an *adapters.ProviderError.
// Rate limiting, spike arrest, quota and other 5xx are retryable, as is
// "Unable to lock subscriber" (retry after a minute); 4xx and wrong
// credentials are not.
func providerError(op string, status int, body []byte) error {
	var e darajaError
	_ = json.Unmarshal(body, &e)
	pe := &adapters.ProviderError{Provider: "mpesa", Op: op, HTTPStatus: status, Code: e.ErrorCode, Message: e.ErrorMessage}
	if pe.Message == "" && e.ErrorCode == "" {
		pe.Message = strings.TrimSpace(string(body[:min(len(body), 200)]))
	}
	switch {
	case status == http.StatusTooManyRequests:
		pe.Retryable = true
	case status >= 500:
		pe.Retryable = !permanentCodes[e.ErrorCode] && !strings.Contains(strings.ToLower(e.ErrorMessage), "wrong credentials")
	}
	return pe
}

type registerRequest struct {
	ShortCode       string `json:"ShortCode"`
	ResponseType    string `json:"ResponseType"`
	ConfirmationURL string `json:"ConfirmationURL"`
	ValidationURL   string `json:"ValidationURL"`
}

type registerResponse struct {
	OriginatorCoversationID  string    `json:"OriginatorCoversationID"` // sic, Daraja's spelling
	OriginatorConversationID string    `json:"OriginatorConversationID"`
	ResponseCode             wire.Text `json:"ResponseCode"`
	ResponseDescription      string    `json:"ResponseDescription"`
}

// RegisterURLs registers the instance's C2B confirmation and validation
// URLs (/mpesa/c2b/{c2b_version}/registerurl). In production this is a
// one-time operation: changing the URLs needs deleting them in the Daraja
// portal first, otherwise Daraja answers 500.003.1001.
func (a *Adapter) RegisterURLs(ctx context.Context) (*adapters.URLRegistration, error) {
	if a.client == nil || a.s.CallbackBaseURL == "" {
		return nil, fmt.Errorf("mpesa: register urls: %w: set settings.consumer_key, consumer_secret and callback_base_url", adapters.ErrNotConfigured)
	}
	req := registerRequest{
		ShortCode:       a.s.ShortCode,
		ResponseType:    a.s.ResponseType,
		ConfirmationURL: a.callbackURL(KindC2BConfirmation),
		ValidationURL:   a.callbackURL(KindC2BValidation),
	}
	var out registerResponse
	raw, err := a.client.post(ctx, "register urls", "/mpesa/c2b/"+a.s.C2BVersion+"/registerurl", req, &out)
	if err != nil {
		return nil, fmt.Errorf("mpesa: %w", err)
	}
	if code := strings.TrimSpace(out.ResponseCode.S); code != "0" {
		return nil, fmt.Errorf("mpesa: %w", &adapters.ProviderError{Provider: "mpesa", Op: "register urls", HTTPStatus: 200, Code: code, Message: out.ResponseDescription})
	}
	id := out.OriginatorConversationID
	if id == "" {
		id = out.OriginatorCoversationID
	}
	return &adapters.URLRegistration{
		URLs:        map[string]string{"confirmation": req.ConfirmationURL, "validation": req.ValidationURL},
		ProviderRef: id,
		Message:     out.ResponseDescription,
		Raw:         raw,
	}, nil
}

type statusQueryRequest struct {
	Initiator              string `json:"Initiator"`
	SecurityCredential     string `json:"SecurityCredential"`
	CommandID              string `json:"CommandID"`
	TransactionID          string `json:"TransactionID"`
	OriginalConversationID string `json:"OriginalConversationID"`
	PartyA                 string `json:"PartyA"`
	IdentifierType         string `json:"IdentifierType"`
	ResultURL              string `json:"ResultURL"`
	QueueTimeOutURL        string `json:"QueueTimeOutURL"`
	Remarks                string `json:"Remarks"`
	Occasion               string `json:"Occasion"`
}

type asyncResponse struct {
	OriginatorConversationID string    `json:"OriginatorConversationID"`
	ConversationID           string    `json:"ConversationID"`
	ResponseCode             wire.Text `json:"ResponseCode"`
	ResponseDescription      string    `json:"ResponseDescription"`
}

// QueryStatus asks what became of a payment. With ref.ProviderTxID (a
// receipt) and initiator settings it sends a Transaction Status query,
// whose answer arrives on the status-result route (the returned status
// has Async set and a zero Notice). Otherwise, with a CheckoutRequestID in
// ref.ProviderRef or ref.RequestID and STK settings, it runs an STK query.
func (a *Adapter) QueryStatus(ctx context.Context, ref adapters.PaymentRef) (*adapters.PaymentStatus, error) {
	checkout := ref.ProviderRef
	if checkout == "" {
		checkout = ref.RequestID
	}
	switch {
	case ref.ProviderTxID != "" && a.s.Initiator != "" && a.client != nil:
		return a.queryTransaction(ctx, ref.ProviderTxID)
	case checkout != "" && a.client != nil && !a.s.STKPasskey.IsZero():
		return a.querySTK(ctx, checkout)
	case ref.ProviderTxID == "" && checkout == "":
		return nil, fmt.Errorf("mpesa: query status: %w", core.Errorf(core.EINVALID, "need a receipt (ProviderTxID) or a CheckoutRequestID"))
	}
	return nil, fmt.Errorf("mpesa: query status: %w: a receipt needs settings.initiator and security_credential, a CheckoutRequestID needs stk_passkey, both need consumer_key and consumer_secret", adapters.ErrNotConfigured)
}

// QueriesByReceipt reports whether the instance can send Transaction
// Status queries: it needs initiator settings and API credentials.
func (a *Adapter) QueriesByReceipt() bool { return a.s.Initiator != "" && a.client != nil }

// queryTransaction sends a Transaction Status query for a receipt (§1.6).
func (a *Adapter) queryTransaction(ctx context.Context, receipt string) (*adapters.PaymentStatus, error) {
	req := statusQueryRequest{
		Initiator:          a.s.Initiator,
		SecurityCredential: a.s.SecurityCredential.Value(),
		CommandID:          "TransactionStatusQuery",
		TransactionID:      receipt,
		PartyA:             a.s.ShortCode,
		IdentifierType:     a.s.IdentifierType,
		ResultURL:          a.callbackURL(KindStatusResult),
		QueueTimeOutURL:    a.callbackURL(KindStatusTimeout),
		Remarks:            "reconciliation",
	}
	var out asyncResponse
	if _, err := a.client.post(ctx, "transaction status", "/mpesa/transactionstatus/v1/query", req, &out); err != nil {
		return nil, fmt.Errorf("mpesa: %w", err)
	}
	if code := strings.TrimSpace(out.ResponseCode.S); code != "0" {
		return nil, fmt.Errorf("mpesa: %w", &adapters.ProviderError{Provider: "mpesa", Op: "transaction status", HTTPStatus: 200, Code: code, Message: out.ResponseDescription})
	}
	if out.OriginatorConversationID == "" && out.ConversationID == "" {
		return nil, errors.New("mpesa: transaction status: accepted without conversation ids")
	}
	return &adapters.PaymentStatus{Async: &adapters.AsyncRequest{
		Operation:   adapters.OperationStatusQuery,
		RequestRef:  out.OriginatorConversationID,
		ProviderRef: out.ConversationID,
	}}, nil
}
