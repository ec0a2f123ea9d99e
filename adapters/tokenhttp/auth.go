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
	"time"

	"github.com/payg-gateway/gateway/adapters/internal/tokencache"
	"github.com/payg-gateway/gateway/config"
)

// Access tokens without an expires_in are kept this long.
const defaultTokenLifetime = 5 * time.Minute

// tokenMargin is how long before its expiry a cached access token is
// fetched again (at most half its lifetime).
const tokenMargin = time.Minute

// untilRefused is the lifetime of a login session without a session_ttl:
// it is kept until the vendor refuses it.
const untilRefused = 100 * 365 * 24 * time.Hour

// session is a vendor's cached access or session token (auth kinds
// oauth2_client_credentials and login), sent as header: prefix + token.
// The cache (adapters/internal/tokencache) fetches one at a time however
// many requests want it.
type session struct {
	cache  *tokencache.Cache
	header string
	prefix string
}

// oauthSource fetches OAuth2 client-credentials access tokens.
type oauthSource struct {
	cfg     config.TokenVendorAuth
	client  *http.Client
	timeout time.Duration
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
	if v.session == nil {
		return v.send(ctx, r)
	}
	var a answer
	for try := range 2 {
		tok, err := v.session.cache.Token(ctx)
		if err != nil {
			return answer{kind: retryable, unhealthy: true, reason: v.redact("access token: " + err.Error())}
		}
		r.header = r.header.Clone()
		r.header.Set(v.session.header, v.session.prefix+tok)
		a = v.send(ctx, r)
		a.reason = strings.ReplaceAll(a.reason, tok, "[redacted]")
		if (a.status != http.StatusUnauthorized && a.status != http.StatusForbidden) || try == 1 {
			break
		}
		v.session.cache.Invalidate(tok)
	}
	return a
}

// loginSource logs in to a vendor for a session token (auth kind login).
type loginSource struct {
	url     string
	body    []byte
	form    bool
	path    jsonPath // nil: the whole answer is the token
	ttl     time.Duration
	client  *http.Client
	timeout time.Duration
}

// fetch logs in. The token is at the path, or is the whole answer: a bare
// JSON string or text. An empty token or "false" is a refused login.
func (l *loginSource) fetch(ctx context.Context) (string, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.url, bytes.NewReader(l.body))
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if l.form {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := l.client.Do(req)
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
	text := strings.TrimSpace(string(raw))
	var doc any
	isJSON := json.Unmarshal(raw, &doc) == nil
	tok := ""
	switch {
	case l.path != nil:
		if isJSON {
			tok, _ = l.path.getText(doc)
		}
	case isJSON:
		tok, _ = doc.(string)
	default:
		tok = text
	}
	tok = strings.TrimSpace(tok)
	if resp.StatusCode/100 != 2 || tok == "" || tok == "false" {
		return "", 0, fmt.Errorf("login refused: HTTP %d: %s", resp.StatusCode, strings.ToValidUTF8(text[:min(len(text), 200)], "?"))
	}
	ttl := l.ttl
	if ttl <= 0 {
		ttl = untilRefused
	}
	return tok, ttl, nil
}
