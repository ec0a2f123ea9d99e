// Package app assembles the gateway that `gateway serve` runs: from a
// validated configuration and an open, migrated store it builds the PAYG
// service (token engines, webhook and messaging subscribers), the adapter
// instances and their callback host, the durable job runner (webhook
// deliveries, token vendors, payment requests, text messages, campaigns),
// the sweepers, and the HTTP API. cmd/gateway's serve runs it; the load
// harness (test/load) imports it, so it measures the gateway that ships,
// not a copy of its wiring.
//
// What stays with the caller is what belongs to the process: loading the
// configuration, opening and migrating the store, the master key, the
// logger's destination and the listener.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/payg-gateway/gateway/adapters"
	_ "github.com/payg-gateway/gateway/adapters/all" // the adapters the gateway carries
	"github.com/payg-gateway/gateway/adapters/nexus"
	"github.com/payg-gateway/gateway/adapters/openpaygo"
	"github.com/payg-gateway/gateway/adapters/tokenhttp"
	"github.com/payg-gateway/gateway/config"
	"github.com/payg-gateway/gateway/connectors/webhook"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/callbacks"
	"github.com/payg-gateway/gateway/core/httpapi"
	"github.com/payg-gateway/gateway/core/jobs"
	"github.com/payg-gateway/gateway/core/messaging"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/core/secretbox"
)

// Store is what the gateway needs of its store (both SQL stores are one):
// the core store, the PAYG one, the job queue and its listing, the webhook
// endpoints and their secrets, what webhook replays read, and the text
// messages.
type Store interface {
	core.Store
	payg.Store
	core.JobQueue
	core.JobService
	core.WebhookStore
	core.WebhookSecretSealer
	webhook.EventSource
	messaging.Store
}

// StatusSweepInterval is how often time-driven contract status changes
// (late, defaulted) are looked for and announced.
const StatusSweepInterval = time.Minute

// Options are what New assembles the gateway from.
type Options struct {
	// Config is the validated configuration.
	Config config.Config
	// Store is open and migrated; the caller closes it after Serve has
	// returned.
	Store Store
	// Box is the master key's box, sealing device keys; nil when there is
	// no master key (devices with keys cannot be created).
	Box *secretbox.Box
	// Clock defaults to the system clock.
	Clock core.Clock
	// Logger is required (see NewLogger).
	Logger *slog.Logger
	// Registry receives every metric and is served at /metrics; required
	// (see NewRegistry).
	Registry *prometheus.Registry
	// LookupEnv resolves the env: secret references of instance settings;
	// nil resolves none.
	LookupEnv func(string) (string, bool)
}

// Gateway is the assembled gateway, not yet running.
type Gateway struct {
	PAYG      *payg.Service
	Callbacks *callbacks.Host
	Messaging *messaging.Service
	Jobs      *jobs.Runner
	Server    *httpapi.Server
	o         Options
}

// New assembles the gateway: it provisions the configured adapter
// instances (which may call their providers) and registers the metrics.
func New(ctx context.Context, o Options) (*Gateway, error) {
	if o.Store == nil || o.Logger == nil || o.Registry == nil {
		return nil, errors.New("app: Store, Logger and Registry are required")
	}
	if o.Clock == nil {
		o.Clock = core.SystemClock{}
	}
	if o.LookupEnv == nil {
		o.LookupEnv = func(string) (string, bool) { return "", false }
	}
	cfg, log := o.Config, o.Logger
	vendors, err := newTokenVendors(cfg, o.Clock)
	if err != nil {
		return nil, err
	}
	msgs, err := newMessaging(o)
	if err != nil {
		return nil, err
	}
	svc := newPAYG(o, vendors, msgs)
	host, err := newCallbacks(ctx, o, svc)
	if err != nil {
		return nil, err
	}
	runner, err := newJobs(o, vendors, svc, host, msgs)
	if err != nil {
		return nil, err
	}
	srv, err := httpapi.New(httpapi.Options{
		Callbacks:         host,
		Store:             o.Store,
		PAYG:              svc,
		PAYGStore:         o.Store,
		Logger:            log,
		Registry:          o.Registry,
		MaxBodyBytes:      cfg.HTTP.MaxBodyBytes,
		TrustedProxies:    cfg.HTTP.TrustedProxies,
		ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout,
		ReadTimeout:       cfg.HTTP.ReadTimeout,
		WriteTimeout:      cfg.HTTP.WriteTimeout,
		IdleTimeout:       cfg.HTTP.IdleTimeout,
		ShutdownTimeout:   cfg.HTTP.ShutdownTimeout,
		RateLimit:         float64(cfg.API.RateLimitPerSecond),
		RateBurst:         cfg.API.RateBurst,
		Webhooks:          o.Store,
		Jobs:              o.Store,
		Events:            o.Store,
		WebhookEgress:     WebhookEgress(cfg),
		WakeJobs:          runner.Wake,
		Messages:          o.Store,
		Messaging:         msgs,
	})
	if err != nil {
		return nil, err
	}
	return &Gateway{PAYG: svc, Callbacks: host, Messaging: msgs, Jobs: runner, Server: srv, o: o}, nil
}

