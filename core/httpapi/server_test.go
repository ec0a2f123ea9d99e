package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/httpapi"
	"github.com/payg-gateway/gateway/core/sqlite"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	m.Run()
}

// syncBuffer collects log output written from several goroutines.
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

type fixture struct {
	srv   *httpapi.Server
	store *sqlite.Store
	logs  *syncBuffer
}

func newFixture(t *testing.T, migrate bool) *fixture {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gw.db"), core.SystemClock{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if migrate {
		if err := store.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector())
	logs := &syncBuffer{}
	svc, ps := newPAYG(t, store, core.SystemClock{})
	srv, err := httpapi.New(httpapi.Options{
		Store:           store,
		PAYG:            svc,
		PAYGStore:       ps,
		Logger:          slog.New(slog.NewJSONHandler(logs, nil)),
		Registry:        reg,
		MaxBodyBytes:    64,
		ShutdownTimeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{srv: srv, store: store, logs: logs}
}

func (f *fixture) do(t *testing.T, req *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	f.srv.Handler().ServeHTTP(w, req)
	return w
}

func decodeProblem(t *testing.T, w *httptest.ResponseRecorder) httpapi.Problem {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != httpapi.ProblemContentType {
		t.Fatalf("Content-Type = %q, want %q; body %s", ct, httpapi.ProblemContentType, w.Body)
	}
	var p httpapi.Problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem body: %v: %s", err, w.Body)
	}
	if p.Status != w.Code {
		t.Errorf("problem status %d != HTTP status %d", p.Status, w.Code)
	}
	if p.RequestID == "" || p.RequestID != w.Header().Get(httpapi.RequestIDHeader) {
		t.Errorf("problem request_id %q, header %q", p.RequestID, w.Header().Get(httpapi.RequestIDHeader))
	}
	return p
}

func TestHealthAndReadiness(t *testing.T) {
	f := newFixture(t, false)
	if w := f.do(t, httptest.NewRequest("GET", "/healthz", nil)); w.Code != 200 {
		t.Fatalf("/healthz = %d %s", w.Code, w.Body)
	}
	w := f.do(t, httptest.NewRequest("GET", "/readyz", nil))
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz before migrations = %d, want 503", w.Code)
	}
	if p := decodeProblem(t, w); !strings.Contains(p.Detail, "migrate") {
		t.Errorf("readiness detail %q should tell the operator to migrate", p.Detail)
	}
	if err := f.store.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if w := f.do(t, httptest.NewRequest("GET", "/readyz", nil)); w.Code != 200 {
		t.Fatalf("/readyz after migrations = %d %s", w.Code, w.Body)
	}
	f.store.Close()
	if w := f.do(t, httptest.NewRequest("GET", "/readyz", nil)); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with the store closed = %d, want 503", w.Code)
	}
	if w := f.do(t, httptest.NewRequest("GET", "/healthz", nil)); w.Code != 200 {
		t.Fatalf("/healthz must not depend on the store, got %d", w.Code)
	}
}

