package webhook_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/payg-gateway/gateway/connectors/webhook"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/coretest"
	"github.com/payg-gateway/gateway/core/jobs"
	"github.com/payg-gateway/gateway/core/lease"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/core/postgres"
	"github.com/payg-gateway/gateway/core/postgres/pgtest"
	"github.com/payg-gateway/gateway/core/sqlite"
	"github.com/payg-gateway/gateway/test/fakecrm"
)

// store is what the webhook tests need of a store: both SQL stores have it.
type store interface {
	core.Store
	payg.Store
	core.JobQueue
	core.JobService
	core.WebhookStore
	webhook.EventSource
}

// backend opens a migrated store on a fresh database.
type backend struct {
	name string
	open func(t testing.TB, clock core.Clock) store
}

func backends() []backend {
	return []backend{
		{"sqlite", func(t testing.TB, clock core.Clock) store {
			s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "gateway.db"), clock)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return migrate(t, s)
		}},
		{"postgres", func(t testing.TB, clock core.Clock) store {
			s, err := postgres.Open(context.Background(), pgtest.Schema(t), clock)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return migrate(t, s)
		}},
	}
}

func migrate(t testing.TB, s store) store {
	t.Helper()
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// eachStore runs test on both stores.
func eachStore(t *testing.T, test func(t *testing.T, b backend)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) { test(t, b) })
	}
}

var epoch = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

const tenantID = "sunbright-ke"

const crmTolerance = 1000 * time.Hour

// options tune a world.
type options struct {
	workers         int
	maxAttempts     int
	schedule        jobs.RetryPolicy
	breakerFailures int
	breakerOpenFor  time.Duration
	breakerMaxWait  time.Duration
	timeout         time.Duration
	egress          *webhook.Egress
	eventTypes      []string
	rateLimit       int
}

// world is a store with a PAYG service whose events go to a fake CRM
// through the webhook subscriber, a job runner and a deliverer. Its clock
// stands still until the test moves it; the runner polls only when woken.
type world struct {
	t        *testing.T
	store    store
	clock    *coretest.Clock
	svc      *payg.Service
	crm      *fakecrm.CRM
	endpoint core.WebhookEndpoint
	runner   *jobs.Runner
	reg      *prometheus.Registry
	results  chan jobs.Result
	contract payg.Contract
	replayer webhook.Replayer
	payments int
}

func newWorld(t *testing.T, b backend, o options) *world {
	t.Helper()
	ctx := context.Background()
	clock := coretest.NewClock(epoch)
	s := b.open(t, clock)
	if _, err := s.CreateTenant(ctx, core.Tenant{ID: tenantID, Name: "SunBright Kenya", TimeZone: "Africa/Nairobi", DefaultCountry: "KE"}); err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, store: s, clock: clock, reg: prometheus.NewRegistry(), results: make(chan jobs.Result, 1000)}
	// The clock jumps hours while deliveries are in flight: a tolerance
	// the jumps cannot exceed (the signature package tests the real one).
	w.crm = fakecrm.New(fakecrm.Options{Now: clock.Now, Tolerance: crmTolerance})
	t.Cleanup(w.crm.Close)
	types := o.eventTypes
	if types == nil {
		types = []string{"*"}
	}
	w.endpoint = w.addEndpoint(w.crm, types, o.rateLimit)

	w.svc = payg.NewService(payg.Options{
		Store: s, Tenants: s, Clock: clock,
		Subscribers: []payg.EventSubscriber{webhook.Subscriber{MaxAttempts: o.maxAttempts}},
	})
	cust, err := w.svc.CreateCustomer(ctx, tenantID, payg.CustomerInput{ExternalID: "crm-1", Name: "Amina Otieno", Phone: "0700000123"})
	if err != nil {
		t.Fatal(err)
	}
	dev, err := w.svc.CreateDevice(ctx, tenantID, payg.DeviceInput{Serial: "SHS-0001", Scheme: payg.SchemeNone})
	if err != nil {
		t.Fatal(err)
	}
	w.contract, err = w.svc.CreateContract(ctx, tenantID, payg.ContractInput{
		AccountNumber: "AC100234", CustomerID: cust.ID, DeviceIDs: []string{dev.ID},
		Plan: lease.Plan{Kind: lease.KindPAYGCredit, Currency: "KES", Price: 5000, PricePeriod: lease.PeriodDay, GraceDays: 3, DefaultDays: 30},
	})
	if err != nil {
		t.Fatal(err)
	}

	egress := webhook.Egress{AllowLoopback: true}
	if o.egress != nil {
		egress = *o.egress
	}
	d, err := webhook.NewDeliverer(webhook.DelivererOptions{
		Store: s, Clock: clock, Egress: egress, Timeout: o.timeout, Registerer: w.reg,
		BreakerFailures: o.breakerFailures, BreakerOpenFor: o.breakerOpenFor, BreakerMaxWait: o.breakerMaxWait,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.runner = jobs.New(jobs.Options{
		Queue: s, Clock: clock, Workers: o.workers,
		// Leases are on the test clock, which jumps hours at a time: make
		// them longer than any jump, so no delivery is claimed twice.
		Lease: 1000 * time.Hour, PollInterval: time.Hour,
		Observe: func(r jobs.Result) { w.results <- r },
	})
	schedule := o.schedule
	if schedule == nil {
		schedule = webhook.DefaultSchedule
	}
	w.runner.Register(webhook.Queue, d, schedule)
	w.replayer = webhook.Replayer{Events: s, Jobs: s, Endpoints: s, MaxAttempts: o.maxAttempts, Wake: w.runner.Wake}

	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.runner.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runner: %v", err)
		}
	})
	return w
}

