package africastalking_test

import (
	"testing"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/adapters/adaptertest"
	"github.com/payg-gateway/gateway/adapters/africastalking"
)

// FuzzDeliveryReport feeds arbitrary bodies to the delivery report route:
// no panic, the invariants of adaptertest.CheckCallback hold, and the
// result is either a quarantine or exactly one report with an id and a
// state a report may have.
func FuzzDeliveryReport(f *testing.F) {
	adaptertest.AddSeeds(f, fixtureDir, adaptertest.FixtureNames(f, fixtureDir, "dlr_")...)
	f.Add([]byte("id=X&id=Y&status=Success"))
	f.Add([]byte("id=%zz"))
	a := adaptertest.Provision(f, config(nil), adapters.Deps{}).(adapters.CallbackParser)
	f.Fuzz(func(t *testing.T, body []byte) {
		res := adaptertest.CheckCallback(t, a, instance, dlrRequest(body))
		if res == nil {
			return
		}
		if res.Ack.Status != 200 || len(res.Ack.Body) > 0 || len(res.Notices) > 0 {
			t.Errorf("answer %+v, notices %v", res.Ack, res.Notices)
		}
		if (res.Quarantine == nil) == (len(res.Deliveries) == 0) {
			t.Fatalf("want a quarantine or one report: %+v", res)
		}
		for _, d := range res.Deliveries {
			if d.ProviderID == "" || d.State == "" || d.State == adapters.SMSRetry || len(d.Reason) > 200 || len(d.ProviderStatus) > 200 {
				t.Errorf("report %+v", d)
			}
		}
	})
}

// FuzzSendResponse feeds arbitrary answers to the send answer parser: no
// panic, and every receipt it reads has a state.
func FuzzSendResponse(f *testing.F) {
	adaptertest.AddSeeds(f, fixtureDir, adaptertest.FixtureNames(f, fixtureDir, "send_sms_response_")...)
	f.Add([]byte(`{"SMSMessageData":{"Recipients":[{"statusCode":"7","messageId":null}]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		rs, err := africastalking.ParseSendResponse(body)
		if err != nil {
			if rs != nil {
				t.Errorf("receipts with an error")
			}
			return
		}
		for _, r := range rs {
			switch r.State {
			case adapters.SMSAccepted, adapters.SMSSent, adapters.SMSRejected, adapters.SMSRetry:
			default:
				t.Errorf("receipt %+v: state %q", r, r.State)
			}
			if r.ProviderID == "None" {
				t.Errorf("receipt %+v: None kept as an id", r)
			}
		}
	})
}
