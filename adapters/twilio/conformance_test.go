package twilio_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/adapters/adaptertest"
	"github.com/payg-gateway/gateway/adapters/twilio"
)

// fixtureDir holds the shared Twilio fixtures.
const fixtureDir = "../../../shared/testdata/providers/twilio"

// The test secrets of the fixtures README.
const (
	instance    = "twilio"
	authToken   = "test_twilio_auth_token_000000000"
	callbackURL = "https://gateway.example.com/callbacks/twilio/status"
	accountSID  = "AC00000000000000000000000000000000"
)

func config(extra map[string]any) adapters.InstanceConfig {
	s := map[string]any{
		"account_sid":         accountSID,
		"auth_token":          authToken,
		"from":                "+15005550006",
		"status_callback_url": callbackURL,
	}
	for k, v := range extra {
		if v == nil {
			delete(s, k)
			continue
		}
		s[k] = v
	}
	return adapters.InstanceConfig{Name: instance, Adapter: twilio.ID, Settings: s} // no currency: SMS moves no money
}

func signed(sig string) http.Header { return http.Header{twilio.SignatureHeader: {sig}} }

// TestDocumentedVector is Twilio's documented example (§7).
func TestDocumentedVector(t *testing.T) {
	params := url.Values{
		"CallSid": {"CA1234567890ABCDE"},
		"Caller":  {"+12349013030"},
		"Digits":  {"1234"},
		"From":    {"+12349013030"},
		"To":      {"+18005551212"},
	}
	got := twilio.Signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", params)
	if want := "0/KCTR6DLpKmkAf8muzZqo1nDgQ="; got != want {
		t.Errorf("signature %s, want %s", got, want)
	}
}

// TestFixtureSignatures: the signatures of the fixtures README, computed
// over each file as stored.
func TestFixtureSignatures(t *testing.T) {
	for file, want := range fixtureSignatures {
		form, err := url.ParseQuery(string(adaptertest.ReadFixture(t, fixtureDir, file)))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if got := twilio.Signature(authToken, callbackURL, form); got != want {
			t.Errorf("%s: signature %s, want %s", file, got, want)
		}
	}
}

var fixtureSignatures = map[string]string{
	"status_callback_delivered.txt":             "eEoR6BOUrLdQK7AvVBXIb6Oau/0=",
	"status_callback_undelivered_30003.txt":     "7SHNO5twmcx6/dKVGAoxIqgfy84=",
	"status_callback_malformed_missing_sid.txt": "93lHohZg181L0xPbM9QF7A8Bwx8=",
}

// statusCases are the fixtures with the exact result the adapter gives.
var statusCases = []struct {
	file string
	want adapters.CallbackResult
}{
	{"status_callback_delivered.txt", adapters.CallbackResult{Ack: adapters.Response{Status: 200}, Deliveries: []adapters.DeliveryReport{
		{ProviderID: "SM00000000000000000000000000000001", State: adapters.SMSDelivered, ProviderStatus: "delivered"}}}},
	{"status_callback_undelivered_30003.txt", adapters.CallbackResult{Ack: adapters.Response{Status: 200}, Deliveries: []adapters.DeliveryReport{
		{ProviderID: "SM00000000000000000000000000000002", State: adapters.SMSFailed, ProviderStatus: "undelivered", Code: "30003",
			Reason: "Unreachable destination handset"}}}},
	{"status_callback_malformed_missing_sid.txt", adapters.CallbackResult{Ack: adapters.Response{Status: 400},
		Quarantine: &adapters.Quarantine{Reason: "twilio: status callback: no MessageSid"}}},
}

func statusRequest(body []byte, h http.Header) *adapters.Request {
	return &adapters.Request{Method: "POST", Path: "/callbacks/twilio/status", Kind: twilio.KindStatus, Header: h, Body: body}
}

