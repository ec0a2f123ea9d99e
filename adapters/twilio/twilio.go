package twilio

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/adapters/internal/wire"
)

// ID is the adapter's registered ID.
const ID = "sms.twilio"

func init() {
	adapters.Register(adapters.AdapterInfo{ID: ID, New: func() adapters.Adapter { return new(Adapter) }})
}

// KindStatus is the status callback route's {kind}: the full path is
// /callbacks/{instance}/status, and status_callback_url is its public URL.
const KindStatus = "status"

// DefaultBaseURL is Twilio's REST API.
const DefaultBaseURL = "https://api.twilio.com"

// SignatureHeader carries Twilio's request signature.
const SignatureHeader = "X-Twilio-Signature"

// Settings are the instance settings (the keys under settings: in the
// configuration). See the package documentation for each key.
type Settings struct {
	AccountSID          string          `json:"account_sid"`
	AuthToken           adapters.Secret `json:"auth_token"`
	From                string          `json:"from"`
	MessagingServiceSID string          `json:"messaging_service_sid"`
	StatusCallbackURL   string          `json:"status_callback_url"`
	BaseURL             string          `json:"base_url"`
}

// Adapter is one provisioned Twilio SMS instance. Create it through
// adapters.Provision; its methods are safe for concurrent use.
type Adapter struct {
	instance string
	s        Settings
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
	if a.s.BaseURL == "" {
		a.s.BaseURL = DefaultBaseURL
	}
	a.s.BaseURL = strings.TrimRight(a.s.BaseURL, "/")
	return nil
}

var (
	accountSIDPattern = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	serviceSIDPattern = regexp.MustCompile(`^MG[0-9a-fA-F]{32}$`)
)

// Validate checks the settings as a whole. Errors name the setting.
func (a *Adapter) Validate() error {
	s := &a.s
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("settings.%s: "+format, append([]any{key}, args...)...))
	}
	if !accountSIDPattern.MatchString(s.AccountSID) {
		bad("account_sid", "%q: want the account SID, AC and 32 hex digits", s.AccountSID)
	}
	if s.AuthToken.IsZero() {
		bad("auth_token", "required: the account's auth token (a secret reference such as env:TWILIO_AUTH_TOKEN)")
	}
	if s.From == "" && s.MessagingServiceSID == "" {
		bad("from", "required unless messaging_service_sid is set: a Twilio number in E.164 or an alphanumeric sender id")
	}
	if s.MessagingServiceSID != "" && !serviceSIDPattern.MatchString(s.MessagingServiceSID) {
		bad("messaging_service_sid", "%q: want MG and 32 hex digits", s.MessagingServiceSID)
	}
	if u, err := url.Parse(s.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
		bad("base_url", "%q: want an absolute http(s) URL", s.BaseURL)
	}
	suffix := "/" + a.instance + "/" + KindStatus
	u, err := url.Parse(s.StatusCallbackURL)
	switch {
	case s.StatusCallbackURL == "":
		bad("status_callback_url", "required: the public URL of this instance's status route, e.g. https://gateway.example.com/callbacks%s", suffix)
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" || len(s.StatusCallbackURL) > 4000:
		bad("status_callback_url", "%q: want an absolute http(s) URL of at most 4000 characters", s.StatusCallbackURL)
	case strings.Contains(u.Hostname(), "_"):
		bad("status_callback_url", "%q: Twilio refuses underscores in the host name", s.StatusCallbackURL)
	case !strings.HasSuffix(u.Path, suffix):
		bad("status_callback_url", "%q: the path must end in %s, this instance's status route", s.StatusCallbackURL, suffix)
	}
	return errors.Join(errs...)
}

// CallbackRoutes lists the status callback route, by POST.
func (a *Adapter) CallbackRoutes() []adapters.Route {
	return []adapters.Route{{Kind: KindStatus, Methods: []string{"POST"}}}
}

// VerifyCallback checks X-Twilio-Signature against status_callback_url
// (the URL Twilio signed, as it called it) and the form parameters of the
// body. A missing or wrong signature, or a body that is not a form, is a
// 403.
func (a *Adapter) VerifyCallback(ctx context.Context, req *adapters.Request) error {
	if req.Kind != KindStatus {
		return fmt.Errorf("twilio: verify %q: %w", req.Kind, adapters.ErrUnknownKind)
	}
	got := req.Header.Get(SignatureHeader)
	if got == "" {
		return fmt.Errorf("twilio: verify: %w", &adapters.AuthError{Status: 403, Check: "signature", Reason: "no " + SignatureHeader + " header"})
	}
	form, err := url.ParseQuery(string(req.Body))
	if err != nil {
		return fmt.Errorf("twilio: verify: %w", &adapters.AuthError{Status: 403, Check: "signature", Reason: "the body is not a form"})
	}
	if !hmac.Equal([]byte(got), []byte(Signature(a.s.AuthToken.Value(), a.s.StatusCallbackURL, form))) {
		return fmt.Errorf("twilio: verify: %w", &adapters.AuthError{Status: 403, Check: "signature", Reason: "wrong " + SignatureHeader})
	}
	return nil
}

