package africastalking

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/adapters/internal/wire"
)

// ID is the adapter's registered ID.
const ID = "sms.africastalking"

func init() {
	adapters.Register(adapters.AdapterInfo{ID: ID, New: func() adapters.Adapter { return new(Adapter) }})
}

// KindDeliveryReport is the delivery report route's {kind}: the full path
// is /callbacks/{instance}/delivery-report/{secret}.
const KindDeliveryReport = "delivery-report"

// Base URLs of the two environments (§6.1).
const (
	ProductionBaseURL = "https://api.africastalking.com"
	SandboxBaseURL    = "https://api.sandbox.africastalking.com"
)

// SandboxUsername is the only username the sandbox accepts.
const SandboxUsername = "sandbox"

// Settings are the instance settings (the keys under settings: in the
// configuration). See the package documentation for each key.
type Settings struct {
	Username       string          `json:"username"`
	APIKey         adapters.Secret `json:"api_key"`
	From           string          `json:"from"`
	Sandbox        bool            `json:"sandbox"`
	BaseURL        string          `json:"base_url"`
	BulkSMSMode    *bool           `json:"bulk_sms_mode"`
	Enqueue        bool            `json:"enqueue"`
	CallbackSecret adapters.Secret `json:"callback_secret"`
	AllowedCIDRs   []string        `json:"allowed_cidrs"`
}

// Adapter is one provisioned Africa's Talking SMS instance. Create it
// through adapters.Provision; its methods are safe for concurrent use.
type Adapter struct {
	instance string
	s        Settings
	bulk     bool
	allowed  []netip.Prefix
	http     *http.Client
	log      *slog.Logger
}

// Provision decodes the settings, resolves secrets and applies defaults.
func (a *Adapter) Provision(ctx context.Context, inst adapters.InstanceConfig, deps adapters.Deps) error {
	deps = deps.WithDefaults()
	if err := adapters.DecodeSettings(inst.Settings, &a.s, deps.Secrets); err != nil {
		return err
	}
	a.instance, a.http, a.log = inst.Name, deps.HTTPClient, deps.Logger
	s := &a.s
	if s.BaseURL == "" {
		s.BaseURL = ProductionBaseURL
		if s.Sandbox {
			s.BaseURL = SandboxBaseURL
		}
	}
	s.BaseURL = strings.TrimRight(s.BaseURL, "/")
	a.bulk = s.BulkSMSMode == nil || *s.BulkSMSMode
	var err error
	a.allowed, err = adapters.ParsePrefixes("settings.allowed_cidrs", s.AllowedCIDRs)
	return err
}

var (
	usernamePattern = regexp.MustCompile(`^[A-Za-z0-9_.@-]{1,100}$`)
	secretPattern   = regexp.MustCompile(`^[A-Za-z0-9_-]{16,128}$`)
)

// Validate checks the settings as a whole. Errors name the setting.
func (a *Adapter) Validate() error {
	s := &a.s
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("settings.%s: "+format, append([]any{key}, args...)...))
	}
	switch {
	case s.Username == "":
		bad("username", "required: the Africa's Talking app username (%q in the sandbox)", SandboxUsername)
	case !usernamePattern.MatchString(s.Username):
		bad("username", "%q: not a username", s.Username)
	case s.Sandbox && s.Username != SandboxUsername:
		bad("username", "%q: the sandbox only accepts %q", s.Username, SandboxUsername)
	case !s.Sandbox && s.Username == SandboxUsername:
		bad("username", "%q is the sandbox's username: set sandbox: true, or use the production app's username", s.Username)
	}
	if s.APIKey.IsZero() {
		bad("api_key", "required: the app's API key (a secret reference such as env:AT_API_KEY)")
	}
	if strings.ContainsAny(s.From, ",&=\r\n") || len(s.From) > 64 {
		bad("from", "%q: want a registered sender id or short code", s.From)
	}
	if u, err := url.Parse(s.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
		bad("base_url", "%q: want an absolute http(s) URL", s.BaseURL)
	}
	if !secretPattern.MatchString(s.CallbackSecret.Value()) {
		bad("callback_secret", "required: the delivery report route's secret path segment, 16-128 of A-Z a-z 0-9 _ -")
	}
	return errors.Join(errs...)
}

// CallbackRoutes lists the delivery report route, by POST.
func (a *Adapter) CallbackRoutes() []adapters.Route {
	return []adapters.Route{{Kind: KindDeliveryReport, Methods: []string{"POST"}, Params: []string{"secret"}}}
}

