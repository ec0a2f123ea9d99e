package resilience

import (
	"context"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/test/load/loadtest"
)

// stores names the stores every test that can runs on.
var stores = []string{"sqlite", "postgres"}

// TestDuplicateStorm: every C2B confirmation of a run sent three times,
// the copies interleaved and in flight together from 32 connections, to a
// real `gateway serve`, on few contracts so that payments also race for
// the same contract and device. Each payment is applied once and each
// token issued once, as the store and the API both show; every event
// reaches the CRM exactly once.
func TestDuplicateStorm(t *testing.T) {
	const (
		contracts = 40
		copies    = 3
		conc      = 32
	)
	for _, kind := range stores {
		t.Run(kind, func(t *testing.T) {
			payments := envInt(t, "RESIL_PAYMENTS", 150)
			w := newWorld(t, kind, contracts)
			g := w.newGateway("gw", "")
			g.start()

			storm := loadtest.NewStorm(w.fleet, payments, copies, conc, 21, "DS")
			tc := newTelco(storm, []string{g.ConfirmationURL()}, conc)
			t0 := time.Now()
			if err := tc.run(context.Background()); err != nil {
				t.Fatal(err)
			}
			took := time.Since(t0)
			t.Logf("%s: %s in %v", kind, tc.summary(), took.Round(time.Millisecond))
			if n := tc.resends.Load(); n != 0 {
				t.Errorf("%d calls were not acknowledged at once (%s): a healthy gateway acknowledges every copy", n, tc.summary())
			}
			for _, p := range storm.Payments() {
				if p.Sends != copies || p.Acks != copies {
					t.Errorf("payment %s sent %d times, acknowledged %d; want %d and %d", p.TxID, p.Sends, p.Acks, copies, copies)
				}
			}
			checkPayments(t, w, storm)
			checkTokensAPI(t, w, g, storm)
			d := checkWebhooks(t, w, true, time.Minute)
			t.Logf("%s: %v", kind, d)
			g.stop()
		})
	}
}
