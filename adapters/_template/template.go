// Package template is a skeleton payment adapter: copy this folder to
// adapters/<name>, rename the package, set ID, and replace every TODO. See
// README.md in this folder.
package template

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/adapters/internal/wire"
	"github.com/payg-gateway/gateway/core"
)

// ID is the adapter's registered ID. TODO: "payments.<provider>".
const ID = "payments.example"

// init registers the adapter, and does nothing else.
func init() {
	adapters.Register(adapters.AdapterInfo{ID: ID, New: func() adapters.Adapter { return new(Adapter) }})
}

// KindPayment is the callback route's {kind}. TODO: one constant per
// callback the provider sends.
const KindPayment = "payment"

// Settings are the instance settings. Every key has a json tag; secrets are
// adapters.Secret so env:/file: references work and values are never
// printed. TODO: the provider's settings.
type Settings struct {
	CallbackSecret adapters.Secret `json:"callback_secret"`
	AllowedCIDRs   []string        `json:"allowed_cidrs"`
}

// Adapter is one provisioned instance.
type Adapter struct {
	instance string
	currency core.Currency
	s        Settings
	allowed  []netip.Prefix
}

// Provision decodes the settings and applies defaults.
func (a *Adapter) Provision(ctx context.Context, inst adapters.InstanceConfig, deps adapters.Deps) error {
	if err := adapters.DecodeSettings(inst.Settings, &a.s, deps.Secrets); err != nil {
		return err
	}
	a.instance, a.currency = inst.Name, inst.Currency
	var err error
	a.allowed, err = adapters.ParsePrefixes("settings.allowed_cidrs", a.s.AllowedCIDRs)
	return err
}

// Validate checks the settings; errors name the setting.
func (a *Adapter) Validate() error {
	if len(a.s.CallbackSecret.Value()) < 16 {
		return errors.New("settings.callback_secret: required, at least 16 random characters")
	}
	return nil
}

// CallbackRoutes lists the routes: /callbacks/{instance}/payment/{secret}.
func (a *Adapter) CallbackRoutes() []adapters.Route {
	return []adapters.Route{{Kind: KindPayment, Methods: []string{"POST"}, Params: []string{"secret"}}}
}

// VerifyCallback checks whatever the provider allows. TODO: signatures,
// Basic credentials, per-request path tokens (adapters.PathToken).
func (a *Adapter) VerifyCallback(ctx context.Context, req *adapters.Request) error {
	if req.Kind != KindPayment {
		return fmt.Errorf("template: verify %q: %w", req.Kind, adapters.ErrUnknownKind)
	}
	if err := adapters.CheckSourceAddr(a.allowed, req.RemoteAddr); err != nil {
		return fmt.Errorf("template: verify: %w", err)
	}
	if !adapters.SecretEqual(req.PathParams["secret"], a.s.CallbackSecret.Value()) {
		return fmt.Errorf("template: verify: %w", &adapters.AuthError{Status: 404, Check: "path_secret", Reason: "wrong secret path segment"})
	}
	return nil
}

// statuses maps the provider's statuses explicitly; anything else is
// pending. TODO: the provider's statuses.
var statuses = map[string]core.NoticeStatus{
	"SUCCESS":  core.NoticeSucceeded,
	"FAILED":   core.NoticeFailed,
	"PENDING":  core.NoticePending,
	"REVERSED": core.NoticeReversed,
}

// payload is the callback body. Read every field as wire.Text when the
// provider is not consistent about strings and numbers. TODO.
type payload struct {
	ID        wire.Text `json:"id"`
	Reference wire.Text `json:"reference"`
	Amount    wire.Text `json:"amount"`
	Status    wire.Text `json:"status"`
}

// ParseCallback reads a callback. It never fails for a declared kind: an
// unusable body is quarantined and still acknowledged.
func (a *Adapter) ParseCallback(ctx context.Context, req *adapters.Request) (*adapters.CallbackResult, error) {
	if req.Kind != KindPayment {
		return nil, fmt.Errorf("template: parse callback %q: %w", req.Kind, adapters.ErrUnknownKind)
	}
	// TODO: the exact acknowledgement the provider expects.
	res := &adapters.CallbackResult{Ack: adapters.Response{Status: 200, ContentType: "application/json", Body: []byte(`{}`)}}
	quarantine := func(reason string) (*adapters.CallbackResult, error) {
		res.Quarantine = &adapters.Quarantine{Reason: "template: parse callback: " + reason}
		return res, nil
	}
	var p payload
	if err := json.Unmarshal(req.Body, &p); err != nil {
		return quarantine("body is not JSON: " + wire.Quote(err.Error(), 80))
	}
	n := core.PaymentNotice{
		Instance:     a.instance,
		ProviderTxID: strings.TrimSpace(p.ID.S),
		RequestID:    strings.TrimSpace(p.Reference.S),
		Raw:          req.Body,
	}
	res.Ref = adapters.PaymentRef{RequestID: n.RequestID, ProviderTxID: n.ProviderTxID}
	st, ok := statuses[strings.ToUpper(strings.TrimSpace(p.Status.S))]
	switch {
	case p.Status.S == "":
		return quarantine("status missing")
	case !ok:
		st, n.Reason = core.NoticePending, "unknown status "+p.Status.S
	}
	n.Status = st
	if n.ProviderTxID == "" && n.RequestID == "" {
		return quarantine("no id")
	}
	if p.Amount.Present {
		m, err := adapters.ParseAmount(strings.TrimSpace(p.Amount.S), a.currency)
		if err != nil {
			return quarantine("amount " + wire.Quote(p.Amount.S, 40) + " is not an amount")
		}
		n.Amount = m
	}
	if (st == core.NoticeSucceeded || st == core.NoticeReversed) && (n.ProviderTxID == "" || !n.Amount.IsPositive()) {
		return quarantine("a final payment needs an id and a positive amount")
	}
	res.Notices = []core.PaymentNotice{n}
	return res, nil
}

// Interface guards: one line per capability the adapter implements.
var (
	_ adapters.Adapter          = (*Adapter)(nil)
	_ adapters.Validator        = (*Adapter)(nil)
	_ adapters.CallbackRouter   = (*Adapter)(nil)
	_ adapters.CallbackVerifier = (*Adapter)(nil)
	_ adapters.CallbackParser   = (*Adapter)(nil)
)
