package adapters

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/payg-gateway/gateway/core"
)

// Adapter is what every registered constructor returns: a provider module
// that is not usable until provisioned for one configured instance. What
// else it can do is discovered with type assertions on the capability
// interfaces (CallbackRouter, CallbackVerifier, CallbackParser,
// CallbackValidator, PaymentInitiator, StatusQuerier, URLRegistrar).
type Adapter interface {
	// Provision decodes and checks inst.Settings (see DecodeSettings),
	// resolves secrets through deps.Secrets and prepares clients. It is
	// called once, before any other method; errors name the setting path
	// ("settings.short_code: required"). The instance's name, tenant and
	// currency have already been checked.
	Provision(ctx context.Context, inst InstanceConfig, deps Deps) error
}

// Validator is implemented by adapters that check their provisioned
// configuration as a whole (combinations of settings). Provision calls it
// right after Adapter.Provision.
type Validator interface {
	Validate() error
}

// AdapterInfo is what an adapter registers: its ID and a constructor
// returning a new, unprovisioned value.
type AdapterInfo struct {
	// ID names the adapter in configuration: "<namespace>.<name>", e.g.
	// "payments.mpesa" or "payments.mtn_momo".
	ID string
	// New returns a new, unprovisioned adapter.
	New func() Adapter
}

var idPattern = regexp.MustCompile(`^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$`)

// The registry is the only package-level mutable state. It is written by
// Register from init functions and read afterwards.
var (
	registryMu sync.RWMutex
	registry   = map[string]AdapterInfo{}
)

