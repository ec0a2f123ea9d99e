package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// TokenVendor is one device maker's cloud that issues codes over HTTPS
// (adapters/tokenhttp). Its Name is a token scheme: devices created with
// token_scheme set to it get their codes from this vendor. See the README
// ("Token vendors") and adapters/tokenhttp for the template language.
type TokenVendor struct {
	Name string `yaml:"name"`
	// Method is GET, POST (the default) or PUT.
	Method string `yaml:"method"`
	// URLTemplate is the request URL, with {{placeholders}} escaped for
	// where they stand (path or query).
	URLTemplate string `yaml:"url_template"`
	// Encoding of the body: json (the default) or form.
	Encoding string `yaml:"encoding"`
	// RequestBody is the body template: a YAML mapping or list whose
	// string leaves may hold placeholders. A leaf that is one placeholder
	// keeps the value's type (a number stays a number).
	RequestBody any `yaml:"request_body"`
	// UnlockBody is the body sent for a paid-off device's unlock; empty
	// means RequestBody with {{command}} = unlock.
	UnlockBody any             `yaml:"unlock_body"`
	Auth       TokenVendorAuth `yaml:"auth"`
	// Secrets are values usable in templates as {{secret.NAME}} (vendors
	// that want credentials in the body or the query string). Give them
	// as references (env:NAME, file:/path).
	Secrets map[string]Secret `yaml:"secrets"`
	// IdempotencyHeader, when set, carries the token id on every request.
	IdempotencyHeader string `yaml:"idempotency_header"`
	// Idempotency says whether resending is safe after an ambiguous
	// outcome (a timeout or a 5xx after the request went out): header
	// (the vendor honours IdempotencyHeader; the default when it is set),
	// body (the token id is in the body, e.g. external_id), natural (the
	// same body sets the same state) or none (the default otherwise: an
	// ambiguous outcome is held for review, never resent).
	Idempotency string `yaml:"idempotency"`
	// Unit is what one unit of credit is for this vendor: days (the
	// default) or hours.
	Unit string `yaml:"unit"`
	// MaxUnits caps one request's units (0: no cap); more credit is split.
	MaxUnits int64               `yaml:"max_units"`
	Response TokenVendorResponse `yaml:"response"`
	// Timeout bounds one request (default 30s, at most 90s).
	Timeout time.Duration `yaml:"timeout"`
	// AllowInsecureHTTP allows an http:// URL (on-premise vendors only).
	AllowInsecureHTTP bool `yaml:"allow_insecure_http"`
	// AllowPrivateNetworks and AllowLoopback let the URL resolve to
	// private or loopback addresses (SSRF guard, as for webhooks).
	AllowPrivateNetworks bool               `yaml:"allow_private_networks"`
	AllowLoopback        bool               `yaml:"allow_loopback"`
	Retry                TokenVendorRetry   `yaml:"retry"`
	Breaker              TokenVendorBreaker `yaml:"breaker"`
}

// TokenVendorAuth is how requests authenticate.
type TokenVendorAuth struct {
	// Kind is header (Header: Value), basic (HTTP Basic),
	// oauth2_client_credentials or none. Empty means header when Header
	// is set, else none.
	Kind     string `yaml:"kind"`
	Header   string `yaml:"header"`
	Value    Secret `yaml:"value"`
	Username string `yaml:"username"`
	Password Secret `yaml:"password"`
	// OAuth2 client credentials (RFC 6749 §4.4): an access token from
	// TokenURL, cached until its expires_in less a margin and fetched
	// again once when the vendor answers 401 or 403, sent as
	// "Authorization: Bearer …". Scope and Audience are sent when set;
	// TokenEncoding is form (the default) or json (Auth0-style servers).
	TokenURL      string `yaml:"token_url"`
	ClientID      string `yaml:"client_id"`
	ClientSecret  Secret `yaml:"client_secret"`
	Scope         string `yaml:"scope"`
	Audience      string `yaml:"audience"`
	TokenEncoding string `yaml:"token_encoding"`
	// Login (kind login): a session token from a POST to LoginURL with
	// LoginBody (encoded as the vendor's encoding; its placeholders are
	// the vendor's secrets, {secret.NAME}), found at LoginTokenPath or,
	// without one, the whole answer (a bare JSON string or text). It is
	// kept for SessionTTL (0: until the vendor answers 401 or 403, then one
	// new login and the request resent) and sent as Header (default
	// Authorization) with Prefix, e.g. "Token ".
	LoginURL       string        `yaml:"login_url"`
	LoginBody      any           `yaml:"login_body"`
	LoginTokenPath string        `yaml:"login_token_path"`
	SessionTTL     time.Duration `yaml:"session_ttl"`
	Prefix         string        `yaml:"prefix"`
}

// AuthLogin is the auth kind of vendors with a login request.
const AuthLogin = "login"

