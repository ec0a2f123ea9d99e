package mpesa

import (
	"context"
	"errors"
	"fmt"
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
const ID = "payments.mpesa"

func init() {
	adapters.Register(adapters.AdapterInfo{ID: ID, New: func() adapters.Adapter { return new(Adapter) }})
}

// Callback kinds: the {kind} segment of /callbacks/{instance}/{kind}/{secret}.
// None contains a word Daraja refuses in callback URLs.
const (
	KindC2BValidation   = "c2b-validation"   // C2B validation (synchronous accept/reject)
	KindC2BConfirmation = "c2b-confirmation" // C2B confirmation (money moved)
	KindSTK             = "stk"              // STK push result
	KindStatusResult    = "status-result"    // Transaction Status ResultURL
	KindStatusTimeout   = "status-timeout"   // Transaction Status QueueTimeOutURL
	KindReversalResult  = "reversal-result"  // Reversal ResultURL
	KindReversalTimeout = "reversal-timeout" // Reversal QueueTimeOutURL
)

// Base URLs of the Daraja environments.
const (
	SandboxBaseURL    = "https://sandbox.safaricom.co.ke"
	ProductionBaseURL = "https://api.safaricom.co.ke"
)

// SafaricomCallbackIPs returns the commonly cited addresses Daraja sends
// callbacks from (providers.md §1.9), the default of allowed_cidrs. Ask
// Safaricom API support for the current list before go-live.
func SafaricomCallbackIPs() []string {
	return []string{
		"196.201.214.200", "196.201.214.206", "196.201.214.207", "196.201.214.208",
		"196.201.213.114", "196.201.213.44",
		"196.201.212.127", "196.201.212.128", "196.201.212.129", "196.201.212.132",
		"196.201.212.136", "196.201.212.138", "196.201.212.69", "196.201.212.74",
	}
}

// Settings are the instance settings (the keys under settings: in the
// configuration). See the package documentation for each key.
type Settings struct {
	Environment     string          `json:"environment"`
	BaseURL         string          `json:"base_url"`
	ShortCode       string          `json:"short_code"`
	CallbackSecret  adapters.Secret `json:"callback_secret"`
	AllowedCIDRs    []string        `json:"allowed_cidrs"`
	CallbackBaseURL string          `json:"callback_base_url"`

	ConsumerKey    adapters.Secret `json:"consumer_key"`
	ConsumerSecret adapters.Secret `json:"consumer_secret"`

	C2BVersion          string `json:"c2b_version"`
	ResponseType        string `json:"response_type"`
	ValidationMinAmount string `json:"validation_min_amount"`
	ValidationOnError   string `json:"validation_on_error"`

	STKShortCode       string          `json:"stk_short_code"`
	STKPasskey         adapters.Secret `json:"stk_passkey"`
	STKTransactionType string          `json:"stk_transaction_type"`
	STKPartyB          string          `json:"stk_party_b"`

	Initiator          string          `json:"initiator"`
	SecurityCredential adapters.Secret `json:"security_credential"`
	IdentifierType     string          `json:"identifier_type"`
}

// Adapter is one provisioned M-Pesa Daraja instance. Create it through
// adapters.Provision; its methods are safe for concurrent use.
type Adapter struct {
	instance string
	tenant   string
	currency core.Currency
	s        Settings
	allowed  []netip.Prefix
	minAmt   core.Money // zero: no minimum
	clock    core.Clock
	client   *client // nil when consumer_key/consumer_secret are not set
}

// eat is Kenyan time (EAT, UTC+3, no daylight saving), in which Daraja
// writes its timestamps.
var eat = time.FixedZone("EAT", 3*60*60)

var (
	shortCodePattern = regexp.MustCompile(`^[0-9]{5,8}$`)
	secretPattern    = regexp.MustCompile(`^[A-Za-z0-9_-]{16,128}$`)
)

// blockedURLWords are refused by Daraja anywhere in a callback URL
// (providers.md §0.8).
var blockedURLWords = []string{"m-pesa", "mpesa", "safaricom", "exec", "exe", "cmd", "sql", "query"}

// blockedProductionHosts are refused by Daraja in production.
var blockedProductionHosts = []string{"ngrok", "mockbin", "requestbin"}

// Provision decodes the settings, resolves secrets and applies defaults.
func (a *Adapter) Provision(ctx context.Context, inst adapters.InstanceConfig, deps adapters.Deps) error {
	deps = deps.WithDefaults()
	if err := adapters.DecodeSettings(inst.Settings, &a.s, deps.Secrets); err != nil {
		return err
	}
	a.instance, a.tenant, a.currency, a.clock = inst.Name, inst.Tenant, inst.Currency, deps.Clock
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
	if s.AllowedCIDRs == nil {
		s.AllowedCIDRs = SafaricomCallbackIPs()
	}
	var err error
	if a.allowed, err = adapters.ParsePrefixes("settings.allowed_cidrs", s.AllowedCIDRs); err != nil {
		return err
	}
	if s.C2BVersion == "" {
		s.C2BVersion = "v2"
	}
	if s.ResponseType == "" {
		s.ResponseType = "Completed"
	}
	if s.ValidationOnError == "" {
		s.ValidationOnError = "reject"
	}
	if s.STKShortCode == "" {
		s.STKShortCode = s.ShortCode
	}
	if s.STKTransactionType == "" {
		s.STKTransactionType = "CustomerPayBillOnline"
	}
	if s.STKPartyB == "" {
		s.STKPartyB = s.ShortCode
	}
	if s.IdentifierType == "" {
		s.IdentifierType = "4"
	}
	if s.ValidationMinAmount != "" {
		if a.minAmt, err = adapters.ParseAmount(s.ValidationMinAmount, inst.Currency); err != nil {
			return fmt.Errorf("settings.validation_min_amount: %w", err)
		}
	}
	if !s.ConsumerKey.IsZero() && !s.ConsumerSecret.IsZero() {
		a.client = newClient(deps.HTTPClient, s.BaseURL, s.ConsumerKey.Value(), s.ConsumerSecret.Value())
		a.client.tokens = tokencache.New(a.client.fetchToken, deps.Clock, 5*time.Minute)
	}
	return nil
}

// Validate checks the settings as a whole. Errors name the setting.
func (a *Adapter) Validate() error {
	s := &a.s
	prod := s.Environment == "production"
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("settings.%s: "+format, append([]any{key}, args...)...))
	}
	if a.currency != "KES" {
		errs = append(errs, fmt.Errorf("currency: Daraja payments are in KES, not %s", a.currency))
	}
	if s.Environment != "sandbox" && s.Environment != "production" {
		bad("environment", "%q: want sandbox or production", s.Environment)
	}
	if err := checkHTTPURL(s.BaseURL); err != nil {
		bad("base_url", "%v", err)
	}
	if !shortCodePattern.MatchString(s.ShortCode) {
		bad("short_code", "required: the paybill or till number, 5-8 digits (quote it in YAML)")
	}
	switch secret := s.CallbackSecret.Value(); {
	case secret == "":
		bad("callback_secret", "required: a random path segment of at least 16 characters (A-Z a-z 0-9 _ -)")
	case !secretPattern.MatchString(secret):
		bad("callback_secret", "want 16-128 characters of A-Z a-z 0-9 _ -")
	case blockedWord(secret) != "":
		bad("callback_secret", "contains %q, which Daraja refuses in callback URLs; generate another", blockedWord(secret))
	}
	if s.CallbackBaseURL != "" {
		if err := checkCallbackBase(s.CallbackBaseURL, prod); err != nil {
			bad("callback_base_url", "%v", err)
		}
	}
	if s.C2BVersion != "v1" && s.C2BVersion != "v2" {
		bad("c2b_version", "%q: want v1 or v2", s.C2BVersion)
	}
	if s.ResponseType != "Completed" && s.ResponseType != "Cancelled" {
		bad("response_type", "%q: want Completed or Cancelled (exactly)", s.ResponseType)
	}
	if s.ValidationOnError != "reject" && s.ValidationOnError != "accept" {
		bad("validation_on_error", "%q: want reject or accept", s.ValidationOnError)
	}
	if s.ConsumerKey.IsZero() != s.ConsumerSecret.IsZero() {
		bad("consumer_secret", "consumer_key and consumer_secret go together")
	}
	if !shortCodePattern.MatchString(s.STKShortCode) {
		bad("stk_short_code", "want 5-8 digits")
	}
	if !shortCodePattern.MatchString(s.STKPartyB) {
		bad("stk_party_b", "want 5-8 digits")
	}
	if s.STKTransactionType != "CustomerPayBillOnline" && s.STKTransactionType != "CustomerBuyGoodsOnline" {
		bad("stk_transaction_type", "%q: want CustomerPayBillOnline or CustomerBuyGoodsOnline", s.STKTransactionType)
	}
	if !s.STKPasskey.IsZero() {
		if a.client == nil {
			bad("stk_passkey", "STK push needs consumer_key and consumer_secret")
		}
		if s.CallbackBaseURL == "" {
			bad("stk_passkey", "STK push needs callback_base_url")
		}
	}
	if s.Initiator != "" {
		if s.SecurityCredential.IsZero() {
			bad("security_credential", "required with initiator (the initiator password RSA-encrypted with Safaricom's certificate, base64)")
		}
		if a.client == nil {
			bad("initiator", "Transaction Status needs consumer_key and consumer_secret")
		}
		if s.CallbackBaseURL == "" {
			bad("initiator", "Transaction Status needs callback_base_url")
		}
	}
	if s.IdentifierType != "1" && s.IdentifierType != "2" && s.IdentifierType != "4" {
		bad("identifier_type", "%q: want 4 (shortcode), 2 (till) or 1 (MSISDN)", s.IdentifierType)
	}
	return errors.Join(errs...)
}

func checkHTTPURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q: want an absolute http(s) URL", raw)
	}
	return nil
}

// checkCallbackBase checks the public URL prefix of the instance's
// callbacks against what Daraja accepts.
func checkCallbackBase(raw string, production bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q: want an absolute URL without query or fragment, e.g. https://gateway.example.com/callbacks/ke-paybill", raw)
	}
	if u.Scheme != "https" && (production || u.Scheme != "http") {
		return fmt.Errorf("%q: want https", raw)
	}
	if w := blockedWord(raw); w != "" {
		return fmt.Errorf("%q contains %q, which Daraja refuses in callback URLs (name the instance without it)", raw, w)
	}
	if production {
		host := strings.ToLower(u.Host)
		for _, h := range blockedProductionHosts {
			if strings.Contains(host, h) {
				return fmt.Errorf("%q: Daraja production refuses %s hosts", raw, h)
			}
		}
	}
	return nil
}

func blockedWord(s string) string {
	s = strings.ToLower(s)
	for _, w := range blockedURLWords {
		if strings.Contains(s, w) {
			return w
		}
	}
	return ""
}

// CallbackRoutes lists the instance's routes: every kind is a POST with the
// instance's secret as the one parameter.
func (a *Adapter) CallbackRoutes() []adapters.Route {
	kinds := []string{KindC2BValidation, KindC2BConfirmation, KindSTK, KindStatusResult, KindStatusTimeout, KindReversalResult, KindReversalTimeout}
	routes := make([]adapters.Route, 0, len(kinds))
	for _, k := range kinds {
		routes = append(routes, adapters.Route{Kind: k, Methods: []string{"POST"}, Params: []string{"secret"}, Validation: k == KindC2BValidation})
	}
	return routes
}

