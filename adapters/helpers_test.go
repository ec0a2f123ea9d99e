package adapters_test

import (
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/core"
)

func TestParseAmount(t *testing.T) {
	for _, tc := range []struct {
		in   string
		cur  core.Currency
		want int64
		ok   bool
	}{
		{"1500.00", "KES", 150000, true},
		{"1500", "KES", 150000, true},
		{"10", "KES", 1000, true},
		{"5.5", "KES", 550, true},
		{"0.05", "KES", 5, true},
		{"50000", "UGX", 50000, true},
		{"50000.00", "UGX", 50000, true},
		{"150.00", "ZMW", 15000, true},
		{"0", "UGX", 0, true},
		{"007", "UGX", 7, true},
		{"150.005", "ZMW", 0, false},
		{"50000.5", "UGX", 0, false},
		{"1,500.00x", "KES", 0, false},
		{"fifty thousand", "UGX", 0, false},
		{"", "KES", 0, false},
		{"-5", "KES", 0, false},
		{"+5", "KES", 0, false},
		{"1.5e3", "KES", 0, false},
		{" 10", "KES", 0, false},
		{"10.", "KES", 0, false},
		{".5", "KES", 0, false},
		{"1.2.3", "KES", 0, false},
		{"99999999999999999999", "KES", 0, false},
		{"10", "XYZ", 0, false},
	} {
		got, err := adapters.ParseAmount(tc.in, tc.cur)
		if (err == nil) != tc.ok || (tc.ok && got != core.NewMoney(tc.want, tc.cur)) {
			t.Errorf("ParseAmount(%q, %s) = %v, %v; want %d ok=%v", tc.in, tc.cur, got, err, tc.want, tc.ok)
		}
	}
}

// FuzzParseAmount checks ParseAmount against math/big: a string it accepts
// is a plain decimal whose value times 10^exponent is the result exactly.
func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"1500.00", "10", "150.005", "1,500.00x", "0.10", "9223372036854775807", "92233720368547758.08"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, kes bool) {
		cur := core.Currency("UGX")
		scale := big.NewRat(1, 1)
		if kes {
			cur, scale = "KES", big.NewRat(100, 1)
		}
		m, err := adapters.ParseAmount(s, cur)
		if err != nil {
			return
		}
		if strings.ContainsAny(s, "+-eE ,_") {
			t.Fatalf("accepted %q", s)
		}
		r, ok := new(big.Rat).SetString(s)
		if !ok {
			t.Fatalf("accepted %q, which is not a decimal", s)
		}
		r.Mul(r, scale)
		if !r.IsInt() || r.Num().Cmp(big.NewInt(m.Amount)) != 0 || m.Currency != cur {
			t.Fatalf("ParseAmount(%q) = %v, want %s", s, m, r.RatString())
		}
		back, err := adapters.FormatAmount(m)
		if err != nil {
			t.Fatal(err)
		}
		if m2, err := adapters.ParseAmount(back, cur); err != nil || m2 != m {
			t.Fatalf("FormatAmount(%v) = %q does not parse back (%v, %v)", m, back, m2, err)
		}
	})
}

func TestFormatAmount(t *testing.T) {
	for _, tc := range []struct {
		m    core.Money
		want string
	}{
		{core.NewMoney(50000, "UGX"), "50000"},
		{core.NewMoney(150000, "KES"), "1500"},
		{core.NewMoney(1250, "KES"), "12.5"},
		{core.NewMoney(1205, "KES"), "12.05"},
		{core.NewMoney(5, "KES"), "0.05"},
		{core.NewMoney(0, "KES"), "0"},
	} {
		if got, err := adapters.FormatAmount(tc.m); err != nil || got != tc.want {
			t.Errorf("FormatAmount(%v) = %q, %v; want %q", tc.m, got, err, tc.want)
		}
	}
	if _, err := adapters.FormatAmount(core.NewMoney(-1, "KES")); err == nil {
		t.Error("negative amount formatted")
	}
	if n, err := adapters.WholeMajorUnits(core.NewMoney(150000, "KES")); err != nil || n != 1500 {
		t.Errorf("WholeMajorUnits = %d, %v", n, err)
	}
	if _, err := adapters.WholeMajorUnits(core.NewMoney(150050, "KES")); err == nil {
		t.Error("WholeMajorUnits accepted cents")
	}
}