// Register adds an adapter to the registry. Call it from the adapter
// package's init function, and do nothing else there. It panics on a
// malformed or duplicate ID or a nil constructor, so a broken build fails
// at start.
func Register(info AdapterInfo) {
	if !idPattern.MatchString(info.ID) {
		panic(fmt.Sprintf("adapters: register %q: the ID must look like \"payments.mpesa\"", info.ID))
	}
	if info.New == nil {
		panic(fmt.Sprintf("adapters: register %q: nil constructor", info.ID))
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[info.ID]; dup {
		panic(fmt.Sprintf("adapters: register %q: already registered", info.ID))
	}
	registry[info.ID] = info
}

// Lookup returns the registered adapter with the given ID.
func Lookup(id string) (AdapterInfo, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	info, ok := registry[id]
	return info, ok
}

// IDs returns the registered adapter IDs in sorted order.
func IDs() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	ids := make([]string, 0, len(registry))
	for id := range registry {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// InstanceConfig is one configured instance of an adapter: a name, the
// adapter it uses, and that adapter's own settings. One binary can serve
// several instances of the same adapter ("mpesa-ke", "mpesa-tz").
type InstanceConfig struct {
	// Name identifies the instance in callback routes
	// (/callbacks/{instance}/…), in PaymentNotice.Instance and therefore
	// in the deduplication key. 1-63 characters of a-z, 0-9, '_' and '-',
	// starting with a letter or digit. Never rename an instance that has
	// received payments.
	Name string `json:"name" yaml:"name"`
	// Adapter is the registered adapter ID, e.g. "payments.mpesa".
	Adapter string `json:"adapter" yaml:"adapter"`
	// Tenant owns every payment the instance receives; empty means
	// core.DefaultTenantID.
	Tenant string `json:"tenant" yaml:"tenant"`
	// Currency is the ISO 4217 code of the instance's payments, e.g. KES.
	// Required of payment adapters (IDs under PaymentsNamespace); the
	// others (SMS) move no money and may leave it empty.
	Currency core.Currency `json:"currency" yaml:"currency"`
	// Settings are the adapter's own settings, as decoded from YAML or
	// JSON; see each adapter's documentation. Values may be secret
	// references (env:NAME, file:/path) where the adapter says so.
	Settings map[string]any `json:"settings" yaml:"settings"`
}

// PaymentsNamespace starts the IDs of the adapters that move money
// ("payments.mpesa"); their instances need a currency.
const PaymentsNamespace = "payments."

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Check validates the fields every instance has, fills in the default
// tenant, and returns the checked copy. Errors name the field.
func (c InstanceConfig) Check() (InstanceConfig, error) {
	if !namePattern.MatchString(c.Name) {
		return c, fmt.Errorf("name %q: want 1-63 characters of a-z, 0-9, '_' or '-', starting with a letter or digit", c.Name)
	}
	if c.Adapter == "" {
		return c, errors.New("adapter: required (one of the registered IDs, e.g. payments.mpesa)")
	}
	if c.Tenant == "" {
		c.Tenant = core.DefaultTenantID
	}
	if !namePattern.MatchString(c.Tenant) {
		return c, fmt.Errorf("tenant %q: not a valid tenant id", c.Tenant)
	}
	if c.Currency == "" {
		if strings.HasPrefix(c.Adapter, PaymentsNamespace) {
			return c, errors.New("currency: required of a payment adapter (an ISO 4217 code such as KES)")
		}
		return c, nil
	}
	if err := c.Currency.Validate(); err != nil {
		return c, fmt.Errorf("currency: %w", err)
	}
	if _, err := MinorUnitExponent(c.Currency); err != nil {
		return c, fmt.Errorf("currency: %w", err)
	}
	return c, nil
}

// SecretResolver turns a setting that may be a secret reference into its
// value: "env:NAME" reads an environment variable, "file:/path" reads a
// file (trailing newline removed), anything else is the literal value. The
// host passes the same resolution it uses for its own configuration.
type SecretResolver func(ref string) (string, error)

// Deps are the host's services an adapter may use. The zero value works:
// Provision fills in defaults for nil fields.
type Deps struct {
	// Secrets resolves secret references in settings. Default:
	// EnvFileSecrets(os.LookupEnv).
	Secrets SecretResolver
	// HTTPClient is used for every outbound provider call. Default: a
	// client with a 30 s timeout. Tests inject one pointing at httptest.
	HTTPClient *http.Client
	// Clock stamps request timestamps and expires cached tokens. Default:
	// core.SystemClock.
	Clock core.Clock
	// Logger receives the adapter's diagnostics; never secrets. Default:
	// discards.
	Logger *slog.Logger
}

// WithDefaults returns d with every nil field set to its default.
func (d Deps) WithDefaults() Deps {
	if d.Secrets == nil {
		d.Secrets = EnvFileSecrets(nil)
	}
	if d.HTTPClient == nil {
		d.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if d.Clock == nil {
		d.Clock = core.SystemClock{}
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return d
}

// Provision builds one instance: it checks the common fields, looks up the
// adapter by ID, constructs it, calls Provision and then Validate (when
// implemented). Errors read like
//
//	adapters: instance "mpesa-ke" (payments.mpesa): settings.short_code: required
func Provision(ctx context.Context, inst InstanceConfig, deps Deps) (Adapter, error) {
	checked, err := inst.Check()
	if err != nil {
		return nil, fmt.Errorf("adapters: instance %q: %w", inst.Name, err)
	}
	info, ok := Lookup(checked.Adapter)
	if !ok {
		return nil, fmt.Errorf("adapters: instance %q: adapter %q is not built in (registered: %v)", checked.Name, checked.Adapter, IDs())
	}
	a := info.New()
	if err := a.Provision(ctx, checked, deps.WithDefaults()); err != nil {
		return nil, fmt.Errorf("adapters: instance %q (%s): %w", checked.Name, checked.Adapter, err)
	}
	if v, ok := a.(Validator); ok {
		if err := v.Validate(); err != nil {
			return nil, fmt.Errorf("adapters: instance %q (%s): %w", checked.Name, checked.Adapter, err)
		}
	}
	return a, nil
}

// ProvisionAll provisions every instance and returns them by name. Names
// must be unique. All errors are reported together, joined.
func ProvisionAll(ctx context.Context, insts []InstanceConfig, deps Deps) (map[string]Adapter, error) {
	out := make(map[string]Adapter, len(insts))
	seen := make(map[string]bool, len(insts))
	var errs []error
	for i, inst := range insts {
		if seen[inst.Name] {
			errs = append(errs, fmt.Errorf("adapters: instances[%d]: name %q is used twice", i, inst.Name))
			continue
		}
		seen[inst.Name] = true
		a, err := Provision(ctx, inst, deps)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[inst.Name] = a
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}
