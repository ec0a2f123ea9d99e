// Package e2e runs the gateway end to end: its real HTTP server, store, job
// runner and callback host, against the provider simulators of test/sim
// and a fake CRM receiving its webhooks.
package e2e

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/payg-gateway/gateway/adapters"
	_ "github.com/payg-gateway/gateway/adapters/all" // the adapters the binary carries
	"github.com/payg-gateway/gateway/adapters/nexus"
	"github.com/payg-gateway/gateway/adapters/openpaygo"
	"github.com/payg-gateway/gateway/connectors/webhook"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/callbacks"
	"github.com/payg-gateway/gateway/core/httpapi"
	"github.com/payg-gateway/gateway/core/httpapi/httpapitest"
	"github.com/payg-gateway/gateway/core/jobs"
	"github.com/payg-gateway/gateway/core/messaging"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/core/postgres"
	"github.com/payg-gateway/gateway/core/postgres/pgtest"
	"github.com/payg-gateway/gateway/core/secretbox"
	"github.com/payg-gateway/gateway/core/sqlite"
	"github.com/payg-gateway/gateway/test/fakecrm"
	"github.com/payg-gateway/gateway/test/sim"
)

// store is what both stores are (as cmd/gateway/app's Store).
type store interface {
	core.Store
	payg.Store
	core.JobQueue
	core.JobService
	core.WebhookStore
	webhook.EventSource
	messaging.Store
}

// Test credentials of the simulators (fake).
const (
	tenantID       = "sunbright-ke"
	mpesaInstance  = "ke-paybill"
	momoInstance   = "ug-momo"
	mpesaSecret    = "e2e-path-secret-0123456789"
	consumerKey    = "e2e-consumer-key"
	consumerSecret = "e2e-consumer-secret"
	stkPasskey     = "e2e-stk-passkey"
	momoUser       = "6f1c5d0e-2b7a-4c3d-9e8f-0a1b2c3d4e5f"
	momoKey        = "e2e-momo-api-key"
	momoSubKey     = "e2e-momo-subscription-key"
	momoCallbacks  = "e2e-momo-callback-key-0123456789abcdef"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode) // process-wide, as cmd/gateway sets it
	os.Exit(m.Run())
}

