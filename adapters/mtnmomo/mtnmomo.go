package mtnmomo

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/adapters/internal/tokencache"
	"github.com/payg-gateway/gateway/core"
)

// ID is the adapter's registered ID.
const ID = "payments.mtn_momo"

func init() {
	adapters.Register(adapters.AdapterInfo{ID: ID, New: func() adapters.Adapter { return new(Adapter) }})
}

// KindRequestToPay is the callback route's {kind}: the full path is
// /callbacks/{instance}/requesttopay/{reference}/{token}, where reference
// is the X-Reference-Id (MTN does not put it in the body) and token the
// first 32 hex characters of HMAC-SHA256(callback_key, reference).
const KindRequestToPay = "requesttopay"

// tokenLength is the number of hex characters of the path token.
const tokenLength = 32

// Base URLs of the MoMo environments.
const (
	SandboxBaseURL    = "https://sandbox.momodeveloper.mtn.com"
	ProductionBaseURL = "https://proxy.momoapi.mtn.com"
)

// Settings are the instance settings (the keys under settings: in the
// configuration). See the package documentation for each key.
type Settings struct {
	Environment          string          `json:"environment"`
	BaseURL              string          `json:"base_url"`
	TargetEnvironment    string          `json:"target_environment"`
	SubscriptionKey      adapters.Secret `json:"subscription_key"`
	APIUser              string          `json:"api_user"`
	APIKey               adapters.Secret `json:"api_key"`
	CallbackBaseURL      string          `json:"callback_base_url"`
	CallbackKey          adapters.Secret `json:"callback_key"`
	ConfirmByStatusQuery *bool           `json:"confirm_by_status_query"`
	AllowedCIDRs         []string        `json:"allowed_cidrs"`
}

// Adapter is one provisioned MTN MoMo collection instance. Create it
// through adapters.Provision; its methods are safe for concurrent use.
type Adapter struct {
	instance string
	currency core.Currency
	s        Settings
	confirm  bool
	allowed  []netip.Prefix
	http     *http.Client
	tokens   *tokencache.Cache // nil without API credentials
}

var targetPattern = regexp.MustCompile(`^[a-z]{3,40}$`)

// Provision decodes the settings, resolves secrets and applies defaults.
func (a *Adapter) Provision(ctx context.Context, inst adapters.InstanceConfig, deps adapters.Deps) error {
	deps = deps.WithDefaults()
	if err := adapters.DecodeSettings(inst.Settings, &a.s, deps.Secrets); err != nil {
		return err
	}
	a.instance, a.currency, a.http = inst.Name, inst.Currency, deps.HTTPClient
	s := &a.s
	if s.Environment == "" {
		s.Environment = "sandbox"
	}
	if s.BaseURL == "" {
		s.BaseURL = SandboxBaseURL
		if s.Environment == "production" {
			s.BaseURL = ProductionBaseURL
		}
	}
	s.BaseURL = strings.TrimRight(s.BaseURL, "/")
	s.CallbackBaseURL = strings.TrimRight(s.CallbackBaseURL, "/")
	if s.TargetEnvironment == "" && s.Environment == "sandbox" {
		s.TargetEnvironment = "sandbox"
	}
	a.confirm = s.ConfirmByStatusQuery == nil || *s.ConfirmByStatusQuery
	var err error
	if a.allowed, err = adapters.ParsePrefixes("settings.allowed_cidrs", s.AllowedCIDRs); err != nil {
		return err
	}
	if s.APIUser != "" && !s.APIKey.IsZero() && !s.SubscriptionKey.IsZero() {
		a.tokens = tokencache.New(a.fetchToken, deps.Clock, 5*time.Minute)
	}
	return nil
}

// Validate checks the settings as a whole. Errors name the setting.
func (a *Adapter) Validate() error {
	s := &a.s
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("settings.%s: "+format, append([]any{key}, args...)...))
	}
	if s.Environment != "sandbox" && s.Environment != "production" {
		bad("environment", "%q: want sandbox or production", s.Environment)
	}
	if u, err := url.Parse(s.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		bad("base_url", "%q: want an absolute http(s) URL", s.BaseURL)
	}
	if !targetPattern.MatchString(s.TargetEnvironment) {
		bad("target_environment", "required in production: the X-Target-Environment, e.g. mtnuganda")
	}
	if s.CallbackKey.IsZero() {
		bad("callback_key", "required: the key of the per-request callback path token (at least 32 random characters)")
	} else if len(s.CallbackKey.Value()) < 32 {
		bad("callback_key", "too short: use at least 32 random characters")
	}
	if s.CallbackBaseURL != "" {
		u, err := url.Parse(s.CallbackBaseURL)
		switch {
		case err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
			bad("callback_base_url", "%q: want an absolute URL without query or fragment", s.CallbackBaseURL)
		case u.Scheme == "https":
		case u.Scheme == "http" && s.Environment == "sandbox":
			// MTN's sandbox calls back over plain HTTP.
		default:
			bad("callback_base_url", "%q: want https", s.CallbackBaseURL)
		}
	}
	creds := []bool{s.APIUser != "", !s.APIKey.IsZero(), !s.SubscriptionKey.IsZero()}
	if (creds[0] || creds[1] || creds[2]) && a.tokens == nil {
		bad("api_user", "api_user, api_key and subscription_key go together")
	}
	if s.APIUser != "" && !isUUID(s.APIUser) {
		bad("api_user", "%q: want the API user's UUID", s.APIUser)
	}
	if a.confirm && a.tokens == nil {
		bad("confirm_by_status_query", "confirming callbacks needs api_user, api_key and subscription_key (or set it to false)")
	}
	return errors.Join(errs...)
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func isUUID(s string) bool { return uuidPattern.MatchString(s) }

