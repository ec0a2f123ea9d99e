// Package tokenhttp issues tokens through a device maker's cloud: the
// proprietary schemes where the vendor, not the gateway, holds the device
// keys and answers an HTTPS request with the code (Sun King, Angaza's
// Nexus API, STS meter vendors…). One configured vendor (config.TokenVendor)
// is one token scheme, named after it.
//
// A Vendor is two things. As a payg.AsyncTokenEngine it lets the lease core
// store a pending token and enqueue, in the payment's transaction, a job
// carrying everything the request needs (the template values are fixed
// then, so a retry sends the same request). As a jobs.Handler (Handler) it
// sends that request: behind a circuit breaker per vendor (an open breaker
// reschedules the job without spending an attempt), with the token id as
// the idempotency key, retried on the vendor's failures with exponential
// backoff, until the vendor issues the code (payg.Service.CompleteToken)
// or refuses it (payg.Service.FailToken: the money stays applied and
// token.failed is raised). An ambiguous outcome (a timeout or 5xx after the
// request went out) is retried only when the vendor is idempotent;
// otherwise the job stops and the token stays pending for an operator to
// check at the vendor (a second vend would be a second valid code).
//
// Templates: the URL and the body's string leaves may hold placeholders {serial}, {token_id}, {units}, {days}, {hours},
// {value}, {seconds}, {command} (add_credit or unlock), {type},
// {credit_until} (RFC 3339 with offset), {credit_until_unix},
// {issued_at}, {issued_at_unix}, {issued_date} (YYYYMMDD, UTC), {amount}
// (the payment, in major units), {amount_minor}, {currency},
// {account_number}, {device_id}, {device_external_id}, {contract_id},
// {tenant_id} and {secret.NAME}. A body leaf that is a single number
// placeholder is a JSON number; {name|string} makes it a string.
package tokenhttp

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/adapters/internal/tokencache"
	"github.com/payg-gateway/gateway/config"
	"github.com/payg-gateway/gateway/connectors/webhook"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/jobs"
	"github.com/payg-gateway/gateway/core/payg"
)

// Defaults of a vendor's settings.
const (
	DefaultTimeout         = 30 * time.Second
	DefaultMaxAttempts     = 12
	DefaultRetryInitial    = 30 * time.Second
	DefaultRetryMax        = time.Hour
	DefaultBreakerFailures = 5
	DefaultBreakerOpenFor  = time.Minute
	// DefaultStoreTimeout bounds each store write after the vendor
	// answered (settling the token issued or failed).
	DefaultStoreTimeout = 30 * time.Second
	// QueuePrefix starts each vendor's job queue name.
	QueuePrefix = "token.vendor."
)

// Token types stored for a vendor's tokens.
const (
	TypeAddCredit = "ADD_CREDIT"
	TypeUnlock    = "UNLOCK"
)

var defaultPermanent = []int{400, 404, 409, 410, 422}

// Vendor is one configured token vendor. It is a payg.AsyncTokenEngine;
// Handler returns its job handler.
type Vendor struct {
	cfg        config.TokenVendor
	method     string
	url        urlTemplate
	credit     *body // nil: no body
	unlock     *body
	form       bool
	secrets    map[string]string
	tokenPath  jsonPath
	tokenRegex *regexp.Regexp // nil: none
	errorPath  jsonPath
	errorWhen  jsonPath
	success    jsonPath
	permanent  []int
	resendSafe bool // an ambiguous outcome may be resent
	unitSec    int64
	timeout    time.Duration
	storeTime  time.Duration // bounds each write after the vendor answered
	client     *http.Client
	clock      core.Clock
	session    *session // nil unless auth kind oauth2_client_credentials or login
}

var _ payg.AsyncTokenEngine = (*Vendor)(nil)

// Options are a Vendor's dependencies.
type Options struct {
	Clock core.Clock
	// Client sends the requests; nil is an egress-guarded client with the
	// vendor's timeout (see webhook.NewClient).
	Client *http.Client
	// StoreTimeout bounds each store write once the vendor has answered
	// (DefaultStoreTimeout when zero). A store that does not answer in
	// time fails the run, which is retried with the same idempotency key.
	StoreTimeout time.Duration
}

