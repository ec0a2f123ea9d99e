// Package config loads the gateway's configuration: built-in defaults, then
// an optional YAML file, then GATEWAY_* environment variables, then command
// line flags (applied by the caller). Unknown keys and bad values are errors
// that name the key path and the reason.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
)

// Config is the whole configuration. Every field has a yaml key; the
// environment variable overriding it is GATEWAY_ followed by the key path in
// upper case with dots as underscores (http.max_body_bytes is
// GATEWAY_HTTP_MAX_BODY_BYTES).
type Config struct {
	// Listen is the HTTP listen address, host:port (":8080" listens on all
	// interfaces).
	Listen string `yaml:"listen"`
	// Store selects the database: "sqlite:PATH" (embedded, the default) or
	// a PostgreSQL URL "postgres://user:pass@host:5432/db". It may be a
	// secret reference (env:NAME, file:/path), since it can hold a password.
	Store Secret `yaml:"store"`
	// AutoMigrate applies pending schema migrations when serve starts.
	AutoMigrate bool `yaml:"auto_migrate"`
	// MasterKey (64 hex characters) encrypts device secret keys at rest.
	// Give it as a reference (env:NAME, file:/path). When empty, a gateway
	// on SQLite creates one in a file beside the database on first start
	// (back it up with the database); a gateway on PostgreSQL must be given
	// one, since its replicas must share it.
	MasterKey Secret `yaml:"master_key"`
	// Instances are the configured provider adapters: each names the
	// adapter it runs (payments.mpesa, payments.mtn_momo, …), the tenant
	// it serves and its settings, which the adapter validates.
	Instances []Instance `yaml:"instances"`
	Webhooks  Webhooks   `yaml:"webhooks"`
	Log       Log        `yaml:"log"`
	HTTP      HTTP       `yaml:"http"`
	API       API        `yaml:"api"`

	// TokenVendors are device makers' clouds that issue codes (token
	// schemes named after them); see TokenVendor.
	TokenVendors []TokenVendor `yaml:"token_vendors"`

	// SMS configures the customers' text messages; see SMS.
	SMS SMS `yaml:"sms"`
}

// Instance is one named adapter instance, e.g. "ke-paybill" running
// payments.mpesa. Its callbacks arrive at /callbacks/{name}/….
type Instance struct {
	Name    string `yaml:"name"`
	Adapter string `yaml:"adapter"`
	// Tenant is the distributor the instance's payments belong to
	// (default: the default tenant).
	Tenant string `yaml:"tenant"`
	// Currency is the ISO 4217 code of the instance's payments, e.g.
	// KES: required of payment adapters (payments.*), not of SMS ones.
	Currency string `yaml:"currency"`
	// Settings are the adapter's own; see its package documentation.
	// Secrets among them may be env:NAME or file:/path references.
	Settings map[string]any `yaml:"settings"`
}

// Log configures the process log (always to standard error).
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is json (one object per line) or text.
	Format string `yaml:"format"`
}

