package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/payg-gateway/gateway/cmd/gateway/app"
	"github.com/payg-gateway/gateway/config"
	"github.com/payg-gateway/gateway/core/secretbox"
)

// masterKeyFile is where a SQLite gateway keeps its generated master key,
// beside the database file.
const masterKeyFile = "master.key"

// openSecretBox returns the box that seals device keys. With no master_key
// configured, a SQLite gateway reads (or on first start creates) one beside
// its database, so `make run` needs no configuration; a PostgreSQL gateway
// gets none, and creating a device with a key then fails with a clear error.
func openSecretBox(cfg config.Config, log *slog.Logger) (*secretbox.Box, error) {
	if !cfg.MasterKey.IsZero() {
		key, err := secretbox.ParseKey(cfg.MasterKey.Value())
		if err != nil {
			return nil, fmt.Errorf("master_key: %w", err)
		}
		return secretbox.New(key)
	}
	kind, path, err := cfg.StoreKind()
	if err != nil {
		return nil, err
	}
	if kind != config.StoreSQLite {
		log.Warn("no master_key configured: devices with token keys cannot be created until one is set")
		return nil, nil
	}
	file := filepath.Join(filepath.Dir(path), masterKeyFile)
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		key := secretbox.NewKey()
		if err := os.MkdirAll(filepath.Dir(file), 0o750); err != nil {
			return nil, fmt.Errorf("master key: %w", err)
		}
		// O_EXCL: two processes starting together must not both write one.
		f, err := os.OpenFile(file, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err == nil {
			_, err = fmt.Fprintf(f, "%x\n", key)
			err = errors.Join(err, f.Sync(), f.Close())
			if err != nil {
				return nil, fmt.Errorf("master key: write %s: %w", file, err)
			}
			log.Warn("generated a master key for device secrets; back it up with the database", "file", file)
			return secretbox.New(key)
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("master key: create %s: %w", file, err)
		}
		b, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	key, err := secretbox.ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("master key file %s: %w", file, err)
	}
	return secretbox.New(key)
}

// openSecrets opens the master key (see openSecretBox) and makes store seal
// webhook signing secrets with it.
func openSecrets(cfg config.Config, store app.Store, log *slog.Logger) (*secretbox.Box, error) {
	box, err := openSecretBox(cfg, log)
	if err != nil {
		return nil, err
	}
	store.UseSecretBox(box)
	return box, nil
}

// sealWebhookSecrets seals the webhook signing secrets still in plain text
// (stored before sealing existed, or while the gateway had no master key)
// under box. Every start runs it; replicas starting together take turns on
// the rows' locks, and the later ones find nothing left to seal.
func sealWebhookSecrets(ctx context.Context, store app.Store, box *secretbox.Box, log *slog.Logger) error {
	if box == nil {
		log.Warn("no master key: webhook signing secrets are stored in plain text")
		return nil
	}
	n, err := store.ResealWebhookSecrets(ctx, box)
	if err != nil {
		return err
	}
	if n > 0 {
		log.Info("sealed plain-text webhook signing secrets under the master key", "secrets", n, "master_key", box.KeyID())
	}
	return nil
}
