// Package webhook delivers the gateway's events to CRM endpoints as signed,
// durable, retried, replayable webhooks (Standard Webhooks).
//
// The pieces:
//
//   - Subscriber is a payg.EventSubscriber: in the transaction that writes
//     an event it enqueues one delivery job (queue "webhook") per enabled
//     endpoint of the tenant subscribed to the event's type, keyed
//     "webhook:<endpoint>:<event>" so an event is never enqueued twice for
//     an endpoint. The body is fixed then: every retry sends the same bytes.
//   - Deliverer is the jobs.Handler of that queue: it signs and POSTs a
//     delivery, records the attempt, and tells the runner what to do next
//     (done, retry on DefaultSchedule, retry after Retry-After, disable the
//     endpoint on 410, reschedule without spending an attempt while the
//     endpoint's circuit breaker is open or its rate limit is reached).
//     When a probe finds the endpoint up again, it wakes the endpoint's
//     waiting deliveries (core.JobService.WakeJobs).
//   - Replayer enqueues deliveries again: one event, a time range, or an
//     endpoint's dead deliveries.
//   - Egress keeps deliveries off loopback, private and link-local
//     addresses, checked at dial time.
//
// Signing and verification are in the subpackage signature, which a CRM
// team can use on its own.
package webhook

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/payg-gateway/gateway/connectors/webhook/signature"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/jobs"
	"github.com/payg-gateway/gateway/core/payg"
)

// Queue is the job queue of deliveries.
const Queue = "webhook"

// DefaultSchedule is the wait after each failed attempt: 5 s, 5 min,
// 30 min, 2 h, 5 h, then 10 h, each ±10 %. With DefaultMaxAttempts (the
// first attempt is immediate) a delivery is retried for about 2.8 days
// before it is dead.
var DefaultSchedule = jobs.Schedule{
	Delays: []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour},
	Jitter: 0.1,
}

// DefaultMaxAttempts is the attempts of a delivery: immediately, then after
// 5 s, 5 min, 30 min, 2 h, 5 h and six times 10 h (67.6 h in all).
const DefaultMaxAttempts = 12

// Envelope is the body of every delivery.
type Envelope struct {
	// ID is the event's id, also sent as the webhook-id header: the
	// receiver's idempotency key.
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	CreatedAt time.Time `json:"created_at"`
	Tenant    string    `json:"tenant"`
	// ContractID and Sequence (1, 2, 3, … per contract) let the receiver
	// order a contract's events; both are omitted for events without a
	// contract.
	ContractID string          `json:"contract_id,omitempty"`
	Sequence   int64           `json:"sequence,omitempty"`
	Data       json.RawMessage `json:"data"`
}

// NewEnvelope returns the envelope of e.
func NewEnvelope(e payg.Event) Envelope {
	data := e.Data
	if len(data) == 0 {
		data = json.RawMessage("{}")
	}
	return Envelope{ID: e.ID, Type: e.Type, CreatedAt: e.CreatedAt.UTC(), Tenant: e.TenantID, ContractID: e.ContractID, Sequence: e.Seq, Data: data}
}

// Matches reports whether an endpoint subscribed to patterns receives
// events of type typ. A pattern is a type ("payment.applied"), a family
// ("payment.*": payment.applied, payment.reversed, …) or "*".
func Matches(patterns []string, typ string) bool {
	for _, p := range patterns {
		switch {
		case p == "*" || p == typ:
			return true
		case strings.HasSuffix(p, ".*") && strings.HasPrefix(typ, p[:len(p)-1]):
			return true
		}
	}
	return false
}

var patternRE = regexp.MustCompile(`^(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?)$`)

// ValidateEndpoint checks an endpoint's URL, event types, rate limit and
// secrets, returning EINVALID naming the first bad field. Addresses are
// checked again at every connection (Egress); here a literal IP in the
// URL is checked against g so an obviously internal URL is refused early.
func ValidateEndpoint(e core.WebhookEndpoint, g Egress) error {
	u, err := url.Parse(e.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return core.Errorf(core.EINVALID, "webhook endpoint url: want an absolute http(s) URL without credentials")
	}
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil {
		if err := g.Check(ip); err != nil {
			return core.Errorf(core.EINVALID, "webhook endpoint url: %v", err)
		}
	}
	if len(e.EventTypes) == 0 {
		return core.Errorf(core.EINVALID, "webhook endpoint event_types: at least one (\"*\" for all)")
	}
	for _, p := range e.EventTypes {
		if !patternRE.MatchString(p) {
			return core.Errorf(core.EINVALID, "webhook endpoint event_types %q: want a type, a family such as payment.* or *", p)
		}
	}
	if e.RateLimitPerSecond < 0 {
		return core.Errorf(core.EINVALID, "webhook endpoint rate_limit_per_second: must not be negative")
	}
	if len(e.Secrets) == 0 {
		return core.Errorf(core.EINVALID, "webhook endpoint: no signing secret")
	}
	for _, s := range e.Secrets {
		if _, err := signature.ParseSecret(s.Value); err != nil {
			return core.Errorf(core.EINVALID, "webhook endpoint secret %s: want whsec_ followed by base64 of 24 to 64 bytes", s.ID)
		}
	}
	return nil
}