// addEndpoint stores an endpoint delivering to crm and gives crm its secret.
func (w *world) addEndpoint(crm *fakecrm.CRM, types []string, rate int) core.WebhookEndpoint {
	w.t.Helper()
	ep, err := webhook.NewEndpoint(tenantID, crm.URL(), types, rate, webhook.Egress{AllowLoopback: true}, w.clock.Now())
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.store.CreateWebhookEndpoint(context.Background(), ep); err != nil {
		w.t.Fatal(err)
	}
	crm.SetSecrets(ep.Secrets[0].Value)
	return ep
}

// pay applies a KES 150 payment and returns the events it wrote.
func (w *world) pay() []payg.Event {
	w.t.Helper()
	ctx := context.Background()
	w.payments++
	before := w.events()
	n := core.PaymentNotice{
		Instance: "mpesa-ke", ProviderTxID: fmt.Sprintf("TX%06d", w.payments), Status: core.NoticeSucceeded,
		Amount: core.Money{Amount: 15000, Currency: "KES"}, AccountRef: "AC100234",
	}
	if _, err := w.svc.ApplyNotice(ctx, tenantID, n); err != nil {
		w.t.Fatalf("ApplyNotice: %v", err)
	}
	w.runner.Wake()
	return w.events()[len(before):]
}

// events lists every event of the tenant.
func (w *world) events() []payg.Event {
	w.t.Helper()
	var out []payg.Event
	err := w.store.View(context.Background(), func(r payg.Reader) error {
		p, err := r.ListEvents(context.Background(), tenantID, payg.EventQuery{}, core.PageRequest{Limit: core.MaxPageLimit})
		out = p.Items
		return err
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return out
}

// next waits for the next job outcome.
func (w *world) next() jobs.Result {
	w.t.Helper()
	select {
	case r := <-w.results:
		if r.Outcome == jobs.OutcomeLost {
			w.t.Fatalf("outcome lost: %+v", r)
		}
		return r
	case <-time.After(15 * time.Second):
		w.t.Fatal("no delivery outcome within 15s")
		return jobs.Result{}
	}
}

// await waits for n job outcomes.
func (w *world) await(n int) []jobs.Result {
	w.t.Helper()
	out := make([]jobs.Result, n)
	for i := range out {
		out[i] = w.next()
	}
	return out
}

// advance moves the clock and wakes the runner.
func (w *world) advance(d time.Duration) {
	w.clock.Advance(d)
	w.runner.Wake()
}

// jobs lists the tenant's delivery jobs, in creation order.
func (w *world) jobs(state core.JobState) []core.Job {
	w.t.Helper()
	p, err := w.store.ListJobs(context.Background(), core.JobQuery{TenantID: tenantID, Queue: webhook.Queue, State: state}, core.PageRequest{Limit: core.MaxPageLimit})
	if err != nil {
		w.t.Fatal(err)
	}
	return p.Items
}

// attempts lists the attempts log.
func (w *world) attempts(q core.WebhookAttemptQuery) []core.WebhookAttempt {
	w.t.Helper()
	p, err := w.store.ListWebhookAttempts(context.Background(), tenantID, q, core.PageRequest{Limit: core.MaxPageLimit})
	if err != nil {
		w.t.Fatal(err)
	}
	return p.Items
}

// counter reads gateway_webhook_deliveries_total{outcome}.
func (w *world) counter(outcome string) float64 {
	w.t.Helper()
	mfs, err := w.reg.Gather()
	if err != nil {
		w.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "gateway_webhook_deliveries_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// histogramCount reads the sample count of the latency histogram.
func (w *world) histogramCount() uint64 {
	w.t.Helper()
	mfs, err := w.reg.Gather()
	if err != nil {
		w.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "gateway_webhook_delivery_duration_seconds" {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	return 0
}
