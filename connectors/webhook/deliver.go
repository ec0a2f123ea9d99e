package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker"

	"github.com/payg-gateway/gateway/connectors/webhook/signature"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/jobs"
)

// Defaults of DelivererOptions.
const (
	DefaultTimeout         = 15 * time.Second
	DefaultBreakerFailures = 5
	DefaultBreakerOpenFor  = time.Minute
	DefaultRecordTimeout   = 30 * time.Second
	// MaxRetryAfter caps the wait an endpoint's Retry-After can ask for.
	MaxRetryAfter = 24 * time.Hour
)

// DelivererOptions configure a Deliverer.
type DelivererOptions struct {
	Store core.WebhookStore
	Clock core.Clock
	// Client sends deliveries; nil is NewClient(Egress, Timeout). A client
	// given here should come from NewClient too, or it has no egress guard.
	Client *http.Client
	Egress Egress
	// Timeout bounds one attempt (connect, send, answer).
	Timeout time.Duration
	// BreakerFailures consecutive failed attempts to an endpoint (no
	// answer, 429 or 5xx) open its circuit breaker; it stays open
	// BreakerOpenFor (wall time: gobreaker v1 has no clock), then lets one
	// attempt through, the probe: whichever delivery comes first, and
	// deliveries come longest-due first (core.Job.DueAt).
	//
	// A delivery the breaker turns away does not spend an attempt and
	// keeps its due time, so it is not overtaken by deliveries due after
	// it. It waits as long again as it has been due, at least
	// BreakerOpenFor and at most BreakerMaxWait (default 16 ×
	// BreakerOpenFor): the turned-away deliveries of a long outage come
	// back a few times an hour, spread by their due times, instead of all
	// together at every probe.
	//
	// When a probe succeeds and the breaker closes, the endpoint's
	// deliveries waiting past now are woken (Jobs): the backlog goes at
	// once, longest-due first, not when each delivery was put back for.
	BreakerFailures int
	BreakerOpenFor  time.Duration
	BreakerMaxWait  time.Duration
	// Jobs wakes an endpoint's waiting deliveries when its breaker
	// closes, and tells whether the delivery a probe is kept for was
	// delivered by another replica. Nil is Store if it is a JobStore
	// (both SQL stores are); otherwise neither happens.
	Jobs JobStore
	// Registerer receives the delivery metrics; nil registers none.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// UserAgent is sent with every delivery.
	UserAgent string
	// RecordTimeout bounds the store writes after an attempt (its log
	// line, disabling an endpoint that answered 410). They run even when
	// the job's context has ended, since the attempt happened, but not
	// forever: a write stuck on a silently dead database connection would
	// hold the worker, and the gateway's shutdown, until the kernel gave
	// up on the connection.
	RecordTimeout time.Duration
}

// JobStore is what a Deliverer reads and wakes of the job store; a
// core.JobService is one.
type JobStore interface {
	WakeJobs(ctx context.Context, tenant, queue, keyPrefix string) (int, error)
	Job(ctx context.Context, tenant, id string) (core.Job, error)
}

var _ JobStore = core.JobService(nil)

// Deliverer is the jobs.Handler of Queue. It is safe for concurrent use.
type Deliverer struct {
	o        DelivererOptions
	log      *slog.Logger
	metrics  *metrics
	mu       sync.Mutex
	breakers map[string]*gobreaker.TwoStepCircuitBreaker
	// next is, per endpoint whose breaker is not closed, the longest-due
	// delivery turned away and expected back: the next probe is kept for
	// it (see mayProbe).
	next map[string]candidate
	// recovered holds the endpoints whose breaker closed after a
	// successful probe and whose deliveries are not woken yet.
	recovered map[string]bool
	limits    limiter
}

// candidate is a turned-away delivery the next probe is kept for, until
// (wall time) it should have come back.
type candidate struct {
	dueAt time.Time
	id    string
	until time.Time
	// checked is when the store was last asked whether it was delivered
	// elsewhere (see candidateGone).
	checked time.Time
}