// Serve runs the gateway on ln until ctx ends: the status and reminder
// sweepers, the job runner and the HTTP server, which shuts down
// gracefully. It returns once every one of them has stopped, the job
// runner after storing its last outcome, so the store may be closed then.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	// Time-driven status changes (late, defaulted) are announced, and
	// the reminders due (core/messaging) stored, every interval.
	wg.Go(func() {
		sweep(ctx, g.o.Logger, StatusSweepInterval, "status sweep", "contract statuses changed with time", "announced", g.PAYG.SweepStatuses)
	})
	wg.Go(func() {
		sweep(ctx, g.o.Logger, g.o.Config.SMS.ReminderInterval, "reminder sweep", "reminders queued", "messages", g.Messaging.SweepReminders)
	})
	jobsDone := make(chan error, 1)
	go func() { jobsDone <- g.Jobs.Run(ctx) }()
	err := g.Server.Serve(ctx, ln)
	cancel() // the server may have failed by itself
	if jerr := <-jobsDone; jerr != nil {
		err = errors.Join(err, fmt.Errorf("job runner: %w", jerr))
	}
	wg.Wait()
	return err
}

// NewPAYG builds the lease and token engine alone, as New builds it, for
// the commands that change the store without serving (keys rotate).
func NewPAYG(o Options) (*payg.Service, error) {
	if o.Clock == nil {
		o.Clock = core.SystemClock{}
	}
	vendors, err := newTokenVendors(o.Config, o.Clock)
	if err != nil {
		return nil, err
	}
	msgs, err := newMessaging(o)
	if err != nil {
		return nil, err
	}
	return newPAYG(o, vendors, msgs), nil
}

// NewLogger returns the logger the configuration asks for (JSON or text,
// at its level), writing to w.
func NewLogger(c config.Log, w io.Writer) (*slog.Logger, error) {
	level, err := config.ParseLevel(c.Level)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return slog.New(slog.NewJSONHandler(w, opts)), nil
}

// NewRegistry is a process's one Prometheus registry: the Go runtime and
// process collectors, and gateway_build_info naming version.
func NewRegistry(version string) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gateway_build_info",
		Help: "Always 1; the labels name the running build.",
	}, []string{"version", "go_version"})
	build.WithLabelValues(version, runtime.Version()).Set(1)
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		build,
	)
	return reg
}

// WebhookEgress is the egress policy of webhook endpoints the
// configuration sets: checked when an endpoint is created and when a
// delivery connects.
func WebhookEgress(cfg config.Config) webhook.Egress {
	return webhook.Egress{AllowPrivate: cfg.Webhooks.AllowPrivateNetworks, AllowLoopback: cfg.Webhooks.AllowLoopback}
}

// newPAYG builds the lease and token engine: the built-in token engines
// and one per token vendor, announcing events to the webhook and
// messaging subscribers.
func newPAYG(o Options, vendors []*tokenhttp.Vendor, msgs *messaging.Service) *payg.Service {
	engines := map[payg.TokenScheme]payg.TokenEngine{
		payg.SchemeOpenPAYGO: openpaygo.Engine{},
		payg.SchemeNexus:     nexus.Engine{},
	}
	for _, v := range vendors {
		engines[payg.TokenScheme(v.Name())] = v
	}
	return payg.NewService(payg.Options{
		Store: o.Store, Tenants: o.Store, Clock: o.Clock, Box: o.Box, Logger: o.Logger,
		Subscribers: []payg.EventSubscriber{webhook.Subscriber{}, msgs},
		Engines:     engines,
	})
}

