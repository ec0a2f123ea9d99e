package tokenhttp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/adapters/tokenhttp"
	"github.com/payg-gateway/gateway/config"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/coretest"
	"github.com/payg-gateway/gateway/core/jobs"
	"github.com/payg-gateway/gateway/core/lease"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/core/postgres"
	"github.com/payg-gateway/gateway/core/postgres/pgtest"
	"github.com/payg-gateway/gateway/core/sqlite"
	"github.com/payg-gateway/gateway/test/fakevendor"
)

// fixtures are the vendor payloads shared with the other teams.
const fixtures = "../../../shared/testdata/vendors"

func fixture(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// store is what the tests need of a store: both SQL stores have it.
type store interface {
	core.Store
	payg.Store
	core.JobQueue
	core.JobService
}

type backend struct {
	name string
	open func(t testing.TB, clock core.Clock) store
}

func eachStore(t *testing.T, test func(t *testing.T, b backend)) {
	for _, b := range []backend{
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
	} {
		t.Run(b.name, func(t *testing.T) { test(t, b) })
	}
}

func migrate(t testing.TB, s store) store {
	t.Helper()
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// The fixtures' test world: a payment of KES 1500 at 2025-03-14T09:31:02Z
// buys 30 days at KES 50 a day.
var (
	epoch      = time.Date(2025, 3, 14, 9, 31, 2, 0, time.UTC)
	paymentKES = core.Money{Amount: 150000, Currency: "KES"}
)

const tenantID = "sunbright-ke"

// world is a store, a PAYG service whose contract's device belongs to a
// token vendor, the fake vendor, and a job runner running the vendor's
// queue. The clock stands still until the test moves it.
type world struct {
	t        *testing.T
	store    store
	clock    *coretest.Clock
	svc      *payg.Service
	fake     *fakevendor.Vendor
	handler  *tokenhttp.Handler
	runner   *jobs.Runner
	results  chan jobs.Result
	contract payg.Contract
	device   payg.Device
	payments int
}

// worldSetup is what a worldOption may change: the vendor's options, and
// the settler its handler uses (wrapping the PAYG service).
type worldSetup struct {
	vendor  tokenhttp.Options
	settler func(tokenhttp.Settler) tokenhttp.Settler
}

type worldOption func(*worldSetup)

// newWorld builds a world for vendor cfg (its URL template's "{base}"
// prefix replaced by the fake's URL) and a device with serial.
func newWorld(t *testing.T, b backend, cfg config.TokenVendor, fo fakevendor.Options, serial string, opts ...worldOption) *world {
	t.Helper()
	ctx := context.Background()
	clock := coretest.NewClock(epoch)
	s := b.open(t, clock)
	if _, err := s.CreateTenant(ctx, core.Tenant{ID: tenantID, Name: "SunBright Kenya", TimeZone: "Africa/Nairobi", DefaultCountry: "KE"}); err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, store: s, clock: clock, results: make(chan jobs.Result, 1000)}
	w.fake = fakevendor.New(fo)
	t.Cleanup(w.fake.Close)
	cfg.URLTemplate = w.fake.URL() + cfg.URLTemplate
	if strings.HasPrefix(cfg.Auth.TokenURL, "/") {
		cfg.Auth.TokenURL = w.fake.URL() + cfg.Auth.TokenURL
	}
	if strings.HasPrefix(cfg.Auth.LoginURL, "/") {
		cfg.Auth.LoginURL = w.fake.URL() + cfg.Auth.LoginURL
	}
	cfg.AllowInsecureHTTP, cfg.AllowLoopback = true, true
	setup := worldSetup{vendor: tokenhttp.Options{Clock: clock}}
	for _, o := range opts {
		o(&setup)
	}
	v, err := tokenhttp.New(cfg, setup.vendor)
	if err != nil {
		t.Fatal(err)
	}
	w.svc = payg.NewService(payg.Options{
		Store: s, Tenants: s, Clock: clock,
		Engines: map[payg.TokenScheme]payg.TokenEngine{payg.TokenScheme(v.Name()): v},
	})
	cust, err := w.svc.CreateCustomer(ctx, tenantID, payg.CustomerInput{ExternalID: "crm-1", Name: "Amina Otieno", Phone: "0700000123"})
	if err != nil {
		t.Fatal(err)
	}
	w.device, err = w.svc.CreateDevice(ctx, tenantID, payg.DeviceInput{Serial: serial, Scheme: payg.TokenScheme(v.Name())})
	if err != nil {
		t.Fatal(err)
	}
	w.contract, err = w.svc.CreateContract(ctx, tenantID, payg.ContractInput{
		AccountNumber: "AC100234", CustomerID: cust.ID, DeviceIDs: []string{w.device.ID},
		Plan: lease.Plan{Kind: lease.KindPAYGCredit, Currency: "KES", Price: 5000, PricePeriod: lease.PeriodDay, GraceDays: 3, DefaultDays: 30},
	})
	if err != nil {
		t.Fatal(err)
	}
	var settler tokenhttp.Settler = w.svc
	if setup.settler != nil {
		settler = setup.settler(settler)
	}
	w.handler = v.Handler(settler, nil)
	w.runner = jobs.New(jobs.Options{
		Queue: s, Clock: clock, Workers: 1,
		// Leases longer than any clock jump: no job is claimed twice.
		Lease: 1000 * time.Hour, PollInterval: time.Hour,
		Observe: func(r jobs.Result) { w.results <- r },
	})
	w.runner.Register(v.Queue(), w.handler, v.RetryPolicy())
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

// pay applies a KES 1500 payment and returns its outcome.
func (w *world) pay() payg.Outcome {
	w.t.Helper()
	w.payments++
	out, err := w.svc.ApplyNotice(context.Background(), tenantID, core.PaymentNotice{
		Instance: "mpesa-ke", ProviderTxID: fmt.Sprintf("TX%06d", w.payments), Status: core.NoticeSucceeded,
		Amount: paymentKES, AccountRef: "AC100234", OccurredAt: epoch,
	})
	if err != nil {
		w.t.Fatalf("ApplyNotice: %v", err)
	}
	w.runner.Wake()
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
		w.t.Fatal("no job outcome within 15s")
		return jobs.Result{}
	}
}

// advance moves the clock and wakes the runner.
func (w *world) advance(d time.Duration) {
	w.clock.Advance(d)
	w.runner.Wake()
}

func (w *world) token(id string) payg.Token {
	w.t.Helper()
	t, err := w.svc.Token(context.Background(), tenantID, id)
	if err != nil {
		w.t.Fatal(err)
	}
	return t
}

// events lists the tenant's events of type typ.
func (w *world) events(typ string) []payg.Event {
	w.t.Helper()
	var out []payg.Event
	err := w.store.View(context.Background(), func(r payg.Reader) error {
		p, err := r.ListEvents(context.Background(), tenantID, payg.EventQuery{Type: typ}, core.PageRequest{Limit: core.MaxPageLimit})
		out = p.Items
		return err
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return out
}

// job returns the job settling token id.
func (w *world) job(tokenID string) core.Job {
	w.t.Helper()
	p, err := w.store.ListJobs(context.Background(), core.JobQuery{TenantID: tenantID, KeyPrefix: payg.TokenJobKey(tokenID)}, core.PageRequest{Limit: 10})
	if err != nil {
		w.t.Fatal(err)
	}
	if len(p.Items) != 1 {
		w.t.Fatalf("%d jobs for token %s, want 1", len(p.Items), tokenID)
	}
	return p.Items[0]
}

// eventData decodes an event's data.
func eventData(t *testing.T, e payg.Event) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(e.Data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// sameJSON reports whether a and b are the same JSON value.
func sameJSON(t testing.TB, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}
