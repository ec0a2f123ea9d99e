package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/payg-gateway/gateway/cmd/gateway/app"
	"github.com/payg-gateway/gateway/config"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/secretbox"
)

const keysUsage = `Usage:
  gateway keys rotate [--config FILE] --new-key REF
      Re-seal every device key and webhook signing secret under a new
      master key. REF is the new key
      (64 hex characters) or a reference to it: env:NAME or file:/path.
      Safe to run again if interrupted. Afterwards set master_key to the new
      key and restart every replica; a SQLite gateway that generated its
      master.key gets the file rewritten.
`

func keysCmd(ctx context.Context, args []string, e env) error {
	if len(args) == 0 || args[0] != "rotate" {
		fmt.Fprint(e.stderr, keysUsage)
		return errUsage
	}
	fs := newFlagSet("keys rotate", e)
	configPath := commonFlags(fs, e)
	newKeyRef := fs.String("new-key", "", "the new master key, or env:NAME / file:/path (required)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *newKeyRef == "" {
		fmt.Fprint(e.stderr, "gateway keys rotate: --new-key is required\n\n"+keysUsage)
		return errUsage
	}
	ref, err := config.ResolveSecret(*newKeyRef, e.lookup)
	if err != nil {
		return fmt.Errorf("--new-key: %w", err)
	}
	key, err := secretbox.ParseKey(ref.Value())
	if err != nil {
		return fmt.Errorf("--new-key: %w", err)
	}
	next, err := secretbox.New(key)
	if err != nil {
		return err
	}
	cfg, err := config.Load(*configPath, e.lookup)
	if err != nil {
		return err
	}
	log, err := app.NewLogger(cfg.Log, e.stderr)
	if err != nil {
		return err
	}
	store, err := openStore(ctx, cfg, core.SystemClock{})
	if err != nil {
		return err
	}
	defer store.Close()
	if err := store.Ready(ctx); err != nil {
		return err
	}
	box, err := openSecrets(cfg, store, log)
	if err != nil {
		return err
	}
	svc, err := app.NewPAYG(app.Options{Config: cfg, Store: store, Box: box, Logger: log})
	if err != nil {
		return err
	}
	n, err := svc.RotateKeys(ctx, next)
	if err != nil {
		return fmt.Errorf("after re-sealing %d keys: %w", n, err)
	}
	fmt.Fprintf(e.stdout, "re-sealed %d device keys under master key %s\n", n, next.KeyID())
	// Webhook signing secrets too, plain-text ones included.
	n, err = store.ResealWebhookSecrets(ctx, next)
	if err != nil {
		return fmt.Errorf("after re-sealing the device keys: %w", err)
	}
	fmt.Fprintf(e.stdout, "re-sealed %d webhook signing secrets under master key %s\n", n, next.KeyID())
	if kind, path, _ := cfg.StoreKind(); cfg.MasterKey.IsZero() && kind == config.StoreSQLite {
		file := filepath.Join(filepath.Dir(path), masterKeyFile)
		tmp := file + ".new"
		if err := os.WriteFile(tmp, []byte(fmt.Sprintf("%x\n", key)), 0o600); err != nil {
			return err
		}
		if err := os.Rename(tmp, file); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "wrote the new key to %s\n", file)
		return nil
	}
	fmt.Fprintln(e.stdout, "now set master_key to the new key and restart every replica")
	return nil
}
