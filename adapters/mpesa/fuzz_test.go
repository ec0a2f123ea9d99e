package mpesa_test

import (
	"testing"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/adapters/adaptertest"
	"github.com/payg-gateway/gateway/adapters/mpesa"
)

// fuzzParser feeds arbitrary bodies to one callback kind: no panic, and
// the invariants of adaptertest.CheckCallback hold.
func fuzzParser(f *testing.F, kind string, seeds ...string) {
	adaptertest.AddSeeds(f, fixtureDir, seeds...)
	a := adaptertest.Provision(f, config(nil), adapters.Deps{}).(adapters.CallbackParser)
	f.Fuzz(func(t *testing.T, body []byte) {
		req := &adapters.Request{Method: "POST", Kind: kind, Body: body, PathParams: map[string]string{"secret": secret}, RemoteAddr: safaricomAddr}
		adaptertest.CheckCallback(t, a, instance, req)
	})
}

func FuzzC2BConfirmation(f *testing.F) {
	fuzzParser(f, mpesa.KindC2BConfirmation, adaptertest.FixtureNames(f, fixtureDir, "c2b_")...)
}

func FuzzSTKCallback(f *testing.F) {
	fuzzParser(f, mpesa.KindSTK, adaptertest.FixtureNames(f, fixtureDir, "stk_")...)
}

func FuzzStatusResult(f *testing.F) {
	fuzzParser(f, mpesa.KindStatusResult, adaptertest.FixtureNames(f, fixtureDir, "transaction_status_")...)
}

func FuzzReversalResult(f *testing.F) {
	fuzzParser(f, mpesa.KindReversalResult, adaptertest.FixtureNames(f, fixtureDir, "reversal_")...)
}

func FuzzC2BValidation(f *testing.F) {
	adaptertest.AddSeeds(f, fixtureDir, adaptertest.FixtureNames(f, fixtureDir, "c2b_")...)
	a := adaptertest.Provision(f, config(map[string]any{"validation_min_amount": "50"}), adapters.Deps{}).(adapters.CallbackValidator)
	f.Fuzz(func(t *testing.T, body []byte) {
		req := &adapters.Request{Method: "POST", Kind: mpesa.KindC2BValidation, Body: body, PathParams: map[string]string{"secret": secret}, RemoteAddr: safaricomAddr}
		res := adaptertest.CheckValidation(t, a, instance, req, accounts)
		if res == nil {
			return
		}
		switch res.Code {
		case "0", "C2B00012", "C2B00013", "C2B00016":
		default:
			t.Errorf("validation code %q", res.Code)
		}
		if res.Accepted != (res.Code == "0") {
			t.Errorf("Accepted %v with code %q", res.Accepted, res.Code)
		}
	})
}