// CallbackRoutes lists the one callback route, by PUT or POST.
func (a *Adapter) CallbackRoutes() []adapters.Route {
	return []adapters.Route{{Kind: KindRequestToPay, Methods: []string{"PUT", "POST"}, Params: []string{"reference", "token"}}}
}

// VerifyCallback checks the caller's address against allowed_cidrs when
// set (403) and the path token against the reference (404). MTN does not
// sign callbacks: even a verified callback is only a hint until confirmed
// by a status query (confirm_by_status_query).
func (a *Adapter) VerifyCallback(ctx context.Context, req *adapters.Request) error {
	if req.Kind != KindRequestToPay {
		return fmt.Errorf("mtnmomo: verify %q: %w", req.Kind, adapters.ErrUnknownKind)
	}
	if err := adapters.CheckSourceAddr(a.allowed, req.RemoteAddr); err != nil {
		return fmt.Errorf("mtnmomo: verify: %w", err)
	}
	ref := req.PathParams["reference"]
	if ref == "" || !adapters.SecretEqual(req.PathParams["token"], a.pathToken(ref)) {
		return fmt.Errorf("mtnmomo: verify: %w", &adapters.AuthError{Status: 404, Check: "path_token", Reason: "wrong or missing path token for the reference"})
	}
	return nil
}

// pathToken is the callback path token of a reference.
func (a *Adapter) pathToken(ref string) string {
	return adapters.PathToken(a.s.CallbackKey.Value(), ref, tokenLength)
}

// CallbackURL returns the X-Callback-Url sent with a request-to-pay for
// reference, or "" without callback_base_url.
func (a *Adapter) CallbackURL(reference string) string {
	if a.s.CallbackBaseURL == "" {
		return ""
	}
	return a.s.CallbackBaseURL + "/" + KindRequestToPay + "/" + url.PathEscape(reference) + "/" + a.pathToken(reference)
}

// ParseCallback reads a request-to-pay callback; see
// adapters.CallbackParser. Every notice needs confirmation when
// confirm_by_status_query is on (the default). The acknowledgement is 200
// with an empty body.
func (a *Adapter) ParseCallback(ctx context.Context, req *adapters.Request) (*adapters.CallbackResult, error) {
	if req.Kind != KindRequestToPay {
		return nil, fmt.Errorf("mtnmomo: parse callback %q: %w", req.Kind, adapters.ErrUnknownKind)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ref := req.PathParams["reference"]
	res := &adapters.CallbackResult{
		Ack: adapters.Response{Status: 200},
		Ref: adapters.PaymentRef{ProviderRef: ref},
	}
	n, problem := a.readPayment(req.Body)
	res.Ref.RequestID, res.Ref.ProviderTxID = n.RequestID, n.ProviderTxID
	if problem != "" {
		res.Quarantine = &adapters.Quarantine{Reason: "mtnmomo: parse callback: " + problem}
		return res, nil
	}
	res.Notices = []core.PaymentNotice{n}
	res.NeedsConfirmation = a.confirm
	return res, nil
}

// ConfirmByStatusQuery reports whether the instance's callback notices
// need confirmation by a status query.
func (a *Adapter) ConfirmByStatusQuery() bool { return a.confirm }

// Interface guards.
var (
	_ adapters.Adapter          = (*Adapter)(nil)
	_ adapters.Validator        = (*Adapter)(nil)
	_ adapters.CallbackRouter   = (*Adapter)(nil)
	_ adapters.CallbackVerifier = (*Adapter)(nil)
	_ adapters.CallbackParser   = (*Adapter)(nil)
	_ adapters.PaymentInitiator = (*Adapter)(nil)
	_ adapters.StatusQuerier    = (*Adapter)(nil)
)