// OAuth2ClientCredentials is the auth kind of an OAuth2 client.
const OAuth2ClientCredentials = "oauth2_client_credentials"

// TokenVendorResponse maps a vendor's answer. Paths are JSON paths such
// as $.token, $._embedded.latest_keycode.keycode or $[0].Token.
type TokenVendorResponse struct {
	// TokenPath is where the code is; required unless AckOnly or
	// TokenRegex.
	TokenPath string `yaml:"token_path"`
	// TokenRegex finds the code in an answer that is not JSON (a vendor
	// answering "10394857261038475629,60.00"): a regular expression (RE2)
	// over the raw body whose first group, or whole match without one, is
	// the code. With TokenPath too it is used when the body is not JSON.
	TokenRegex string `yaml:"token_regex"`
	// AckOnly vendors credit the device themselves: success carries no
	// code (ReferencePath, if set, is kept as the code instead).
	AckOnly       bool   `yaml:"ack_only"`
	ReferencePath string `yaml:"reference_path"`
	// ErrorPath is where the vendor's error message is.
	ErrorPath string `yaml:"error_path"`
	// ErrorWhenPresent makes any answer with a value at that path an
	// error, whatever its status (Angaza's context).
	ErrorWhenPresent string `yaml:"error_when_present"`
	// SuccessPath and SuccessEquals: a 2xx answer is a success only if
	// the value at SuccessPath, as text, equals SuccessEquals
	// (result_code 0).
	SuccessPath   string `yaml:"success_path"`
	SuccessEquals string `yaml:"success_equals"`
	// PermanentStatus lists the HTTP statuses that fail the token at once
	// (unknown device, validation). Default 400, 404, 409, 410, 422.
	PermanentStatus []int `yaml:"permanent_status"`
}

// TokenVendorRetry is how a failing request is retried: exponential
// delays from Initial (default 30s) to Max (default 1h), at most
// MaxAttempts attempts (default 12) before the token fails.
type TokenVendorRetry struct {
	MaxAttempts int           `yaml:"max_attempts"`
	Initial     time.Duration `yaml:"initial"`
	Max         time.Duration `yaml:"max"`
}

// TokenVendorBreaker is the vendor's circuit breaker: Failures consecutive
// failed requests (default 5) open it for OpenFor (default 1m).
type TokenVendorBreaker struct {
	Failures int           `yaml:"failures"`
	OpenFor  time.Duration `yaml:"open_for"`
}