// TestStatusCallbackFixtures replays every fixture as the host would, with
// its valid signature, a wrong one ("AAAA") and none.
func TestStatusCallbackFixtures(t *testing.T) {
	a := adaptertest.Provision(t, config(nil), adapters.Deps{})
	v, p := a.(adapters.CallbackVerifier), a.(adapters.CallbackParser)
	for _, c := range statusCases {
		body := adaptertest.ReadFixture(t, fixtureDir, c.file)
		t.Run(c.file, func(t *testing.T) {
			req := statusRequest(body, signed(fixtureSignatures[c.file]))
			if err := v.VerifyCallback(context.Background(), req); err != nil {
				t.Fatalf("VerifyCallback: %v", err)
			}
			res, err := p.ParseCallback(context.Background(), req)
			if err != nil {
				t.Fatalf("ParseCallback: %v", err)
			}
			if !reflect.DeepEqual(*res, c.want) {
				t.Errorf("result\n got %+v\nwant %+v", *res, c.want)
			}
		})
		for name, h := range map[string]http.Header{"wrong signature": signed("AAAA"), "no signature": nil,
			"another fixture's signature": signed(fixtureSignatures["status_callback_malformed_missing_sid.txt"])} {
			if name == "another fixture's signature" && c.file == "status_callback_malformed_missing_sid.txt" {
				continue
			}
			t.Run(c.file+"/"+name, func(t *testing.T) {
				err := v.VerifyCallback(context.Background(), statusRequest(body, h))
				var ae *adapters.AuthError
				if !errors.As(err, &ae) || ae.Status != 403 || ae.Check != "signature" {
					t.Errorf("VerifyCallback: %v, want a 403 signature AuthError", err)
				}
			})
		}
	}
}

// TestSignedURLMatters: a signature is only valid for the configured
// public URL; the same body signed for another URL is refused.
func TestSignedURLMatters(t *testing.T) {
	body := adaptertest.ReadFixture(t, fixtureDir, "status_callback_delivered.txt")
	form, _ := url.ParseQuery(string(body))
	for _, u := range []string{"http://gateway.example.com/callbacks/twilio/status", "https://gateway.example.com/callbacks/other/status"} {
		a := adaptertest.Provision(t, config(nil), adapters.Deps{})
		if err := a.(adapters.CallbackVerifier).VerifyCallback(context.Background(), statusRequest(body, signed(twilio.Signature(authToken, u, form)))); err == nil {
			t.Errorf("a signature for %s was accepted", u)
		}
	}
	// A token that is not ours.
	a := adaptertest.Provision(t, config(nil), adapters.Deps{})
	if err := a.(adapters.CallbackVerifier).VerifyCallback(context.Background(), statusRequest(body, signed(twilio.Signature("other", callbackURL, form)))); err == nil {
		t.Errorf("a signature with another token was accepted")
	}
	// A tampered body under the original signature.
	tampered := []byte(strings.Replace(string(body), "MessageStatus=delivered", "MessageStatus=failed", 1))
	if err := a.(adapters.CallbackVerifier).VerifyCallback(context.Background(), statusRequest(tampered, signed(fixtureSignatures["status_callback_delivered.txt"]))); err == nil {
		t.Errorf("a tampered body was accepted")
	}
}

// TestConformance runs the shared conformance kit on the 2xx fixtures
// (the kit requires 2xx answers; the 400 of the malformed fixture is
// checked by TestStatusCallbackFixtures) and the authentication failures.
func TestConformance(t *testing.T) {
	s := adaptertest.Suite{
		Config:             config(nil),
		Dir:                fixtureDir,
		RequireAllFixtures: true,
		AuthCases: []adaptertest.AuthCase{
			{Name: "wrong signature", File: "status_callback_delivered.txt", Kind: twilio.KindStatus, Method: "POST", Header: signed("AAAA"), WantStatus: 403, WantCheck: "signature"},
			{Name: "unsigned malformed", File: "status_callback_malformed_missing_sid.txt", Kind: twilio.KindStatus, Method: "POST", WantStatus: 403, WantCheck: "signature"},
		},
	}
	for _, c := range statusCases {
		if c.want.Ack.Status != 200 {
			continue
		}
		ack := c.want.Ack
		s.Cases = append(s.Cases, adaptertest.Case{File: c.file, Kind: twilio.KindStatus, Header: signed(fixtureSignatures[c.file]), WantAck: &ack})
	}
	adaptertest.Run(t, s)
}

