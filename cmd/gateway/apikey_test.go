package main

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/payg-gateway/gateway/core"
)

// apikey runs `gateway apikey ARGS…` in-process against the SQLite file
// named by GATEWAY_STORE.
func apikey(t *testing.T, store string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	lookup := func(k string) (string, bool) {
		if k == "GATEWAY_STORE" {
			return store, true
		}
		return "", false
	}
	code = run(context.Background(), append([]string{"apikey"}, args...), env{stdout: &out, stderr: &errOut, lookup: lookup})
	return code, out.String(), errOut.String()
}

func TestAPIKeyCommands(t *testing.T) {
	dir := t.TempDir()
	store := "sqlite:" + filepath.Join(dir, "data", "gateway.db")

	code, stdout, stderr := apikey(t, store, "create", "--name", "crm-sync", "--scope", "admin")
	if code != 0 {
		t.Fatalf("create: exit %d: %s", code, stderr)
	}
	key := strings.TrimSpace(stdout)
	if !core.WellFormedAPIKey(key) || strings.Count(stdout, "\n") != 1 {
		t.Fatalf("create printed %q: want the key alone on one line", stdout)
	}
	id := regexp.MustCompile(`key_[a-z2-7]+`).FindString(stderr)
	if id == "" || !strings.Contains(stderr, "shown only once") {
		t.Fatalf("create said %q: want the key id and a warning that the key is shown once", stderr)
	}

	// The key works against a gateway serving the same database.
	p := startGateway(t, dir, []string{"GATEWAY_CONFIG=", "GATEWAY_STORE=" + store}, "serve", "--listen", "127.0.0.1:0")
	p.waitListening(t)
	status := func(key string) int {
		req, _ := http.NewRequest("GET", "http://"+p.addr+"/v1/api-keys", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status(key); got != 200 {
		t.Fatalf("GET /v1/api-keys with the created admin key = %d, want 200", got)
	}

	code, stdout, _ = apikey(t, store, "list")
	if code != 0 || !strings.Contains(stdout, id) || !strings.Contains(stdout, "crm-sync") || !strings.Contains(stdout, "admin") {
		t.Fatalf("list: exit %d:\n%s", code, stdout)
	}
	if strings.Contains(stdout, key) {
		t.Fatal("list shows the whole key")
	}
	if code, stdout, _ := apikey(t, store, "list", "--tenant", "someone-else"); code != 0 || strings.Contains(stdout, id) {
		t.Errorf("another tenant's list: exit %d:\n%s", code, stdout)
	}

	if code, _, stderr := apikey(t, store, "revoke", "--tenant", "someone-else", id); code != 1 || !strings.Contains(stderr, "not found") {
		t.Errorf("revoke from another tenant: exit %d, %q; want 1 and not found", code, stderr)
	}
	code, stdout, stderr = apikey(t, store, "revoke", id)
	if code != 0 || !strings.HasPrefix(stdout, "revoked "+id) {
		t.Fatalf("revoke: exit %d, %q %q", code, stdout, stderr)
	}
	if got := status(key); got != http.StatusUnauthorized {
		t.Errorf("revoked key: %d, want 401", got)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Fatalf("gateway exit code %d", code)
	}
}

func TestAPIKeyCommandErrors(t *testing.T) {
	store := "sqlite:" + filepath.Join(t.TempDir(), "gateway.db")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "missing subcommand"},
		{[]string{"rotate"}, 2, `unknown subcommand "rotate"`},
		{[]string{"create", "--name", "x"}, 2, "--scope"},
		{[]string{"create", "--name", "x", "--scope", "root"}, 2, "--scope"},
		{[]string{"create", "--scope", "read"}, 2, "--name"},
		{[]string{"create", "--name", "x", "--scope", "read", "--tenant", "nope"}, 1, `tenant "nope" not found`},
		{[]string{"create", "--name", "x", "--scope", "read", "extra"}, 2, "unexpected argument"},
		{[]string{"revoke"}, 2, "exactly one KEY_ID"},
		{[]string{"revoke", "key_nosuchkey"}, 1, "not found"},
	} {
		code, _, stderr := apikey(t, store, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("apikey %v: exit %d, %q; want %d and %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
}