// NewEndpoint returns a new enabled endpoint of tenant with one fresh
// secret, checked by ValidateEndpoint. The caller stores it and shows the
// secret to the CRM team once.
func NewEndpoint(tenant, rawURL string, eventTypes []string, ratePerSecond int, g Egress, now time.Time) (core.WebhookEndpoint, error) {
	e := core.WebhookEndpoint{
		ID: newID("whe_"), TenantID: tenant, URL: rawURL, EventTypes: eventTypes, Enabled: true,
		RateLimitPerSecond: ratePerSecond, Secrets: []core.WebhookSecret{newSecret(now)},
		CreatedAt: now, UpdatedAt: now, Version: 1,
	}
	return e, ValidateEndpoint(e, g)
}

// RotateSecret adds a fresh secret to e and makes its other secrets
// expire after overlap, during which deliveries carry both signatures so
// the CRM can switch at its own pace. It returns the new secret.
func RotateSecret(e *core.WebhookEndpoint, now time.Time, overlap time.Duration) core.WebhookSecret {
	for i, s := range e.Secrets {
		if exp := now.Add(overlap); s.ExpiresAt.IsZero() || s.ExpiresAt.After(exp) {
			e.Secrets[i].ExpiresAt = exp
		}
	}
	s := newSecret(now)
	e.Secrets = append(e.Secrets, s)
	e.UpdatedAt = now
	return s
}

func newSecret(now time.Time) core.WebhookSecret {
	return core.WebhookSecret{ID: newID("whs_"), Value: signature.NewSecret(), CreatedAt: now}
}

// activeSecrets are the values of e's secrets that sign at now.
func activeSecrets(e core.WebhookEndpoint, now time.Time) []string {
	var out []string
	for _, s := range e.Secrets {
		if s.Active(now) {
			out = append(out, s.Value)
		}
	}
	return out
}

// newID returns prefix + a UUIDv7 in hex.
func newID(prefix string) string {
	u, err := uuid.NewV7()
	if err != nil {
		u = uuid.New()
	}
	return prefix + strings.ReplaceAll(u.String(), "-", "")
}

// deliveryKey is the job key of event's delivery to endpoint.
func deliveryKey(endpointID, eventID string) string {
	return deliveryKeyPrefix(endpointID) + eventID
}

// deliveryKeyPrefix starts the job key of every delivery to endpoint,
// replays included (core.Job.ReplayKey).
func deliveryKeyPrefix(endpointID string) string {
	return "webhook:" + endpointID + ":"
}

// delivery is a delivery job's payload.
type delivery struct {
	EndpointID string `json:"endpoint_id"`
	EventID    string `json:"event_id"`
	EventType  string `json:"event_type"`
	// Body is the envelope exactly as sent, the same bytes on every
	// attempt.
	Body string `json:"body"`
}

// deliveryJob is the job delivering body (e's envelope) to endpoint.
func deliveryJob(endpointID string, e payg.Event, body []byte, key string, maxAttempts int) (core.Job, error) {
	p, err := json.Marshal(delivery{EndpointID: endpointID, EventID: e.ID, EventType: e.Type, Body: string(body)})
	if err != nil {
		return core.Job{}, fmt.Errorf("webhook: delivery payload: %w", err)
	}
	j := core.Job{TenantID: e.TenantID, Queue: Queue, Key: key, Payload: p, MaxAttempts: maxAttempts}
	j.OrderKey, j.OrderSeq = orderKey(endpointID, e)
	return j, nil
}

// orderKey orders the first attempts of an endpoint's deliveries of one
// contract's events by the events' sequence (see core.Job.OrderKey):
// however many workers and replicas deliver, event n+1 is first tried only
// after event n was. Events without a contract are not ordered.
func orderKey(endpointID string, e payg.Event) (string, int64) {
	if e.ContractID == "" || e.Seq == 0 {
		return "", 0
	}
	return "webhook:" + endpointID + ":" + e.ContractID, e.Seq
}