// New compiles a vendor's mapping. Errors name the setting, relative to
// the vendor (url_template, request_body.payload, response.token_path…).
func New(cfg config.TokenVendor, o Options) (*Vendor, error) {
	v := &Vendor{cfg: cfg, method: strings.ToUpper(cfg.Method), form: cfg.Encoding == "form", clock: o.Clock,
		secrets: map[string]string{}, timeout: cfg.Timeout, storeTime: o.StoreTimeout, unitSec: 86400}
	if v.clock == nil {
		v.clock = core.SystemClock{}
	}
	if v.method == "" {
		v.method = http.MethodPost
	}
	for k, s := range cfg.Secrets {
		v.secrets[k] = s.Value()
	}
	var err error
	fail := func(key string, err error) error { return fmt.Errorf("%s: %w", key, err) }
	if cfg.URLTemplate == "" {
		return nil, fail("url_template", fmt.Errorf("required"))
	}
	if v.url, err = parseURL(cfg.URLTemplate, v.secrets); err != nil {
		return nil, fail("url_template", err)
	}
	if cfg.RequestBody != nil {
		b, err := parseBody(cfg.RequestBody, v.secrets)
		if err != nil {
			return nil, fail("request_body", err)
		}
		v.credit, v.unlock = &b, &b
	}
	if cfg.UnlockBody != nil {
		b, err := parseBody(cfg.UnlockBody, v.secrets)
		if err != nil {
			return nil, fail("unlock_body", err)
		}
		v.unlock = &b
	}
	r := cfg.Response
	for _, p := range []struct {
		key  string
		src  string
		into *jsonPath
	}{
		{"response.token_path", r.TokenPath, &v.tokenPath},
		{"response.error_path", r.ErrorPath, &v.errorPath},
		{"response.error_when_present", r.ErrorWhenPresent, &v.errorWhen},
		{"response.success_path", r.SuccessPath, &v.success},
	} {
		if p.src == "" {
			continue
		}
		if *p.into, err = parsePath(p.src); err != nil {
			return nil, fail(p.key, err)
		}
	}
	if r.TokenRegex != "" {
		if v.tokenRegex, err = regexp.Compile(r.TokenRegex); err != nil {
			return nil, fail("response.token_regex", err)
		}
		if v.tokenRegex.NumSubexp() > 1 {
			return nil, fail("response.token_regex", fmt.Errorf("at most one group (the code)"))
		}
	}
	if v.tokenPath == nil && v.tokenRegex == nil && !r.AckOnly {
		return nil, fail("response.token_path", fmt.Errorf("required unless response.token_regex or response.ack_only"))
	}
	v.permanent = r.PermanentStatus
	if len(v.permanent) == 0 {
		v.permanent = defaultPermanent
	}
	switch idem := cfg.Idempotency; {
	case idem == "header" || (idem == "" && cfg.IdempotencyHeader != ""):
		v.resendSafe = cfg.IdempotencyHeader != ""
	case idem == "body" || idem == "natural":
		v.resendSafe = true
	}
	if cfg.Unit == "hours" {
		v.unitSec = 3600
	}
	if v.timeout <= 0 {
		v.timeout = DefaultTimeout
	}
	if v.storeTime <= 0 {
		v.storeTime = DefaultStoreTimeout
	}
	v.client = o.Client
	if v.client == nil {
		v.client = webhook.NewClient(webhook.Egress{AllowPrivate: cfg.AllowPrivateNetworks, AllowLoopback: cfg.AllowLoopback}, v.timeout)
	}
	if err := v.newSession(); err != nil {
		return nil, err
	}
	return v, nil
}

