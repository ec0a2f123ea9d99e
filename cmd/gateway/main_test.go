package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/core/postgres/pgtest"
)

// The test binary doubles as the gateway binary: run with this variable set,
// it runs main() instead of the tests, so process-level behaviour (signals,
// exit codes, files created) is tested without a separate build.
const beGateway = "GATEWAY_TEST_BE_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(beGateway) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// proc is a gateway process started by a test.
type proc struct {
	cmd    *exec.Cmd
	addr   string // filled once the process logs "listening"
	stderr *lockedLines
	exited chan error
}

// lockedLines collects a process's stderr lines and lets a test wait for one.
type lockedLines struct {
	lines chan string
	mu    sync.Mutex
	buf   bytes.Buffer
}

func (l *lockedLines) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.WriteString(line + "\n")
}

// String returns everything the process wrote so far.
func (l *lockedLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func startGateway(t *testing.T, dir string, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), beGateway+"=1")
	cmd.Env = append(cmd.Env, env...)
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, stderr: &lockedLines{lines: make(chan string, 1000)}, exited: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			p.stderr.add(sc.Text())
			p.stderr.lines <- sc.Text()
		}
		close(p.stderr.lines)
	}()
	go func() {
		err := cmd.Wait()
		pw.Close()
		p.exited <- err
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
	})
	return p
}

// waitLog waits for a JSON log line whose msg is msg and returns it.
func (p *proc) waitLog(t *testing.T, msg string) map[string]any {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-p.stderr.lines:
			if !ok {
				t.Fatalf("gateway exited before logging %q; stderr:\n%s", msg, p.stderr.String())
			}
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == msg {
				return m
			}
		case <-timeout:
			t.Fatalf("no %q log line within 30s", msg)
		}
	}
}

func (p *proc) waitListening(t *testing.T) {
	t.Helper()
	p.addr = p.waitLog(t, "listening")["addr"].(string)
}

func (p *proc) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + p.addr + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case err := <-p.exited:
		if err == nil {
			return 0
		}
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		t.Fatalf("wait: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("gateway did not exit within 30s")
	}
	return -1
}

// TestZeroConfigServe is the new user's first minute: no configuration,
// a working server, a database file, health, readiness and metrics.
func TestZeroConfigServe(t *testing.T) {
	dir := t.TempDir()
	p := startGateway(t, dir, []string{"GATEWAY_CONFIG="}, "serve", "--listen", "127.0.0.1:0")
	p.waitListening(t)

	if _, err := os.Stat(filepath.Join(dir, "data", "gateway.db")); err != nil {
		t.Errorf("SQLite file not created: %v", err)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := p.get(t, path); code != 200 {
			t.Errorf("%s = %d %s", path, code, body)
		}
	}
	code, body := p.get(t, "/metrics")
	if code != 200 {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{"go_goroutines", "process_resident_memory_bytes", "gateway_build_info{", "gateway_http_requests_total{"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d, want 0; stderr:\n%s", code, p.stderr.String())
	}
}

// TestSIGTERMDrainsAndExitsZero: SIGTERM stops the listener, closes idle
// keep-alive connections, logs the drain, and exits 0. That a request whose
// handler is running at that moment completes (with a live context, so its
// commit goes through) is tested in core/httpapi's TestGracefulShutdown,
// where a test can hold a handler open.
func TestSIGTERMDrainsAndExitsZero(t *testing.T) {
	p := startGateway(t, t.TempDir(), []string{"GATEWAY_CONFIG="}, "--listen", "127.0.0.1:0")
	p.waitListening(t)

	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	if _, err := io.WriteString(conn, "GET /readyz HTTP/1.1\r\nHost: gateway\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz on a keep-alive connection: %v %v", resp, err)
	}
	resp.Body.Close()

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.waitLog(t, "shutting down: finishing in-flight requests")
	p.waitLog(t, "stopped")
	// The idle keep-alive connection is closed by the server, not left hanging.
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("idle connection after shutdown: read err %v, want EOF", err)
	}
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code = %d, want 0; stderr:\n%s", code, p.stderr.String())
	}
}

func TestBadConfigNamesTheKey(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gateway.yaml")
	os.WriteFile(cfg, []byte("listen: :0\nhttp:\n  max_body_bytez: 10\nlog:\n  level: loud\n"), 0o600)
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"serve", "--config", cfg}, env{
		stdout: io.Discard, stderr: &stderr, lookup: func(string) (string, bool) { return "", false },
	})
	if code == 0 {
		t.Fatal("serve with a bad config exited 0")
	}
	for _, want := range []string{"http.max_body_bytez: unknown key", "log.level:", "loud"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr %q lacks %q", stderr.String(), want)
		}
	}
}

