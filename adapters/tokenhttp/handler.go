package tokenhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sony/gobreaker"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/jobs"
	"github.com/payg-gateway/gateway/core/payg"
)

// Settler reads and settles pending tokens; *payg.Service is one.
type Settler interface {
	Token(ctx context.Context, tenant, id string) (payg.Token, error)
	CompleteToken(ctx context.Context, tenant, tokenID, code string) (payg.Token, error)
	FailToken(ctx context.Context, tenant, tokenID, reason string) (payg.Token, error)
}

// Handler runs a vendor's jobs: one request per run. Safe for concurrent
// use; it holds the vendor's circuit breaker.
type Handler struct {
	v       *Vendor
	tokens  Settler
	log     *slog.Logger
	breaker *gobreaker.TwoStepCircuitBreaker
	openFor time.Duration
}

var _ jobs.Handler = (*Handler)(nil)

// Handler returns the jobs.Handler of v's queue, settling tokens through
// tokens. Call it once per vendor: the breaker is the handler's.
func (v *Vendor) Handler(tokens Settler, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{v: v, tokens: tokens, log: log.With("component", "tokenhttp", "vendor", v.cfg.Name)}
	failures := uint32(v.cfg.Breaker.Failures)
	if failures == 0 {
		failures = DefaultBreakerFailures
	}
	h.openFor = v.cfg.Breaker.OpenFor
	if h.openFor <= 0 {
		h.openFor = DefaultBreakerOpenFor
	}
	h.breaker = gobreaker.NewTwoStepCircuitBreaker(gobreaker.Settings{
		Name:        v.cfg.Name,
		Timeout:     h.openFor, // wall time: gobreaker v1 has no clock
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		OnStateChange: func(name string, from, to gobreaker.State) {
			h.log.Warn("tokenhttp: circuit breaker", "from", from.String(), "to", to.String())
		},
	})
	return h
}

// BreakerState is the vendor's circuit breaker state (closed, open,
// half-open).
func (h *Handler) BreakerState() string { return h.breaker.State().String() }

// Handle asks the vendor for one token's code.
func (h *Handler) Handle(ctx context.Context, j core.Job) error {
	var p payload
	if err := json.Unmarshal(j.Payload, &p); err != nil || p.TokenID == "" {
		return jobs.Permanent(fmt.Errorf("tokenhttp: job %s payload: %v", j.ID, err))
	}
	t, err := h.tokens.Token(ctx, j.TenantID, p.TokenID)
	switch {
	case core.ErrorCode(err) == core.ENOTFOUND:
		return jobs.Permanent(fmt.Errorf("tokenhttp: token %s: %w", p.TokenID, err))
	case err != nil:
		return fmt.Errorf("tokenhttp: token %s: %w", p.TokenID, err)
	case t.Status != payg.TokenPending:
		return nil // settled by an earlier run
	}
	req, err := h.v.render(p)
	if err != nil {
		return h.fail(ctx, j, p, fmt.Errorf("render request: %w", err))
	}
	done, err := h.breaker.Allow()
	if err != nil { // open, or half-open with its probe in flight
		return jobs.NotAttempted(fmt.Errorf("tokenhttp: vendor %s circuit breaker %v", h.v.cfg.Name, err), h.v.clock.Now().Add(h.openFor))
	}
	a := h.v.sendAuthorized(ctx, req)
	done(!a.unhealthy)
	log := h.log.With("token", p.TokenID, "job", j.ID, "attempt", j.Attempts, "status", a.status)

	switch a.kind {
	case issued:
		sctx, cancel := h.storeContext(ctx)
		defer cancel()
		if _, err := h.tokens.CompleteToken(sctx, j.TenantID, p.TokenID, a.code); err != nil {
			// The vendor issued it; the next run asks again with the
			// same idempotency key.
			log.Error("tokenhttp: code issued but not stored; the next run asks again", "error", err)
			return fmt.Errorf("tokenhttp: store token %s: %w", p.TokenID, err)
		}
		log.Info("tokenhttp: token issued")
		return nil
	case refused:
		return h.fail(ctx, j, p, errors.New(a.reason))
	case ambiguous:
		if !h.v.resendSafe {
			log.Error("tokenhttp: outcome unknown and the vendor is not idempotent: token held pending for review", "reason", a.reason)
			return jobs.Permanent(fmt.Errorf("tokenhttp: held for review (the vendor may have issued a code; check its portal): %s", a.reason))
		}
	}
	err = fmt.Errorf("tokenhttp: vendor %s: %s", h.v.cfg.Name, a.reason)
	if j.Attempts >= j.MaxAttempts {
		reason := fmt.Sprintf("no code after %d attempts: %s", j.Attempts, a.reason)
		sctx, cancel := h.storeContext(ctx)
		defer cancel()
		if _, ferr := h.tokens.FailToken(sctx, j.TenantID, p.TokenID, reason); ferr != nil {
			return fmt.Errorf("%w (and failing the token: %v)", err, ferr)
		}
		log.Warn("tokenhttp: token failed", "reason", reason)
		return jobs.Permanent(err)
	}
	if !a.retryAt.IsZero() {
		return jobs.RetryAt(err, a.retryAt)
	}
	return err
}

