package fakesms_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/adapters/africastalking"
	"github.com/payg-gateway/gateway/adapters/twilio"
	"github.com/payg-gateway/gateway/test/fakesms"
)

const (
	apiKey     = "fake-at-key"
	secret     = "fake-dlr-secret-0123456789"
	accountSID = "AC0123456789abcdef0123456789abcdef"
	authToken  = "fake-twilio-token"
	publicURL  = "https://gateway.example.com/callbacks/sms-tw/status"
)

func provision(t *testing.T, cfg adapters.InstanceConfig) adapters.Adapter {
	t.Helper()
	a, err := adapters.Provision(context.Background(), cfg, adapters.Deps{})
	if err != nil {
		t.Fatalf("provision: %v", err)
	}
	return a
}

func atInstance(t *testing.T, base string) adapters.Adapter {
	return provision(t, adapters.InstanceConfig{Name: "sms-at", Adapter: africastalking.ID, Currency: "KES", Settings: map[string]any{
		"username": "solarco", "api_key": apiKey, "from": "SOLARCO", "base_url": base, "callback_secret": secret}})
}

func twilioInstance(t *testing.T, base string) adapters.Adapter {
	return provision(t, adapters.InstanceConfig{Name: "sms-tw", Adapter: twilio.ID, Currency: "KES", Settings: map[string]any{
		"account_sid": accountSID, "auth_token": authToken, "from": "+15005550006", "base_url": base, "status_callback_url": publicURL}})
}

// gateway is a stand-in for the callbacks host: it runs one adapter's
// verify and parse on every request and keeps the reports.
type gateway struct {
	t       *testing.T
	a       adapters.Adapter
	kind    string
	params  map[string]string
	mu      sync.Mutex
	reports []adapters.DeliveryReport
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	g.mu.Lock()
	params := g.params
	g.mu.Unlock()
	req := &adapters.Request{Method: r.Method, Path: r.URL.Path, Kind: g.kind, PathParams: params, Header: r.Header, Body: body,
		RemoteAddr: netip.MustParseAddr("127.0.0.1"), ReceivedAt: time.Now()}
	if err := g.a.(adapters.CallbackVerifier).VerifyCallback(r.Context(), req); err != nil {
		var ae *adapters.AuthError
		if errors.As(err, &ae) {
			w.WriteHeader(ae.Status)
			return
		}
		g.t.Errorf("verify: %v", err)
		w.WriteHeader(500)
		return
	}
	res, err := g.a.(adapters.CallbackParser).ParseCallback(r.Context(), req)
	if err != nil {
		g.t.Errorf("parse: %v", err)
		w.WriteHeader(500)
		return
	}
	g.mu.Lock()
	g.reports = append(g.reports, res.Deliveries...)
	g.mu.Unlock()
	w.WriteHeader(res.Ack.Status)
}

func (g *gateway) got() []adapters.DeliveryReport {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]adapters.DeliveryReport(nil), g.reports...)
}