func TestNormalizeAccountRef(t *testing.T) {
	for in, want := range map[string]string{
		" ac-100234 ": "AC100234",
		"AC100234":    "AC100234",
		"ac 100 234":  "AC100234",
		"":            "",
		"\tac-1\n":    "AC1",
	} {
		if got := adapters.NormalizeAccountRef(in); got != want {
			t.Errorf("NormalizeAccountRef(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAllowList(t *testing.T) {
	p, err := adapters.ParsePrefixes("settings.allowed_cidrs", []string{"196.201.214.200", "10.0.0.0/8", "2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"196.201.214.200":        true,
		"196.201.214.201":        false,
		"::ffff:196.201.214.200": true,
		"10.1.2.3":               true,
		"2001:db8::1":            true,
		"2001:db9::1":            false,
	} {
		if got := adapters.AddrAllowed(p, netip.MustParseAddr(addr)); got != want {
			t.Errorf("AddrAllowed(%s) = %v", addr, got)
		}
	}
	if adapters.AddrAllowed(p, netip.Addr{}) {
		t.Error("an unknown address was allowed")
	}
	if err := adapters.CheckSourceAddr(nil, netip.Addr{}); err != nil {
		t.Errorf("empty allow-list refused: %v", err)
	}
	if _, err := adapters.ParsePrefixes("settings.allowed_cidrs", []string{"10.0.0.0/33"}); err == nil || !strings.Contains(err.Error(), "settings.allowed_cidrs[0]") {
		t.Errorf("bad CIDR: %v", err)
	}
}

// TestPathToken uses the Oltranz fixtures' published token, which follows
// the same scheme.
func TestPathToken(t *testing.T) {
	got := adapters.PathToken("test-oltranz-callback-url-key-DO-NOT-USE", "5d0c7a1e-9b2f-4c3d-8e4f-000000000123", 32)
	if got != "9451376d73c6eebbc9fc9d3ef51b59b9" {
		t.Errorf("PathToken = %s", got)
	}
	if !adapters.SecretEqual(got, "9451376d73c6eebbc9fc9d3ef51b59b9") || adapters.SecretEqual("", "") || adapters.SecretEqual("a", "b") {
		t.Error("SecretEqual")
	}
}

func TestReferenceID(t *testing.T) {
	id, err := adapters.NewReferenceID()
	if err != nil || !adapters.IsUUIDv4(id) {
		t.Fatalf("NewReferenceID = %q, %v", id, err)
	}
	if adapters.IsUUIDv4("0f7b0a3e-8e3c-1b8a-9d3a-2b1f4c5d6e7f") || adapters.IsUUIDv4("{0f7b0a3e-8e3c-4b8a-9d3a-2b1f4c5d6e7f}") {
		t.Error("IsUUIDv4 accepted a non-v4 or non-canonical UUID")
	}
}

func TestEnvFileSecrets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte("s3cret\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := adapters.EnvFileSecrets(func(k string) (string, bool) { return "v-" + k, k == "SET" })
	for ref, want := range map[string]string{"file:" + path: "s3cret", "env:SET": "v-SET", "literal": "literal"} {
		if got, err := r(ref); err != nil || got != want {
			t.Errorf("%s: %q, %v", ref, got, err)
		}
	}
	for _, ref := range []string{"env:", "env:UNSET", "file:" + path + ".missing"} {
		if _, err := r(ref); err == nil {
			t.Errorf("%s: no error", ref)
		}
	}
}