// fail settles the token as failed at once: the vendor refused it.
func (h *Handler) fail(ctx context.Context, j core.Job, p payload, cause error) error {
	reason := h.v.redact(cause.Error())
	sctx, cancel := h.storeContext(ctx)
	defer cancel()
	if _, err := h.tokens.FailToken(sctx, j.TenantID, p.TokenID, reason); err != nil {
		return fmt.Errorf("tokenhttp: fail token %s: %w", p.TokenID, err)
	}
	h.log.Warn("tokenhttp: token failed", "token", p.TokenID, "job", j.ID, "reason", reason)
	return nil
}

// storeContext is the context of a store write after the vendor
// answered: detached from the run's (a stopping runner must not lose a
// code the vendor issued) but bounded, so a store that does not answer
// fails the run, to be retried with the same idempotency key, instead of
// holding the worker for ever.
func (h *Handler) storeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), h.v.storeTime)
}

// kind is a class of vendor answers.
type kind int

const (
	issued    kind = iota // the vendor issued the code (or acknowledged the credit)
	refused               // the vendor said no for good (unknown device, validation)
	retryable             // nothing was issued: ask again later
	ambiguous             // the vendor may have issued: resend only if it is idempotent
)

// answer is what one request came to.
type answer struct {
	kind      kind
	code      string
	reason    string
	status    int
	retryAt   time.Time
	unhealthy bool // counts against the circuit breaker
}

// maxBody bounds the vendor answer read.
const maxBody = 1 << 20

// send makes one request and classifies the answer.
func (v *Vendor) send(ctx context.Context, r request) answer {
	ctx, cancel := context.WithTimeout(ctx, v.timeout)
	defer cancel()
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, body)
	if err != nil {
		return answer{kind: refused, reason: v.redact(fmt.Sprintf("build request: %v", err))}
	}
	req.Header = r.header
	resp, err := v.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may carry a secret
		}
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return answer{kind: retryable, unhealthy: true, reason: v.redact("cannot connect: " + err.Error())}
		}
		return answer{kind: ambiguous, unhealthy: true, reason: v.redact("no answer: " + err.Error())}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return answer{kind: ambiguous, unhealthy: true, status: resp.StatusCode, reason: v.redact("reading the answer: " + err.Error())}
	}
	a := v.classify(resp.StatusCode, raw)
	a.status = resp.StatusCode
	if a.kind == retryable || a.kind == ambiguous {
		a.retryAt = retryAfter(resp.Header.Get("Retry-After"), v.clock.Now())
	}
	a.reason = v.redact(a.reason)
	return a
}

