package resilience

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/connectors/webhook"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/postgres"
	"github.com/payg-gateway/gateway/core/postgres/pgtest"
	"github.com/payg-gateway/gateway/core/secretbox"
	"github.com/payg-gateway/gateway/core/sqlite"
	"github.com/payg-gateway/gateway/test/fakecrm"
	"github.com/payg-gateway/gateway/test/fakesms"
	"github.com/payg-gateway/gateway/test/load/loadtest"
)

// binDir holds the gateway binary, built once for the whole package.
var (
	binDir   string
	binOnce  sync.Once
	binPath  string
	binError error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "resilience-bin-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, "resilience:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// gatewayBinary builds ./cmd/gateway once (without the race detector: it
// is the system under test, run as it is deployed) and returns its path.
func gatewayBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			binError = fmt.Errorf("no go tool to build the gateway with: %w", err)
			return
		}
		path := filepath.Join(binDir, "gateway")
		cmd := exec.Command(goTool, "build", "-o", path, "github.com/payg-gateway/gateway/cmd/gateway")
		out, err := cmd.CombinedOutput()
		if err != nil {
			binError = fmt.Errorf("go build ./cmd/gateway: %w\n%s", err, out)
			return
		}
		binPath = path
	})
	if binError != nil {
		t.Fatal(binError)
	}
	return binPath
}

// envInt reads a size from the environment (manual runs scale the tests
// up), or returns def.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// envDuration reads a duration from the environment, or returns def.
func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive duration such as 10s", name, v)
	}
	return d
}

// store is what the tests read back: the gateway's store, plus the job
// list (webhook deliveries).
type store interface {
	loadtest.Store
	core.JobService
}

// jobWorkers is the gateways' job workers: at most this many jobs (webhook
// deliveries, text message sends) are in flight when one is killed.
const jobWorkers = 4

// jobLease is the gateways' job lease: a delivery whose gateway was killed
// runs again this long after it was claimed.
const jobLease = 20 * time.Second

// world is a seeded store, a fake CRM subscribed to every event, and what
// a gateway needs to serve them: the master key, the M-Pesa instance's
// callback secret, an API key.
type world struct {
	t     *testing.T
	kind  string // "sqlite" or "postgres"
	dsn   string // the PostgreSQL DSN (search_path set), or the SQLite path
	st    store
	fleet *loadtest.Fleet
	// masterKey is the hex master key the fleet's device keys are sealed
	// with, given to every gateway.
	masterKey string
	// secret is the M-Pesa instance's callback path secret.
	secret   string
	crm      *fakecrm.CRM
	endpoint core.WebhookEndpoint
	apiKey   string
	dir      string
	// sms, when set (withSMS), is the fake SMS provider the gateways'
	// Africa's Talking instance sends through.
	sms *fakesms.Server
}

// newWorld migrates a fresh store of kind ("sqlite", or "postgres" in its
// own schema), seeds contracts contracts with OpenPAYGO devices, starts a
// fake CRM and subscribes it to every event.
func newWorld(t *testing.T, kind string, contracts int) *world {
	t.Helper()
	w := openWorld(t, kind)
	if err := w.st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.seed(contracts)
	return w
}

// openWorld opens a fresh, empty store of kind, not migrated: the
// caller migrates it (or lets gateways do it) and seeds it.
func openWorld(t *testing.T, kind string) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{t: t, kind: kind, dir: t.TempDir()}
	var err error
	switch kind {
	case "postgres":
		w.dsn = pgtest.Schema(t)
		var s *postgres.Store
		if s, err = postgres.Open(ctx, w.dsn, core.SystemClock{}); err != nil {
			t.Fatal(err)
		}
		w.st = s
	case "sqlite":
		w.dsn = filepath.Join(w.dir, "data", "gateway.db")
		var s *sqlite.Store
		if s, err = sqlite.Open(ctx, w.dsn, core.SystemClock{}); err != nil {
			t.Fatal(err)
		}
		w.st = s
	default:
		t.Fatalf("store kind %q", kind)
	}
	t.Cleanup(func() { _ = w.st.Close() })
	key := secretbox.NewKey()
	w.masterKey = hex.EncodeToString(key)
	var b [16]byte
	_, _ = rand.Read(b[:])
	w.secret = hex.EncodeToString(b[:])
	return w
}

