package resilience

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/test/load/loadtest"
)

// TestStoreOutage (issue 9; issue 6 acceptance 4): mid-load, the
// gateway's connections to PostgreSQL are cut for RESIL_OUTAGE (default
// 10 s) by a TCP proxy between them (existing connections reset, new ones
// refused; the database itself keeps running for everyone else). During
// the outage callbacks answer non-2xx, so the telco re-sends them, and
// /readyz fails; afterwards the same gateway process recovers by itself:
// /readyz is ready again, the re-sent callbacks are acknowledged, and
// every payment is applied exactly once with one token, every event
// delivered.
func TestStoreOutage(t *testing.T) {
	// Mostly waiting out the outage: the two kinds overlap.
	t.Run("refused", func(t *testing.T) { t.Parallel(); testStoreOutage(t, false) })
	// The database goes silent instead: nothing is closed, nothing
	// answers, new connections hang. Callbacks get their 503 at the
	// callback deadline (http.callback_timeout, 5 s), well before the
	// telco gives up (15 s here), /readyz fails on its timeout, and
	// everything completes once traffic flows again.
	t.Run("silent", func(t *testing.T) { t.Parallel(); testStoreOutage(t, true) })
	t.Run("stranded", func(t *testing.T) { t.Parallel(); testStoreFailover(t) })
}

func testStoreOutage(t *testing.T, silent bool) {
	const (
		contracts = 60
		copies    = 2
		conc      = 8
	)
	payments := envInt(t, "RESIL_PAYMENTS", 150)
	outage := envDuration(t, "RESIL_OUTAGE", 10*time.Second)
	w := newWorld(t, "postgres", contracts)
	proxy := newProxy(t, pgTarget(t, w.dsn))
	g := w.newGateway("gw", proxy.addr)
	g.start()
	pid := g.pid()

	storm := loadtest.NewStorm(w.fleet, payments, copies, conc, 17, "OU")
	tc := newTelco(storm, []string{g.ConfirmationURL()}, conc)
	tc.every = (outage + 6*time.Second) / time.Duration(storm.Calls())

	// Probe /readyz every 100 ms throughout.
	type probe struct {
		at, end time.Time
		status  int
	}
	var (
		pmu    sync.Mutex
		probes []probe
	)
	stopProbes := make(chan struct{})
	var pwg sync.WaitGroup
	pwg.Go(func() {
		client := &http.Client{Timeout: 5 * time.Second}
		defer client.CloseIdleConnections()
		for {
			select {
			case <-stopProbes:
				return
			case <-time.After(100 * time.Millisecond):
			}
			at := time.Now()
			status, _ := getStatus(client, g.URL()+"/readyz", "")
			pmu.Lock()
			probes = append(probes, probe{at, time.Now(), status})
			pmu.Unlock()
		}
	})

	sent := make(chan error, 1)
	go func() { sent <- tc.run(context.Background()) }()
	time.Sleep(2 * time.Second)
	cutAt := time.Now()
	if silent {
		proxy.stall()
	} else {
		proxy.cut()
	}
	t.Logf("store cut after %d sends", tc.sends.Load())
	time.Sleep(outage)
	restoredAt := time.Now()
	if silent {
		proxy.flow()
	} else {
		proxy.restore()
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	// Give /readyz a moment to be probed after the load, then stop.
	time.Sleep(300 * time.Millisecond)
	close(stopProbes)
	pwg.Wait()
	t.Logf("telco: %s", tc.summary())

	// /readyz: red during the outage, green again without a restart.
	margin := 200 * time.Millisecond
	var during, ready int
	var recovered time.Duration = -1
	for _, p := range probes {
		switch {
		case p.at.After(cutAt.Add(margin)) && p.end.Before(restoredAt):
			during++
			if p.status == http.StatusOK {
				ready++
			}
		case p.at.After(restoredAt) && p.status == http.StatusOK && recovered < 0:
			recovered = p.end.Sub(restoredAt)
		}
	}
	if during == 0 || ready != 0 {
		t.Errorf("/readyz during the outage: %d of %d probes answered 200; want none (and some probes)", ready, during)
	}
	if recovered < 0 {
		t.Errorf("/readyz never answered 200 again after the store came back")
	} else {
		t.Logf("/readyz ready again %v after the store came back", recovered.Round(time.Millisecond))
	}
	last := probes[len(probes)-1]
	if last.status != http.StatusOK {
		t.Errorf("/readyz answers %d at the end, want 200", last.status)
	}

	// Callbacks during the outage: none acknowledged.
	out := tc.sendsWithin(cutAt.Add(margin), restoredAt)
	acked := 0
	var slowest time.Duration
	for _, s := range out {
		if s.status >= 200 && s.status <= 299 {
			acked++
		}
		slowest = max(slowest, s.end.Sub(s.start))
	}
	if len(out) == 0 || acked != 0 {
		t.Errorf("callbacks during the outage: %d of %d acknowledged; want none (and some callbacks)", acked, len(out))
	}
	// The gateway's default callback deadline, and slack for the grace
	// and a loaded machine.
	if limit := 5*time.Second + 2*time.Second; silent && slowest > limit {
		t.Errorf("the slowest callback during the silent outage took %v; the callback deadline should answer it 503 within %v", slowest.Round(time.Millisecond), limit)
	}
	t.Logf("%d callbacks answered during the outage, all non-2xx, the slowest in %v", len(out), slowest.Round(time.Millisecond))
	var longest time.Duration
	for _, s := range tc.sendsWithin(cutAt.Add(-time.Minute), restoredAt.Add(time.Minute)) {
		longest = max(longest, s.end.Sub(s.start))
	}
	t.Logf("the longest callback around the outage took %v", longest.Round(time.Millisecond))

	if g.pid() != pid || g.starts != 1 {
		t.Errorf("the gateway was restarted (pid %d → %d, %d starts): it must recover by itself", pid, g.pid(), g.starts)
	}
	d := checkWebhooks(t, w, false, 2*jobLease+time.Minute)
	t.Logf("webhooks: %v", d)
	checkPayments(t, w, storm)
	checkTokensAPI(t, w, g, storm)
	g.stop()
}
