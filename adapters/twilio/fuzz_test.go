package twilio_test

import (
	"net/url"
	"testing"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/adapters/adaptertest"
	"github.com/payg-gateway/gateway/adapters/twilio"
)

// FuzzStatusCallback feeds arbitrary bodies to the status route: no
// panic; the answer is 200 with exactly one report, or 400 with a
// quarantine and none; reports have an id and a report's state.
func FuzzStatusCallback(f *testing.F) {
	adaptertest.AddSeeds(f, fixtureDir, adaptertest.FixtureNames(f, fixtureDir, "")...)
	f.Add([]byte("MessageSid=SM1&MessageSid=SM2&MessageStatus=sent"))
	a := adaptertest.Provision(f, config(nil), adapters.Deps{})
	f.Fuzz(func(t *testing.T, body []byte) {
		form, err := url.ParseQuery(string(body))
		h := signed(twilio.Signature(authToken, callbackURL, form))
		req := statusRequest(body, h)
		verr := a.(adapters.CallbackVerifier).VerifyCallback(t.Context(), req)
		if (err == nil) != (verr == nil) {
			t.Fatalf("a correctly signed form: verify %v (form error %v)", verr, err)
		}
		res, perr := a.(adapters.CallbackParser).ParseCallback(t.Context(), req)
		if perr != nil || res == nil {
			t.Fatalf("ParseCallback: %v", perr)
		}
		switch {
		case res.Ack.Status == 200 && res.Quarantine == nil && len(res.Deliveries) == 1:
			d := res.Deliveries[0]
			if d.ProviderID == "" || d.State == "" || d.State == adapters.SMSRetry || len(d.Reason) > 200 || len(d.Code) > 200 {
				t.Errorf("report %+v", d)
			}
		case res.Ack.Status == 400 && res.Quarantine != nil && res.Quarantine.Reason != "" && len(res.Deliveries) == 0:
		default:
			t.Errorf("result %+v", res)
		}
		if len(res.Notices) > 0 || res.NeedsConfirmation {
			t.Errorf("an SMS callback with notices: %+v", res)
		}
	})
}

// FuzzSendResponse feeds arbitrary 2xx answers to the send answer parser:
// no panic; a receipt has an id and a state.
func FuzzSendResponse(f *testing.F) {
	f.Add([]byte(`{"sid":"SM1","status":"queued","error_code":null,"price":null}`))
	f.Add([]byte(`{"sid":"SM1","status":"failed","error_code":30008,"error_message":"Unknown error","price":"-0.05","price_unit":"USD"}`))
	f.Add([]byte(`{"code":21211,"message":"x","status":400}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := twilio.ParseSendResponse(body)
		if err != nil {
			return
		}
		if r.ProviderID == "" || r.State == "" {
			t.Errorf("receipt %+v", r)
		}
	})
}