// newSession sets up the token an auth kind fetches before requests.
func (v *Vendor) newSession() error {
	a := v.cfg.Auth
	s := &session{header: "Authorization", prefix: "Bearer "}
	var fetch tokencache.Fetch
	switch a.Kind {
	case config.OAuth2ClientCredentials:
		if a.TokenURL == "" || a.ClientID == "" {
			return fmt.Errorf("auth: %s needs token_url and client_id", config.OAuth2ClientCredentials)
		}
		if _, err := url.Parse(a.TokenURL); err != nil {
			return fmt.Errorf("auth.token_url: %w", err)
		}
		o := &oauthSource{cfg: a, client: v.client, timeout: v.timeout}
		fetch = o.fetch
	case config.AuthLogin:
		if a.LoginURL == "" {
			return fmt.Errorf("auth.login_url: required for auth kind %s", config.AuthLogin)
		}
		l := &loginSource{url: a.LoginURL, form: v.form, ttl: a.SessionTTL, client: v.client, timeout: v.timeout}
		if a.LoginBody != nil {
			b, err := parseBody(a.LoginBody, v.secrets)
			if err != nil {
				return fmt.Errorf("auth.login_body: %w", err)
			}
			tree, err := b.render(map[string]string{}, v.secrets)
			if err != nil {
				return fmt.Errorf("auth.login_body: %w", err)
			}
			if l.form {
				l.body, err = encodeForm(tree)
			} else {
				l.body, err = encodeJSON(tree)
			}
			if err != nil {
				return fmt.Errorf("auth.login_body: %w", err)
			}
		}
		if a.LoginTokenPath != "" {
			p, err := parsePath(a.LoginTokenPath)
			if err != nil {
				return fmt.Errorf("auth.login_token_path: %w", err)
			}
			l.path = p
		}
		if a.Header != "" {
			s.header = a.Header
		}
		s.prefix = a.Prefix
		fetch = l.fetch
	default:
		return nil
	}
	s.cache = tokencache.New(fetch, v.clock, tokenMargin)
	v.session = s
	return nil
}

// Name is the vendor's name: its token scheme.
func (v *Vendor) Name() string { return v.cfg.Name }

// Queue is the job queue of the vendor's requests.
func (v *Vendor) Queue() string { return QueuePrefix + v.cfg.Name }

// RetryPolicy is the wait between failed requests: backoff/v4's
// exponential intervals from retry.initial to retry.max, ±10 %.
func (v *Vendor) RetryPolicy() jobs.RetryPolicy {
	p := jobs.Exponential{Initial: v.cfg.Retry.Initial, Max: v.cfg.Retry.Max, Jitter: 0.1}
	if p.Initial <= 0 {
		p.Initial = DefaultRetryInitial
	}
	if p.Max <= 0 {
		p.Max = max(DefaultRetryMax, p.Initial)
	}
	return p
}

// Unit implements payg.TokenEngine: one unit is a day or an hour.
func (v *Vendor) Unit(payg.Device) (seconds, per int64) { return v.unitSec, 1 }

// MaxUnits implements payg.TokenEngine: max_units, or no practical cap.
func (v *Vendor) MaxUnits(payg.Device) int64 {
	if v.cfg.MaxUnits > 0 {
		return v.cfg.MaxUnits
	}
	return 1 << 31
}

// AddCredit implements payg.TokenEngine: the code comes later; the
// counter is the device's local token sequence.
func (v *Vendor) AddCredit(d payg.Device, _ []byte, units int64) (payg.IssuedCode, error) {
	return payg.IssuedCode{Type: TypeAddCredit, Value: units, Counter: d.Counter + 1}, nil
}

// Unlock implements payg.TokenEngine.
func (v *Vendor) Unlock(d payg.Device, _ []byte) (payg.IssuedCode, error) {
	return payg.IssuedCode{Type: TypeUnlock, Counter: d.Counter + 1}, nil
}

// payload is a vendor job's: the token and the template values fixed when
// it was stored.
type payload struct {
	TokenID string            `json:"token_id"`
	Vars    map[string]string `json:"vars"`
}

// Job implements payg.AsyncTokenEngine.
func (v *Vendor) Job(r payg.VendorRequest) (core.Job, error) {
	vars, err := Vars(r, v.clock.Now())
	if err != nil {
		return core.Job{}, err
	}
	b, err := json.Marshal(payload{TokenID: r.Token.ID, Vars: vars})
	if err != nil {
		return core.Job{}, err
	}
	attempts := v.cfg.Retry.MaxAttempts
	if attempts <= 0 {
		attempts = DefaultMaxAttempts
	}
	return core.Job{Queue: v.Queue(), MaxAttempts: attempts, Payload: b}, nil
}