// TestPostgresServeAndMigrate: a config file naming PostgreSQL runs the
// gateway on it, and migrate is idempotent.
func TestPostgresServeAndMigrate(t *testing.T) {
	dsn := pgtest.Schema(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "x.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("store: %q\nauto_migrate: false\n", dsn)), 0o600); err != nil {
		t.Fatal(err)
	}
	noEnv := func(string) (string, bool) { return "", false }
	for i := range 2 {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), []string{"migrate", "--config", cfg}, env{stdout: &out, stderr: &errOut, lookup: noEnv}); code != 0 {
			t.Fatalf("migrate #%d exit %d: %s", i+1, code, errOut.String())
		}
		if !strings.Contains(out.String(), "postgres store is up to date") {
			t.Errorf("migrate #%d said %q", i+1, out.String())
		}
	}
	p := startGateway(t, dir, nil, "serve", "--config", cfg, "--listen", "127.0.0.1:0")
	p.waitListening(t)
	if code, body := p.get(t, "/readyz"); code != 200 {
		t.Fatalf("/readyz on PostgreSQL = %d %s", code, body)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
		t.Error("a PostgreSQL gateway created a SQLite data directory")
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code = %d", code)
	}
}

func TestVersionAndUsage(t *testing.T) {
	var out bytes.Buffer
	e := env{stdout: &out, stderr: &out, lookup: func(string) (string, bool) { return "", false }}
	if code := run(context.Background(), []string{"version"}, e); code != 0 || !strings.HasPrefix(out.String(), "gateway ") {
		t.Errorf("version: exit %d, %q", code, out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"frobnicate"}, e); code != 2 || !strings.Contains(out.String(), "unknown command") {
		t.Errorf("unknown command: exit %d, %q", code, out.String())
	}
}

// TestCallbackThroughTheBinary: a configured M-Pesa instance answers a C2B
// confirmation over real HTTP with Daraja's acknowledgement, after the
// payment (for an unknown account: suspense) is stored; the secret path
// segment never reaches the log.
func TestCallbackThroughTheBinary(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gateway.yaml")
	const secret = "binary-test-secret-0123456789"
	if err := os.WriteFile(cfg, []byte(`
instances:
  - name: ke-paybill
    adapter: payments.mpesa
    currency: KES
    settings:
      short_code: "600123"
      callback_secret: env:TEST_MPESA_SECRET
      allowed_cidrs: [127.0.0.0/8]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startGateway(t, dir, []string{"TEST_MPESA_SECRET=" + secret}, "serve", "--config", cfg, "--listen", "127.0.0.1:0")
	p.waitListening(t)
	body, err := os.ReadFile(filepath.Join(testdata, "providers/mpesa/c2b_confirmation_unknown_account.json"))
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + p.addr + "/callbacks/ke-paybill/c2b-confirmation/" + secret
	for range 2 { // the second delivery is a duplicate with the same answer
		resp, err := http.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(got), `"ResultCode":0`) && !strings.Contains(string(got), `"ResultCode": 0`) {
			t.Fatalf("confirmation answered %d %s", resp.StatusCode, got)
		}
	}
	resp, err := http.Post("http://"+p.addr+"/callbacks/ke-paybill/c2b-confirmation/wrong-secret-0123456789", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("wrong secret answered %d, want 404", resp.StatusCode)
	}
	// gateway sim pay delivers a simulated payment the same way.
	var simOut, simErr bytes.Buffer
	if code := run(context.Background(), []string{"sim", "pay", "--config", cfg, "--instance", "ke-paybill",
		"--account", "AC999998", "--amount", "250", "--url", "http://" + p.addr}, env{
		stdout: &simOut, stderr: &simErr,
		lookup: func(k string) (string, bool) {
			if k == "TEST_MPESA_SECRET" {
				return secret, true
			}
			return "", false
		},
	}); code != 0 || !strings.Contains(simOut.String(), "gateway answered 200") {
		t.Fatalf("sim pay: exit %d: %s %s", code, simOut.String(), simErr.String())
	}
	code, metrics := p.get(t, "/metrics")
	if code != 200 || !strings.Contains(metrics, `gateway_callbacks_total{instance="ke-paybill",kind="c2b-confirmation",outcome="suspense"} 2`) ||
		!strings.Contains(metrics, `outcome="duplicate"} 1`) {
		t.Errorf("callback metrics missing:\n%s", grepLines(metrics, "gateway_callbacks_total"))
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for range p.stderr.lines { // all output read
	}
	if strings.Contains(p.stderr.String(), secret) {
		t.Error("the callback secret reached the log")
	}
}

func grepLines(s, sub string) string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