// newTokenVendors compiles the configured token vendors.
func newTokenVendors(cfg config.Config, clock core.Clock) ([]*tokenhttp.Vendor, error) {
	var out []*tokenhttp.Vendor
	for i, tv := range cfg.TokenVendors {
		v, err := tokenhttp.New(tv, tokenhttp.Options{Clock: clock})
		if err != nil {
			return nil, fmt.Errorf("config: token_vendors[%d].%w", i, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// newMessaging builds the service that creates the customers' text
// messages (an event subscriber, reminders, campaigns) from cfg.SMS.
func newMessaging(o Options) (*messaging.Service, error) {
	templates, err := o.Config.SMS.NewTemplates()
	if err != nil {
		return nil, fmt.Errorf("config: sms.templates: %w", err)
	}
	return messaging.NewService(messaging.Options{Store: o.Store, Tenants: o.Store, Clock: o.Clock, Templates: templates,
		Settings: o.Config.SMS.Settings, MaxAttempts: o.Config.SMS.MaxAttempts, Logger: o.Logger}), nil
}

// newCallbacks provisions the configured adapter instances and the host
// that runs their callbacks.
func newCallbacks(ctx context.Context, o Options, svc *payg.Service) (*callbacks.Host, error) {
	deps := adapters.Deps{Secrets: adapters.EnvFileSecrets(o.LookupEnv), Clock: o.Clock, Logger: o.Logger}.WithDefaults()
	var instances []callbacks.Instance
	for i, in := range o.Config.Instances {
		ic := adapters.InstanceConfig{Name: in.Name, Adapter: in.Adapter, Tenant: in.Tenant,
			Currency: core.Currency(in.Currency), Settings: in.Settings}
		a, err := adapters.Provision(ctx, ic, deps)
		if err != nil {
			return nil, fmt.Errorf("config: instances[%d]: %w", i, err)
		}
		checked, _ := ic.Check() // Provision has checked it
		instances = append(instances, callbacks.Instance{Config: checked, Adapter: a})
	}
	host, err := callbacks.New(svc, instances, o.Clock, o.Logger, o.Registry)
	if err != nil {
		return nil, err
	}
	host.SetTimeout(o.Config.HTTP.CallbackTimeout)
	return host, nil
}

// newJobs returns the runner of durable jobs: webhook deliveries, the
// token vendors' requests (settled through svc), the initiation and
// status checks of payment requests, their quarantine and the sends of
// asynchronous provider requests (through host), and the text messages
// and campaigns. It makes the host wake it.
func newJobs(o Options, vendors []*tokenhttp.Vendor, svc *payg.Service, host *callbacks.Host, msgs *messaging.Service) (*jobs.Runner, error) {
	cfg, log := o.Config, o.Logger
	deliverer, err := webhook.NewDeliverer(webhook.DelivererOptions{
		Store: o.Store, Clock: o.Clock, Registerer: o.Registry, Logger: log,
		Egress: WebhookEgress(cfg),
	})
	if err != nil {
		return nil, err
	}
	r := jobs.New(jobs.Options{Queue: o.Store, Clock: o.Clock, Workers: cfg.Webhooks.Workers, Lease: cfg.Webhooks.Lease, Logger: log})
	r.Register(webhook.Queue, deliverer, webhook.DefaultSchedule)
	for _, v := range vendors {
		r.Register(v.Queue(), v.Handler(svc, log), v.RetryPolicy())
	}
	r.Register(payg.RequestQueue, host.RequestHandler(), nil)
	r.Register(payg.QuarantineQueue, host.QuarantineHandler(), callbacks.QuarantineRetryPolicy)
	r.Register(payg.AsyncQueue, host.AsyncHandler(), callbacks.AsyncRetryPolicy)
	host.SetJobWaker(r.Wake)
	if err := registerSMS(r, o, host, msgs); err != nil {
		return nil, err
	}
	return r, nil
}

// registerSMS makes r send text messages through the SMS instances the
// host provisioned, and the host apply their delivery reports. With no SMS
// instance configured no message is ever created (see config.SMS); the
// queue is still served, so messages created before an instance was
// removed wait rather than fail.
func registerSMS(r *jobs.Runner, o Options, host *callbacks.Host, msgs *messaging.Service) error {
	cfg := o.Config
	senders := host.SMSSenders()
	var instances []messaging.Instance
	for name, s := range senders {
		tune := cfg.SMS.Instances[name]
		instances = append(instances, messaging.Instance{Name: name, Sender: s, Secondary: tune.Secondary,
			RatePerSecond: float64(tune.RatePerSecond), Burst: tune.Burst})
	}
	sender, err := messaging.NewSender(messaging.SenderOptions{
		Store: o.Store, Clock: o.Clock, Instances: instances, Route: cfg.SMS.InstanceFor,
		BreakerFailures: cfg.SMS.BreakerFailures, BreakerOpenFor: cfg.SMS.BreakerOpenFor,
		UnknownOutcome: messaging.UnknownOutcome(cfg.SMS.UnknownOutcome), Registerer: o.Registry, Logger: o.Logger,
	})
	if err != nil {
		return fmt.Errorf("config: sms: %w", err)
	}
	r.Register(messaging.Queue, sender, messaging.DefaultRetryPolicy)
	r.Register(messaging.CampaignQueue, msgs.CampaignHandler(), nil)
	host.SetDeliveries(messaging.Deliveries{Store: o.Store, Clock: o.Clock, Logger: o.Logger})
	host.SetBreakers(sender.BreakerState)
	if len(senders) == 0 {
		o.Logger.Info("sms: no SMS instance configured; no text messages are created")
	}
	return nil
}

// sweep runs fn every interval until ctx ends, logging a failure as
// "<what> failed" and a positive count as done.
func sweep(ctx context.Context, log *slog.Logger, interval time.Duration, what, done, unit string, fn func(context.Context) (int, error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := fn(ctx)
		if err != nil && ctx.Err() == nil {
			log.Error(what+" failed", "error", err)
		} else if n > 0 {
			log.Info(done, unit, n)
		}
	}
}