// before reports whether a delivery due at dueAt with job id goes before c.
func (c candidate) before(dueAt time.Time, id string) bool {
	if !c.dueAt.Equal(dueAt) {
		return c.dueAt.Before(dueAt)
	}
	return c.id < id
}

var _ jobs.Handler = (*Deliverer)(nil)

// NewDeliverer returns a Deliverer; it fails only if its metrics cannot be
// registered.
func NewDeliverer(o DelivererOptions) (*Deliverer, error) {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Client == nil {
		o.Client = NewClient(o.Egress, o.Timeout)
	}
	if o.BreakerFailures <= 0 {
		o.BreakerFailures = DefaultBreakerFailures
	}
	if o.BreakerOpenFor <= 0 {
		o.BreakerOpenFor = DefaultBreakerOpenFor
	}
	if o.BreakerMaxWait < o.BreakerOpenFor {
		o.BreakerMaxWait = 16 * o.BreakerOpenFor
	}
	if o.Clock == nil {
		o.Clock = core.SystemClock{}
	}
	if o.Jobs == nil {
		o.Jobs, _ = o.Store.(JobStore)
	}
	if o.RecordTimeout <= 0 {
		o.RecordTimeout = DefaultRecordTimeout
	}
	if o.UserAgent == "" {
		o.UserAgent = "payg-gateway-webhooks/1"
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	return &Deliverer{
		o: o, log: log.With("component", "webhook"), metrics: m,
		breakers: map[string]*gobreaker.TwoStepCircuitBreaker{}, next: map[string]candidate{}, recovered: map[string]bool{},
		limits: limiter{tat: map[string]time.Time{}},
	}, nil
}

// errUnhealthy marks an attempt that counts against the endpoint's breaker.
var errUnhealthy = errors.New("endpoint unhealthy")

func (d *Deliverer) breaker(endpointID string) *gobreaker.TwoStepCircuitBreaker {
	d.mu.Lock()
	defer d.mu.Unlock()
	b, ok := d.breakers[endpointID]
	if !ok {
		failures := uint32(d.o.BreakerFailures)
		b = gobreaker.NewTwoStepCircuitBreaker(gobreaker.Settings{
			Name:        endpointID,
			Timeout:     d.o.BreakerOpenFor,
			ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
			// Called with the breaker's lock held, by the goroutine whose
			// call changed the state; d.mu is never held while calling
			// the breaker, so taking it here cannot deadlock.
			OnStateChange: func(name string, from, to gobreaker.State) {
				d.log.Warn("webhook: circuit breaker", "endpoint", name, "from", from.String(), "to", to.String())
				if from == gobreaker.StateHalfOpen && to == gobreaker.StateClosed {
					d.mu.Lock()
					d.recovered[name] = true
					delete(d.next, name)
					d.mu.Unlock()
				}
			},
		})
		d.breakers[endpointID] = b
	}
	return b
}

// Handle delivers one event to one endpoint: one attempt.
func (d *Deliverer) Handle(ctx context.Context, j core.Job) error {
	var p delivery
	if err := json.Unmarshal(j.Payload, &p); err != nil {
		d.metrics.outcome("malformed")
		return jobs.Permanent(fmt.Errorf("webhook: job %s payload: %w", j.ID, err))
	}
	ep, err := d.o.Store.WebhookEndpoint(ctx, j.TenantID, p.EndpointID)
	switch {
	case core.ErrorCode(err) == core.ENOTFOUND:
		d.metrics.outcome("skipped")
		return jobs.Permanent(fmt.Errorf("webhook: endpoint %s was deleted", p.EndpointID))
	case err != nil:
		return fmt.Errorf("webhook: endpoint %s: %w", p.EndpointID, err)
	case !ep.Enabled:
		d.metrics.outcome("skipped")
		return jobs.Permanent(fmt.Errorf("webhook: endpoint %s is disabled", ep.ID))
	}
	now := d.o.Clock.Now()
	secrets := activeSecrets(ep, now)
	if len(secrets) == 0 {
		d.metrics.outcome("skipped")
		return jobs.Permanent(fmt.Errorf("webhook: endpoint %s has no active secret", ep.ID))
	}
	if ok, at := d.limits.take(ep.ID, ep.RateLimitPerSecond, now); !ok {
		d.metrics.outcome("rate_limited")
		return jobs.NotAttempted(fmt.Errorf("webhook: endpoint %s over its rate limit of %d/s", ep.ID, ep.RateLimitPerSecond), at)
	}
	b := d.breaker(ep.ID)
	var done func(bool)
	may := b.State() == gobreaker.StateClosed || d.mayProbe(ep.ID, j)
	if !may && b.State() == gobreaker.StateHalfOpen && d.candidateGone(ctx, j.TenantID, ep.ID) {
		may = d.mayProbe(ep.ID, j)
	}
	if may {
		done, err = b.Allow()
	} else {
		err = gobreaker.ErrTooManyRequests // the probe is kept for a longer-due delivery
	}
	if err != nil { // open, or half-open with its probe in flight
		d.metrics.outcome("breaker_open")
		wait := d.turnedAwayWait(j, now)
		d.turnedAway(ep.ID, j, wait)
		return jobs.NotAttempted(fmt.Errorf("webhook: endpoint %s circuit breaker %v", ep.ID, err), now.Add(wait))
	}
	d.probed(ep.ID, j)

	res := d.post(ctx, ep, secrets, p, now)
	done(!errors.Is(res.err, errUnhealthy))

	a := core.WebhookAttempt{
		ID: newID("wha_"), TenantID: j.TenantID, JobID: j.ID, EndpointID: ep.ID, EventID: p.EventID,
		Attempt: j.Attempts, At: now, StatusCode: res.status, Latency: res.latency, Response: res.snippet,
	}
	if res.err != nil {
		a.Error = res.err.Error()
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.o.RecordTimeout)
	defer cancel()
	if err := d.o.Store.InsertWebhookAttempt(rctx, a); err != nil {
		// The attempt happened; losing its log line must not resend it.
		d.log.Error("webhook: record attempt", "job", j.ID, "endpoint", ep.ID, "err", err)
	}
	if d.takeRecovered(ep.ID) {
		d.wake(rctx, ep)
	}
	if res.sent {
		d.metrics.latency.Observe(res.latency.Seconds())
	}

	switch {
	case res.err == nil:
		d.metrics.outcome("delivered")
		return nil
	case res.status == http.StatusGone:
		d.metrics.outcome("gone")
		reason := fmt.Sprintf("answered 410 Gone at %s", now.Format(time.RFC3339))
		if err := d.o.Store.DisableWebhookEndpoint(rctx, ep.TenantID, ep.ID, reason, now); err != nil {
			return fmt.Errorf("webhook: disable endpoint %s after 410: %w", ep.ID, err)
		}
		d.log.Warn("webhook: endpoint disabled", "endpoint", ep, "reason", reason)
		return jobs.Permanent(res.err)
	case j.Attempts >= j.MaxAttempts:
		d.metrics.outcome("dead")
	default:
		d.metrics.outcome("failed")
	}
	if !res.retryAt.IsZero() {
		return jobs.RetryAt(res.err, res.retryAt)
	}
	return res.err
}

// turnedAwayWait is how long a delivery the breaker turned away waits: as
// long as it has been due, between BreakerOpenFor and BreakerMaxWait. The
// first turn-away waits for the next probe; a delivery kept waiting by a
// long outage backs off, so it is claimed a few times an hour rather than
// at every probe, and the deliveries waiting come back spread out, not all
// at once. Its due time is kept (core.Job.DueAt), so when it is back it
// still goes before deliveries that became due after it.
func (d *Deliverer) turnedAwayWait(j core.Job, now time.Time) time.Duration {
	waited := now.Sub(j.DueAt)
	if j.DueAt.IsZero() {
		waited = 0
	}
	return min(max(waited, d.o.BreakerOpenFor), d.o.BreakerMaxWait)
}

// mayProbe reports whether j may take the probe of endpoint's breaker
// (open or half-open): unless a longer-due delivery turned away is
// expected back, whichever comes first may. Without this the probe would go
// to whichever handler happened to ask first, not the longest-due.
func (d *Deliverer) mayProbe(endpoint string, j core.Job) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ahead(endpoint, j)
}