func TestMetrics(t *testing.T) {
	f := newFixture(t, true)
	f.do(t, httptest.NewRequest("GET", "/healthz", nil))
	f.do(t, httptest.NewRequest("GET", "/no/such/thing", nil))
	w := f.do(t, httptest.NewRequest("GET", "/metrics", nil))
	if w.Code != 200 {
		t.Fatalf("/metrics = %d", w.Code)
	}
	body := w.Body.String()
	for _, want := range []string{
		"go_goroutines ",
		`gateway_http_requests_total{code="200",method="GET",route="/healthz"} 1`,
		`gateway_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		"gateway_http_request_duration_seconds_bucket",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestRequestID(t *testing.T) {
	f := newFixture(t, true)
	req := httptest.NewRequest("GET", "/healthz", nil)
	req.Header.Set(httpapi.RequestIDHeader, "crm-42.abc")
	if got := f.do(t, req).Header().Get(httpapi.RequestIDHeader); got != "crm-42.abc" {
		t.Errorf("caller's request id not kept: %q", got)
	}
	req = httptest.NewRequest("GET", "/healthz", nil)
	req.Header.Set(httpapi.RequestIDHeader, "bad id\twith\"junk")
	got := f.do(t, req).Header().Get(httpapi.RequestIDHeader)
	if !strings.HasPrefix(got, "req_") {
		t.Errorf("unsafe request id should be replaced, got %q", got)
	}
	a := f.do(t, httptest.NewRequest("GET", "/healthz", nil)).Header().Get(httpapi.RequestIDHeader)
	b := f.do(t, httptest.NewRequest("GET", "/healthz", nil)).Header().Get(httpapi.RequestIDHeader)
	if a == "" || a == b {
		t.Errorf("generated ids %q and %q should be non-empty and distinct", a, b)
	}
}

func TestNotFoundAndMethodNotAllowedAreProblems(t *testing.T) {
	f := newFixture(t, true)
	if p := decodeProblem(t, f.do(t, httptest.NewRequest("GET", "/v1/nothing", nil))); p.Status != 404 {
		t.Errorf("status %d", p.Status)
	}
	if p := decodeProblem(t, f.do(t, httptest.NewRequest("DELETE", "/healthz", nil))); p.Status != 405 {
		t.Errorf("status %d", p.Status)
	}
}

func TestPanicBecomesProblem(t *testing.T) {
	f := newFixture(t, true)
	f.srv.Engine().GET("/test/panic", func(*gin.Context) { panic("boom") })
	w := f.do(t, httptest.NewRequest("GET", "/test/panic", nil))
	if w.Code != 500 {
		t.Fatalf("status %d, want 500", w.Code)
	}
	p := decodeProblem(t, w)
	if strings.Contains(w.Body.String(), "boom") {
		t.Errorf("panic value leaked to the caller: %s", w.Body)
	}
	if !strings.Contains(f.logs.String(), `"panic":"boom"`) {
		t.Errorf("panic not logged; logs:\n%s", f.logs)
	}
	if p.Type == "" || p.Title != "Internal Server Error" {
		t.Errorf("problem = %+v", p)
	}
}

func TestBodyLimit(t *testing.T) {
	f := newFixture(t, true)
	f.srv.Engine().POST("/test/echo", func(c *gin.Context) {
		b, err := io.ReadAll(c.Request.Body)
		if err != nil {
			httpapi.WriteError(c, err)
			return
		}
		c.String(200, "%d", len(b))
	})
	small := f.do(t, httptest.NewRequest("POST", "/test/echo", strings.NewReader("hello")))
	if small.Code != 200 || small.Body.String() != "5" {
		t.Fatalf("small body: %d %s", small.Code, small.Body)
	}
	// Declared too large: refused before the handler runs.
	big := f.do(t, httptest.NewRequest("POST", "/test/echo", strings.NewReader(strings.Repeat("x", 65))))
	if big.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("declared large body: %d", big.Code)
	}
	decodeProblem(t, big)
	// Undeclared (chunked) and too large: the read fails.
	req := httptest.NewRequest("POST", "/test/echo", io.MultiReader(strings.NewReader(strings.Repeat("y", 100))))
	req.ContentLength = -1
	chunked := f.do(t, req)
	if chunked.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("streamed large body: %d %s", chunked.Code, chunked.Body)
	}
	decodeProblem(t, chunked)
}

func TestAccessLog(t *testing.T) {
	f := newFixture(t, true)
	f.srv.Engine().POST("/test/hooks/:instance/:secret", func(c *gin.Context) { c.Status(204) })
	req := httptest.NewRequest("POST", "/test/hooks/ke-paybill/s3cr3t-path", nil)
	req.Header.Set(httpapi.RequestIDHeader, "log-test-1")
	f.do(t, req)
	var line map[string]any
	for l := range strings.SplitSeq(strings.TrimSpace(f.logs.String()), "\n") {
		if strings.Contains(l, `"log-test-1"`) {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatalf("log line is not JSON: %s", l)
			}
		}
	}
	if line == nil {
		t.Fatalf("no access log line for the request; logs:\n%s", f.logs)
	}
	if strings.Contains(f.logs.String(), "s3cr3t-path") {
		t.Errorf("secret path segment leaked to the log:\n%s", f.logs)
	}
	for k, want := range map[string]any{
		"msg": "http request", "method": "POST", "status": float64(204),
		"route": "/test/hooks/:instance/:secret", "path": "/test/hooks/ke-paybill/[redacted]",
	} {
		if line[k] != want {
			t.Errorf("log %s = %v, want %v", k, line[k], want)
		}
	}
	if _, ok := line["duration_ms"].(float64); !ok {
		t.Errorf("log lacks duration_ms: %v", line)
	}
}

// TestGracefulShutdown: a request in flight when the server is told to stop
// completes with its answer; Serve then returns nil and the port is closed.
func TestGracefulShutdown(t *testing.T) {
	f := newFixture(t, true)
	entered, release := make(chan struct{}), make(chan struct{})
	f.srv.Engine().GET("/test/slow", func(c *gin.Context) {
		close(entered)
		<-release
		// The request context must still be live: a commit made here
		// after the signal has to go through.
		if err := c.Request.Context().Err(); err != nil {
			c.String(500, "request context cancelled by shutdown: %v", err)
			return
		}
		c.String(200, "finished")
	})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- f.srv.Serve(ctx, ln) }()

	url := "http://" + ln.Addr().String()
	type result struct {
		code int
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Get(url + "/test/slow")
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		done <- result{resp.StatusCode, string(b), err}
	}()
	<-entered
	stop() // as SIGTERM would

	// Shutdown closes the listener first: wait until new connections fail.
	for {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
		if err != nil {
			break
		}
		c.Close()
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned (%v) while a request was in flight", err)
	default:
	}
	close(release)
	r := <-done
	if r.err != nil || r.code != 200 || r.body != "finished" {
		t.Fatalf("in-flight request: code %d body %q err %v", r.code, r.body, r.err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve after graceful shutdown = %v, want nil", err)
	}
}
