package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/payg-gateway/gateway/config"
)

func TestMasterKeyGeneratedOnceBesideSQLite(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Store = config.NewSecret("sqlite:" + filepath.Join(dir, "db", "gw.db"))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := openSecretBox(cfg, log)
	if err != nil || a == nil {
		t.Fatalf("first start: %v", err)
	}
	st, err := os.Stat(filepath.Join(dir, "db", masterKeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v", err, st.Mode())
	}
	b, err := openSecretBox(cfg, log)
	if err != nil || b.KeyID() != a.KeyID() {
		t.Fatalf("second start got another key (%v): a device key sealed before would not open", err)
	}
	sealed := a.Seal([]byte("secret"), []byte("dev"))
	if _, err := b.Open(sealed, []byte("dev")); err != nil {
		t.Fatal(err)
	}
}

func TestMasterKeyFromConfig(t *testing.T) {
	cfg := config.Default()
	cfg.Store = config.NewSecret("postgres://db/gw")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if box, err := openSecretBox(cfg, log); err != nil || box != nil {
		t.Fatalf("PostgreSQL without master_key: %v, %v; want no box and no error", box, err)
	}
	cfg.MasterKey = config.NewSecret("zz")
	if _, err := openSecretBox(cfg, log); err == nil {
		t.Fatal("a malformed master_key was accepted")
	}
	cfg.MasterKey = config.NewSecret("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	if box, err := openSecretBox(cfg, log); err != nil || box == nil {
		t.Fatalf("configured key: %v", err)
	}
}
