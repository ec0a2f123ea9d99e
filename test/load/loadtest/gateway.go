package loadtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/payg-gateway/gateway/adapters"
	_ "github.com/payg-gateway/gateway/adapters/all" // the adapters the gateway binary carries
	"github.com/payg-gateway/gateway/adapters/nexus"
	"github.com/payg-gateway/gateway/adapters/openpaygo"
	"github.com/payg-gateway/gateway/config"
	"github.com/payg-gateway/gateway/connectors/webhook"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/callbacks"
	"github.com/payg-gateway/gateway/core/httpapi"
	"github.com/payg-gateway/gateway/core/jobs"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/core/secretbox"
)

// Instance is the name of the gateway's M-Pesa instance in a run.
const Instance = "ke-paybill"

// GatewayOptions are what StartGateway needs beyond the store.
type GatewayOptions struct {
	Tenant string
	// Box is the master key's box, the one the fleet's keys were sealed with.
	Box *secretbox.Box
	// Log receives the gateway's log: JSON at info, as `gateway serve`
	// writes it by default. Nil discards it (after formatting it, so the
	// cost stays in the measurement).
	Log io.Writer
}

// Gateway is the real gateway HTTP server, serving on loopback in this
// process.
type Gateway struct {
	// URL is the server's base URL, http://127.0.0.1:PORT.
	URL    string
	secret string
	server *httpapi.Server
	stop   context.CancelFunc
	done   chan error
}

