package mtnmomo_test

import (
	"testing"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/adapters/adaptertest"
	"github.com/payg-gateway/gateway/adapters/mtnmomo"
)

// FuzzCallback feeds arbitrary bodies to the request-to-pay callback: no
// panic, and the invariants of adaptertest.CheckCallback hold.
func FuzzCallback(f *testing.F) {
	adaptertest.AddSeeds(f, fixtureDir, adaptertest.FixtureNames(f, fixtureDir, "")...)
	a := adaptertest.Provision(f, config(nil), adapters.Deps{}).(adapters.CallbackParser)
	f.Fuzz(func(t *testing.T, body []byte) {
		req := &adapters.Request{Method: "PUT", Kind: mtnmomo.KindRequestToPay, Body: body, PathParams: params(reference), RemoteAddr: mtnAddr}
		res := adaptertest.CheckCallback(t, a, instance, req)
		if res != nil && res.Quarantine == nil && !res.NeedsConfirmation {
			t.Errorf("notices from an unsigned callback without confirmation")
		}
	})
}
