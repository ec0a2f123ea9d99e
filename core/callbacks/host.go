// Package callbacks runs provider callbacks: it finds the instance, lets
// its adapter verify and read the request, applies what it reports through
// payg in one transaction per notice, and only then gives back the
// adapter's exact acknowledgement. It knows no HTTP framework; core/httpapi
// turns gin requests into adapters.Request and writes the Response.
package callbacks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/messaging"
	"github.com/payg-gateway/gateway/core/payg"
)

// DeliveryApplier takes the delivery reports SMS callbacks carry
// (messaging.Deliveries): unknown ids are ignored, final states never
// downgraded, repeats change nothing. An error means nothing was applied.
type DeliveryApplier interface {
	ApplyDeliveries(ctx context.Context, instance string, reports []adapters.DeliveryReport) (messaging.DeliveryResult, error)
}

// Instance is a provisioned adapter instance.
type Instance struct {
	Config  adapters.InstanceConfig
	Adapter adapters.Adapter
}

// Host handles the callbacks of every configured instance.
type Host struct {
	svc       *payg.Service
	instances map[string]Instance
	clock     core.Clock
	log       *slog.Logger
	outcomes  *prometheus.CounterVec
	health    health
	// ConfirmTimeout bounds a status query confirming an unsigned callback.
	confirmTimeout time.Duration
	// deliveries takes SMS delivery reports; nil ignores them.
	deliveries DeliveryApplier
	// breakers reports the breaker state of an instance's outgoing calls.
	breakers func(instance string) (string, bool)
	// policy drives payment requests and the janitor (requests.go).
	policy RequestPolicy
	// wake, when set, makes the job runner look for due jobs now.
	wake func()
	// requests counts what the initiation and the janitor did.
	requests *prometheus.CounterVec
	// async drives the sends again of timed-out asynchronous requests
	// (async.go).
	async AsyncPolicy
}

// SetBreakers makes Statuses report each instance's breaker state as f
// gives it (messaging.Sender.BreakerState). Call it before serving.
func (h *Host) SetBreakers(f func(instance string) (string, bool)) { h.breakers = f }

// SetDeliveries makes the host hand the delivery reports of SMS callbacks
// to d. Call it before the host serves callbacks.
func (h *Host) SetDeliveries(d DeliveryApplier) { h.deliveries = d }

// Outcomes counted in gateway_callbacks_total.
const (
	outcomeApplied     = "applied"
	outcomeDuplicate   = "duplicate"
	outcomeSuspense    = "suspense"
	outcomeRecorded    = "recorded" // a failed or pending notice, kept
	outcomeQuarantined = "quarantined"
	outcomeDelivery    = "delivery_report" // SMS delivery reports, no money
	outcomeAccepted    = "validation_accepted"
	outcomeRejected    = "validation_rejected"
	outcomeAuthFailed  = "auth_failed"
	outcomeNotFound    = "not_found"
	// unknown_request: the result of an asynchronous request (a status
	// query) the gateway has no record of; acknowledged, nothing updated.
	outcomeUnknownRequest = "unknown_request"
	outcomeError          = "error"
)

// New returns a Host. reg receives gateway_callbacks_total.
func New(svc *payg.Service, instances []Instance, clock core.Clock, log *slog.Logger, reg prometheus.Registerer) (*Host, error) {
	h := &Host{svc: svc, instances: make(map[string]Instance, len(instances)), clock: clock, log: log,
		confirmTimeout: 10 * time.Second, policy: DefaultRequestPolicy, async: DefaultAsyncPolicy}
	h.health.last = make(map[string]*InstanceStatus, len(instances))
	for _, in := range instances {
		h.instances[in.Config.Name] = in
		h.health.last[in.Config.Name] = &InstanceStatus{Name: in.Config.Name, Adapter: in.Config.Adapter,
			Tenant: in.Config.Tenant, Currency: string(in.Config.Currency), Capabilities: capabilities(in.Adapter)}
	}
	h.outcomes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_callbacks_total",
		Help: "Provider callbacks handled, by instance, kind and outcome.",
	}, []string{"instance", "kind", "outcome"})
	if err := reg.Register(h.outcomes); err != nil {
		return nil, err
	}
	h.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_payment_requests_total",
		Help: "Payment request steps, by instance and step: initiated, refused, retry_later, unknown, reinitiated, checked, settled_by_check, expired.",
	}, []string{"instance", "step"})
	if err := reg.Register(h.requests); err != nil {
		return nil, err
	}
	return h, nil
}

// SMSSenders returns the instances that send text messages, by name.
func (h *Host) SMSSenders() map[string]adapters.SMSSender {
	out := map[string]adapters.SMSSender{}
	for name, in := range h.instances {
		if s, ok := in.Adapter.(adapters.SMSSender); ok {
			out[name] = s
		}
	}
	return out
}

// Route is a callback route of one instance.
type Route struct {
	Instance string
	adapters.Route
}