func knownKind(k string) bool {
	switch k {
	case KindC2BValidation, KindC2BConfirmation, KindSTK, KindStatusResult, KindStatusTimeout, KindReversalResult, KindReversalTimeout:
		return true
	}
	return false
}

// VerifyCallback applies the instance's protections; Daraja does not sign
// callbacks. The caller's address must be in allowed_cidrs (403) and the
// secret path segment must equal callback_secret (404).
func (a *Adapter) VerifyCallback(ctx context.Context, req *adapters.Request) error {
	if !knownKind(req.Kind) {
		return fmt.Errorf("mpesa: verify %q: %w", req.Kind, adapters.ErrUnknownKind)
	}
	if err := adapters.CheckSourceAddr(a.allowed, req.RemoteAddr); err != nil {
		return fmt.Errorf("mpesa: verify: %w", err)
	}
	if !adapters.SecretEqual(req.PathParams["secret"], a.s.CallbackSecret.Value()) {
		return fmt.Errorf("mpesa: verify: %w", &adapters.AuthError{Status: 404, Check: "path_secret", Reason: "wrong or missing secret path segment"})
	}
	return nil
}

// ParseCallback reads every kind but the validation one; see
// adapters.CallbackParser.
func (a *Adapter) ParseCallback(ctx context.Context, req *adapters.Request) (*adapters.CallbackResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	switch req.Kind {
	case KindC2BConfirmation:
		return a.parseConfirmation(req), nil
	case KindSTK:
		return a.parseSTK(req), nil
	case KindStatusResult, KindStatusTimeout:
		return a.parseStatusResult(req), nil
	case KindReversalResult, KindReversalTimeout:
		return a.parseReversalResult(req), nil
	}
	return nil, fmt.Errorf("mpesa: parse callback %q: %w", req.Kind, adapters.ErrUnknownKind)
}

// callbackURL is the public URL of one of the instance's routes.
func (a *Adapter) callbackURL(kind string) string {
	return a.s.CallbackBaseURL + "/" + kind + "/" + a.s.CallbackSecret.Value()
}

// ack is the acknowledgement of every callback but validation
// (response_callback_ack.json): ResultCode is a number here.
func ack() adapters.Response {
	return adapters.Response{Status: 200, ContentType: "application/json", Body: []byte(`{"ResultCode":0,"ResultDesc":"Success"}`)}
}

// Interface guards.
var (
	_ adapters.Adapter           = (*Adapter)(nil)
	_ adapters.Validator         = (*Adapter)(nil)
	_ adapters.CallbackRouter    = (*Adapter)(nil)
	_ adapters.CallbackVerifier  = (*Adapter)(nil)
	_ adapters.CallbackParser    = (*Adapter)(nil)
	_ adapters.CallbackValidator = (*Adapter)(nil)
	_ adapters.PaymentInitiator  = (*Adapter)(nil)
	_ adapters.StatusQuerier     = (*Adapter)(nil)
	_ adapters.URLRegistrar      = (*Adapter)(nil)
)