var vendorName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,31}$`)

// validateTokenVendors checks the token vendors' shape; adapters/tokenhttp
// checks their templates and paths when it builds them.
func (c *Config) validateTokenVendors(bad func(path, format string, args ...any)) {
	seen := map[string]bool{}
	for i, v := range c.TokenVendors {
		p := fmt.Sprintf("token_vendors[%d]", i)
		switch {
		case v.Name == "":
			bad(p+".name", "required: the token scheme devices name")
		case !vendorName.MatchString(v.Name):
			bad(p+".name", "want 1-32 lower-case letters, digits, '.', '_' or '-', got %q", v.Name)
		case v.Name == "openpaygo" || v.Name == "nexus" || v.Name == "none":
			bad(p+".name", "%q is a built-in token scheme", v.Name)
		case seen[v.Name]:
			bad(p+".name", "%q is used by another token vendor", v.Name)
		}
		seen[v.Name] = true
		switch strings.ToUpper(v.Method) {
		case "", "POST", "PUT":
		case "GET":
			if v.RequestBody != nil || v.UnlockBody != nil {
				bad(p+".method", "GET sends no body: remove request_body or use POST")
			}
		default:
			bad(p+".method", "must be GET, POST or PUT, got %q", v.Method)
		}
		if v.URLTemplate == "" {
			bad(p+".url_template", "required, e.g. https://api.vendor.example/v2/token")
		} else if u, err := url.Parse(v.URLTemplate); err != nil || u.Host == "" {
			bad(p+".url_template", "not an absolute URL: %q", v.URLTemplate)
		} else if u.Scheme != "https" && !(u.Scheme == "http" && v.AllowInsecureHTTP) {
			bad(p+".url_template", "must be https:// (or http:// with allow_insecure_http: true), got %s://", u.Scheme)
		}
		switch v.Encoding {
		case "", "json":
		case "form":
			for key, body := range map[string]any{"request_body": v.RequestBody, "unlock_body": v.UnlockBody} {
				if _, ok := body.(map[string]any); body != nil && !ok {
					bad(p+"."+key, "a form body must be a mapping of field names to values")
				}
			}
		default:
			bad(p+".encoding", "must be json or form, got %q", v.Encoding)
		}
		switch v.Auth.Kind {
		case "":
		case "header":
			if v.Auth.Header == "" {
				bad(p+".auth.header", "required for auth kind header, e.g. Authorization")
			}
		case "basic":
			if v.Auth.Username == "" {
				bad(p+".auth.username", "required for auth kind basic")
			}
		case "none":
		case OAuth2ClientCredentials:
			a := v.Auth
			if u, err := url.Parse(a.TokenURL); a.TokenURL == "" || err != nil || u.Host == "" {
				bad(p+".auth.token_url", "required for auth kind %s: an absolute URL, got %q", OAuth2ClientCredentials, a.TokenURL)
			} else if u.Scheme != "https" && !(u.Scheme == "http" && v.AllowInsecureHTTP) {
				bad(p+".auth.token_url", "must be https:// (or http:// with allow_insecure_http: true), got %s://", u.Scheme)
			}
			if a.ClientID == "" {
				bad(p+".auth.client_id", "required for auth kind %s", OAuth2ClientCredentials)
			}
			if a.ClientSecret.IsZero() {
				bad(p+".auth.client_secret", "required for auth kind %s (give it as env:NAME or file:/path)", OAuth2ClientCredentials)
			}
			if a.TokenEncoding != "" && a.TokenEncoding != "form" && a.TokenEncoding != "json" {
				bad(p+".auth.token_encoding", "must be form or json, got %q", a.TokenEncoding)
			}
		case AuthLogin:
			a := v.Auth
			if u, err := url.Parse(a.LoginURL); a.LoginURL == "" || err != nil || u.Host == "" {
				bad(p+".auth.login_url", "required for auth kind login: an absolute URL, got %q", a.LoginURL)
			} else if u.Scheme != "https" && !(u.Scheme == "http" && v.AllowInsecureHTTP) {
				bad(p+".auth.login_url", "must be https:// (or http:// with allow_insecure_http: true), got %s://", u.Scheme)
			}
			if a.SessionTTL < 0 {
				bad(p+".auth.session_ttl", "must not be negative, got %v", a.SessionTTL)
			}
		default:
			bad(p+".auth.kind", "must be header, basic, %s, login or none, got %q", OAuth2ClientCredentials, v.Auth.Kind)
		}
		if v.Auth.Header != "" && v.Auth.Value.IsZero() && v.Auth.Kind != AuthLogin {
			bad(p+".auth.value", "required with auth.header (give it as env:NAME or file:/path)")
		}
		switch v.Idempotency {
		case "", "body", "natural", "none":
		case "header":
			if v.IdempotencyHeader == "" {
				bad(p+".idempotency_header", "required with idempotency: header, e.g. Idempotency-Key")
			}
		default:
			bad(p+".idempotency", "must be header, body, natural or none, got %q", v.Idempotency)
		}
		if v.Unit != "" && v.Unit != "days" && v.Unit != "hours" {
			bad(p+".unit", "must be days or hours, got %q", v.Unit)
		}
		if v.MaxUnits < 0 {
			bad(p+".max_units", "must be 0 (no cap) or positive, got %d", v.MaxUnits)
		}
		r := v.Response
		if r.TokenPath == "" && r.TokenRegex == "" && !r.AckOnly {
			bad(p+".response.token_path", "required unless response.token_regex or response.ack_only, e.g. $.token")
		}
		if r.TokenRegex != "" {
			if re, err := regexp.Compile(r.TokenRegex); err != nil {
				bad(p+".response.token_regex", "not a regular expression: %v", err)
			} else if re.NumSubexp() > 1 {
				bad(p+".response.token_regex", "at most one group (the code), got %d", re.NumSubexp())
			}
		}
		if (r.SuccessPath == "") != (r.SuccessEquals == "") {
			bad(p+".response.success_equals", "success_path and success_equals go together")
		}
		for j, s := range r.PermanentStatus {
			if s < 400 || s > 599 {
				bad(fmt.Sprintf("%s.response.permanent_status[%d]", p, j), "must be an HTTP error status 400-599, got %d", s)
			}
		}
		if v.Timeout < 0 || v.Timeout > 90*time.Second {
			bad(p+".timeout", "must be up to 90s, got %v", v.Timeout)
		}
		if v.Retry.MaxAttempts < 0 || v.Retry.MaxAttempts > 100 {
			bad(p+".retry.max_attempts", "must be 1 to 100 (0: the default), got %d", v.Retry.MaxAttempts)
		}
		if v.Retry.Initial < 0 || v.Retry.Max < 0 || (v.Retry.Max > 0 && v.Retry.Max < v.Retry.Initial) {
			bad(p+".retry.max", "must not be below retry.initial, got %v < %v", v.Retry.Max, v.Retry.Initial)
		}
		if v.Breaker.Failures < 0 {
			bad(p+".breaker.failures", "must be positive (0: the default), got %d", v.Breaker.Failures)
		}
		if v.Breaker.OpenFor < 0 {
			bad(p+".breaker.open_for", "must be a positive duration, got %v", v.Breaker.OpenFor)
		}
	}
}