// ahead reports whether j goes before endpoint's candidate for the probe:
// there is none, it is overdue, it is j, or j is at least as long due.
// The caller holds d.mu.
func (d *Deliverer) ahead(endpoint string, j core.Job) bool {
	c, ok := d.next[endpoint]
	return !ok || time.Now().After(c.until) || c.id == j.ID || !c.before(j.DueAt, j.ID)
}

// candidateGone reports, and forgets, endpoint's candidate if it will not
// come back because it is done or dead: another replica delivered it,
// typically after that replica's probe found the endpoint up and woke its
// deliveries. Without this the probe would be kept for it until it should
// have come back (up to BreakerMaxWait and BreakerOpenFor), and the
// deliveries woken meanwhile would be turned away again. It asks the store
// at most once per BreakerOpenFor per endpoint.
func (d *Deliverer) candidateGone(ctx context.Context, tenant, endpoint string) bool {
	if d.o.Jobs == nil {
		return false
	}
	d.mu.Lock()
	c, ok := d.next[endpoint]
	if !ok || time.Since(c.checked) < d.o.BreakerOpenFor {
		d.mu.Unlock()
		return false
	}
	c.checked = time.Now()
	d.next[endpoint] = c
	d.mu.Unlock()
	cj, err := d.o.Jobs.Job(ctx, tenant, c.id)
	if err != nil {
		// Unknown: it is passed over once it should have come back.
		if core.ErrorCode(err) != core.ENOTFOUND {
			d.log.Warn("webhook: read the delivery kept for the probe", "endpoint", endpoint, "job", c.id, "err", err)
		}
		return false
	}
	if cj.State != core.JobDone && cj.State != core.JobDead {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if cur, ok := d.next[endpoint]; ok && cur.id == c.id {
		delete(d.next, endpoint)
	}
	return true
}

// turnedAway notes j, turned away for wait, as the delivery the next probe
// is kept for if it is the longest-due so far. It is expected back within
// wait and one BreakerOpenFor (wall time, as the breaker's); a candidate
// that does not come back by then (delivered by another replica, the
// endpoint deleted) is passed over.
func (d *Deliverer) turnedAway(endpoint string, j core.Job, wait time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ahead(endpoint, j) {
		d.next[endpoint] = candidate{dueAt: j.DueAt, id: j.ID, until: time.Now().Add(wait + d.o.BreakerOpenFor)}
	}
}

// probed forgets j as a candidate once it is attempted.
func (d *Deliverer) probed(endpoint string, j core.Job) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.next[endpoint]; ok && c.id == j.ID {
		delete(d.next, endpoint)
	}
}