// TestStatusCallbackBodies covers the status table and hostile bodies.
func TestStatusCallbackBodies(t *testing.T) {
	a := adaptertest.Provision(t, config(nil), adapters.Deps{}).(adapters.CallbackParser)
	for _, c := range []struct {
		name, body string
		want       *adapters.DeliveryReport // nil: 400 and quarantined
	}{
		{"queued", "MessageSid=SM1&MessageStatus=queued", &adapters.DeliveryReport{ProviderID: "SM1", State: adapters.SMSAccepted, ProviderStatus: "queued"}},
		{"accepted", "MessageSid=SM1&MessageStatus=accepted", &adapters.DeliveryReport{ProviderID: "SM1", State: adapters.SMSAccepted, ProviderStatus: "accepted"}},
		{"scheduled", "MessageSid=SM1&MessageStatus=scheduled", &adapters.DeliveryReport{ProviderID: "SM1", State: adapters.SMSAccepted, ProviderStatus: "scheduled"}},
		{"sending", "MessageSid=SM1&MessageStatus=sending", &adapters.DeliveryReport{ProviderID: "SM1", State: adapters.SMSAccepted, ProviderStatus: "sending"}},
		{"sent", "MessageSid=SM1&MessageStatus=sent", &adapters.DeliveryReport{ProviderID: "SM1", State: adapters.SMSSent, ProviderStatus: "sent"}},
		{"read", "MessageSid=SM1&MessageStatus=read", &adapters.DeliveryReport{ProviderID: "SM1", State: adapters.SMSDelivered, ProviderStatus: "read"}},
		{"failed", "MessageSid=SM1&MessageStatus=failed&ErrorCode=30007", &adapters.DeliveryReport{ProviderID: "SM1", State: adapters.SMSFailed, ProviderStatus: "failed", Code: "30007", Reason: "Message filtered"}},
		{"canceled", "MessageSid=SM1&MessageStatus=canceled", &adapters.DeliveryReport{ProviderID: "SM1", State: adapters.SMSFailed, ProviderStatus: "canceled"}},
		{"unknown status", "MessageSid=SM1&MessageStatus=partially_delivered", &adapters.DeliveryReport{ProviderID: "SM1", State: adapters.SMSAccepted, ProviderStatus: "partially_delivered"}},
		{"error message given", "MessageSid=SM1&MessageStatus=undelivered&ErrorCode=30099&ErrorMessage=Carrier+said+no", &adapters.DeliveryReport{ProviderID: "SM1", State: adapters.SMSFailed, ProviderStatus: "undelivered", Code: "30099", Reason: "Carrier said no"}},
		{"legacy fields only", "SmsSid=SM1&SmsStatus=sent", &adapters.DeliveryReport{ProviderID: "SM1", State: adapters.SMSSent, ProviderStatus: "sent"}},
		{"no status", "MessageSid=SM1", nil},
		{"sid twice", "MessageSid=SM1&MessageSid=SM2&MessageStatus=sent", nil},
		{"not a form", "MessageSid=%zz", nil},
		{"empty", "", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := a.ParseCallback(context.Background(), statusRequest([]byte(c.body), nil))
			if err != nil {
				t.Fatalf("ParseCallback: %v", err)
			}
			if c.want == nil {
				if res.Ack.Status != 400 || res.Quarantine == nil || len(res.Deliveries) > 0 {
					t.Errorf("want 400, a quarantine and no deliveries, got %+v", res)
				}
				return
			}
			if res.Ack.Status != 200 || res.Quarantine != nil || len(res.Deliveries) != 1 || res.Deliveries[0] != *c.want {
				t.Errorf("got %+v, want %+v", res, *c.want)
			}
		})
	}
}

func TestSettings(t *testing.T) {
	for _, c := range []struct {
		name  string
		extra map[string]any
		want  string
	}{
		{"from", nil, ""},
		{"messaging service", map[string]any{"from": nil, "messaging_service_sid": "MG00000000000000000000000000000000"}, ""},
		{"neither", map[string]any{"from": nil}, "settings.from: required"},
		{"bad account sid", map[string]any{"account_sid": "AC123"}, "settings.account_sid"},
		{"no token", map[string]any{"auth_token": nil}, "settings.auth_token: required"},
		{"bad service sid", map[string]any{"messaging_service_sid": "MG1"}, "settings.messaging_service_sid"},
		{"no callback url", map[string]any{"status_callback_url": nil}, "settings.status_callback_url: required"},
		{"callback url of another route", map[string]any{"status_callback_url": "https://gateway.example.com/callbacks/other/status"}, "settings.status_callback_url"},
		{"underscore in host", map[string]any{"status_callback_url": "https://my_gateway.example.com/callbacks/twilio/status"}, "settings.status_callback_url"},
		{"relative callback url", map[string]any{"status_callback_url": "/callbacks/twilio/status"}, "settings.status_callback_url"},
		{"bad base url", map[string]any{"base_url": "api.twilio.com"}, "settings.base_url"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := adapters.Provision(context.Background(), config(c.extra), adapters.Deps{})
			switch {
			case c.want == "" && err != nil:
				t.Errorf("Provision: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("Provision: got %v, want an error with %q", err, c.want)
			}
		})
	}
}