// VerifyCallback checks the caller's address against allowed_cidrs when
// set (403) and the secret path segment (404). Africa's Talking does not
// sign delivery reports (§6.2); they never move money.
func (a *Adapter) VerifyCallback(ctx context.Context, req *adapters.Request) error {
	if req.Kind != KindDeliveryReport {
		return fmt.Errorf("africastalking: verify %q: %w", req.Kind, adapters.ErrUnknownKind)
	}
	if err := adapters.CheckSourceAddr(a.allowed, req.RemoteAddr); err != nil {
		return fmt.Errorf("africastalking: verify: %w", err)
	}
	if !adapters.SecretEqual(req.PathParams["secret"], a.s.CallbackSecret.Value()) {
		return fmt.Errorf("africastalking: verify: %w", &adapters.AuthError{Status: 404, Check: "path_secret", Reason: "wrong secret path segment"})
	}
	return nil
}

// dlrStates maps the delivery report statuses of §6.2, by lower-cased
// text. Sent, Submitted and Buffered all say the message has left Africa's
// Talking for the telco (sent, submitted to or queued by the mobile
// service provider): sent, not final.
var dlrStates = map[string]adapters.SMSState{
	"sent":      adapters.SMSSent,
	"submitted": adapters.SMSSent,
	"buffered":  adapters.SMSSent,
	"success":   adapters.SMSDelivered,
	"failed":    adapters.SMSFailed,
	"rejected":  adapters.SMSRejected,
}

// ack is the answer to every delivery report: 200, no body (§6.2: any
// body).
var ack = adapters.Response{Status: http.StatusOK}

// ParseCallback reads a delivery report into one DeliveryReport; see the
// package documentation. It never fails for the declared kind: a report
// without an id or a status, or a body that is not a form, is quarantined
// and still answered 200 (Africa's Talking would otherwise retry a report
// that can never be applied).
func (a *Adapter) ParseCallback(ctx context.Context, req *adapters.Request) (*adapters.CallbackResult, error) {
	if req.Kind != KindDeliveryReport {
		return nil, fmt.Errorf("africastalking: parse callback %q: %w", req.Kind, adapters.ErrUnknownKind)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res := &adapters.CallbackResult{Ack: ack}
	d, problem := ParseDeliveryReport(req.Body)
	if problem != "" {
		res.Quarantine = &adapters.Quarantine{Reason: "africastalking: delivery report: " + problem}
		return res, nil
	}
	res.Deliveries = []adapters.DeliveryReport{d}
	return res, nil
}

// ParseDeliveryReport reads a delivery report body (form-encoded, §6.2).
// problem is non-empty, and the report zero, when the body cannot be
// applied. A status it does not know is reported as accepted (not final)
// with the text in ProviderStatus.
func ParseDeliveryReport(body []byte) (d adapters.DeliveryReport, problem string) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return d, "body is not a form: " + wire.Quote(err.Error(), 80)
	}
	one := func(key string) (string, string) {
		v := form[key]
		switch {
		case len(v) == 0:
			return "", ""
		case len(v) > 1:
			return "", key + " given " + fmt.Sprint(len(v)) + " times"
		}
		return strings.TrimSpace(v[0]), ""
	}
	id, p1 := one("id")
	status, p2 := one("status")
	reason, p3 := one("failureReason")
	for _, p := range []string{p1, p2, p3} {
		if p != "" {
			return d, p
		}
	}
	switch {
	case id == "":
		return d, "no id"
	case status == "":
		return d, "no status for id " + wire.Quote(id, 60)
	case len(id) > 200:
		return d, "id " + wire.Quote(id, 60) + " is too long"
	}
	state, ok := dlrStates[strings.ToLower(status)]
	if !ok {
		state = adapters.SMSAccepted
	}
	return adapters.DeliveryReport{ProviderID: id, State: state, ProviderStatus: wire.Clip(status), Reason: wire.Clip(reason)}, ""
}

// Interface guards.
var (
	_ adapters.Adapter          = (*Adapter)(nil)
	_ adapters.Validator        = (*Adapter)(nil)
	_ adapters.CallbackRouter   = (*Adapter)(nil)
	_ adapters.CallbackVerifier = (*Adapter)(nil)
	_ adapters.CallbackParser   = (*Adapter)(nil)
	_ adapters.SMSSender        = (*Adapter)(nil)
)
