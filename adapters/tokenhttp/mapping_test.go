package tokenhttp

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/config"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/payg"
)

func readFixture(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../../shared/testdata/vendors", rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Response mappings of vendors whose shapes differ from Sun King's and
// Stron's: an error in the body whatever the status (Angaza), a body
// success predicate (Calin).
func TestClassifyFixtures(t *testing.T) {
	angaza, err := New(config.TokenVendor{Name: "angaza", Method: "PUT", URLTemplate: "https://payg.example/nexus/v1/unit_credit",
		Response: config.TokenVendorResponse{TokenPath: "$._embedded.latest_keycode.keycode", ErrorWhenPresent: "$.context", ErrorPath: "$.context.reason"}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	calin, err := New(config.TokenVendor{Name: "calin", URLTemplate: "https://calin.example/api/tokennew",
		Response: config.TokenVendorResponse{TokenPath: "$.result", SuccessPath: "$.result_code", SuccessEquals: "0", ErrorPath: "$.reason"}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		v      *Vendor
		status int
		file   string
		kind   kind
		want   string // code, or a part of the reason
	}{
		{angaza, 200, "angaza/unit_credit_response.json", issued, "*318 204 775 190 62#"},
		{angaza, 400, "angaza/error_response_400.json", refused, "not accessible to this API user"},
		{angaza, 200, "angaza/error_response_400.json", refused, "not accessible to this API user"},
		{calin, 200, "calin/token_response_ok.json", issued, "41725093816640271935"},
		{calin, 200, "calin/token_response_error.json", refused, "meter not found"},
	} {
		a := c.v.classify(c.status, readFixture(t, c.file))
		got := a.code
		if c.kind != issued {
			got = a.reason
		}
		if a.kind != c.kind || !strings.Contains(got, c.want) {
			t.Errorf("%s %s HTTP %d: kind %d %q, want %d %q", c.v.Name(), c.file, c.status, a.kind, got, c.kind, c.want)
		}
	}
	for status, want := range map[int]kind{500: ambiguous, 503: ambiguous, 429: retryable, 401: retryable, 404: refused, 405: refused} {
		if a := calin.classify(status, nil); a.kind != want {
			t.Errorf("HTTP %d: kind %d, want %d", status, a.kind, want)
		}
	}
	if a := calin.classify(200, nil); a.kind != ambiguous {
		t.Errorf("empty 2xx: kind %d, want ambiguous", a.kind)
	}
}

// Angaza's request: PUT, HTTP Basic, and the contract's new expiry as an
// RFC 3339 time with an offset, escaped path placeholders.
func TestRenderAngaza(t *testing.T) {
	v, err := New(config.TokenVendor{Name: "angaza", Method: "PUT", URLTemplate: "https://payg.example/nexus/v1/unit_credit?unit={serial}",
		Auth:        config.TokenVendorAuth{Kind: "basic", Username: "test-angaza-user", Password: config.NewSecret("test-angaza-pass-DO-NOT-USE")},
		RequestBody: map[string]any{"unit_number": "{serial}", "state": map[string]any{"desired": map[string]any{"credit_until_dt": "{credit_until}"}}},
		Response:    config.TokenVendorResponse{TokenPath: "$._embedded.latest_keycode.keycode"}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	paid := time.Date(2025, 3, 14, 9, 31, 2, 0, time.UTC)
	j, err := v.Job(payg.VendorRequest{
		Token:       payg.Token{ID: "tok_1", Type: TypeAddCredit, Value: 30, Seconds: 30 * 86400},
		Device:      payg.Device{Serial: "60000123"},
		CreditUntil: paid.AddDate(0, 0, 30), Amount: core.Money{Amount: 150000, Currency: "KES"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var p payload
	mustUnmarshal(t, j.Payload, &p)
	r, err := v.render(p)
	if err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(t, r.body, readFixture(t, "angaza/unit_credit_request_add_30_days.json")) {
		t.Errorf("body %s", r.body)
	}
	if r.method != "PUT" || r.url != "https://payg.example/nexus/v1/unit_credit?unit=60000123" {
		t.Errorf("%s %s", r.method, r.url)
	}
	if got := r.header.Get("Authorization"); got != "Basic dGVzdC1hbmdhemEtdXNlcjp0ZXN0LWFuZ2F6YS1wYXNzLURPLU5PVC1VU0U=" {
		t.Errorf("Authorization %q", got)
	}
	if j.Queue != "token.vendor.angaza" || j.MaxAttempts != DefaultMaxAttempts {
		t.Errorf("job %+v", j)
	}
}

// Compile errors name the setting.
func TestNewErrorsNameTheKey(t *testing.T) {
	base := func() config.TokenVendor {
		return config.TokenVendor{Name: "v", URLTemplate: "https://v.example/{serial}", Response: config.TokenVendorResponse{TokenPath: "$.token"}}
	}
	for _, c := range []struct {
		edit func(*config.TokenVendor)
		want string
	}{
		{func(v *config.TokenVendor) { v.URLTemplate = "https://v.example/{serail}" }, "url_template: {serail}: unknown placeholder"},
		{func(v *config.TokenVendor) { v.RequestBody = map[string]any{"a": map[string]any{"b": "{nope}"}} }, "request_body: a.b: {nope}: unknown placeholder"},
		{func(v *config.TokenVendor) { v.RequestBody = map[string]any{"pw": "{secret.pw}"} }, `request_body: pw: {secret.pw}: no secret "pw"`},
		{func(v *config.TokenVendor) { v.Response.TokenPath = "token" }, "response.token_path: \"token\": a JSON path starts with $"},
		{func(v *config.TokenVendor) { v.Response.ErrorPath = "$.a..b" }, "response.error_path:"},
		{func(v *config.TokenVendor) { v.UnlockBody = map[string]any{"x": "{ bad"} }, "unlock_body: x:"},
	} {
		cfg := base()
		c.edit(&cfg)
		_, err := New(cfg, Options{})
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("New error %v, want it to start %q", err, c.want)
		}
	}
}

// A vendor answering in text: token_regex finds the code (Stron's older
// API answers "token,amount"); an answer without one is a refusal.
func TestClassifyTokenRegex(t *testing.T) {
	stron, err := New(config.TokenVendor{Name: "stron", URLTemplate: "https://stron.example/vending/",
		Response: config.TokenVendorResponse{TokenRegex: `^"?([0-9]{20})`, ErrorPath: "$.Message"}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	both, err := New(config.TokenVendor{Name: "both", URLTemplate: "https://v.example/t",
		Response: config.TokenVendorResponse{TokenPath: "$.token", TokenRegex: `code=(\w+)`}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		v    *Vendor
		body []byte
		kind kind
		want string
	}{
		{stron, readFixture(t, "stron/legacy_vending_response.txt"), issued, "10394857261038475629"},
		{stron, []byte(`"10394857261038475629,60.00"`), issued, "10394857261038475629"},
		{stron, readFixture(t, "stron/legacy_error_response.json"), refused, "HTTP 200"},
		{stron, []byte("false"), refused, "false"},
		{stron, nil, ambiguous, "no readable"},
		{both, []byte(`{"token":"123456789"}`), issued, "123456789"},
		{both, []byte("OK code=987654321 units=5"), issued, "987654321"},
	} {
		a := c.v.classify(200, c.body)
		got := a.code
		if c.kind != issued {
			got = a.reason
		}
		if a.kind != c.kind || !strings.Contains(got, c.want) {
			t.Errorf("%s %q: kind %d %q, want %d %q", c.v.Name(), c.body, a.kind, got, c.kind, c.want)
		}
	}
	for _, re := range []string{`(`, `(a)(b)`} {
		if _, err := New(config.TokenVendor{Name: "x", URLTemplate: "https://v.example/t", Response: config.TokenVendorResponse{TokenRegex: re}}, Options{}); err == nil ||
			!strings.HasPrefix(err.Error(), "response.token_regex") {
			t.Errorf("token_regex %q: %v", re, err)
		}
	}
}
