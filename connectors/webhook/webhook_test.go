package webhook

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/core"
)

func TestMatches(t *testing.T) {
	tests := []struct {
		patterns []string
		typ      string
		want     bool
	}{
		{[]string{"*"}, "payment.applied", true},
		{[]string{"payment.*"}, "payment.applied", true},
		{[]string{"payment.*"}, "payment", false},
		{[]string{"payment.*"}, "paymentx.applied", false},
		{[]string{"payment.*"}, "contract.paid_off", false},
		{[]string{"payment.applied"}, "payment.applied", true},
		{[]string{"payment.applied"}, "payment.applied_late", false},
		{[]string{"token.*", "contract.paid_off"}, "contract.paid_off", true},
		{nil, "payment.applied", false},
	}
	for _, tt := range tests {
		if got := Matches(tt.patterns, tt.typ); got != tt.want {
			t.Errorf("Matches(%v, %q) = %v, want %v", tt.patterns, tt.typ, got, tt.want)
		}
	}
}

func TestRetryAfterHeader(t *testing.T) {
	now := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		v    string
		want time.Time
	}{
		{"", time.Time{}},
		{"120", now.Add(2 * time.Minute)},
		{" 0 ", now},
		{"-5", time.Time{}},
		{"soon", time.Time{}},
		{"99999999999", now.Add(MaxRetryAfter)},
		{now.Add(time.Hour).Format(http.TimeFormat), now.Add(time.Hour)},
		{now.Add(-time.Hour).Format(http.TimeFormat), now},
		{now.Add(30 * 24 * time.Hour).Format(http.TimeFormat), now.Add(MaxRetryAfter)},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.v, now); !got.Equal(tt.want) {
			t.Errorf("retryAfter(%q) = %v, want %v", tt.v, got, tt.want)
		}
	}
}

func TestLimiter(t *testing.T) {
	now := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	l := limiter{tat: map[string]time.Time{}}
	// 2 per second: two at once, then one every 500 ms.
	for i := range 2 {
		if ok, _ := l.take("a", 2, now); !ok {
			t.Fatalf("request %d refused", i+1)
		}
	}
	ok, at := l.take("a", 2, now)
	if ok || !at.Equal(now.Add(500*time.Millisecond)) {
		t.Fatalf("third request: %v, %v; want refused until +500ms", ok, at)
	}
	if ok, _ := l.take("b", 2, now); !ok {
		t.Fatal("another endpoint is limited by the first's traffic")
	}
	if ok, _ := l.take("a", 2, at); !ok {
		t.Fatal("refused at the time it was told to come back")
	}
	if ok, _ := l.take("a", 0, now); !ok {
		t.Fatal("rate 0 is no limit")
	}
}

func TestEgressCheck(t *testing.T) {
	tests := []struct {
		ip                     string
		deny, private, loopbck bool // refused by: the zero policy, AllowPrivate, AllowLoopback
	}{
		{"93.184.216.34", false, false, false},
		{"2606:2800:220:1:248:1893:25c8:1946", false, false, false},
		{"127.0.0.1", true, true, false},
		{"::1", true, true, false},
		{"::ffff:127.0.0.1", true, true, false},
		{"10.1.2.3", true, false, true},
		{"172.16.0.1", true, false, true},
		{"192.168.1.1", true, false, true},
		{"100.64.0.1", true, false, true},
		{"fd00::1", true, false, true},
		{"169.254.169.254", true, true, true},
		{"fe80::1", true, true, true},
		{"0.0.0.0", true, true, true},
		{"0.1.2.3", true, true, true},
		{"::", true, true, true},
		{"224.0.0.1", true, true, true},
		{"ff02::1", true, true, true},
		{"255.255.255.255", true, true, true},
	}
	for _, tt := range tests {
		ip := netip.MustParseAddr(tt.ip)
		for _, c := range []struct {
			g    Egress
			deny bool
		}{{Egress{}, tt.deny}, {Egress{AllowPrivate: true}, tt.private}, {Egress{AllowLoopback: true}, tt.loopbck}} {
			if err := c.g.Check(ip); (err != nil) != c.deny {
				t.Errorf("%+v.Check(%s) = %v, want refused %v", c.g, tt.ip, err, c.deny)
			}
		}
	}
	if err := (Egress{}).control("tcp", "127.0.0.1:443", nil); err == nil {
		t.Error("dial control let loopback through")
	}
	if err := (Egress{}).control("tcp", "93.184.216.34:443", nil); err != nil {
		t.Errorf("dial control refused a public address: %v", err)
	}
}

func TestSnippet(t *testing.T) {
	long := strings.Repeat("é", core.MaxWebhookSnippet) // 2 bytes each
	if s := snippet([]byte(long)[:core.MaxWebhookSnippet]); len(s) > core.MaxWebhookSnippet || !strings.HasPrefix(long, s) {
		t.Errorf("snippet of %d bytes", len(s))
	}
	if s := snippet([]byte("ok\x00\xff")); s != "ok\uFFFD" {
		t.Errorf("snippet(ok NUL 0xff) = %q", s)
	}
}