// seed seeds contracts contracts with OpenPAYGO devices in the migrated
// store, starts the fake CRM and subscribes it to every event.
func (w *world) seed(contracts int) {
	t := w.t
	t.Helper()
	ctx := context.Background()
	key, err := secretbox.ParseKey(w.masterKey)
	if err != nil {
		t.Fatal(err)
	}
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	w.fleet, err = loadtest.Seed(ctx, w.st, loadtest.SeedOptions{Contracts: contracts, Tenant: loadtest.Tenant, Box: box, Batch: 100})
	if err != nil {
		t.Fatal(err)
	}

	w.crm = fakecrm.New(fakecrm.Options{})
	// The checks read Received; drain the CRM's bounded request channel
	// so that large runs never block it.
	drained := make(chan struct{})
	go func() {
		for {
			select {
			case <-w.crm.Requests():
			case <-drained:
				return
			}
		}
	}()
	t.Cleanup(func() { close(drained); w.crm.Close() })
	w.endpoint, err = webhook.NewEndpoint(loadtest.Tenant, w.crm.URL()+"/hooks", []string{"*"}, 0,
		webhook.Egress{AllowLoopback: true}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	w.crm.SetSecrets(w.endpoint.Secrets[0].Value)
	if err := w.st.CreateWebhookEndpoint(ctx, w.endpoint); err != nil {
		t.Fatal(err)
	}
	if _, w.apiKey, err = w.st.CreateAPIKey(ctx, core.APIKey{TenantID: loadtest.Tenant, Name: "resilience", Scope: core.ScopeRead}); err != nil {
		t.Fatal(err)
	}
}

// storeSetting is the gateway's store setting for the world, with the
// PostgreSQL connection going to via (host:port) when it is set.
func (w *world) storeSetting(via string) string {
	if w.kind == "sqlite" {
		return "sqlite:" + w.dsn
	}
	if via == "" {
		return w.dsn
	}
	u, err := url.Parse(w.dsn)
	if err != nil {
		w.t.Fatalf("the PostgreSQL test DSN must be a postgres:// URL to go through the proxy")
	}
	u.Host = via
	return u.String()
}

// gateway is one `gateway serve` subprocess, restartable on the same
// address.
type gateway struct {
	t       *testing.T
	name    string
	addr    string // 127.0.0.1:port, kept across restarts
	cfgPath string
	logPath string
	secret  string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	starts int
}

// newGateway writes a configuration for a gateway on w's store (through
// the proxy at via when via is set) and returns it, not started. Stopped
// (or killed) when the test ends; its log is shown if the test failed.
func (w *world) newGateway(name, via string) *gateway {
	t := w.t
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	cfg := map[string]any{
		"listen":       addr,
		"store":        w.storeSetting(via),
		"master_key":   w.masterKey,
		"auto_migrate": true,
		"log":          map[string]any{"level": "info", "format": "json"},
		"webhooks":     map[string]any{"allow_loopback": true, "lease": jobLease.String(), "workers": jobWorkers},
		"api":          map[string]any{"rate_limit_per_second": 0},
		"http":         map[string]any{"shutdown_timeout": "10s"},
		"instances": []any{map[string]any{
			"name": loadtest.Instance, "adapter": "payments.mpesa", "tenant": loadtest.Tenant, "currency": "KES",
			"settings": map[string]any{"short_code": "600123", "callback_secret": w.secret, "allowed_cidrs": []any{"127.0.0.0/8"}},
		}},
	}
	if w.sms != nil {
		cfg["instances"] = append(cfg["instances"].([]any), map[string]any{
			"name": smsInstance, "adapter": "sms.africastalking", "tenant": loadtest.Tenant, "currency": "KES",
			"settings": map[string]any{"username": smsUsername, "api_key": smsAPIKey, "base_url": w.sms.URL(),
				"callback_secret": w.secret},
		})
		cfg["sms"] = map[string]any{"instance": smsInstance}
	}
	b, err := json.MarshalIndent(cfg, "", "  ") // JSON is YAML
	if err != nil {
		t.Fatal(err)
	}
	g := &gateway{t: t, name: name, addr: addr, secret: w.secret,
		cfgPath: filepath.Join(w.dir, name+".yaml"), logPath: filepath.Join(w.dir, name+".log")}
	if err := os.WriteFile(g.cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		g.stopQuietly()
		if t.Failed() || os.Getenv("RESIL_LOG") != "" {
			g.showLog(envInt(t, "RESIL_LOG", 60))
		}
	})
	return g
}