// takeRecovered reports whether endpoint's breaker closed after a
// successful probe since the last call that reported it.
func (d *Deliverer) takeRecovered(endpoint string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	ok := d.recovered[endpoint]
	delete(d.recovered, endpoint)
	return ok
}

// wake makes ep's deliveries that wait past now due now, after a probe
// found ep up again: those the breaker turned away, which keep their due
// times and so go longest-due first, and those waiting to retry a failed
// attempt, most likely failed while ep was down, which are due from now.
// It goes through the store, so deliveries any replica put back are
// woken. Each woken delivery still passes the rate limit, which puts it
// back again, without an attempt, for as long as the limit asks.
func (d *Deliverer) wake(ctx context.Context, ep core.WebhookEndpoint) {
	if d.o.Jobs == nil {
		return
	}
	n, err := d.o.Jobs.WakeJobs(ctx, ep.TenantID, Queue, deliveryKeyPrefix(ep.ID))
	if err != nil {
		d.log.Error("webhook: wake deliveries after recovery", "endpoint", ep.ID, "err", err)
		return
	}
	d.log.Info("webhook: endpoint recovered, waiting deliveries woken", "endpoint", ep.ID, "woken", n)
}

// result is what one POST came to.
type result struct {
	sent    bool
	status  int // 0: no answer
	latency time.Duration
	snippet string
	// err is nil for 2xx; wraps errUnhealthy when the endpoint did not
	// answer, or answered 429 or 5xx.
	err     error
	retryAt time.Time // from Retry-After
}

