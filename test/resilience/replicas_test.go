package resilience

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/test/fakecrm"
	"github.com/payg-gateway/gateway/test/load/loadtest"
)

// TestThreeReplicas (issue 9): three `gateway serve` processes on one
// PostgreSQL schema, started together, under the duplicate storm (every
// callback sent three times, the copies of a payment spread over the three
// replicas and racing each other). Each payment is applied once, each
// token issued once, and each webhook delivery job is run by one process
// only: every event reaches the CRM exactly once, with one attempt in the
// attempts log.
func TestThreeReplicas(t *testing.T) {
	t.Parallel() // beside TestReplicaDies, which mostly waits
	const (
		contracts = 40
		copies    = 3
		conc      = 24
	)
	payments := envInt(t, "RESIL_PAYMENTS", 150)
	// An empty schema: the three replicas start together and migrate it
	// (once, under the migration lock); the fleet is seeded after.
	w := openWorld(t, "postgres")
	var gws []*gateway
	for i := range 3 {
		gws = append(gws, w.newGateway(fmt.Sprintf("gw%d", i+1), ""))
	}
	var wg sync.WaitGroup
	errs := make([]error, len(gws))
	for i, g := range gws {
		wg.Go(func() { errs[i] = g.tryStart(time.Minute) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			gws[i].showLog(40)
			t.Fatalf("replica %d: %v", i+1, err)
		}
	}
	checkMigratedOnce(t, w.dsn)
	w.seed(contracts)

	storm := loadtest.NewStorm(w.fleet, payments, copies, conc, 31, "R3")
	var urls []string
	for _, g := range gws {
		urls = append(urls, g.ConfirmationURL())
	}
	// Call k goes to replica k mod 3; the storm's shuffle puts the copies
	// of a payment on different replicas at about the same time.
	tc := newTelco(storm, urls, conc)
	if err := tc.run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Logf("telco: %s", tc.summary())
	if n := tc.resends.Load(); n != 0 {
		t.Errorf("%d calls were not acknowledged at once: healthy replicas acknowledge every copy", n)
	}
	checkPayments(t, w, storm)
	for _, g := range gws {
		checkTokensAPI(t, w, g, storm)
	}
	d := checkWebhooks(t, w, true, time.Minute)
	t.Logf("webhooks: %v", d)
	// The deliveries were shared out, each run by one replica.
	var per []float64
	var sum float64
	busy := 0
	for _, g := range gws {
		n, err := g.metric(`gateway_webhook_deliveries_total{outcome="delivered"}`)
		if err != nil {
			t.Fatal(err)
		}
		per, sum = append(per, n), sum+n
		if n > 0 {
			busy++
		}
	}
	t.Logf("deliveries per replica: %v", per)
	if int(sum) != d.events || busy < 2 {
		t.Errorf("replicas delivered %v (%v in all) for %d events: want one delivery per event, shared by at least two replicas", per, sum, d.events)
	}
	for _, g := range gws {
		g.stop()
	}
}

// checkMigratedOnce checks that every migration of the schema dsn names
// was applied exactly once.
func checkMigratedOnce(t *testing.T, dsn string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var versions, rows int
	if err := conn.QueryRow(ctx, `SELECT count(DISTINCT version_id), count(*) FROM goose_db_version WHERE version_id > 0`).Scan(&versions, &rows); err != nil {
		t.Fatal(err)
	}
	if versions == 0 || rows != versions {
		t.Errorf("goose_db_version: %d rows for %d migrations: the replicas did not migrate once", rows, versions)
	}
	t.Logf("three replicas started together on an empty schema: %d migrations, each applied once", versions)
}

// TestReplicaDies: three replicas share the load (every callback sent
// twice) while a slow CRM keeps deliveries running; one replica is killed
// with SIGKILL and stays dead. The telco re-sends what it did not answer
// to the others, and the two survivors finish every payment and, once the
// dead one's leases have passed, its deliveries: every payment applied
// once with one token, every event delivered at least once.
func TestReplicaDies(t *testing.T) {
	t.Parallel()
	const (
		contracts = 40
		copies    = 2
		conc      = 12
	)
	payments := envInt(t, "RESIL_PAYMENTS", 150)
	w := newWorld(t, "postgres", contracts)
	w.crm.SetDelay(10 * time.Millisecond)
	w.crm.Set(fakecrm.Slow)
	var gws []*gateway
	var urls []string
	for i := range 3 {
		g := w.newGateway(fmt.Sprintf("gw%d", i+1), "")
		g.start()
		gws = append(gws, g)
		urls = append(urls, g.ConfirmationURL())
	}
	storm := loadtest.NewStorm(w.fleet, payments, copies, conc, 41, "RD")
	tc := newTelco(storm, urls, conc)
	tc.every = 6 * time.Second / time.Duration(storm.Calls())
	sent := make(chan error, 1)
	go func() { sent <- tc.run(context.Background()) }()
	time.Sleep(2 * time.Second)
	gws[0].kill()
	running, err := w.countJobs(context.Background(), core.JobRunning)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("replica 1 killed after %d sends, with %d deliveries running on the three", tc.sends.Load(), running)
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	t.Logf("telco: %s", tc.summary())
	w.crm.Set(fakecrm.OK)
	d := checkWebhooks(t, w, false, 2*jobLease+time.Minute)
	t.Logf("webhooks: %v", d)
	checkPayments(t, w, storm)
	checkTokensAPI(t, w, gws[1], storm)
	gws[1].stop()
	gws[2].stop()
}