// forEachStore runs fn on SQLite and, when GATEWAY_TEST_POSTGRES_DSN is
// set, on PostgreSQL.
func forEachStore(t *testing.T, fn func(t *testing.T, open func(t *testing.T) store)) {
	t.Run("sqlite", func(t *testing.T) {
		fn(t, func(t *testing.T) store {
			s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "gw.db"), core.SystemClock{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return migrate(t, s)
		})
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := pgtest.Schema(t)
		fn(t, func(t *testing.T) store {
			s, err := postgres.Open(context.Background(), dsn, core.SystemClock{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return migrate(t, s)
		})
	})
}

func migrate(t *testing.T, s store) store {
	t.Helper()
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// gateway is the assembled gateway and its simulated outside world.
type gateway struct {
	t      *testing.T
	url    string
	store  store
	svc    *payg.Service
	host   *callbacks.Host
	daraja *sim.Daraja
	momo   *sim.MoMo
	crm    *fakecrm.CRM
	api    *httpapitest.Client // a write key of the tenant
}

// options tune a gateway's simulators and janitor.
type options struct {
	daraja sim.DarajaOptions
	momo   sim.MoMoOptions
	policy callbacks.RequestPolicy
}

// fastPolicy makes the janitor check every 50 ms, give payers 1 s and
// stop asking 1 s later.
var fastPolicy = callbacks.RequestPolicy{
	Checks: []time.Duration{50 * time.Millisecond}, Window: time.Second, Grace: time.Second, CallTimeout: 5 * time.Second,
}

// start assembles the gateway much as cmd/gateway/app does for serve:
// the PAYG service with the webhook subscriber, the callback host with an
// M-Pesa and an MTN MoMo instance pointed at the simulators, the job
// runner (webhook deliveries and payment requests) and the HTTP server on
// loopback. A fake CRM receives every webhook.
func start(t *testing.T, st store, o options) *gateway {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("E2E_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	clock := core.SystemClock{}
	if _, err := st.CreateTenant(ctx, core.Tenant{ID: tenantID, Name: "SunBright Kenya", TimeZone: "Africa/Nairobi", DefaultCountry: "KE"}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()

	o.daraja.ConsumerKey, o.daraja.ConsumerSecret, o.daraja.Passkey = consumerKey, consumerSecret, stkPasskey
	o.daraja.Logger = log
	daraja := sim.NewDaraja(o.daraja)
	darajaSrv := httptest.NewServer(daraja.Handler())
	o.momo.APIUser, o.momo.APIKey, o.momo.SubscriptionKey, o.momo.Logger = momoUser, momoKey, momoSubKey, log
	momo := sim.NewMoMo(o.momo)
	momoSrv := httptest.NewServer(momo.Handler())
	t.Cleanup(func() {
		daraja.Close()
		momo.Close()
		darajaSrv.Close()
		momoSrv.Close()
	})

	box, err := secretbox.New(secretbox.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	// Text messages are on for the tenant: the runner here has no SMS
	// sender, so their jobs wait, to be counted.
	templates, err := messaging.NewTemplates(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	msgs := messaging.NewService(messaging.Options{Store: st, Tenants: st, Clock: clock, Templates: templates, Logger: log,
		Settings: func(string) messaging.Settings { return messaging.Settings{Enabled: true} }})
	svc := payg.NewService(payg.Options{
		Store: st, Tenants: st, Clock: clock, Box: box, Logger: log,
		Subscribers: []payg.EventSubscriber{webhook.Subscriber{}, msgs},
		Engines:     map[payg.TokenScheme]payg.TokenEngine{payg.SchemeOpenPAYGO: openpaygo.Engine{}, payg.SchemeNexus: nexus.Engine{}},
	})
	configs := []adapters.InstanceConfig{
		{Name: mpesaInstance, Adapter: "payments.mpesa", Tenant: tenantID, Currency: "KES", Settings: map[string]any{
			"short_code": "600123", "callback_secret": mpesaSecret, "allowed_cidrs": []any{"127.0.0.0/8"},
			"base_url": darajaSrv.URL, "callback_base_url": url + "/callbacks/" + mpesaInstance,
			"consumer_key": consumerKey, "consumer_secret": consumerSecret, "stk_passkey": stkPasskey,
		}},
		{Name: momoInstance, Adapter: "payments.mtn_momo", Tenant: tenantID, Currency: "UGX", Settings: map[string]any{
			"base_url": darajaSrv.URL, "api_user": momoUser, "api_key": momoKey, "subscription_key": momoSubKey,
			"callback_key": momoCallbacks, "callback_base_url": url + "/callbacks/" + momoInstance,
		}},
	}
	configs[1].Settings["base_url"] = momoSrv.URL
	deps := adapters.Deps{Secrets: adapters.EnvFileSecrets(func(string) (string, bool) { return "", false }), Clock: clock, Logger: log}.WithDefaults()
	var instances []callbacks.Instance
	for _, ic := range configs {
		a, err := adapters.Provision(ctx, ic, deps)
		if err != nil {
			t.Fatalf("provision %s: %v", ic.Name, err)
		}
		checked, _ := ic.Check()
		instances = append(instances, callbacks.Instance{Config: checked, Adapter: a})
	}
	reg := prometheus.NewRegistry()
	host, err := callbacks.New(svc, instances, clock, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	host.SetRequestPolicy(o.policy)

	egress := webhook.Egress{AllowLoopback: true} // the fake CRM listens on 127.0.0.1
	deliverer, err := webhook.NewDeliverer(webhook.DelivererOptions{Store: st, Clock: clock, Registerer: reg, Logger: log, Egress: egress})
	if err != nil {
		t.Fatal(err)
	}
	runner := jobs.New(jobs.Options{Queue: st, Clock: clock, Workers: 4, PollInterval: 20 * time.Millisecond, Logger: log})
	runner.Register(webhook.Queue, deliverer, webhook.DefaultSchedule)
	runner.Register(payg.RequestQueue, host.RequestHandler(), nil)
	runner.Register(payg.QuarantineQueue, host.QuarantineHandler(), jobs.Exponential{Initial: 50 * time.Millisecond, Max: time.Second})
	host.SetJobWaker(runner.Wake)

	srv, err := httpapi.New(httpapi.Options{
		Callbacks: host, Store: st, PAYG: svc, PAYGStore: st, Logger: log, Registry: reg,
		MaxBodyBytes: 1 << 20, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
		IdleTimeout: time.Minute, ShutdownTimeout: 5 * time.Second,
		Webhooks: st, Jobs: st, Events: st, WebhookEgress: egress, WakeJobs: runner.Wake,
	})
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 2)
	go func() { done <- runner.Run(sctx) }()
	go func() { done <- srv.Serve(sctx, ln) }()
	t.Cleanup(func() {
		stop()
		for range 2 {
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("gateway: %v", err)
			}
		}
	})

	g := &gateway{t: t, url: url, store: st, svc: svc, host: host, daraja: daraja, momo: momo}
	_, key, err := st.CreateAPIKey(ctx, core.APIKey{TenantID: tenantID, Name: "crm", Scope: core.ScopeAdmin})
	if err != nil {
		t.Fatal(err)
	}
	g.api = httpapitest.New(t, url, key)
	g.crm = fakecrm.New(fakecrm.Options{})
	t.Cleanup(g.crm.Close)
	r := g.api.Post("/v1/webhook-endpoints", map[string]any{"url": g.crm.URL() + "/hooks/gateway", "event_types": []string{"*"}}, "")
	if r.Status != http.StatusCreated {
		t.Fatalf("create webhook endpoint: %d %s", r.Status, r.Body)
	}
	var ep struct {
		Secret string `json:"secret"`
	}
	r.Decode(t, &ep)
	g.crm.SetSecrets(ep.Secret)
	return g
}