// HTTP configures the HTTP server.
type HTTP struct {
	// MaxBodyBytes caps every request body; larger bodies get 413.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// ReadTimeout bounds reading a whole request.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing a response.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout closes keep-alive connections idle for this long.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// ShutdownTimeout is how long a SIGTERM waits for in-flight requests
	// before the process gives up on them.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// CallbackTimeout bounds the handling of one provider callback: past
	// it the gateway answers 503 and the provider sends it again (nothing
	// is acknowledged before its commit). Keep it under the providers'
	// own wait (Daraja: a few seconds) and under WriteTimeout.
	CallbackTimeout time.Duration `yaml:"callback_timeout"`
	// TrustedProxies lists the CIDRs whose X-Forwarded-For is believed when
	// taking a caller's address (used by IP allow-lists and logs). Empty
	// means the TCP peer address is used as is.
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// API configures the /v1 REST API.
// Webhooks configures delivery to the CRM's webhook endpoints.
type Webhooks struct {
	// AllowPrivateNetworks lets endpoints resolve to private addresses
	// (10/8, 172.16/12, 192.168/16, fc00::/7, 100.64/10): a CRM on the
	// distributor's own network. Off by default (SSRF guard).
	AllowPrivateNetworks bool `yaml:"allow_private_networks"`
	// AllowLoopback lets endpoints resolve to this machine (development).
	AllowLoopback bool `yaml:"allow_loopback"`
	// Workers is how many deliveries (and other jobs) run at once.
	Workers int `yaml:"workers"`
	// Lease is how long a claimed delivery (or other durable job) belongs
	// to the process that claimed it. A job whose process died (killed,
	// crashed, lost its machine) runs again once its lease has passed, on
	// any replica; a shorter lease recovers sooner. It must leave room for
	// the longest attempt: at least 20s, and at least twice every token
	// vendor's timeout.
	Lease time.Duration `yaml:"lease"`
}

type API struct {
	// RateLimitPerSecond is the sustained requests per second each API key
	// may make; 0 turns the limit off.
	RateLimitPerSecond int `yaml:"rate_limit_per_second"`
	// RateBurst is how many requests a key may make at once after being
	// idle (its token bucket's size).
	RateBurst int `yaml:"rate_burst"`
}

// MinJobLease is the shortest webhooks.lease: a delivery attempt may take
// 15 s, and its handler must end within nine tenths of the lease.
const MinJobLease = 20 * time.Second

// tokenVendorDefaultTimeout is a token vendor's timeout when it sets none
// (tokenhttp.DefaultTimeout).
const tokenVendorDefaultTimeout = 30 * time.Second

// Default returns the zero-setup configuration: listen on :8080 and keep
// everything in ./data/gateway.db.
func Default() Config {
	return Config{
		Listen:      ":8080",
		Store:       Secret{value: "sqlite:./data/gateway.db"},
		AutoMigrate: true,
		Log:         Log{Level: "info", Format: "json"},
		Webhooks:    Webhooks{Workers: 4, Lease: 5 * time.Minute},
		HTTP: HTTP{
			MaxBodyBytes:      1 << 20,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       120 * time.Second,
			ShutdownTimeout:   30 * time.Second,
			CallbackTimeout:   5 * time.Second,
		},
		API: API{RateLimitPerSecond: 20, RateBurst: 40},
		SMS: defaultSMS(),
	}
}

// FieldError is a configuration error at one key path.
type FieldError struct {
	Path   string // e.g. "http.max_body_bytes"
	Reason string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Reason }

// Validate checks every value and returns all problems at once, each a
// *FieldError naming its key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, &FieldError{Path: path, Reason: fmt.Sprintf(format, args...)})
	}
	if err := validateListen(c.Listen); err != nil {
		bad("listen", "%v", err)
	}
	if _, _, err := c.StoreKind(); err != nil {
		bad("store", "%v", err)
	}
	if _, err := ParseLevel(c.Log.Level); err != nil {
		bad("log.level", "%v", err)
	}
	if c.Log.Format != "json" && c.Log.Format != "text" {
		bad("log.format", "must be json or text, got %q", c.Log.Format)
	}
	if c.HTTP.MaxBodyBytes <= 0 {
		bad("http.max_body_bytes", "must be positive, got %d", c.HTTP.MaxBodyBytes)
	}
	for path, d := range map[string]time.Duration{
		"http.read_header_timeout": c.HTTP.ReadHeaderTimeout,
		"http.read_timeout":        c.HTTP.ReadTimeout,
		"http.write_timeout":       c.HTTP.WriteTimeout,
		"http.idle_timeout":        c.HTTP.IdleTimeout,
		"http.shutdown_timeout":    c.HTTP.ShutdownTimeout,
		"http.callback_timeout":    c.HTTP.CallbackTimeout,
	} {
		if d <= 0 {
			bad(path, "must be a positive duration such as 30s, got %v", d)
		}
	}
	if c.HTTP.WriteTimeout > 0 && c.HTTP.CallbackTimeout >= c.HTTP.WriteTimeout {
		bad("http.callback_timeout", "must be shorter than http.write_timeout (%v), got %v", c.HTTP.WriteTimeout, c.HTTP.CallbackTimeout)
	}
	for i, cidr := range c.HTTP.TrustedProxies {
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			bad(fmt.Sprintf("http.trusted_proxies[%d]", i), "not a CIDR such as 10.0.0.0/8: %q", cidr)
		}
	}
	if c.API.RateLimitPerSecond < 0 {
		bad("api.rate_limit_per_second", "must be 0 (no limit) or positive, got %d", c.API.RateLimitPerSecond)
	}
	if c.API.RateLimitPerSecond > 0 && c.API.RateBurst < 1 {
		bad("api.rate_burst", "must be at least 1 while api.rate_limit_per_second is on, got %d", c.API.RateBurst)
	}
	if c.Webhooks.Workers < 1 || c.Webhooks.Workers > 256 {
		bad("webhooks.workers", "must be 1 to 256, got %d", c.Webhooks.Workers)
	}
	if c.Webhooks.Lease < MinJobLease {
		bad("webhooks.lease", "must be at least %v, got %v", MinJobLease, c.Webhooks.Lease)
	}
	for i, v := range c.TokenVendors {
		t := v.Timeout
		if t == 0 {
			t = tokenVendorDefaultTimeout
		}
		if c.Webhooks.Lease < 2*t {
			bad("webhooks.lease", "must be at least twice token_vendors[%d].timeout (%v), got %v", i, t, c.Webhooks.Lease)
		}
	}
	seen := map[string]bool{}
	for i, in := range c.Instances {
		path := fmt.Sprintf("instances[%d]", i)
		switch {
		case in.Name == "":
			bad(path+".name", "required")
		case seen[in.Name]:
			bad(path+".name", "%q is used by another instance", in.Name)
		}
		seen[in.Name] = true
		if in.Adapter == "" {
			bad(path+".adapter", "required, e.g. payments.mpesa")
		}
	}
	c.validateTokenVendors(bad)
	c.validateSMS(bad)
	sortFieldErrors(errs)
	return errors.Join(errs...)
}

func validateListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port such as :8080 or 127.0.0.1:8080, got %q", addr)
	}
	if host != "" && net.ParseIP(host) == nil && strings.ContainsAny(host, " /") {
		return fmt.Errorf("bad host %q", host)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("bad port %q: want 0-65535", port)
	}
	return nil
}

// Store kinds returned by StoreKind.
const (
	StoreSQLite   = "sqlite"
	StorePostgres = "postgres"
)

// StoreKind splits the store setting into its kind and the driver's
// argument: the file path for SQLite, the whole URL for PostgreSQL.
func (c *Config) StoreKind() (kind, arg string, err error) {
	v := c.Store.Value()
	switch {
	case strings.HasPrefix(v, "sqlite:"):
		path := strings.TrimPrefix(v, "sqlite:")
		if path == "" {
			return "", "", errors.New("sqlite: needs a file path, e.g. sqlite:./data/gateway.db")
		}
		return StoreSQLite, path, nil
	case strings.HasPrefix(v, "postgres://"), strings.HasPrefix(v, "postgresql://"):
		return StorePostgres, v, nil
	case v == "":
		return "", "", errors.New("required: sqlite:PATH or postgres://…")
	}
	return "", "", fmt.Errorf("want sqlite:PATH or postgres://…, got a value starting %q", prefix(v))
}

// prefix shows the start of a value without leaking what may be a secret.
func prefix(v string) string {
	if i := strings.IndexAny(v, ":@/"); i >= 0 && i < 16 {
		return v[:i+1]
	}
	if len(v) > 4 {
		return v[:4] + "…"
	}
	return v
}

// ParseLevel reads a log level name.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("must be debug, info, warn or error, got %q", s)
}