func TestValidateEndpoint(t *testing.T) {
	now := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	ok, err := NewEndpoint("t1", "https://crm.example.com/hooks?token=x", []string{"payment.*", "contract.paid_off"}, 10, Egress{}, now)
	if err != nil {
		t.Fatalf("NewEndpoint: %v", err)
	}
	if !ok.Enabled || len(ok.Secrets) != 1 || !strings.HasPrefix(ok.Secrets[0].Value, "whsec_") || !strings.HasPrefix(ok.ID, "whe_") {
		t.Errorf("new endpoint %+v", ok)
	}
	bad := map[string]func(e *core.WebhookEndpoint){
		"relative url":       func(e *core.WebhookEndpoint) { e.URL = "/hooks" },
		"ftp url":            func(e *core.WebhookEndpoint) { e.URL = "ftp://crm.example.com/" },
		"credentials in url": func(e *core.WebhookEndpoint) { e.URL = "https://u:p@crm.example.com/" },
		"metadata address":   func(e *core.WebhookEndpoint) { e.URL = "http://169.254.169.254/latest" },
		"private literal":    func(e *core.WebhookEndpoint) { e.URL = "https://[fd00::1]/" },
		"no event types":     func(e *core.WebhookEndpoint) { e.EventTypes = nil },
		"bad pattern":        func(e *core.WebhookEndpoint) { e.EventTypes = []string{"payment*"} },
		"inner wildcard":     func(e *core.WebhookEndpoint) { e.EventTypes = []string{"*.applied"} },
		"negative rate":      func(e *core.WebhookEndpoint) { e.RateLimitPerSecond = -1 },
		"no secret":          func(e *core.WebhookEndpoint) { e.Secrets = nil },
		"short secret":       func(e *core.WebhookEndpoint) { e.Secrets = []core.WebhookSecret{{ID: "s", Value: "whsec_c2hvcnQ="}} },
	}
	for name, mutate := range bad {
		e := ok
		e.Secrets = append([]core.WebhookSecret(nil), ok.Secrets...)
		mutate(&e)
		if err := ValidateEndpoint(e, Egress{}); core.ErrorCode(err) != core.EINVALID {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
}

func TestRotateSecret(t *testing.T) {
	now := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	e, err := NewEndpoint("t1", "https://crm.example.com/", []string{"*"}, 0, Egress{}, now)
	if err != nil {
		t.Fatal(err)
	}
	old := e.Secrets[0]
	fresh := RotateSecret(&e, now, time.Hour)
	if got := activeSecrets(e, now.Add(59*time.Minute)); len(got) != 2 || got[0] != old.Value || got[1] != fresh.Value {
		t.Errorf("during the overlap: %d active secrets", len(got))
	}
	if got := activeSecrets(e, now.Add(time.Hour)); len(got) != 1 || got[0] != fresh.Value {
		t.Errorf("after the overlap: %d active secrets", len(got))
	}
	for _, s := range []string{old.String(), fresh.GoString()} {
		if strings.Contains(s, "whsec_") {
			t.Errorf("secret printed as %q", s)
		}
	}
}

func TestDefaultScheduleSpansAboutThreeDays(t *testing.T) {
	s := DefaultSchedule
	s.Jitter = 0
	var total time.Duration
	for attempt := 1; attempt < DefaultMaxAttempts; attempt++ {
		total += s.Delay(attempt)
	}
	if total < 60*time.Hour || total > 80*time.Hour {
		t.Errorf("the default schedule spans %v; want about three days", total)
	}
	want := []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}
	for i, w := range want {
		if got := s.Delay(i + 1); got != w {
			t.Errorf("delay after attempt %d = %v, want %v", i+1, got, w)
		}
	}
	for range 100 {
		if d := DefaultSchedule.Delay(1); d < 4500*time.Millisecond || d > 5500*time.Millisecond {
			t.Fatalf("jittered first delay %v outside 5s ± 10%%", d)
		}
	}
}

func TestEndpointNeverLogsSecrets(t *testing.T) {
	e, err := NewEndpoint("t1", "https://crm.example.com/hooks?token=abc", []string{"*"}, 0, Egress{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("x", "endpoint", e, "secret", e.Secrets[0], "secrets", e.Secrets)
	log.Info(fmt.Sprintf("%v %+v %#v", e, e, e))
	out := buf.String()
	if strings.Contains(out, e.Secrets[0].Value) || strings.Contains(out, strings.TrimPrefix(e.Secrets[0].Value, "whsec_")) {
		t.Fatalf("log leaks a secret: %s", out)
	}
	if !strings.Contains(out, `"url":"https://crm.example.com/hooks"`) {
		t.Errorf("slog attribute of an endpoint should carry its URL without the query: %s", out)
	}
}