// TestAfricasTalking sends through the real adapter, fails and recovers,
// refuses a recipient, and reports delivery back through the adapter's
// callback route.
func TestAfricasTalking(t *testing.T) {
	ctx := context.Background()
	fake := fakesms.New(fakesms.Options{APIKey: apiKey, Username: "solarco", Refuse: map[string]int{"+254700000999": 406}})
	defer fake.Close()
	s := atInstance(t, fake.URL()).(adapters.SMSSender)

	got, err := s.SendSMS(ctx, adapters.SMS{To: []string{"+254700000123", "+254700000999"}, Body: "Token 1234"})
	if err != nil {
		t.Fatalf("SendSMS: %v", err)
	}
	if got[0].State != adapters.SMSSent || !strings.HasPrefix(got[0].ProviderID, "ATXid_") ||
		got[1].State != adapters.SMSRejected || got[1].Code != "406" || got[1].ProviderID != "" {
		t.Errorf("receipts %+v", got)
	}
	msgs := fake.Messages()
	if len(msgs) != 1 || msgs[0] != (fakesms.Message{Provider: fakesms.AfricasTalking, ID: got[0].ProviderID, To: "+254700000123", From: "SOLARCO", Body: "Token 1234"}) {
		t.Errorf("messages %+v", msgs)
	}

	// Two failures, then it recovers by itself.
	fake.FailNext(2, 503)
	for i := range 2 {
		_, err := s.SendSMS(ctx, adapters.SMS{To: []string{"+254700000124"}, Body: "again"})
		var pe *adapters.ProviderError
		if !errors.As(err, &pe) || !pe.Retryable || pe.HTTPStatus != 503 {
			t.Errorf("attempt %d: %v, want a retryable 503", i, err)
		}
	}
	if _, err := s.SendSMS(ctx, adapters.SMS{To: []string{"+254700000124"}, Body: "again"}); err != nil {
		t.Errorf("after recovery: %v", err)
	}
	// Failing until told otherwise.
	fake.Fail(500)
	if _, err := s.SendSMS(ctx, adapters.SMS{To: []string{"+254700000124"}, Body: "x"}); err == nil {
		t.Errorf("no error while failing")
	}
	fake.Recover()
	if _, err := s.SendSMS(ctx, adapters.SMS{To: []string{"+254700000124"}, Body: "y"}); err != nil {
		t.Errorf("after Recover: %v", err)
	}
	if n := fake.Attempts(); n != 6 {
		t.Errorf("attempts %d, want 6", n)
	}
	if msgs, err := fake.WaitMessages(ctx, 3); err != nil || len(msgs) != 3 {
		t.Errorf("WaitMessages: %d %v", len(msgs), err)
	}

	// A wrong key is refused as Africa's Talking does.
	bad := provision(t, adapters.InstanceConfig{Name: "sms-at2", Adapter: africastalking.ID, Currency: "KES", Settings: map[string]any{
		"username": "solarco", "api_key": "wrong", "base_url": fake.URL(), "callback_secret": secret}}).(adapters.SMSSender)
	var pe *adapters.ProviderError
	if _, err := bad.SendSMS(ctx, adapters.SMS{To: []string{"+254700000124"}, Body: "x"}); !errors.As(err, &pe) || pe.HTTPStatus != 401 || pe.Retryable {
		t.Errorf("wrong key: %v", err)
	}

	// Delivery reports back to the gateway.
	g := &gateway{t: t, a: atInstance(t, fake.URL()), kind: africastalking.KindDeliveryReport, params: map[string]string{"secret": secret}}
	gw := httptest.NewServer(g)
	defer gw.Close()
	if st, err := fake.ReportAT(ctx, gw.URL+"/callbacks/sms-at/delivery-report/"+secret, got[0].ProviderID, "Failed", "DeliveryFailure"); err != nil || st != 200 {
		t.Fatalf("ReportAT: %d %v", st, err)
	}
	want := adapters.DeliveryReport{ProviderID: got[0].ProviderID, State: adapters.SMSFailed, ProviderStatus: "Failed", Reason: "DeliveryFailure"}
	if r := g.got(); len(r) != 1 || r[0] != want {
		t.Errorf("reports %+v, want %+v", r, want)
	}
	g.mu.Lock()
	g.params = map[string]string{"secret": "wrong-secret-0123456789"}
	g.mu.Unlock()
	if st, _ := fake.ReportAT(ctx, gw.URL, got[0].ProviderID, "Success", ""); st != 404 {
		t.Errorf("wrong secret: %d, want 404", st)
	}
}

