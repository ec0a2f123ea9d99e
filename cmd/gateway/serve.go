package main

import (
	"context"
	"flag"
	"fmt"
	"net"

	"github.com/payg-gateway/gateway/cmd/gateway/app"
	"github.com/payg-gateway/gateway/config"
	"github.com/payg-gateway/gateway/core"
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
	log, err := app.NewLogger(cfg.Log, e.stderr)
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
	gw, err := app.New(ctx, app.Options{Config: cfg, Store: store, Box: box, Clock: clock, Logger: log,
		Registry: app.NewRegistry(version), LookupEnv: e.lookup})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	kind, _, _ := cfg.StoreKind()
	log.Info("gateway starting", "version", version, "store", kind, "config", *configPath)
	// Serve returns once the job runner has stored its last outcome: the
	// store closes after.
	return gw.Serve(ctx, ln)
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
func openStore(ctx context.Context, cfg config.Config, clock core.Clock) (app.Store, error) {
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
