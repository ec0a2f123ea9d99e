package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTokenVendors(t *testing.T) {
	env := map[string]string{"SUNKING_TOKEN": "Bearer abc"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	load := func(t *testing.T, yaml string) (Config, error) {
		t.Helper()
		path := filepath.Join(t.TempDir(), "gateway.yaml")
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return Load(path, lookup)
	}

	cfg, err := load(t, `
token_vendors:
  - name: sunking
    url_template: https://assetcontrol.example/v2/token
    auth: {header: Authorization, value: env:SUNKING_TOKEN}
    request_body: {device: "{serial}", command: add_credit, payload: "{days}", time_unit: day}
    idempotency_header: Idempotency-Key
    response: {token_path: $.token, error_path: $.message, permanent_status: [404]}
    timeout: 20s
    retry: {max_attempts: 5, initial: 1m, max: 30m}
    breaker: {failures: 3, open_for: 2m}
  - name: sparkshs
    url_template: https://api.spark.example/v1/token
    auth: {kind: oauth2_client_credentials, token_url: https://auth.spark.example/oauth/token, client_id: gw, client_secret: env:SUNKING_TOKEN, audience: https://api.spark.example, token_encoding: json}
    response: {token_regex: 'code=(\d+)'}
`)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if a := cfg.TokenVendors[1].Auth; a.Kind != OAuth2ClientCredentials || a.ClientSecret.Value() != "Bearer abc" || a.Audience != "https://api.spark.example" {
		t.Errorf("oauth2 auth %+v", a)
	}
	v := cfg.TokenVendors[0]
	if v.Auth.Value.Value() != "Bearer abc" || v.Auth.Value.String() != "[secret from env:SUNKING_TOKEN]" {
		t.Errorf("auth value %q (%s)", v.Auth.Value.Value(), v.Auth.Value)
	}
	if b, ok := v.RequestBody.(map[string]any); !ok || b["payload"] != "{days}" {
		t.Errorf("request_body %#v", v.RequestBody)
	}
	if v.Response.PermanentStatus[0] != 404 || v.Retry.MaxAttempts != 5 || v.Breaker.OpenFor.Minutes() != 2 {
		t.Errorf("vendor %+v", v)
	}

	_, err = load(t, `
token_vendors:
  - name: sunking
    url_template: http://assetcontrol.example/v2/token
    method: DELETE
    auth: {header: Authorization}
    respnse: {}
    idempotency: header
    timeout: 5m
  - name: sunking
    url_template: https://x.example/{serial}
    response: {permanent_status: [302], token_regex: "(a)(b)"}
    auth: {kind: login, login_url: "ftp://x.example/login", session_ttl: -1s}
  - name: openpaygo
    url_template: https://x.example/
    response: {token_path: $.token}
    auth: {kind: oauth2_client_credentials, token_url: http://auth.example/token, token_encoding: xml}
    unit: weeks
    encoding: form
    request_body: [1, 2]
`)
	if err == nil {
		t.Fatal("Load accepted bad token vendors")
	}
	for _, want := range []string{
		"token_vendors[0].url_template: must be https://",
		"token_vendors[0].method: must be GET, POST or PUT",
		"token_vendors[0].auth.value: required with auth.header",
		`token_vendors[0].respnse: unknown key (did you mean "response"?)`,
		"token_vendors[0].idempotency_header: required with idempotency: header",
		"token_vendors[0].timeout: must be up to 90s",
		"token_vendors[0].response.token_path: required unless response.token_regex or response.ack_only",
		"token_vendors[1].response.token_regex: at most one group (the code), got 2",
		"token_vendors[1].auth.login_url: must be https://",
		"token_vendors[1].auth.session_ttl: must not be negative",
		`token_vendors[1].name: "sunking" is used by another token vendor`,
		"token_vendors[1].response.permanent_status[0]: must be an HTTP error status",
		`token_vendors[2].name: "openpaygo" is a built-in token scheme`,
		"token_vendors[2].unit: must be days or hours",
		"token_vendors[2].auth.token_url: must be https://",
		"token_vendors[2].auth.client_id: required for auth kind oauth2_client_credentials",
		"token_vendors[2].auth.client_secret: required for auth kind oauth2_client_credentials",
		"token_vendors[2].auth.token_encoding: must be form or json",
		"token_vendors[2].request_body: a form body must be a mapping",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
}