// URL is the gateway's base URL.
func (g *gateway) URL() string { return "http://" + g.addr }

// ConfirmationURL is the M-Pesa instance's C2B confirmation callback.
func (g *gateway) ConfirmationURL() string {
	return g.URL() + "/callbacks/" + loadtest.Instance + "/c2b-confirmation/" + g.secret
}

// start runs `gateway serve` and waits until /readyz answers 200.
func (g *gateway) start() {
	g.t.Helper()
	if err := g.tryStart(60 * time.Second); err != nil {
		g.showLog(40)
		g.t.Fatalf("gateway %s: %v", g.name, err)
	}
}

func (g *gateway) tryStart(timeout time.Duration) error {
	bin := gatewayBinary(g.t)
	logf, err := os.OpenFile(g.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, "serve", "--config", g.cfgPath)
	cmd.Env = gatewayEnv()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(exited)
	}()
	g.mu.Lock()
	g.cmd, g.exited = cmd, exited
	g.starts++
	g.mu.Unlock()

	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("exited while starting: %v", cmd.ProcessState)
		default:
		}
		if code, _ := getStatus(client, g.URL()+"/readyz", ""); code == http.StatusOK {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %v", timeout)
}

// gatewayEnv is the test's environment without GATEWAY_* variables, so
// the gateway's configuration is its file alone.
func gatewayEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEWAY_") {
			out = append(out, kv)
		}
	}
	return out
}

// pid is the running process's id, 0 when none.
func (g *gateway) pid() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cmd == nil || g.cmd.Process == nil {
		return 0
	}
	select {
	case <-g.exited:
		return 0
	default:
	}
	return g.cmd.Process.Pid
}

// kill sends SIGKILL and waits for the process to be gone.
func (g *gateway) kill() {
	g.t.Helper()
	g.mu.Lock()
	cmd, exited := g.cmd, g.exited
	g.mu.Unlock()
	if cmd == nil {
		g.t.Fatalf("gateway %s: kill before start", g.name)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// stop sends SIGTERM and checks that the gateway shuts down cleanly
// (exit status 0) within its shutdown timeout.
func (g *gateway) stop() {
	g.t.Helper()
	g.mu.Lock()
	cmd, exited := g.cmd, g.exited
	g.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-exited:
		g.t.Errorf("gateway %s had exited by itself: %v", g.name, cmd.ProcessState)
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	t0 := time.Now()
	select {
	case <-exited:
		if code := cmd.ProcessState.ExitCode(); code != 0 {
			g.t.Errorf("gateway %s: exit status %d after SIGTERM, want 0", g.name, code)
		}
		if took := time.Since(t0); took > 5*time.Second {
			g.t.Logf("gateway %s took %v to stop", g.name, took.Round(time.Millisecond))
		}
	case <-time.After(30 * time.Second):
		// SIGQUIT: the Go runtime writes every goroutine's stack to the
		// log, showing what the shutdown waits for.
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		g.t.Errorf("gateway %s: still running 30s after SIGTERM (goroutine dump in %s)", g.name, g.logPath)
	}
}

// stopQuietly ends the process however it can (test cleanup).
func (g *gateway) stopQuietly() {
	g.mu.Lock()
	cmd, exited := g.cmd, g.exited
	g.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-exited:
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// showLog logs the last n lines of the gateway's log.
func (g *gateway) showLog(n int) {
	b, err := os.ReadFile(g.logPath)
	if err != nil {
		g.t.Logf("gateway %s log: %v", g.name, err)
		return
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	g.t.Logf("gateway %s: last %d log lines:\n%s", g.name, len(lines), strings.Join(lines, "\n"))
}

// getStatus GETs url (with a bearer key when key is set) and returns the
// status, 0 on a transport error.
func getStatus(client *http.Client, url, key string) (int, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// getJSON GETs a /v1 URL with the world's API key and decodes the answer.
func (w *world) getJSON(client *http.Client, url string, v any) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+w.apiKey)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	return json.Unmarshal(body, v)
}

// metric reads one sample of the gateway's /metrics: the line starting
// with series (name and labels exactly as exposed), 0 when absent.
func (g *gateway) metric(series string) (float64, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Get(g.URL() + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, sc.Err()
}
