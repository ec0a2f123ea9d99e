package template

import (
	"testing"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/adapters/adaptertest"
	"github.com/payg-gateway/gateway/core"
)

// TODO: "../../../shared/testdata/providers/<provider>", and use File
// instead of Body in the cases, with RequireAllFixtures: true.
const fixtureDir = "."

const secret = "0123456789abcdefXYZ"

func config() adapters.InstanceConfig {
	return adapters.InstanceConfig{Name: "example-1", Adapter: ID, Currency: "KES",
		Settings: map[string]any{"callback_secret": secret}}
}

func TestConformance(t *testing.T) {
	ok := core.PaymentNotice{ProviderTxID: "T1", RequestID: "R1", Status: core.NoticeSucceeded, Amount: core.NewMoney(150000, "KES")}
	ack := &adapters.Response{Status: 200, ContentType: "application/json", Body: []byte(`{}`)}
	adaptertest.Run(t, adaptertest.Suite{
		Config:     config(),
		Dir:        fixtureDir,
		PathParams: map[string]string{"secret": secret},
		Cases: []adaptertest.Case{
			{Name: "success", Body: []byte(`{"id":"T1","reference":"R1","amount":"1500.00","status":"SUCCESS"}`), Kind: KindPayment,
				WantAck: ack, WantNotices: []core.PaymentNotice{ok}},
			{Name: "duplicate", Body: []byte(`{"id":"T1","reference":"R1","amount":"1500.00","status":"SUCCESS"}`), Kind: KindPayment,
				WantAck: ack, WantNotices: []core.PaymentNotice{ok}, DuplicateOf: "success"},
			{Name: "unknown status", Body: []byte(`{"reference":"R2","status":"ON_HOLD"}`), Kind: KindPayment,
				WantAck: ack, WantNotices: []core.PaymentNotice{{RequestID: "R2", Status: core.NoticePending, Reason: "unknown status ON_HOLD"}}},
			{Name: "malformed amount", Body: []byte(`{"id":"T3","amount":"1,500x","status":"SUCCESS"}`), Kind: KindPayment,
				WantAck: ack, WantQuarantine: true},
		},
	})
}

func FuzzCallback(f *testing.F) {
	f.Add([]byte(`{"id":"T1","reference":"R1","amount":"1500.00","status":"SUCCESS"}`))
	a := adaptertest.Provision(f, config(), adapters.Deps{}).(adapters.CallbackParser)
	f.Fuzz(func(t *testing.T, body []byte) {
		adaptertest.CheckCallback(t, a, "example-1", &adapters.Request{Method: "POST", Kind: KindPayment, Body: body,
			PathParams: map[string]string{"secret": secret}})
	})
}
