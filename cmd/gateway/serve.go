package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/payg-gateway/gateway/config"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/httpapi"
	"github.com/payg-gateway/gateway/core/postgres"
	"github.com/payg-gateway/gateway/core/sqlite"
)

// commonFlags registers the flags every server-side command takes.
func commonFlags(fs *flag.FlagSet, e env) *string {
	def, _ := e.lookup("GATEWAY_CONFIG")
	return fs.String("config", def, "YAML configuration `file` (env GATEWAY_CONFIG); optional")
}

func newFlagSet(name string, e env) *flag.FlagSet {
	fs := flag.NewFlagSet("gateway "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return errUsage
	}
	return nil
}

func serveCmd(ctx context.Context, args []string, e env) error {
	fs := newFlagSet("serve", e)
	configPath := commonFlags(fs, e)
	listen := fs.String("listen", "", "listen `address` host:port, overriding the configuration (env GATEWAY_LISTEN)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*configPath, e.lookup)
	if err != nil {
		return err
	}
	if *listen != "" {
		cfg.Listen = *listen
		if err := cfg.Validate(); err != nil {
			return fmt.Errorf("--listen: %w", err)
		}
	}
	log, err := newLogger(cfg.Log, e.stderr)
	if err != nil {
		return err
	}

	clock := core.SystemClock{}
	store, err := openStore(ctx, cfg, clock)
	if err != nil {
		return err
	}
	defer store.Close()
	if cfg.AutoMigrate {
		if err := store.Migrate(ctx); err != nil {
			return err
		}
	}

	box, err := openSecrets(cfg, store, log)
	if err != nil {
		return err
	}
	if err := sealWebhookSecrets(ctx, store, box, log); err != nil {
		// Not fatal: the secrets stay as they are (readable) and the next
		// start seals them; /readyz tells whether the store is usable.
		log.Error("sealing plain-text webhook signing secrets failed; they stay as they are until the next start", "err", err)
	}
	reg := newRegistry()
	svc, err := newPAYG(cfg, store, box, clock, log)
	if err != nil {
		return err
	}
	host, err := newCallbacks(ctx, cfg, svc, clock, log, reg, e.lookup)
	if err != nil {
		return err
	}
	go sweepStatuses(ctx, svc, log, time.Minute)
	msgs, err := newMessaging(cfg, store, clock, log)
	if err != nil {
		return err
	}
	go sweepReminders(ctx, msgs, log, cfg.SMS.ReminderInterval)
	runner, err := newJobs(cfg, store, svc, host, clock, log, reg)
	if err != nil {
		return err
	}
	host.SetJobWaker(runner.Wake)
	if err := registerSMS(runner, cfg, store, host, clock, log, reg); err != nil {
		return err
	}
	jobsCtx, stopJobs := context.WithCancel(ctx)
	jobsDone := make(chan error, 1)
	go func() { jobsDone <- runner.Run(jobsCtx) }()
	// The store closes only after the runner has stored its last outcome.
	defer func() {
		stopJobs()
		if err := <-jobsDone; err != nil {
			log.Error("job runner", "error", err)
		}
	}()
	srv, err := httpapi.New(httpapi.Options{
		Callbacks:         host,
		Store:             store,
		PAYG:              svc,
		PAYGStore:         store,
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
		Webhooks:          store,
		Jobs:              store,
		Events:            store,
		WebhookEgress:     webhookEgress(cfg),
		WakeJobs:          runner.Wake,
		Messages:          store,
		Messaging:         msgs,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	kind, _, _ := cfg.StoreKind()
	log.Info("gateway starting", "version", version, "store", kind, "config", *configPath)
	return srv.Serve(ctx, ln)
}

func migrateCmd(ctx context.Context, args []string, e env) error {
	fs := newFlagSet("migrate", e)
	configPath := commonFlags(fs, e)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*configPath, e.lookup)
	if err != nil {
		return err
	}
	store, err := openStore(ctx, cfg, core.SystemClock{})
	if err != nil {
		return err
	}
	defer store.Close()
	if err := store.Migrate(ctx); err != nil {
		return err
	}
	if err := store.Ready(ctx); err != nil {
		return err
	}
	kind, _, _ := cfg.StoreKind()
	fmt.Fprintf(e.stdout, "%s store is up to date\n", kind)
	return nil
}

// openStore opens the store the configuration names, without migrating.
func openStore(ctx context.Context, cfg config.Config, clock core.Clock) (gatewayStore, error) {
	kind, arg, err := cfg.StoreKind()
	if err != nil {
		return nil, err
	}
	switch kind {
	case config.StoreSQLite:
		return sqlite.Open(ctx, arg, clock)
	case config.StorePostgres:
		return postgres.Open(ctx, arg, clock)
	}
	return nil, fmt.Errorf("store kind %q not supported", kind)
}

func newLogger(c config.Log, w io.Writer) (*slog.Logger, error) {
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

// newRegistry is the process's one Prometheus registry: Go runtime and
// process collectors, and the build info.
func newRegistry() *prometheus.Registry {
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
