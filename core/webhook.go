package core

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/url"
	"time"

	"github.com/payg-gateway/gateway/core/secretbox"
)

// WebhookEndpoint is a CRM URL that receives the tenant's events, signed
// per Standard Webhooks (connectors/webhook delivers them).
type WebhookEndpoint struct {
	ID       string
	TenantID string
	URL      string
	// EventTypes are the subscribed event types: exact ("payment.applied"),
	// a family ("payment.*") or everything ("*").
	EventTypes []string
	Enabled    bool
	// DisabledReason says why the gateway disabled the endpoint (it
	// answered 410 Gone); empty when an operator disabled it.
	DisabledReason string
	// RateLimitPerSecond caps deliveries to the endpoint; 0 is no cap.
	RateLimitPerSecond int
	// Description says what the endpoint is, for people.
	Description string
	// Secrets sign deliveries: every active one signs each delivery, so a
	// secret can be rotated without a gap. The store seals them under the
	// master key (see WebhookSecretSealer); they are never logged.
	Secrets   []WebhookSecret
	CreatedAt time.Time
	UpdatedAt time.Time
	// Version counts changes to the stored endpoint. UpdateWebhookEndpoint
	// writes only over the version it was read at (compare-and-set), so
	// edits on several replicas never overwrite each other unseen.
	Version int64
}

// LogValue logs an endpoint without its secrets, and its URL without
// credentials or query (which may carry a token).
func (e WebhookEndpoint) LogValue() slog.Value {
	u := "(unparsable)"
	if p, err := url.Parse(e.URL); err == nil {
		u = p.Scheme + "://" + p.Host + p.Path
	}
	return slog.GroupValue(slog.String("id", e.ID), slog.String("tenant", e.TenantID),
		slog.String("url", u), slog.Bool("enabled", e.Enabled), slog.Int("secrets", len(e.Secrets)))
}

// WebhookSecret is one signing secret of an endpoint, "whsec_" + base64.
type WebhookSecret struct {
	ID    string
	Value string
	// CreatedAt is when it starts signing; ExpiresAt (zero: never) when it
	// stops.
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Active reports whether the secret signs deliveries at now.
func (s WebhookSecret) Active(now time.Time) bool {
	return !s.CreatedAt.After(now) && (s.ExpiresAt.IsZero() || now.Before(s.ExpiresAt))
}

// String hides the secret's value, so printing or logging a secret (or an
// endpoint holding it) never leaks it.
func (s WebhookSecret) String() string { return "WebhookSecret{" + s.ID + " ******}" }

// GoString hides the secret's value from %#v too.
func (s WebhookSecret) GoString() string { return s.String() }

// LogValue hides the secret's value from log/slog.
func (s WebhookSecret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON leaves the value out, so a secret inside anything encoded
// as JSON (a JSON log line, an API response) is not leaked by accident. A
// response that must show a new secret once names Value explicitly.
func (s WebhookSecret) MarshalJSON() ([]byte, error) {
	type redacted struct {
		ID        string    `json:"id"`
		CreatedAt time.Time `json:"created_at"`
		ExpiresAt time.Time `json:"expires_at,omitzero"`
	}
	return json.Marshal(redacted{ID: s.ID, CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt})
}

// WebhookSecretSealer is implemented by stores that seal webhook signing
// secrets at rest with core/secretbox (core/sqlstore).
type WebhookSecretSealer interface {
	// UseSecretBox sets the master key secrets are sealed and opened with;
	// call it once before the store is used.
	UseSecretBox(box *secretbox.Box)
	// ResealWebhookSecrets seals every endpoint's secrets under next:
	// plain-text ones and ones under the current box; those already under
	// next are skipped. It returns how many it sealed.
	ResealWebhookSecrets(ctx context.Context, next *secretbox.Box) (int, error)
}

// WebhookAttempt is one HTTP attempt to deliver an event to an endpoint.
type WebhookAttempt struct {
	ID         string
	TenantID   string
	JobID      string // the delivery
	EndpointID string
	EventID    string
	// Attempt is the delivery's attempt number, 1 for the first.
	Attempt int
	At      time.Time
	// StatusCode is the endpoint's HTTP status, 0 when there was no answer.
	StatusCode int
	Latency    time.Duration
	// Error says what went wrong (transport error, non-2xx status).
	Error string
	// Response is the start of the endpoint's answer, at most
	// MaxWebhookSnippet bytes.
	Response string
}

// MaxWebhookSnippet bounds the stored start of an endpoint's answer.
const MaxWebhookSnippet = 1024

// WebhookAttemptQuery filters an attempt list; zero fields do not filter.
type WebhookAttemptQuery struct {
	EndpointID string
	EventID    string
	JobID      string
}

// WebhookStore stores webhook endpoints and the attempts log. Reads and
// writes are scoped by tenant: another tenant's endpoint is ENOTFOUND.
type WebhookStore interface {
	// CreateWebhookEndpoint stores e at version 1; ECONFLICT if its id is
	// taken.
	CreateWebhookEndpoint(ctx context.Context, e WebhookEndpoint) error
	WebhookEndpoint(ctx context.Context, tenant, id string) (WebhookEndpoint, error)
	// ListWebhookEndpoints lists a tenant's endpoints in (created_at, id)
	// order.
	ListWebhookEndpoints(ctx context.Context, tenant string, page PageRequest) (Page[WebhookEndpoint], error)
	// UpdateWebhookEndpoint stores e's URL, event types, enabled flag, rate
	// limit, secrets and UpdatedAt if the stored endpoint is still at
	// e.Version, and advances its version; ECONFLICT if it changed since e
	// was read (read it again and redo the change).
	UpdateWebhookEndpoint(ctx context.Context, e WebhookEndpoint) error
	// DisableWebhookEndpoint disables an endpoint, saying why.
	DisableWebhookEndpoint(ctx context.Context, tenant, id, reason string, at time.Time) error
	DeleteWebhookEndpoint(ctx context.Context, tenant, id string) error
	// InsertWebhookAttempt appends to the attempts log.
	InsertWebhookAttempt(ctx context.Context, a WebhookAttempt) error
	// ListWebhookAttempts lists a tenant's attempts in (at, id) order.
	ListWebhookAttempts(ctx context.Context, tenant string, q WebhookAttemptQuery, page PageRequest) (Page[WebhookAttempt], error)
}
