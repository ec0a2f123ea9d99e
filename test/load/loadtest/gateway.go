package loadtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/payg-gateway/gateway/cmd/gateway/app"
	"github.com/payg-gateway/gateway/config"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/httpapi"
	"github.com/payg-gateway/gateway/core/secretbox"
)

// Instance is the name of the gateway's M-Pesa instance in a run.
const Instance = "ke-paybill"

// GatewayOptions are what StartGateway needs beyond the store.
type GatewayOptions struct {
	Tenant string
	// Box is the master key's box, the one the fleet's keys were sealed with.
	Box *secretbox.Box
	// Log receives the gateway's log: JSON at info, as `gateway serve`
	// writes it by default. Nil discards it (after formatting it, so the
	// cost stays in the measurement).
	Log io.Writer
}

// Gateway is the real gateway HTTP server, serving on loopback in this
// process.
type Gateway struct {
	// URL is the server's base URL, http://127.0.0.1:PORT.
	URL    string
	secret string
	server *httpapi.Server
	stop   context.CancelFunc
	done   chan error
}

// StartGateway assembles the gateway with cmd/gateway/app, as `gateway
// serve` does: the default configuration with an M-Pesa instance
// accepting callbacks from 127.0.0.0/8, one Prometheus registry, and the
// server on 127.0.0.1:0. The one departure: the /v1 rate limit is off, so
// the contract lookup benchmark measures the store, not the token bucket.
func StartGateway(ctx context.Context, st Store, o GatewayOptions) (*Gateway, error) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	secret := hex.EncodeToString(b[:])

	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.API.RateLimitPerSecond = 0
	cfg.Instances = []config.Instance{{
		Name: Instance, Adapter: "payments.mpesa", Tenant: o.Tenant, Currency: "KES",
		Settings: map[string]any{"short_code": "600123", "callback_secret": secret, "allowed_cidrs": []any{"127.0.0.0/8"}},
	}}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("loadtest: gateway configuration: %w", err)
	}
	w := o.Log
	if w == nil {
		w = io.Discard
	}
	log, err := app.NewLogger(cfg.Log, w)
	if err != nil {
		return nil, fmt.Errorf("loadtest: %w", err)
	}
	gw, err := app.New(ctx, app.Options{Config: cfg, Store: st, Box: o.Box, Clock: core.SystemClock{}, Logger: log,
		Registry: app.NewRegistry("loadtest")})
	if err != nil {
		return nil, fmt.Errorf("loadtest: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("loadtest: listen: %w", err)
	}
	sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	g := &Gateway{URL: "http://" + ln.Addr().String(), secret: secret, server: gw.Server, stop: stop, done: make(chan error, 1)}
	go func() { g.done <- gw.Serve(sctx, ln) }()
	return g, nil
}

// ConfirmationURL is the instance's C2B confirmation callback URL.
func (g *Gateway) ConfirmationURL() string {
	return g.URL + "/callbacks/" + Instance + "/c2b-confirmation/" + g.secret
}

// HasRoute reports whether the server has a route for method and gin path
// (such as "/v1/contracts/:id").
func (g *Gateway) HasRoute(method, path string) bool {
	for _, r := range g.server.Engine().Routes() {
		if r.Method == method && r.Path == path {
			return true
		}
	}
	return false
}

// Close shuts the server down gracefully and waits for it.
func (g *Gateway) Close() error {
	g.stop()
	if err := <-g.done; err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("loadtest: gateway: %w", err)
	}
	return nil
}