// rfc3339Offset is RFC 3339 with a numeric offset (+00:00, never Z), as
// vendors such as Angaza expect.
const rfc3339Offset = "2006-01-02T15:04:05-07:00"

// Vars returns the template values of a vendor request, now being when
// it is made.
func Vars(r payg.VendorRequest, now time.Time) (map[string]string, error) {
	t := r.Token
	command := "add_credit"
	if t.Type == TypeUnlock {
		command = "unlock"
	}
	i := func(n int64) string { return strconv.FormatInt(n, 10) }
	vars := map[string]string{
		"token_id": t.ID, "tenant_id": t.TenantID, "device_id": t.DeviceID, "device_external_id": r.Device.ExternalID,
		"serial": r.Device.Serial, "contract_id": t.ContractID, "account_number": r.AccountNumber,
		"command": command, "type": t.Type, "units": i(t.Value), "value": i(t.Value), "seconds": i(t.Seconds),
		"days": i(t.Seconds / 86400), "hours": i(t.Seconds / 3600),
		"issued_at": now.UTC().Format(rfc3339Offset), "issued_at_unix": i(now.Unix()), "issued_date": now.UTC().Format("20060102"),
		"credit_until": "", "credit_until_unix": "0", "amount": "0", "amount_minor": "0", "currency": string(r.Amount.Currency),
	}
	if !r.CreditUntil.IsZero() {
		vars["credit_until"] = r.CreditUntil.UTC().Format(rfc3339Offset)
		vars["credit_until_unix"] = i(r.CreditUntil.Unix())
	}
	if r.Amount.Currency != "" {
		a, err := adapters.FormatAmount(r.Amount)
		if err != nil {
			return nil, fmt.Errorf("token %s amount: %w", t.ID, err)
		}
		vars["amount"], vars["amount_minor"] = a, i(r.Amount.Amount)
	}
	return vars, nil
}

// request is one rendered request.
type request struct {
	method string
	url    string
	header http.Header
	body   []byte
}

// render builds the request of a job.
func (v *Vendor) render(p payload) (request, error) {
	u, err := v.url.render(p.Vars, v.secrets)
	if err != nil {
		return request{}, fmt.Errorf("url: %w", err)
	}
	req := request{method: v.method, url: u, header: http.Header{}}
	tmpl := v.credit
	if p.Vars["command"] == "unlock" {
		tmpl = v.unlock
	}
	if tmpl != nil {
		tree, err := tmpl.render(p.Vars, v.secrets)
		if err != nil {
			return request{}, fmt.Errorf("body: %w", err)
		}
		if v.form {
			req.body, err = encodeForm(tree)
			req.header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			req.body, err = encodeJSON(tree)
			req.header.Set("Content-Type", "application/json")
		}
		if err != nil {
			return request{}, fmt.Errorf("body: %w", err)
		}
	}
	req.header.Set("Accept", "application/json")
	switch a := v.cfg.Auth; {
	case a.Kind == "basic":
		hr, _ := http.NewRequest(http.MethodGet, "/", nil)
		hr.SetBasicAuth(a.Username, a.Password.Value())
		req.header.Set("Authorization", hr.Header.Get("Authorization"))
	case a.Header != "" && a.Kind != "none" && v.session == nil:
		req.header.Set(a.Header, a.Value.Value())
	}
	if h := v.cfg.IdempotencyHeader; h != "" {
		req.header.Set(h, p.TokenID)
	}
	return req, nil
}

// redact removes the vendor's secrets from text meant for logs and
// stored errors.
func (v *Vendor) redact(s string) string {
	secrets := []string{v.cfg.Auth.Value.Value(), v.cfg.Auth.Password.Value(), v.cfg.Auth.ClientSecret.Value()}
	for _, x := range v.secrets {
		secrets = append(secrets, x)
	}
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	for _, x := range secrets {
		if len(x) >= 4 {
			s = strings.ReplaceAll(s, x, "[redacted]")
		}
	}
	return s
}
