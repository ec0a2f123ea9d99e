package resilience

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/test/fakecrm"
	"github.com/payg-gateway/gateway/test/load/loadtest"
)

// TestCrash (issue 9): under load on PostgreSQL (and on SQLite, whose
// write-ahead log must survive it too), the gateway is killed
// with SIGKILL three times at random moments and restarted. The telco
// re-sends every callback that did not get a 2xx, and every payment is
// also sent a second time (a duplicate). Afterwards every payment was
// applied exactly once with exactly one token, token counts per device are
// unique and increasing, every event reached the CRM at least once,
// repeats only under the same webhook-id with the same body, and no text
// message reached the fake SMS provider twice: every applied payment's
// confirmation was sent exactly once, except the few a kill cut off
// between the provider call and its record, which are left in state
// unknown, not sent again (see checkSMS).
func TestCrash(t *testing.T) {
	for _, kind := range stores {
		t.Run(kind, func(t *testing.T) {
			t.Parallel() // mostly waiting (for restarts, leases): the two stores overlap
			testCrash(t, kind)
		})
	}
}

func testCrash(t *testing.T, kind string) {
	const (
		contracts = 60
		copies    = 2
		conc      = 8
		kills     = 3
	)
	payments := envInt(t, "RESIL_PAYMENTS", 150)
	w := newWorld(t, kind, contracts)
	w.withSMS()
	// The provider refuses the first two sends (503): they are retried
	// from the store, across the kills.
	w.sms.FailNext(2, 503)
	g := w.newGateway("gw", "")
	g.start()

	seed := uint64(time.Now().UnixNano())
	t.Logf("random seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	storm := loadtest.NewStorm(w.fleet, payments, copies, conc, seed, "CR")
	tc := newTelco(storm, []string{g.ConfirmationURL()}, conc)
	// Spread the first sends over about 8 s, so that the kills land
	// while callbacks and deliveries are in flight.
	tc.every = 8 * time.Second / time.Duration(storm.Calls())

	ctx := context.Background()
	sent := make(chan error, 1)
	go func() { sent <- tc.run(ctx) }()
	var downtime time.Duration
	var smsKills []smsKill // when each kill landed, and what the SMS provider had by then
	for k := range kills {
		time.Sleep(time.Duration(300+rng.IntN(1700)) * time.Millisecond)
		before := tc.sends.Load()
		g.kill()
		t0 := time.Now()
		// At least 50 ms down, so that a send the process wrote before it
		// died has reached the provider before the count.
		time.Sleep(time.Duration(50+rng.IntN(450)) * time.Millisecond)
		smsKills = append(smsKills, smsKill{at: t0, accepted: len(w.sms.Messages())})
		t.Logf("kill %d: SIGKILL after %d sends, %d deliveries at the CRM, %d SMS at the provider",
			k+1, before, len(w.crm.Received()), smsKills[k].accepted)
		g.start()
		downtime += time.Since(t0)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	t.Logf("telco: %s; gateway down %v in all", tc.summary(), downtime.Round(time.Millisecond))
	if tc.resends.Load() == 0 {
		t.Errorf("no call had to be re-sent: the kills did not land under load")
	}
	// Deliveries in flight at a kill wait out their lease.
	d := checkWebhooks(t, w, false, 2*jobLease+time.Minute)
	t.Logf("webhooks: %v", d)
	checkPayments(t, w, storm)
	// Sends in flight at a kill wait out their lease too; the refused
	// ones their retry (30 s).
	s := checkSMS(t, w, smsKills, 2*jobLease+time.Minute)
	t.Logf("sms: %v", s)
	if s.payments != len(storm.Payments()) || s.accepted != s.messages-s.unknown+s.unknownTaken || s.attempts < s.accepted+2 {
		t.Errorf("sms: %v; want %d payments, each confirmed once (or left unknown by a kill), and the two refused requests",
			s, len(storm.Payments()))
	}
	checkTokensAPI(t, w, g, storm)
	g.stop()
}

// TestWebhookKill (issue 8, acceptance 3): the gateway is killed with
// SIGKILL while about RESIL_WEBHOOK_EVENTS events (default 1000) are being
// delivered to a slow CRM, then restarted: every event arrives at least
// once, repeats only under the same webhook-id with the same body.
func TestWebhookKill(t *testing.T) {
	for _, kind := range stores {
		t.Run(kind, func(t *testing.T) {
			t.Parallel() // mostly waiting for the lease: the two stores overlap
			const contracts = 100
			events := envInt(t, "RESIL_WEBHOOK_EVENTS", 1000)
			w := newWorld(t, kind, contracts)
			// A CRM taking 10 ms an answer keeps the deliveries going
			// while the payments arrive and after.
			w.crm.SetDelay(10 * time.Millisecond)
			w.crm.Set(fakecrm.Slow)
			g := w.newGateway("gw", "")
			g.start()

			// A payment makes three events or more (payment.applied,
			// token.issued, and the contract's status changes).
			payments := (events + 2) / 3
			storm := loadtest.NewStorm(w.fleet, payments, 1, 16, 5, "WK")
			tc := newTelco(storm, []string{g.ConfirmationURL()}, 16)
			if err := tc.run(context.Background()); err != nil {
				t.Fatal(err)
			}
			stored, err := w.countEvents()
			if err != nil {
				t.Fatal(err)
			}
			// Kill once about a third of them have been delivered.
			deadline := time.Now().Add(time.Minute)
			for len(w.crm.Delivered()) < stored/3 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			g.kill()
			at := len(w.crm.Delivered())
			t.Logf("%s: %d events stored, %d delivered when killed (%s)", kind, stored, at, tc.summary())
			if at == 0 || at >= stored {
				t.Fatalf("the kill did not land mid-delivery: %d of %d events delivered", at, stored)
			}
			w.crm.Set(fakecrm.OK)
			g.start()
			d := checkWebhooks(t, w, false, 2*jobLease+time.Minute)
			t.Logf("%s: %v", kind, d)
			if d.events != stored {
				t.Errorf("%d events after the restart, %d before: the restart made or lost events", d.events, stored)
			}
			checkPayments(t, w, storm)
			g.stop()
		})
	}
}

// countEvents counts the tenant's stored events.
func (w *world) countEvents() (int, error) {
	events, err := w.events(context.Background())
	return len(events), err
}
