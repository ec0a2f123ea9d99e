package twilio_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"sync"
	"testing"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/adapters/adaptertest"
	"github.com/payg-gateway/gateway/core"
)

// fakeTwilio records requests and answers each with answer(n, form).
type fakeTwilio struct {
	mu       sync.Mutex
	requests []*http.Request
	forms    []url.Values
	answer   func(n int, form url.Values) (int, string)
}

func (f *fakeTwilio) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r)
	f.forms = append(f.forms, form)
	status, out := f.answer(len(f.requests), form)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, out)
}

func newSender(t *testing.T, answer func(n int, form url.Values) (int, string), extra map[string]any) (*fakeTwilio, adapters.SMSSender) {
	t.Helper()
	f := &fakeTwilio{answer: answer}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	if extra == nil {
		extra = map[string]any{}
	}
	extra["base_url"] = srv.URL
	return f, adaptertest.Provision(t, config(extra), adapters.Deps{HTTPClient: srv.Client()}).(adapters.SMSSender)
}

// created answers like Twilio's 201 with sid SM…n.
func created(n int, form url.Values) (int, string) {
	return 201, fmt.Sprintf(`{"sid":"SM%032d","status":"queued","to":%q,"error_code":null,"error_message":null,"price":null}`, n, form.Get("To"))
}

