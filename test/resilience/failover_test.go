package resilience

import (
	"context"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/test/load/loadtest"
)

// testStoreFailover (TestStoreOutage/stranded): mid-load, every open connection to PostgreSQL goes
// silent for good (no reset, no FIN: the database moved to another
// machine, or a NAT forgot the flows) while new connections work. The
// gateway must notice on its own: callbacks stuck on an old connection
// are answered (or given up by the telco and re-sent), and the job runner
// keeps delivering webhooks, without a restart and without waiting for
// the kernel's TCP retransmission timeout (about 15 minutes). The telco
// gives up on a callback after 5 s, as Daraja does after about 8.
func testStoreFailover(t *testing.T) {
	const (
		contracts = 60
		conc      = 8
	)
	payments := envInt(t, "RESIL_PAYMENTS", 150)
	w := newWorld(t, "postgres", contracts)
	proxy := newProxy(t, pgTarget(t, w.dsn))
	g := w.newGateway("gw", proxy.addr)
	g.start()
	pid := g.pid()

	storm := loadtest.NewStorm(w.fleet, payments, 2, conc, 23, "FO")
	tc := newTelco(storm, []string{g.ConfirmationURL()}, conc)
	tc.every = 8 * time.Second / time.Duration(storm.Calls())
	tc.client.Timeout = 5 * time.Second
	sent := make(chan error, 1)
	go func() { sent <- tc.run(context.Background()) }()
	time.Sleep(2 * time.Second)
	at := time.Now()
	n := proxy.strand()
	t.Logf("stranded %d connections after %d sends", n, tc.sends.Load())
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	t.Logf("telco: %s; all acknowledged %v after the failover", tc.summary(), time.Since(at).Round(time.Millisecond))
	var longest time.Duration
	for _, s := range tc.sendsWithin(at.Add(-time.Minute), time.Now()) {
		longest = max(longest, s.end.Sub(s.start))
	}
	t.Logf("the longest callback took %v", longest.Round(time.Millisecond))
	d := checkWebhooks(t, w, false, 2*jobLease+time.Minute)
	t.Logf("webhooks: %v, all delivered %v after the failover", d, time.Since(at).Round(time.Millisecond))
	checkPayments(t, w, storm)
	if g.pid() != pid {
		t.Errorf("the gateway was restarted")
	}
	g.stop()
}
