package httpapi

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/core/sqlite"
)

func newTestServer(t *testing.T) *Server {
	t.Helper()
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "gw.db"), core.SystemClock{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	svc := payg.NewService(payg.Options{Store: store, Tenants: store, Clock: core.SystemClock{}})
	s, err := New(Options{Store: store, PAYG: svc, PAYGStore: store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registry: prometheus.NewRegistry(), MaxBodyBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestUndocumentedV1RouteIsRefused: a /v1 route the document lacks stops
// the server from being built, so the API never outgrows its contract.
func TestUndocumentedV1RouteIsRefused(t *testing.T) {
	s := newTestServer(t)
	if err := s.mapRoutes(); err != nil {
		t.Fatalf("the real routes: %v", err)
	}
	s.engine.GET("/v1/undocumented", func(*gin.Context) {})
	err := s.mapRoutes()
	if err == nil || !strings.Contains(err.Error(), "GET /v1/undocumented is not in the OpenAPI document") {
		t.Fatalf("mapRoutes = %v, want the undocumented route named", err)
	}
}

func TestOpenAPIPath(t *testing.T) {
	for in, want := range map[string]string{
		"/v1/api-keys":               "/v1/api-keys",
		"/v1/api-keys/:id":           "/v1/api-keys/{id}",
		"/v1/contracts/:id/tokens":   "/v1/contracts/{id}/tokens",
		"/callbacks/:instance/*rest": "/callbacks/{instance}/{rest}",
	} {
		if got := openAPIPath(in); got != want {
			t.Errorf("openAPIPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestKeyLimiterForgetsIdleBuckets(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newKeyLimiter(1, 5, func() time.Time { return now })
	for _, id := range []string{"a", "b"} {
		if ok, _ := l.allow(id); !ok {
			t.Fatalf("first request of %s refused", id)
		}
	}
	now = now.Add(3 * time.Second)
	l.allow("a") // b idle 3s: not yet full again (5 tokens at 1/s)
	if len(l.buckets) != 2 {
		t.Fatalf("%d buckets, want 2", len(l.buckets))
	}
	now = now.Add(time.Minute) // a sweep is due; both idle past their refill time
	l.allow("c")
	if _, ok := l.buckets["a"]; ok || len(l.buckets) != 1 {
		t.Fatalf("buckets after the sweep: %v, want only c", len(l.buckets))
	}
}