// Signature is Twilio's request signature (§7): base64 of
// HMAC-SHA1(authToken, fullURL followed by every parameter's name and
// value, sorted by name, without separators). Several values of one name
// are taken in sorted order, as Twilio's own libraries do.
func Signature(authToken, fullURL string, params url.Values) string {
	m := hmac.New(sha1.New, []byte(authToken))
	m.Write([]byte(fullURL))
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		vs := slices.Clone(params[k])
		slices.Sort(vs)
		for _, v := range vs {
			m.Write([]byte(k))
			m.Write([]byte(v))
		}
	}
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// States maps Twilio's message statuses (§7, MessageEnumStatus). A status
// not in the table is accepted, not final.
var States = map[string]adapters.SMSState{
	"queued":      adapters.SMSAccepted,
	"accepted":    adapters.SMSAccepted,
	"scheduled":   adapters.SMSAccepted,
	"sending":     adapters.SMSAccepted,
	"sent":        adapters.SMSSent,
	"delivered":   adapters.SMSDelivered,
	"read":        adapters.SMSDelivered,
	"undelivered": adapters.SMSFailed,
	"failed":      adapters.SMSFailed,
	"canceled":    adapters.SMSFailed,
}

// state maps a status text; unknown is accepted.
func state(status string) adapters.SMSState {
	if st, ok := States[strings.ToLower(strings.TrimSpace(status))]; ok {
		return st
	}
	return adapters.SMSAccepted
}

// errorTexts name the delivery error codes a status callback carries
// most often (Twilio's error dictionary), for Reason when the callback
// gives no ErrorMessage.
var errorTexts = map[string]string{
	"30001": "Queue overflow",
	"30002": "Account suspended",
	"30003": "Unreachable destination handset",
	"30004": "Message blocked",
	"30005": "Unknown destination handset",
	"30006": "Landline or unreachable carrier",
	"30007": "Message filtered",
	"30008": "Unknown error",
	"30034": "Message from an unregistered number",
	"21610": "Attempt to send to unsubscribed recipient",
}

// ParseCallback reads a status callback; see the package documentation.
// It never fails for the declared kind. A callback without MessageSid
// (and without the legacy SmsSid) or without a status is answered 400 and
// quarantined, with no Deliveries; any other is answered 200 with an empty
// body.
func (a *Adapter) ParseCallback(ctx context.Context, req *adapters.Request) (*adapters.CallbackResult, error) {
	if req.Kind != KindStatus {
		return nil, fmt.Errorf("twilio: parse callback %q: %w", req.Kind, adapters.ErrUnknownKind)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d, problem := ParseStatusCallback(req.Body)
	if problem != "" {
		return &adapters.CallbackResult{Ack: adapters.Response{Status: http.StatusBadRequest},
			Quarantine: &adapters.Quarantine{Reason: "twilio: status callback: " + problem}}, nil
	}
	return &adapters.CallbackResult{Ack: adapters.Response{Status: http.StatusOK}, Deliveries: []adapters.DeliveryReport{d}}, nil
}

// ParseStatusCallback reads a status callback body (form-encoded, §7).
// problem is non-empty, and the report zero, when the body cannot be
// applied.
func ParseStatusCallback(body []byte) (d adapters.DeliveryReport, problem string) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return d, "body is not a form: " + wire.Quote(err.Error(), 80)
	}
	first := func(keys ...string) (string, string) {
		for _, k := range keys {
			switch v := form[k]; {
			case len(v) > 1:
				return "", k + " given " + fmt.Sprint(len(v)) + " times"
			case len(v) == 1 && strings.TrimSpace(v[0]) != "":
				return strings.TrimSpace(v[0]), ""
			}
		}
		return "", ""
	}
	sid, p1 := first("MessageSid", "SmsSid")
	status, p2 := first("MessageStatus", "SmsStatus")
	code, p3 := first("ErrorCode")
	reason, p4 := first("ErrorMessage")
	for _, p := range []string{p1, p2, p3, p4} {
		if p != "" {
			return d, p
		}
	}
	switch {
	case sid == "":
		return d, "no MessageSid"
	case len(sid) > 200:
		return d, "MessageSid " + wire.Quote(sid, 60) + " is too long"
	case status == "":
		return d, "no MessageStatus for " + wire.Quote(sid, 60)
	}
	if reason == "" {
		reason = errorTexts[code]
	}
	return adapters.DeliveryReport{ProviderID: sid, State: state(status), ProviderStatus: wire.Clip(status), Code: wire.Clip(code), Reason: wire.Clip(reason)}, ""
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