// TestTwilio does the same for Twilio: per-recipient requests, a refused
// number, failure and recovery, and signed status callbacks.
func TestTwilio(t *testing.T) {
	ctx := context.Background()
	fake := fakesms.New(fakesms.Options{TwilioAccountSID: accountSID, TwilioAuthToken: authToken, Refuse: map[string]int{"+254700000999": 406}})
	defer fake.Close()
	s := twilioInstance(t, fake.URL()).(adapters.SMSSender)

	got, err := s.SendSMS(ctx, adapters.SMS{To: []string{"+254700000123", "+254700000999"}, Body: "Token 1234"})
	if err != nil {
		t.Fatalf("SendSMS: %v", err)
	}
	if got[0].State != adapters.SMSAccepted || !strings.HasPrefix(got[0].ProviderID, "SM") ||
		got[1].State != adapters.SMSRejected || got[1].Code != "21211" {
		t.Errorf("receipts %+v", got)
	}
	msgs := fake.Messages()
	if len(msgs) != 1 || msgs[0].StatusCallback != publicURL || msgs[0].From != "+15005550006" || fake.Attempts() != 2 {
		t.Errorf("messages %+v, attempts %d", msgs, fake.Attempts())
	}

	fake.FailNext(1, 500)
	var pe *adapters.ProviderError
	if _, err := s.SendSMS(ctx, adapters.SMS{To: []string{"+254700000124"}, Body: "x"}); !errors.As(err, &pe) || !pe.Retryable {
		t.Errorf("failing: %v", err)
	}
	if _, err := s.SendSMS(ctx, adapters.SMS{To: []string{"+254700000124"}, Body: "x"}); err != nil {
		t.Errorf("recovered: %v", err)
	}

	g := &gateway{t: t, a: twilioInstance(t, fake.URL()), kind: twilio.KindStatus}
	gw := httptest.NewServer(g)
	defer gw.Close()
	if st, err := fake.ReportTwilio(ctx, gw.URL+"/callbacks/sms-tw/status", publicURL, got[0].ProviderID, "undelivered", "30003"); err != nil || st != 200 {
		t.Fatalf("ReportTwilio: %d %v", st, err)
	}
	want := adapters.DeliveryReport{ProviderID: got[0].ProviderID, State: adapters.SMSFailed, ProviderStatus: "undelivered", Code: "30003", Reason: "Unreachable destination handset"}
	if r := g.got(); len(r) != 1 || r[0] != want {
		t.Errorf("reports %+v, want %+v", r, want)
	}
	// Signed for the wrong URL: refused.
	if st, _ := fake.ReportTwilio(ctx, gw.URL+"/callbacks/sms-tw/status", "", got[0].ProviderID, "delivered", ""); st != 403 {
		t.Errorf("signed for another URL: %d, want 403", st)
	}
}

func TestNotFound(t *testing.T) {
	fake := fakesms.New(fakesms.Options{})
	defer fake.Close()
	resp, err := http.Get(fake.URL() + "/version1/messaging")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 || fake.Attempts() != 0 {
		t.Errorf("GET: %d, attempts %d", resp.StatusCode, fake.Attempts())
	}
}

// TestAnswerDelay: a slow answer keeps the send recorded even when the
// sender gives up waiting for it (the window in which a sender that dies
// sends again).
func TestAnswerDelay(t *testing.T) {
	fake := fakesms.New(fakesms.Options{APIKey: apiKey, Username: "solarco", AnswerDelay: 300 * time.Millisecond})
	defer fake.Close()
	s := atInstance(t, fake.URL()).(adapters.SMSSender)

	t0 := time.Now()
	if _, err := s.SendSMS(context.Background(), adapters.SMS{To: []string{"+254700000123"}, Body: "slow"}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(t0); took < 300*time.Millisecond {
		t.Errorf("answered after %v, want at least 300ms", took)
	}
	fake2 := fakesms.New(fakesms.Options{APIKey: apiKey, Username: "solarco", AnswerDelay: time.Minute})
	defer fake2.Close()
	s2 := atInstance(t, fake2.URL()).(adapters.SMSSender)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	t0 = time.Now()
	if _, err := s2.SendSMS(ctx, adapters.SMS{To: []string{"+254700000124"}, Body: "given up"}); err == nil {
		t.Error("a send whose sender gave up after 200 ms succeeded")
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer wcancel()
	if msgs, err := fake2.WaitMessages(wctx, 1); err != nil || msgs[0].Body != "given up" {
		t.Errorf("messages %+v (%v), want the abandoned one", msgs, err)
	}
	fake2.Close() // returns once the handler saw the sender hang up, not after a minute
	if took := time.Since(t0); took > 10*time.Second {
		t.Errorf("the abandoned answer held the server %v", took)
	}
}