// Routes lists the routes of every instance whose adapter takes callbacks.
func (h *Host) Routes() []Route {
	var out []Route
	for name, in := range h.instances {
		r, ok := in.Adapter.(adapters.CallbackRouter)
		if !ok {
			continue
		}
		for _, rt := range r.CallbackRoutes() {
			out = append(out, Route{Instance: name, Route: rt})
		}
	}
	return out
}

// Handle answers one callback. segments are the path segments after
// /callbacks/{instance}/: the kind, then the route's parameters.
func (h *Host) Handle(ctx context.Context, instance string, segments []string, req *adapters.Request) adapters.Response {
	in, ok := h.instances[instance]
	if !ok || len(segments) == 0 {
		h.count(instance, "", outcomeNotFound)
		return adapters.Response{Status: http.StatusNotFound}
	}
	req.Kind = segments[0]
	route, ok := h.route(in, req.Kind, len(segments)-1)
	if !ok || !allows(route.Methods, req.Method) {
		h.count(instance, req.Kind, outcomeNotFound)
		return adapters.Response{Status: http.StatusNotFound}
	}
	req.PathParams = make(map[string]string, len(route.Params))
	for i, p := range route.Params {
		req.PathParams[p] = segments[i+1]
	}
	log := h.log.With("instance", instance, "kind", req.Kind)

	if v, ok := in.Adapter.(adapters.CallbackVerifier); ok {
		if err := v.VerifyCallback(ctx, req); err != nil {
			var ae *adapters.AuthError
			if errors.As(err, &ae) {
				h.count(instance, req.Kind, outcomeAuthFailed)
				log.Warn("callback refused", "check", ae.Check, "reason", ae.Reason, "remote_addr", req.RemoteAddr.String())
				return adapters.Response{Status: ae.Status}
			}
			return h.fail(log, instance, req.Kind, "verify", err)
		}
	}
	if route.Validation {
		return h.validate(ctx, log, in, req)
	}
	p, ok := in.Adapter.(adapters.CallbackParser)
	if !ok {
		h.count(instance, req.Kind, outcomeNotFound)
		return adapters.Response{Status: http.StatusNotFound}
	}
	res, err := p.ParseCallback(ctx, req)
	if errors.Is(err, adapters.ErrUnknownKind) {
		h.count(instance, req.Kind, outcomeNotFound)
		return adapters.Response{Status: http.StatusNotFound}
	}
	if err != nil {
		return h.fail(log, instance, req.Kind, "parse", err)
	}
	if res.Quarantine != nil {
		return h.quarantine(ctx, log, in, req, res)
	}
	notices := res.Notices
	if res.NeedsConfirmation {
		later, err := h.confirmLater(ctx, log, in, req, res)
		if err != nil {
			return h.fail(log, instance, req.Kind, "schedule confirmation", err)
		}
		if later {
			notices = asPending(res.Notices)
		} else {
			notices = h.confirm(ctx, log, in, res)
		}
	}
	outcome := outcomeRecorded
	moved := false // a notice changed a payment
	for _, n := range notices {
		n.Instance = instance
		out, err := h.svc.ApplyNotice(ctx, in.Config.Tenant, n)
		if errors.Is(err, payg.ErrUnknownRequest) {
			// Money said to have moved for a request the gateway never
			// made: nothing is applied (no guessing the contract from
			// the payer), the callback is kept and alerted on, and the
			// provider is acknowledged so it stops retrying.
			res.Quarantine = &adapters.Quarantine{Reason: fmt.Sprintf(
				"callback for request id %q, which is not a payment request of this gateway: possible spoofing or mis-routing", n.RequestID)}
			return h.quarantine(ctx, log, in, req, res)
		}
		if err != nil {
			// Not acknowledged: the provider retries, and the retry is
			// deduplicated. Nothing is lost.
			return h.fail(log, instance, req.Kind, "apply", err)
		}
		moved = moved || (!out.Duplicate && (out.Suspense != nil || out.Payment.Status == payg.PaymentApplied ||
			out.Payment.Status == payg.PaymentReversed))
		switch {
		case out.Duplicate:
			outcome = outcomeDuplicate
		case out.Suspense != nil:
			outcome = outcomeSuspense
			log.Warn("payment held in suspense", "payment_id", out.Payment.ID, "reason", out.Suspense.Reason)
		case out.Payment.Status == payg.PaymentApplied:
			outcome = outcomeApplied
		}
	}
	if len(res.Deliveries) > 0 {
		if h.deliveries == nil {
			log.Warn("delivery reports ignored: messaging is not configured", "reports", len(res.Deliveries))
		} else {
			dr, err := h.deliveries.ApplyDeliveries(ctx, instance, res.Deliveries)
			if err != nil {
				return h.fail(log, instance, req.Kind, "deliveries", err)
			}
			log.Debug("delivery reports applied", "applied", dr.Applied, "unchanged", dr.Unchanged, "unknown", dr.Unknown)
		}
		if len(notices) == 0 {
			outcome = outcomeDelivery
		}
	}
	if res.Outcome != nil {
		// Recorded only after the notices it carries are applied, and
		// acknowledged only once recorded: a failure makes the provider
		// send both again, and both are idempotent.
		known, err := h.applyOutcome(ctx, log, in, res)
		if err != nil {
			return h.fail(log, instance, req.Kind, "outcome", err)
		}
		if !known && !moved {
			outcome = outcomeUnknownRequest
		}
	}
	h.count(instance, req.Kind, outcome)
	h.health.record(instance, h.clock.Now(), nil)
	return res.Ack
}