// TestSendContract checks the request of §7: path, Basic auth, form fields.
func TestSendContract(t *testing.T) {
	f, s := newSender(t, created, nil)
	got, err := s.SendSMS(context.Background(), adapters.SMS{To: []string{"+254700000123", "+254700000124"}, Body: "Token: 1234-5678"})
	if err != nil {
		t.Fatalf("SendSMS: %v", err)
	}
	want := []adapters.SMSReceipt{
		{To: "+254700000123", ProviderID: "SM00000000000000000000000000000001", State: adapters.SMSAccepted, Reason: "queued"},
		{To: "+254700000124", ProviderID: "SM00000000000000000000000000000002", State: adapters.SMSAccepted, Reason: "queued"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("receipts\n got %+v\nwant %+v", got, want)
	}
	if len(f.requests) != 2 {
		t.Fatalf("%d requests, want one per recipient", len(f.requests))
	}
	for i, r := range f.requests {
		if r.Method != http.MethodPost || r.URL.Path != "/2010-04-01/Accounts/"+accountSID+"/Messages.json" {
			t.Errorf("%s %s", r.Method, r.URL.Path)
		}
		if u, p, ok := r.BasicAuth(); !ok || u != accountSID || p != authToken {
			t.Errorf("Basic auth %q %v", u, ok)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
			t.Errorf("Content-Type %q", ct)
		}
		wantForm := url.Values{"To": {want[i].To}, "From": {"+15005550006"}, "Body": {"Token: 1234-5678"}, "StatusCallback": {callbackURL}}
		if !reflect.DeepEqual(f.forms[i], wantForm) {
			t.Errorf("form %v, want %v", f.forms[i], wantForm)
		}
	}
}

func TestSendMessagingService(t *testing.T) {
	f, s := newSender(t, created, map[string]any{"from": nil, "messaging_service_sid": "MG00000000000000000000000000000001"})
	if _, err := s.SendSMS(context.Background(), adapters.SMS{To: []string{"+254700000123"}, Body: "hi"}); err != nil {
		t.Fatalf("SendSMS: %v", err)
	}
	want := url.Values{"To": {"+254700000123"}, "MessagingServiceSid": {"MG00000000000000000000000000000001"}, "Body": {"hi"}, "StatusCallback": {callbackURL}}
	if !reflect.DeepEqual(f.forms[0], want) {
		t.Errorf("form %v, want %v", f.forms[0], want)
	}
	if _, err := s.SendSMS(context.Background(), adapters.SMS{To: []string{"+254700000123"}, Body: "hi", From: "SOLARCO"}); err != nil {
		t.Fatalf("SendSMS: %v", err)
	}
	if f.forms[1].Get("From") != "SOLARCO" || f.forms[1].Get("MessagingServiceSid") == "" {
		t.Errorf("form %v: want the message's From with the service", f.forms[1])
	}
}

// TestSendRecipientRefusals: 400 answers are per-recipient refusals.
func TestSendRecipientRefusals(t *testing.T) {
	_, s := newSender(t, func(n int, form url.Values) (int, string) {
		switch form.Get("To") {
		case "+254700000001":
			return 400, `{"code":21211,"message":"The 'To' number +254700000001 is not a valid phone number.","more_info":"https://www.twilio.com/docs/errors/21211","status":400}`
		case "+254700000002":
			return 400, `{"code":21408,"message":"Permission to send an SMS has not been enabled for the region indicated by the 'To' number","status":400}`
		case "+254700000003":
			return 201, `{"sid":"SM3","status":"failed","error_code":30008,"error_message":"Unknown error","price":"-0.05","price_unit":"USD"}`
		}
		return created(n, form)
	}, nil)
	to := []string{"+254700000001", "+254700000002", "+254700000003", "+254700000004", "254700000005"}
	got, err := s.SendSMS(context.Background(), adapters.SMS{To: to, Body: "hi"})
	if err != nil {
		t.Fatalf("SendSMS: %v", err)
	}
	want := []adapters.SMSReceipt{
		{To: to[0], State: adapters.SMSRejected, Code: "21211", Reason: "The 'To' number +254700000001 is not a valid phone number."},
		{To: to[1], State: adapters.SMSRejected, Code: "21408", Reason: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number", Alert: true},
		{To: to[2], ProviderID: "SM3", State: adapters.SMSFailed, Code: "30008", Reason: "Unknown error", Cost: "USD -0.05"},
		{To: to[3], ProviderID: "SM00000000000000000000000000000004", State: adapters.SMSAccepted, Reason: "queued"},
		{To: to[4], State: adapters.SMSRejected, Reason: "not an E.164 number with a leading +"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("receipts\n got %+v\nwant %+v", got, want)
	}
}

// TestSendRequestErrors: whole-request failures of the first request.
func TestSendRequestErrors(t *testing.T) {
	for _, c := range []struct {
		name      string
		status    int
		body      string
		retryable bool
		provider  bool
		code      string
	}{
		{"bad credentials", 401, `{"code":20003,"message":"Authenticate","status":401}`, false, true, "20003"},
		{"no such account", 404, `{"code":20404,"message":"The requested resource was not found","status":404}`, false, true, "20404"},
		{"rate limited", 429, `{"code":20429,"message":"Too Many Requests","status":429}`, true, true, "20429"},
		{"internal error", 500, `oops`, true, true, ""},
		{"unavailable", 503, ``, true, true, ""},
		{"no sid", 201, `{"status":"queued"}`, false, false, ""},
		{"not JSON", 201, `<Message/>`, false, false, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, s := newSender(t, func(int, url.Values) (int, string) { return c.status, c.body }, nil)
			got, err := s.SendSMS(context.Background(), adapters.SMS{To: []string{"+254700000123", "+254700000124"}, Body: "hi"})
			if err == nil {
				t.Fatalf("SendSMS: no error, receipts %+v", got)
			}
			var pe *adapters.ProviderError
			if errors.As(err, &pe) != c.provider {
				t.Fatalf("error %v: want a ProviderError: %v", err, c.provider)
			}
			if pe != nil && (pe.Retryable != c.retryable || pe.HTTPStatus != c.status || pe.Code != c.code) {
				t.Errorf("ProviderError %+v", pe)
			}
		})
	}
}

// TestSendLaterFailure: when a later request fails as a whole, the
// receipts already obtained are kept and the rest are retry.
func TestSendLaterFailure(t *testing.T) {
	f, s := newSender(t, func(n int, form url.Values) (int, string) {
		if n == 2 {
			return 503, `{"code":20500,"message":"Internal Server Error","status":503}`
		}
		return created(n, form)
	}, nil)
	got, err := s.SendSMS(context.Background(), adapters.SMS{To: []string{"+254700000001", "+254700000002", "+254700000003"}, Body: "hi"})
	if err != nil {
		t.Fatalf("SendSMS: %v", err)
	}
	if len(got) != 3 || got[0].State != adapters.SMSAccepted || got[0].ProviderID == "" ||
		got[1].State != adapters.SMSRetry || got[1].Alert || got[2].State != adapters.SMSRetry || got[2].ProviderID != "" {
		t.Errorf("receipts %+v", got)
	}
	if len(f.requests) != 2 {
		t.Errorf("%d requests: want no request after the failure", len(f.requests))
	}
}

func TestSendInvalid(t *testing.T) {
	f, s := newSender(t, created, nil)
	for _, msg := range []adapters.SMS{{Body: "hi"}, {To: []string{"+254700000123"}, Body: ""}} {
		if _, err := s.SendSMS(context.Background(), msg); core.ErrorCode(err) != core.EINVALID {
			t.Errorf("SendSMS(%+v): %v, want EINVALID", msg, err)
		}
	}
	if len(f.requests) != 0 {
		t.Errorf("%d requests sent", len(f.requests))
	}
}
