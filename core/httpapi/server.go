// Package httpapi is the gateway's HTTP face on gin: the /v1 REST API for
// CRMs, provider callbacks, and the operational endpoints /healthz, /readyz
// and /metrics. Handlers translate between HTTP and core; domain errors are
// mapped to statuses once, in writeError.
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/payg-gateway/gateway/connectors/webhook"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/callbacks"
	"github.com/payg-gateway/gateway/core/messaging"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/openapi"
)

// Options are the server's dependencies and limits.
type Options struct {
	Store  core.Store
	Logger *slog.Logger
	// PAYG is the lease and token engine behind the /v1 customers,
	// devices, plans, contracts, payments, suspense and events;
	// PAYGStore is its store, read directly for lookups and lists.
	PAYG      *payg.Service
	PAYGStore payg.Store
	// Registry receives the HTTP metrics and is served at /metrics. It is
	// built once in main; library packages never register globally.
	Registry *prometheus.Registry

	MaxBodyBytes      int64
	TrustedProxies    []string
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// ShutdownTimeout bounds how long Serve waits for in-flight requests
	// once its context is cancelled.
	ShutdownTimeout time.Duration
	// ReadyTimeout bounds the store check behind /readyz (default 2s).
	ReadyTimeout time.Duration

	// Clock times the rate limiter (default core.SystemClock).
	Clock core.Clock
	// RateLimit is the sustained requests per second each API key may make
	// on /v1, RateBurst the size of its token bucket; 0 disables the limit.
	RateLimit float64
	RateBurst int
	// IdempotencyPurgeInterval is how often Serve deletes expired
	// idempotency records (default 10m).
	IdempotencyPurgeInterval time.Duration
	// IdempotencyPurgeTimeout bounds each purge (default 1m): a store that
	// does not answer fails it, logged, and the next interval tries again.
	IdempotencyPurgeTimeout time.Duration
	// Callbacks runs provider callbacks; nil answers them 404. Its
	// instances' health is GET /v1/adapters (none when nil).
	Callbacks *callbacks.Host

	// Webhooks stores the CRM webhook endpoints and their attempts log;
	// Jobs (the delivery jobs) and Events are what replays read and
	// enqueue. Both SQL stores are all three. When Webhooks is nil the
	// /v1/webhook-endpoints operations and event replays answer 503.
	Webhooks core.WebhookStore
	Jobs     core.JobService
	Events   webhook.EventSource
	// WebhookEgress is the egress policy an endpoint URL is checked
	// against when it is created or changed: its host, or every address
	// the host resolves to, must be allowed (config webhooks.allow_loopback
	// and webhooks.allow_private_networks). Deliveries are checked again
	// at dial time.
	WebhookEgress webhook.Egress
	// LookupIP resolves an endpoint URL's host for that check (default
	// net.DefaultResolver.LookupNetIP). A host that does not resolve is
	// accepted: the dial-time check decides.
	LookupIP func(ctx context.Context, network, host string) ([]netip.Addr, error)
	// WakeJobs, when set, is called after a replay enqueued deliveries, so
	// they go out at once rather than at the job runner's next poll
	// (jobs.Runner.Wake).
	WakeJobs func()

	// Messages is the store of the customers' text messages
	// (/v1/messages); nil answers those operations 503.
	Messages messaging.Store
	// Messaging creates campaigns (/v1/campaigns); nil answers them 503.
	Messaging *messaging.Service
}

// Server serves the gateway's HTTP API.
type Server struct {
	opts     Options
	log      *slog.Logger
	engine   *gin.Engine
	draining atomic.Bool

	spec    *openapi.Spec
	routes  map[string]*apiRoute // the /v1 routes, by routeKey
	limiter *keyLimiter          // nil when rate limiting is off
	docs    []byte               // the rendered /docs page
}