func (d *Deliverer) post(ctx context.Context, ep core.WebhookEndpoint, secrets []string, p delivery, now time.Time) result {
	body := []byte(p.Body)
	h, err := signature.Headers(secrets, p.EventID, now, body)
	if err != nil {
		return result{err: fmt.Errorf("sign: %w", err)}
	}
	ctx, cancel := context.WithTimeout(ctx, d.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return result{err: fmt.Errorf("request: %w", err)}
	}
	req.Header = h
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", d.o.UserAgent)

	start := time.Now()
	resp, err := d.o.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may carry a token: keep it out of the log
		}
		return result{sent: true, latency: time.Since(start), err: fmt.Errorf("%w: %v", errUnhealthy, err)}
	}
	snip, _ := io.ReadAll(io.LimitReader(resp.Body, core.MaxWebhookSnippet))
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10) // let the connection be reused
	resp.Body.Close()
	r := result{sent: true, status: resp.StatusCode, latency: time.Since(start), snippet: snippet(snip)}
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
	case c == http.StatusTooManyRequests || c >= 500:
		r.err = fmt.Errorf("%w: HTTP %d", errUnhealthy, c)
		r.retryAt = retryAfter(resp.Header.Get("Retry-After"), d.o.Clock.Now())
	default:
		r.err = fmt.Errorf("HTTP %d", c)
		if c == http.StatusGone {
			r.err = errors.New("HTTP 410 Gone: endpoint disabled")
		}
	}
	return r
}

// snippet makes the start of an answer storable text: valid UTF-8, no NUL.
func snippet(b []byte) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "")
	for len(s) > core.MaxWebhookSnippet {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

// retryAfter reads a Retry-After header (seconds or an HTTP date) as a
// time after now, capped at MaxRetryAfter; zero when absent or unreadable.
func retryAfter(v string, now time.Time) time.Time {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return time.Time{}
		}
		d = time.Duration(min(n, int64(MaxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return time.Time{}
	}
	return now.Add(min(max(d, 0), MaxRetryAfter))
}

// limiter is a per-endpoint rate limit (GCRA: a token bucket holding one
// second's worth) on the injected clock.
type limiter struct {
	mu  sync.Mutex
	tat map[string]time.Time // theoretical arrival time of the next request
}

// take reports whether endpoint may be sent to at now under rate per
// second; if not, when it may.
func (l *limiter) take(endpoint string, rate int, now time.Time) (bool, time.Time) {
	if rate <= 0 {
		return true, time.Time{}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	interval := time.Second / time.Duration(rate)
	burst := time.Second // rate requests at once
	tat := l.tat[endpoint]
	if tat.Before(now) {
		tat = now
	}
	if allowAt := tat.Add(interval - burst); now.Before(allowAt) {
		return false, allowAt
	}
	l.tat[endpoint] = tat.Add(interval)
	return true, time.Time{}
}
