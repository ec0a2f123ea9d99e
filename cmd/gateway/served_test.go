package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// served is a `gateway serve` running in this test's process on a SQLite
// store in a temporary directory, with a write API key.
type served struct {
	t *testing.T
	// base is the gateway's URL, http://127.0.0.1:PORT.
	base string
	key  string
}

// serveWith writes a configuration file, the store and listen lines
// followed by rest(addr) (instances, sms…; addr is the host:port the
// gateway will listen on), runs `gateway serve` with it, waits until
// /readyz answers 200 and creates an API key with `gateway apikey create`.
// When the test ends the server is stopped and must exit 0.
func serveWith(t *testing.T, rest func(addr string) string) *served {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gw.yaml")
	yaml := fmt.Sprintf("store: sqlite:%s\nlisten: %s\n", filepath.Join(dir, "data", "gw.db"), addr) + rest(addr)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	noEnv := func(string) (string, bool) { return "", false }
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--config", cfg}, env{stdout: io.Discard, stderr: &stderr, lookup: noEnv})
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d: %s", code, stderr.String())
		}
	})
	s := &served{t: t, base: "http://" + addr}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case code := <-done:
			done <- code // for the cleanup
			t.Fatalf("serve exited %d before it was ready: %s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var keyOut bytes.Buffer
	if code := run(ctx, []string{"apikey", "create", "--config", cfg, "--name", "crm", "--scope", "write"},
		env{stdout: &keyOut, stderr: io.Discard, lookup: noEnv}); code != 0 {
		t.Fatalf("apikey create exited %d", code)
	}
	s.key = strings.TrimSpace(keyOut.String())
	return s
}

// call sends a /v1 request with the API key (and an Idempotency-Key when
// idem is set), fails the test unless it gets a 2xx JSON object, and
// returns the object.
func (s *served) call(method, path, idem string, body any) map[string]any {
	s.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.base+path, r)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.key)
	req.Header.Set("Content-Type", "application/json")
	if idem != "" {
		req.Header.Set("Idempotency-Key", idem)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 || json.Unmarshal(b, &out) != nil {
		s.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for the serve goroutine's writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
