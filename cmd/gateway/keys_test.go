package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/cmd/gateway/app"
	"github.com/payg-gateway/gateway/config"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/core/secretbox"
)

func TestKeysRotate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "gw.yaml")
	dbPath := filepath.Join(dir, "data", "gw.db")
	if err := os.WriteFile(cfgFile, []byte("store: sqlite:"+dbPath+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	noEnv := func(string) (string, bool) { return "", false }
	cfg, err := config.Load(cfgFile, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := openStore(ctx, cfg, core.SystemClock{})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	oldBox, err := openSecrets(cfg, store, log)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := app.NewPAYG(app.Options{Config: cfg, Store: store, Box: oldBox, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	d, err := svc.CreateDevice(ctx, core.DefaultTenantID, payg.DeviceInput{Serial: "K-1", Scheme: payg.SchemeNexus, SecretKeyHex: "deadbeefdeadbeefdeadbeefdeadbeef"})
	if err != nil {
		t.Fatal(err)
	}
	const whsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	now := time.Now()
	if err := store.CreateWebhookEndpoint(ctx, core.WebhookEndpoint{ID: "whe_1", TenantID: core.DefaultTenantID, URL: "https://crm.example/hook",
		EventTypes: []string{"*"}, Enabled: true, Secrets: []core.WebhookSecret{{ID: "whs_1", Value: whsec, CreatedAt: now}},
		CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	store.Close()

	newKey := "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	var out, errOut bytes.Buffer
	code := run(ctx, []string{"keys", "rotate", "--config", cfgFile, "--new-key", "env:NEW_KEY"}, env{
		stdout: &out, stderr: &errOut,
		lookup: func(k string) (string, bool) {
			if k == "NEW_KEY" {
				return newKey, true
			}
			return "", false
		},
	})
	if code != 0 || !strings.Contains(out.String(), "re-sealed 1 device keys") || !strings.Contains(out.String(), "re-sealed 1 webhook signing secrets") {
		t.Fatalf("exit %d: %s %s", code, out.String(), errOut.String())
	}
	b, err := os.ReadFile(filepath.Join(dir, "data", masterKeyFile))
	if err != nil || strings.TrimSpace(string(b)) != newKey {
		t.Fatalf("master.key = %q, %v; want the new key", b, err)
	}
	store, err = openStore(ctx, cfg, core.SystemClock{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var sealed []byte
	if err := store.View(ctx, func(r payg.Reader) error {
		dev, err := r.Device(ctx, core.DefaultTenantID, d.ID)
		sealed = dev.SealedKey
		return err
	}); err != nil {
		t.Fatal(err)
	}
	k, _ := secretbox.ParseKey(newKey)
	box, _ := secretbox.New(k)
	if key, err := box.Open(sealed, []byte(d.ID)); err != nil || len(key) != 16 {
		t.Fatalf("device key under the new master key: %v", err)
	}
	store.UseSecretBox(oldBox)
	if _, err := store.WebhookEndpoint(ctx, core.DefaultTenantID, "whe_1"); err == nil {
		t.Fatal("the webhook secret still opens under the old master key")
	}
	store.UseSecretBox(box)
	if ep, err := store.WebhookEndpoint(ctx, core.DefaultTenantID, "whe_1"); err != nil || ep.Secrets[0].Value != whsec {
		t.Fatalf("webhook secret under the new master key: %v", err)
	}
	if code := run(ctx, []string{"keys", "rotate", "--config", cfgFile}, env{stdout: io.Discard, stderr: io.Discard, lookup: noEnv}); code != 2 {
		t.Errorf("missing --new-key: exit %d, want 2", code)
	}
}
