package tokenhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/payg-gateway/gateway/config"
	"github.com/payg-gateway/gateway/core"
)

// Access tokens without an expires_in are kept this long.
const defaultTokenLifetime = 5 * time.Minute

// maxTokenMargin bounds how long before its expiry a cached access token
// is fetched again (a tenth of its lifetime, at most this).
const maxTokenMargin = time.Minute

// oauthSource fetches and caches a vendor's OAuth2 client-credentials
// access token. Fetches are single-flight: concurrent requests wait for
// the one in progress instead of asking the authorisation server again.
type oauthSource struct {
	cfg     config.TokenVendorAuth
	client  *http.Client
	clock   core.Clock
	timeout time.Duration

	mu      sync.Mutex
	token   string
	expires time.Time
}

// get returns a valid access token, fetching one if the cached one is
// missing or about to expire.
func (o *oauthSource) get(ctx context.Context) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.token != "" && o.clock.Now().Before(o.expires) {
		return o.token, nil
	}
	tok, lifetime, err := o.fetch(ctx)
	if err != nil {
		return "", err
	}
	margin := min(lifetime/10, maxTokenMargin)
	o.token, o.expires = tok, o.clock.Now().Add(lifetime-margin)
	return tok, nil
}

// invalidate drops token from the cache if it is still the cached one
// (the vendor refused it: revoked, or expired early).
func (o *oauthSource) invalidate(token string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.token == token {
		o.token = ""
	}
}

// fetch asks the authorisation server for an access token.
func (o *oauthSource) fetch(ctx context.Context) (string, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	params := map[string]string{"grant_type": "client_credentials", "client_id": o.cfg.ClientID, "client_secret": o.cfg.ClientSecret.Value()}
	if o.cfg.Scope != "" {
		params["scope"] = o.cfg.Scope
	}
	if o.cfg.Audience != "" {
		params["audience"] = o.cfg.Audience
	}
	var body []byte
	contentType := "application/x-www-form-urlencoded"
	if o.cfg.TokenEncoding == "json" {
		body, _ = json.Marshal(params) // a map of strings always encodes
		contentType = "application/json"
	} else {
		form := url.Values{}
		for k, v := range params {
			form.Set(k, v)
		}
		body = []byte(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.cfg.TokenURL, bytes.NewReader(body))
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	resp, err := o.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return "", 0, err
	}
	var answer struct {
		AccessToken string          `json:"access_token"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
		Error       string          `json:"error"`
	}
	_ = json.Unmarshal(raw, &answer)
	if resp.StatusCode/100 != 2 || answer.AccessToken == "" {
		msg := answer.Error
		if msg == "" {
			msg = strings.ToValidUTF8(string(raw[:min(len(raw), 200)]), "?")
		}
		return "", 0, fmt.Errorf("HTTP %d from the token URL: %s", resp.StatusCode, msg)
	}
	lifetime := defaultTokenLifetime
	if s := strings.Trim(string(answer.ExpiresIn), `" `); s != "" && s != "null" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
			lifetime = time.Duration(n) * time.Second
		}
	}
	return answer.AccessToken, lifetime, nil
}

// sendAuthorized sends r with the vendor's OAuth2 access token. A 401 or
// 403 with a cached token fetches a fresh one and sends once more: the
// vendor refused the request, so nothing was issued and resending is safe.
// Failing to get a token is retryable (the request never went out).
func (v *Vendor) sendAuthorized(ctx context.Context, r request) answer {
	if v.oauth == nil {
		return v.send(ctx, r)
	}
	var a answer
	for try := range 2 {
		tok, err := v.oauth.get(ctx)
		if err != nil {
			return answer{kind: retryable, unhealthy: true, reason: v.redact("access token: " + err.Error())}
		}
		r.header = r.header.Clone()
		r.header.Set("Authorization", "Bearer "+tok)
		a = v.send(ctx, r)
		a.reason = strings.ReplaceAll(a.reason, tok, "[redacted]")
		if (a.status != http.StatusUnauthorized && a.status != http.StatusForbidden) || try == 1 {
			break
		}
		v.oauth.invalidate(tok)
	}
	return a
}
