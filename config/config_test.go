package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestZeroConfiguration(t *testing.T) {
	cfg, err := Load("", env(nil))
	if err != nil {
		t.Fatalf("Load with no file and no environment: %v", err)
	}
	if cfg.Listen != ":8080" {
		t.Errorf("listen = %q, want :8080", cfg.Listen)
	}
	kind, arg, err := cfg.StoreKind()
	if err != nil || kind != StoreSQLite || arg != "./data/gateway.db" {
		t.Errorf("store = %q %q %v, want sqlite ./data/gateway.db", kind, arg, err)
	}
	if !cfg.AutoMigrate {
		t.Error("auto_migrate is off by default; serve must migrate a fresh database")
	}
}

func TestFileThenEnvironment(t *testing.T) {
	t.Setenv("UNUSED", "") // the loader must use the injected lookup, not os
	secretFile := filepath.Join(t.TempDir(), "dsn")
	if err := os.WriteFile(secretFile, []byte("postgres://gw:pw@db:5432/gateway\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, `
listen: 127.0.0.1:9000
store: file:`+secretFile+`
log:
  level: debug
http:
  max_body_bytes: 65536
  shutdown_timeout: 5s
  trusted_proxies: [10.0.0.0/8]
`)
	cfg, err := Load(path, env(map[string]string{
		"GATEWAY_LOG_FORMAT":               "text",
		"GATEWAY_HTTP_READ_HEADER_TIMEOUT": "2s",
		"GATEWAY_HTTP_CALLBACK_TIMEOUT":    "3s",
		"GATEWAY_HTTP_TRUSTED_PROXIES":     "10.0.0.0/8, 192.168.0.0/16",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:9000" || cfg.Log.Level != "debug" || cfg.Log.Format != "text" {
		t.Errorf("got listen %q level %q format %q", cfg.Listen, cfg.Log.Level, cfg.Log.Format)
	}
	if cfg.HTTP.MaxBodyBytes != 65536 || cfg.HTTP.ShutdownTimeout != 5*time.Second || cfg.HTTP.ReadHeaderTimeout != 2*time.Second ||
		cfg.HTTP.CallbackTimeout != 3*time.Second {
		t.Errorf("http = %+v", cfg.HTTP)
	}
	if got := strings.Join(cfg.HTTP.TrustedProxies, " "); got != "10.0.0.0/8 192.168.0.0/16" {
		t.Errorf("trusted_proxies = %q (environment should replace the file's list)", got)
	}
	if kind, arg, _ := cfg.StoreKind(); kind != StorePostgres || arg != "postgres://gw:pw@db:5432/gateway" {
		t.Errorf("store = %q %q", kind, arg)
	}
	if s := cfg.Store.String(); strings.Contains(s, "pw") || !strings.Contains(s, "file:") {
		t.Errorf("Store.String() = %q: must name the reference and hide the value", s)
	}
}

func TestEnvironmentSecretReference(t *testing.T) {
	cfg, err := Load("", env(map[string]string{
		"GATEWAY_STORE":  "env:DATABASE_URL",
		"DATABASE_URL":   "postgres://localhost/gw",
		"GATEWAY_LISTEN": ":9999",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store.Value() != "postgres://localhost/gw" || cfg.Listen != ":9999" {
		t.Fatalf("store %q listen %q", cfg.Store.Value(), cfg.Listen)
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	cases := []struct {
		name, yaml string
		env        map[string]string
		want       []string // substrings of the error, each naming a key path
	}{
		{"unknown top-level key", "listn: :80\n", nil, []string{`listn: unknown key (did you mean "listen"?)`}},
		{"unknown nested key", "http:\n  max_body: 10\n", nil, []string{"http.max_body: unknown key"}},
		{"wrong type", "http:\n  max_body_bytes: lots\n", nil, []string{`http.max_body_bytes: want an integer, got "lots"`}},
		{"bad duration", "http:\n  shutdown_timeout: 30\n", nil, []string{"http.shutdown_timeout: want a duration"}},
		{"bad value", "log:\n  level: loud\n", nil, []string{`log.level: must be debug, info, warn or error, got "loud"`}},
		{"negative", "http:\n  max_body_bytes: -1\n", nil, []string{"http.max_body_bytes: must be positive"}},
		{"bad listen", "listen: nowhere\n", nil, []string{"listen: want host:port"}},
		{"bad store", "store: mysql://x\n", nil, []string{"store: want sqlite:PATH or postgres://"}},
		{"bad cidr", "http:\n  trusted_proxies: [10.0.0.0]\n", nil, []string{"http.trusted_proxies[0]: not a CIDR"}},
		{"mapping where scalar", "listen:\n  a: b\n", nil, []string{"listen: want a string, got a mapping"}},
		{"missing env secret", "store: env:NOPE\n", nil, []string{"store: environment variable NOPE is not set"}},
		{"several at once", "listn: x\nlog:\n  format: xml\n", nil, []string{"listn: unknown key", "log.format: must be json or text"}},
		{"bad environment value", "", map[string]string{"GATEWAY_HTTP_MAX_BODY_BYTES": "ten"}, []string{"GATEWAY_HTTP_MAX_BODY_BYTES (http.max_body_bytes): want an integer"}},
		{"not YAML", "listen: [\n", nil, []string{"not valid YAML"}},
		{"zero callback timeout", "http:\n  callback_timeout: 0s\n", nil, []string{"http.callback_timeout: must be a positive duration"}},
		{"callback timeout over the write timeout", "http:\n  callback_timeout: 40s\n", nil, []string{"http.callback_timeout: must be shorter than http.write_timeout (30s), got 40s"}},
		{"short job lease", "webhooks:\n  lease: 5s\n", nil, []string{"webhooks.lease: must be at least 20s"}},
		{"job lease under a vendor's timeout", "webhooks:\n  lease: 50s\ntoken_vendors:\n  - name: acme\n    url_template: https://acme.example/{serial}\n    response: {token_path: $.token}\n    timeout: 30s\n",
			nil, []string{"webhooks.lease: must be at least twice token_vendors[0].timeout (30s), got 50s"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.yaml != "" {
				path = writeFile(t, tc.yaml)
			}
			_, err := Load(path, env(tc.env))
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestEmptyFileKeepsDefaults(t *testing.T) {
	cfg, err := Load(writeFile(t, "# nothing yet\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, Default()) {
		t.Errorf("empty file changed defaults: %+v", cfg)
	}
}

func TestEnvName(t *testing.T) {
	if got := EnvName("http.max_body_bytes"); got != "GATEWAY_HTTP_MAX_BODY_BYTES" {
		t.Errorf("EnvName = %q", got)
	}
}

func TestInstances(t *testing.T) {
	cfg, err := Load(writeFile(t, `
instances:
  - name: ke-paybill
    adapter: payments.mpesa
    tenant: sunbright-ke
    currency: KES
    settings:
      short_code: "600123"
      callback_secret: env:MPESA_SECRET
      allowed_cidrs: [196.201.214.200/32]
`), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Instances) != 1 || cfg.Instances[0].Settings["short_code"] != "600123" || cfg.Instances[0].Settings["callback_secret"] != "env:MPESA_SECRET" {
		t.Fatalf("instances = %+v (settings are kept raw for the adapter to resolve)", cfg.Instances)
	}
	_, err = Load(writeFile(t, "instances:\n  - name: a\n    adapter: x\n  - name: a\n  - adapter: y\n    nmae: b\n"), env(nil))
	for _, want := range []string{`instances[1].name: "a" is used by another instance`, "instances[1].adapter: required", "instances[2].name: required", "instances[2].nmae: unknown key"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

func TestJobLease(t *testing.T) {
	cfg, err := Load("", env(nil))
	if err != nil || cfg.Webhooks.Lease != 5*time.Minute {
		t.Fatalf("default lease %v (%v), want 5m", cfg.Webhooks.Lease, err)
	}
	cfg, err = Load("", env(map[string]string{"GATEWAY_WEBHOOKS_LEASE": "20s"}))
	if err != nil || cfg.Webhooks.Lease != 20*time.Second {
		t.Fatalf("lease %v (%v), want 20s", cfg.Webhooks.Lease, err)
	}
}