// New builds the server and its routes.
func New(opts Options) (*Server, error) {
	if opts.Store == nil || opts.Logger == nil || opts.Registry == nil {
		return nil, errors.New("httpapi: Store, Logger and Registry are required")
	}
	if opts.PAYG == nil || opts.PAYGStore == nil {
		return nil, errors.New("httpapi: PAYG and PAYGStore are required")
	}
	if opts.MaxBodyBytes <= 0 {
		return nil, errors.New("httpapi: MaxBodyBytes must be positive")
	}
	if opts.Webhooks != nil && (opts.Jobs == nil || opts.Events == nil) {
		return nil, errors.New("httpapi: Webhooks needs Jobs and Events")
	}
	if opts.LookupIP == nil {
		opts.LookupIP = net.DefaultResolver.LookupNetIP
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 2 * time.Second
	}
	if opts.Clock == nil {
		opts.Clock = core.SystemClock{}
	}
	if opts.IdempotencyPurgeInterval <= 0 {
		opts.IdempotencyPurgeInterval = 10 * time.Minute
	}
	if opts.IdempotencyPurgeTimeout <= 0 {
		opts.IdempotencyPurgeTimeout = time.Minute
	}
	if opts.RateLimit < 0 || (opts.RateLimit > 0 && opts.RateBurst < 1) {
		return nil, errors.New("httpapi: RateLimit must be 0 (off) or positive with RateBurst at least 1")
	}
	m, err := newMetrics(opts.Registry)
	if err != nil {
		return nil, fmt.Errorf("httpapi: register metrics: %w", err)
	}
	s := &Server{opts: opts, log: opts.Logger}
	if s.spec, err = openapi.Load(); err != nil {
		return nil, fmt.Errorf("httpapi: %w", err)
	}
	if s.docs, err = s.spec.HTML(); err != nil {
		return nil, fmt.Errorf("httpapi: %w", err)
	}
	if opts.RateLimit > 0 {
		s.limiter = newKeyLimiter(opts.RateLimit, opts.RateBurst, opts.Clock.Now)
	}

	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.ContextWithFallback = true // c.Done/c.Value follow the request context
	if err := e.SetTrustedProxies(opts.TrustedProxies); err != nil {
		return nil, fmt.Errorf("httpapi: trusted proxies: %w", err)
	}
	e.Use(requestID(), observe(s.log, m), recovery(s.log, m), limitBody(opts.MaxBodyBytes))
	e.NoRoute(func(c *gin.Context) { writeProblem(c, http.StatusNotFound, "no such route") })
	e.NoMethod(func(c *gin.Context) { writeProblem(c, http.StatusMethodNotAllowed, "method not allowed on this route") })

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", gin.WrapH(promhttp.HandlerFor(opts.Registry, promhttp.HandlerOpts{
		Registry:          opts.Registry,
		EnableOpenMetrics: true,
	})))
	e.GET("/openapi.yaml", s.openAPIDocument)
	e.GET("/docs", s.docsPage)
	s.engine = e
	s.routesV1()
	s.routesCallbacks()
	if err := s.mapRoutes(); err != nil {
		return nil, fmt.Errorf("httpapi: %w", err)
	}
	return s, nil
}

// Handler returns the server's http.Handler.
func (s *Server) Handler() http.Handler { return s.engine }

// Engine exposes the gin engine, for packages that add routes and for tests
// that walk the route table.
func (s *Server) Engine() *gin.Engine { return s.engine }

// Serve answers requests on ln until ctx is cancelled, then shuts down
// gracefully: it stops accepting, reports not-ready, lets in-flight requests
// (and the transactions they run) finish within ShutdownTimeout, and returns
// nil. Requests do not see ctx's cancellation: a payment being committed
// when SIGTERM arrives is committed and acknowledged.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.engine,
		ReadHeaderTimeout: s.opts.ReadHeaderTimeout,
		ReadTimeout:       s.opts.ReadTimeout,
		WriteTimeout:      s.opts.WriteTimeout,
		IdleTimeout:       s.opts.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	janitorCtx, stopJanitor := context.WithCancel(ctx)
	janitorDone := make(chan struct{})
	go func() {
		defer close(janitorDone)
		s.purgeIdempotency(janitorCtx)
	}()
	defer func() { stopJanitor(); <-janitorDone }() // the store outlives no goroutine of ours
	s.log.Info("listening", "addr", ln.Addr().String())

	select {
	case err := <-served:
		return fmt.Errorf("httpapi: serve: %w", err)
	case <-ctx.Done():
	}
	s.draining.Store(true)
	s.log.Info("shutting down: finishing in-flight requests", "timeout", s.opts.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.shutdownTimeout())
	defer cancel()
	err := srv.Shutdown(sctx)
	<-served // http.ErrServerClosed once Shutdown has closed the listener
	if err != nil {
		return fmt.Errorf("httpapi: shutdown: %w", err)
	}
	s.log.Info("stopped")
	return nil
}

func (s *Server) shutdownTimeout() time.Duration {
	if s.opts.ShutdownTimeout > 0 {
		return s.opts.ShutdownTimeout
	}
	return 30 * time.Second
}

type statusBody struct {
	Status string `json:"status"`
}

// healthz says the process is alive; it checks nothing else, so an
// orchestrator never restarts the gateway for a database outage.
func (s *Server) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, statusBody{Status: "ok"})
}

// readyz says whether the gateway should receive traffic: the store answers,
// its schema is current, and the process is not shutting down.
func (s *Server) readyz(c *gin.Context) {
	if s.draining.Load() {
		writeProblem(c, http.StatusServiceUnavailable, "shutting down")
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.opts.ReadyTimeout)
	defer cancel()
	if err := s.opts.Store.Ready(ctx); err != nil {
		_ = c.Error(err)
		detail := "store not ready"
		if core.ErrorCode(err) == core.EUNAVAILABLE {
			detail += ": " + core.ErrorMessage(err)
		}
		writeProblem(c, http.StatusServiceUnavailable, detail)
		return
	}
	c.JSON(http.StatusOK, statusBody{Status: "ready"})
}