// classify reads an answer per the response mapping.
func (v *Vendor) classify(status int, raw []byte) answer {
	var doc any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	isJSON := len(bytes.TrimSpace(raw)) > 0 && dec.Decode(&doc) == nil
	if isJSON && v.errorWhen != nil {
		if _, ok := v.errorWhen.get(doc); ok {
			return answer{kind: refused, reason: v.message(status, doc, raw)}
		}
	}
	switch {
	case status >= 200 && status < 300:
	case status == http.StatusTooManyRequests:
		return answer{kind: retryable, unhealthy: true, reason: v.message(status, doc, raw)}
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		// Our credentials were refused: nothing was issued. A
		// configuration problem for an operator; retried meanwhile.
		return answer{kind: retryable, unhealthy: true, reason: "credentials refused: " + v.message(status, doc, raw)}
	case slices.Contains(v.permanent, status):
		return answer{kind: refused, reason: v.message(status, doc, raw)}
	case status == http.StatusRequestTimeout || status >= 500:
		return answer{kind: ambiguous, unhealthy: true, reason: v.message(status, doc, raw)}
	default:
		return answer{kind: refused, reason: v.message(status, doc, raw)}
	}
	if v.tokenRegex != nil && !v.cfg.Response.AckOnly && len(bytes.TrimSpace(raw)) > 0 && (!isJSON || v.tokenPath == nil) {
		return v.extract(status, doc, raw)
	}
	if !isJSON {
		// An empty or unreadable 2xx: the vendor may have issued.
		return answer{kind: ambiguous, reason: fmt.Sprintf("HTTP %d with no readable JSON body", status)}
	}
	if v.success != nil {
		got, _ := v.success.getText(doc)
		if got != v.cfg.Response.SuccessEquals {
			return answer{kind: refused, reason: v.message(status, doc, raw)}
		}
	}
	if v.cfg.Response.AckOnly {
		return answer{kind: issued}
	}
	code, ok := v.tokenPath.getText(doc)
	if !ok || strings.TrimSpace(code) == "" {
		return answer{kind: refused, reason: fmt.Sprintf("HTTP %d without a code at %s: %s", status, v.cfg.Response.TokenPath, v.message(status, doc, raw))}
	}
	return answer{kind: issued, code: code}
}

// extract finds the code in a 2xx answer with token_regex: its group, or
// the whole match. An answer that does not match is the vendor's word
// that it issued nothing (an error message, "false").
func (v *Vendor) extract(status int, doc any, raw []byte) answer {
	m := v.tokenRegex.FindSubmatch(raw)
	if m == nil {
		return answer{kind: refused, reason: fmt.Sprintf("HTTP %d without a code matching token_regex: %s", status, v.message(status, doc, raw))}
	}
	code := strings.TrimSpace(string(m[len(m)-1]))
	if code == "" {
		return answer{kind: refused, reason: fmt.Sprintf("HTTP %d with an empty code: %s", status, v.message(status, doc, raw))}
	}
	return answer{kind: issued, code: code}
}

// message is the vendor's error text: at error_path, else the start of
// the body.
func (v *Vendor) message(status int, doc any, raw []byte) string {
	msg := ""
	if v.errorPath != nil {
		msg, _ = v.errorPath.getText(doc)
	}
	if msg == "" {
		msg = strings.ToValidUTF8(string(raw), "?")
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
	}
	if msg == "" {
		return fmt.Sprintf("HTTP %d", status)
	}
	return fmt.Sprintf("HTTP %d: %s", status, msg)
}

// maxRetryAfter caps the wait a vendor's Retry-After can ask for.
const maxRetryAfter = 6 * time.Hour

// retryAfter reads a Retry-After header (seconds or an HTTP date); zero
// when absent or unreadable.
func retryAfter(h string, now time.Time) time.Time {
	h = strings.TrimSpace(h)
	if h == "" {
		return time.Time{}
	}
	if n, err := strconv.Atoi(h); err == nil && n >= 0 {
		return now.Add(min(time.Duration(n)*time.Second, maxRetryAfter))
	}
	if t, err := http.ParseTime(h); err == nil {
		return now.Add(min(max(t.Sub(now), 0), maxRetryAfter))
	}
	return time.Time{}
}
