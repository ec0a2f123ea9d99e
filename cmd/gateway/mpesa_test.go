package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/payg-gateway/gateway/test/sim"
)

// TestMpesaRegisterURLs registers an instance's C2B URLs with the fake
// Daraja, with the consumer secret given as an env: reference.
func TestMpesaRegisterURLs(t *testing.T) {
	d := sim.NewDaraja(sim.DarajaOptions{ConsumerKey: "ck", ConsumerSecret: "cs-secret"})
	srv := httptest.NewServer(d.Handler())
	t.Cleanup(func() { srv.Close(); d.Close() })
	cfg := filepath.Join(t.TempDir(), "gw.yaml")
	yaml := `instances:
  - name: mpesa-ke
    adapter: payments.mpesa
    currency: KES
    settings:
      short_code: "600123"
      callback_secret: reg-secret-0123456789abcdef
      base_url: ` + srv.URL + `
      callback_base_url: https://gateway.example.com/callbacks/ke-paybill
      consumer_key: ck
      consumer_secret: env:DARAJA_SECRET
      c2b_version: v1
`
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	lookup := func(k string) (string, bool) {
		if k == "DARAJA_SECRET" {
			return "cs-secret", true
		}
		return "", false
	}
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"mpesa", "register-urls", "--instance", "mpesa-ke", "--config", cfg},
		env{stdout: &out, stderr: &errOut, lookup: lookup})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	regs := d.Registrations()
	if len(regs) != 1 {
		t.Fatalf("Daraja got %d registrations", len(regs))
	}
	r := regs[0]
	if r.Version != "v1" || r.ShortCode != "600123" || r.ResponseType != "Completed" ||
		r.ConfirmationURL != "https://gateway.example.com/callbacks/ke-paybill/c2b-confirmation/reg-secret-0123456789abcdef" ||
		r.ValidationURL != "https://gateway.example.com/callbacks/ke-paybill/c2b-validation/reg-secret-0123456789abcdef" {
		t.Errorf("registration %+v", r)
	}
	if strings.Contains(out.String(), "reg-secret") || !strings.Contains(out.String(), "confirmation") {
		t.Errorf("output shows the secret or misses the URLs:\n%s", out.String())
	}

	// Unknown instance, missing flag.
	if code := run(context.Background(), []string{"mpesa", "register-urls", "--instance", "nope", "--config", cfg},
		env{stdout: &out, stderr: &errOut, lookup: lookup}); code != 1 {
		t.Errorf("unknown instance: exit %d", code)
	}
	if code := run(context.Background(), []string{"mpesa", "register-urls", "--config", cfg},
		env{stdout: &out, stderr: &errOut, lookup: lookup}); code != 2 {
		t.Errorf("no --instance: exit %d", code)
	}
}

// TestSimServe runs the fake providers as commands and calls their token
// endpoints.
func TestSimServe(t *testing.T) {
	for _, tc := range []struct {
		cmd, method, path, user, pass string
		header                        map[string]string
	}{
		{"serve-daraja", http.MethodGet, "/oauth/v1/generate?grant_type=client_credentials", "sim-consumer-key", "sim-consumer-secret", nil},
		{"serve-momo", http.MethodPost, "/collection/token/", "6f1c5d0e-2b7a-4c3d-9e8f-0a1b2c3d4e5f", "sim-momo-api-key",
			map[string]string{"Ocp-Apim-Subscription-Key": "sim-momo-subscription-key"}},
	} {
		t.Run(tc.cmd, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			pr, pw := io.Pipe()
			done := make(chan int, 1)
			go func() {
				done <- run(ctx, []string{"sim", tc.cmd, "--listen", "127.0.0.1:0"}, env{stdout: pw, stderr: io.Discard, lookup: func(string) (string, bool) { return "", false }})
				pw.Close()
			}()
			line, err := bufio.NewReader(pr).ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			go func() { _, _ = io.Copy(io.Discard, pr) }()
			i := strings.Index(line, "http://")
			base := strings.Fields(line[i:])[0]
			req, _ := http.NewRequest(tc.method, base+tc.path, nil)
			req.SetBasicAuth(tc.user, tc.pass)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "access_token") {
				t.Errorf("token: %d %s", resp.StatusCode, body)
			}
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("exit %d", code)
			}
		})
	}
}