func (h *Host) route(in Instance, kind string, params int) (adapters.Route, bool) {
	r, ok := in.Adapter.(adapters.CallbackRouter)
	if !ok {
		return adapters.Route{}, false
	}
	for _, rt := range r.CallbackRoutes() {
		if rt.Kind == kind && len(rt.Params) == params {
			return rt, true
		}
	}
	return adapters.Route{}, false
}

func allows(methods []string, m string) bool {
	for _, x := range methods {
		if strings.EqualFold(x, m) {
			return true
		}
	}
	return false
}

func (h *Host) count(instance, kind, outcome string) {
	h.outcomes.WithLabelValues(instance, kind, outcome).Inc()
}

// fail answers 503 so the provider retries later.
func (h *Host) fail(log *slog.Logger, instance, kind, step string, err error) adapters.Response {
	h.count(instance, kind, outcomeError)
	h.health.record(instance, h.clock.Now(), fmt.Errorf("%s %s: %w", kind, step, err))
	log.Error("callback not processed; the provider will retry", "step", step, "error", err)
	return adapters.Response{Status: http.StatusServiceUnavailable}
}

func (h *Host) quarantine(ctx context.Context, log *slog.Logger, in Instance, req *adapters.Request, res *adapters.CallbackResult) adapters.Response {
	q, err := h.svc.Quarantine(ctx, payg.Quarantined{
		TenantID: in.Config.Tenant, Instance: in.Config.Name, Kind: req.Kind, Reason: res.Quarantine.Reason,
		RequestID: res.Ref.RequestID, ProviderRef: res.Ref.ProviderRef, ProviderTxID: res.Ref.ProviderTxID,
		Method: req.Method, RemoteAddr: req.RemoteAddr.String(), Headers: safeHeaders(req.Header), Body: req.Body,
		ReceivedAt: req.ReceivedAt,
	})
	if err != nil {
		return h.fail(log, in.Config.Name, req.Kind, "quarantine", err)
	}
	h.scheduleQuarantineCheck(ctx, log, in, q, res.Ref)
	h.count(in.Config.Name, req.Kind, outcomeQuarantined)
	h.health.record(in.Config.Name, h.clock.Now(), fmt.Errorf("%s: quarantined: %s", req.Kind, q.Reason))
	log.Warn("callback quarantined", "quarantine_id", q.ID, "reason", q.Reason)
	return res.Ack
}

// safeHeaders drops credentials before a request is stored.
func safeHeaders(h http.Header) map[string][]string {
	out := make(map[string][]string, len(h))
	for k, v := range h {
		switch http.CanonicalHeaderKey(k) {
		case "Authorization", "Cookie", "Proxy-Authorization", "X-Api-Key":
			continue
		}
		out[k] = v
	}
	return out
}

// confirm replaces an unsigned callback's notices by the provider's own
// answer to a status query. If the query fails, the notices are recorded
// as pending (never applied on the callback's word) for the janitor to
// query again.
func (h *Host) confirm(ctx context.Context, log *slog.Logger, in Instance, res *adapters.CallbackResult) []core.PaymentNotice {
	q, ok := in.Adapter.(adapters.StatusQuerier)
	if !ok {
		return asPending(res.Notices)
	}
	qctx, cancel := context.WithTimeout(ctx, h.confirmTimeout)
	defer cancel()
	st, err := q.QueryStatus(qctx, res.Ref)
	if err == nil && st.Async != nil {
		if err := h.recordAsync(ctx, log, in, res.Ref, st.Async, asyncOrigin{}); err != nil {
			log.Error("asynchronous status query not recorded; its result will be acknowledged unmatched", "error", err)
		}
	}
	if err != nil || st.Async != nil {
		log.Warn("callback not confirmed by a status query; recorded as pending", "error", err, "request_id", res.Ref.RequestID)
		return asPending(res.Notices)
	}
	return []core.PaymentNotice{st.Notice}
}

// asPending copies notices as pending: recorded with their raw body, never
// applied on an unconfirmed word.
func asPending(notices []core.PaymentNotice) []core.PaymentNotice {
	out := make([]core.PaymentNotice, len(notices))
	for i, n := range notices {
		n.Status = core.NoticePending
		out[i] = n
	}
	return out
}