// StartGateway assembles the gateway as cmd/gateway's serve does (see
// serve.go and wire.go there, which cannot be imported from a main
// package): the default configuration, one Prometheus registry, the PAYG
// service with the OpenPAYGO and Nexus engines and the webhook subscriber,
// an M-Pesa instance accepting callbacks from 127.0.0.0/8, the status
// sweeper, the job runner (webhook deliveries, payment requests), and httpapi.New + Serve on
// 127.0.0.1:0. Keep it in step with serve.go. The
// one departure: the /v1 rate limit is off, so the contract lookup
// benchmark measures the store, not the token bucket.
func StartGateway(ctx context.Context, st Store, o GatewayOptions) (*Gateway, error) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	secret := hex.EncodeToString(b[:])

	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.API.RateLimitPerSecond = 0
	cfg.Instances = []config.Instance{{
		Name: Instance, Adapter: "payments.mpesa", Tenant: o.Tenant, Currency: "KES",
		Settings: map[string]any{"short_code": "600123", "callback_secret": secret, "allowed_cidrs": []any{"127.0.0.0/8"}},
	}}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("loadtest: gateway configuration: %w", err)
	}
	w := o.Log
	if w == nil {
		w = io.Discard
	}
	level, err := config.ParseLevel(cfg.Log.Level)
	if err != nil {
		return nil, fmt.Errorf("loadtest: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
	clock := core.SystemClock{}

	// newRegistry
	reg := prometheus.NewRegistry()
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gateway_build_info",
		Help: "Always 1; the labels name the running build.",
	}, []string{"version", "go_version"})
	build.WithLabelValues("loadtest", runtime.Version()).Set(1)
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), build)

	// newPAYG (no token vendors are configured, so the engines are the
	// built-in ones)
	svc := payg.NewService(payg.Options{
		Store: st, Tenants: st, Clock: clock, Box: o.Box, Logger: log,
		Subscribers: []payg.EventSubscriber{webhook.Subscriber{}},
		Engines: map[payg.TokenScheme]payg.TokenEngine{
			payg.SchemeOpenPAYGO: openpaygo.Engine{},
			payg.SchemeNexus:     nexus.Engine{},
		},
	})

	// newCallbacks
	deps := adapters.Deps{Secrets: adapters.EnvFileSecrets(nil), Clock: clock, Logger: log}.WithDefaults()
	var instances []callbacks.Instance
	for i, in := range cfg.Instances {
		ic := adapters.InstanceConfig{Name: in.Name, Adapter: in.Adapter, Tenant: in.Tenant,
			Currency: core.Currency(in.Currency), Settings: in.Settings}
		a, err := adapters.Provision(ctx, ic, deps)
		if err != nil {
			return nil, fmt.Errorf("loadtest: instances[%d]: %w", i, err)
		}
		checked, _ := ic.Check()
		instances = append(instances, callbacks.Instance{Config: checked, Adapter: a})
	}
	host, err := callbacks.New(svc, instances, clock, log, reg)
	if err != nil {
		return nil, fmt.Errorf("loadtest: callbacks: %w", err)
	}

	// newJobs
	deliverer, err := webhook.NewDeliverer(webhook.DelivererOptions{
		Store: st, Clock: clock, Registerer: reg, Logger: log,
		Egress: webhook.Egress{AllowPrivate: cfg.Webhooks.AllowPrivateNetworks, AllowLoopback: cfg.Webhooks.AllowLoopback},
	})
	if err != nil {
		return nil, fmt.Errorf("loadtest: webhooks: %w", err)
	}
	runner := jobs.New(jobs.Options{Queue: st, Clock: clock, Workers: cfg.Webhooks.Workers, Logger: log})
	runner.Register(webhook.Queue, deliverer, webhook.DefaultSchedule)
	runner.Register(payg.RequestQueue, host.RequestHandler(), nil)
	runner.Register(payg.QuarantineQueue, host.QuarantineHandler(), callbacks.QuarantineRetryPolicy)
	runner.Register(payg.AsyncQueue, host.AsyncHandler(), callbacks.AsyncRetryPolicy)
	host.SetJobWaker(runner.Wake)

	srv, err := httpapi.New(httpapi.Options{
		Callbacks:         host,
		Store:             st,
		PAYG:              svc,
		PAYGStore:         st,
		Logger:            log,
		Registry:          reg,
		MaxBodyBytes:      cfg.HTTP.MaxBodyBytes,
		TrustedProxies:    cfg.HTTP.TrustedProxies,
		ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout,
		ReadTimeout:       cfg.HTTP.ReadTimeout,
		WriteTimeout:      cfg.HTTP.WriteTimeout,
		IdleTimeout:       cfg.HTTP.IdleTimeout,
		ShutdownTimeout:   cfg.HTTP.ShutdownTimeout,
		RateLimit:         float64(cfg.API.RateLimitPerSecond),
		RateBurst:         cfg.API.RateBurst,
	})
	if err != nil {
		return nil, fmt.Errorf("loadtest: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("loadtest: listen: %w", err)
	}
	sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	g := &Gateway{URL: "http://" + ln.Addr().String(), secret: secret, server: srv, stop: stop, done: make(chan error, 1)}
	swept := make(chan struct{})
	go func() {
		defer close(swept)
		sweepStatuses(sctx, svc, log, time.Minute)
	}()
	jobsDone := make(chan error, 1)
	go func() { jobsDone <- runner.Run(sctx) }()
	go func() {
		err := srv.Serve(sctx, ln)
		// As in serve: the runner finishes before the store may close.
		err = errors.Join(err, <-jobsDone)
		<-swept
		g.done <- err
	}()
	return g, nil
}

// sweepStatuses announces time-driven status changes every interval until
// ctx ends (a copy of cmd/gateway's).
func sweepStatuses(ctx context.Context, svc *payg.Service, log *slog.Logger, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := svc.SweepStatuses(ctx)
		if err != nil && ctx.Err() == nil {
			log.Error("status sweep failed", "error", err)
		} else if n > 0 {
			log.Info("contract statuses changed with time", "announced", n)
		}
	}
}

// ConfirmationURL is the instance's C2B confirmation callback URL.
func (g *Gateway) ConfirmationURL() string {
	return g.URL + "/callbacks/" + Instance + "/c2b-confirmation/" + g.secret
}

// HasRoute reports whether the server has a route for method and gin path
// (such as "/v1/contracts/:id").
func (g *Gateway) HasRoute(method, path string) bool {
	for _, r := range g.server.Engine().Routes() {
		if r.Method == method && r.Path == path {
			return true
		}
	}
	return false
}

// Close shuts the server down gracefully and waits for it.
func (g *Gateway) Close() error {
	g.stop()
	if err := <-g.done; err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("loadtest: gateway: %w", err)
	}
	return nil
}
