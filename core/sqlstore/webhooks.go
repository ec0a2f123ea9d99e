package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/payg"
)

var _ core.WebhookStore = (*Store)(nil)

const endpointCols = `id, tenant_id, url, event_types, enabled, disabled_reason, rate_limit_per_second, secrets, created_at, updated_at, description`

// storedSecret is a webhook secret as the secrets column holds it.
type storedSecret struct {
	ID        string    `json:"id"`
	Value     string    `json:"value"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

func scanEndpoint(r scanner) (core.WebhookEndpoint, error) {
	var e core.WebhookEndpoint
	var types, secrets []byte
	if err := r.Scan(&e.ID, &e.TenantID, &e.URL, scanBytes{&types}, &e.Enabled, &e.DisabledReason, &e.RateLimitPerSecond,
		scanBytes{&secrets}, scanTime{&e.CreatedAt}, scanTime{&e.UpdatedAt}, &e.Description); err != nil {
		return e, err
	}
	if err := json.Unmarshal(types, &e.EventTypes); err != nil {
		return e, fmt.Errorf("webhook endpoint %s event types: %w", e.ID, err)
	}
	var ss []storedSecret
	if err := json.Unmarshal(secrets, &ss); err != nil {
		return e, fmt.Errorf("webhook endpoint %s secrets: unreadable", e.ID) // never quote them
	}
	for _, s := range ss {
		e.Secrets = append(e.Secrets, core.WebhookSecret{ID: s.ID, Value: s.Value, CreatedAt: s.CreatedAt.UTC(), ExpiresAt: s.ExpiresAt.UTC()})
	}
	return e, nil
}

// endpointColumns marshals an endpoint's JSON columns.
func endpointColumns(e core.WebhookEndpoint) (types, secrets string, err error) {
	if e.EventTypes == nil {
		e.EventTypes = []string{}
	}
	t, err := json.Marshal(e.EventTypes)
	if err != nil {
		return "", "", err
	}
	ss := make([]storedSecret, len(e.Secrets))
	for i, s := range e.Secrets {
		ss[i] = storedSecret{ID: s.ID, Value: s.Value, CreatedAt: s.CreatedAt.UTC(), ExpiresAt: s.ExpiresAt.UTC()}
	}
	b, err := json.Marshal(ss)
	if err != nil {
		return "", "", err
	}
	return string(t), string(b), nil
}

// CreateWebhookEndpoint implements core.WebhookStore.
func (s *Store) CreateWebhookEndpoint(ctx context.Context, e core.WebhookEndpoint) error {
	types, secrets, err := endpointColumns(e)
	if err != nil {
		return fmt.Errorf("create webhook endpoint: %w", err)
	}
	return s.write1(ctx, func(t *txn) error {
		_, err := t.exec(ctx, `INSERT INTO webhook_endpoints (`+endpointCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
			e.ID, e.TenantID, e.URL, types, e.Enabled, e.DisabledReason, e.RateLimitPerSecond, secrets,
			t.d.Time(e.CreatedAt), t.d.Time(e.UpdatedAt), e.Description)
		return err
	})
}

// WebhookEndpoint implements core.WebhookStore.
func (s *Store) WebhookEndpoint(ctx context.Context, tenant, id string) (core.WebhookEndpoint, error) {
	var e core.WebhookEndpoint
	err := s.read1(ctx, func(t *txn) error {
		var err error
		e, err = scanEndpoint(t.queryRow(ctx, `SELECT `+endpointCols+` FROM webhook_endpoints WHERE tenant_id = ? AND id = ?`, tenant, id))
		return t.one(err, "webhook endpoint", id)
	})
	return e, err
}

// ListWebhookEndpoints implements core.WebhookStore.
func (s *Store) ListWebhookEndpoints(ctx context.Context, tenant string, req core.PageRequest) (core.Page[core.WebhookEndpoint], error) {
	var out core.Page[core.WebhookEndpoint]
	err := s.read1(ctx, func(t *txn) error {
		var err error
		out, err = page(ctx, t, endpointCols, "webhook_endpoints", "created_at", tenantQuery(tenant), req, scanEndpoint,
			func(e core.WebhookEndpoint) core.Cursor { return core.Cursor{CreatedAt: e.CreatedAt, ID: e.ID} })
		return err
	})
	return out, err
}

// EnabledWebhookEndpoints lists a tenant's enabled endpoints inside a
// business transaction, so the webhook subscriber (connectors/webhook)
// enqueues deliveries from the same snapshot as the event.
func (t *txn) EnabledWebhookEndpoints(ctx context.Context, tenant string) ([]core.WebhookEndpoint, error) {
	if eps, ok := t.endpoints[tenant]; ok {
		return eps, nil
	}
	eps, err := t.enabledWebhookEndpoints(ctx, tenant)
	if err != nil {
		return nil, err
	}
	if t.endpoints == nil {
		t.endpoints = map[string][]core.WebhookEndpoint{}
	}
	t.endpoints[tenant] = eps
	return eps, nil
}

func (t *txn) enabledWebhookEndpoints(ctx context.Context, tenant string) ([]core.WebhookEndpoint, error) {
	rows, err := t.query(ctx, `SELECT `+endpointCols+` FROM webhook_endpoints WHERE tenant_id = ? AND enabled = ? ORDER BY created_at, id`, tenant, true)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []core.WebhookEndpoint
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return nil, t.d.Translate(err)
		}
		out = append(out, e)
	}
	return out, t.d.Translate(rows.Err())
}

// UpdateWebhookEndpoint implements core.WebhookStore.
func (s *Store) UpdateWebhookEndpoint(ctx context.Context, e core.WebhookEndpoint) error {
	types, secrets, err := endpointColumns(e)
	if err != nil {
		return fmt.Errorf("update webhook endpoint: %w", err)
	}
	return s.write1(ctx, func(t *txn) error {
		res, err := t.exec(ctx, `UPDATE webhook_endpoints SET url = ?, event_types = ?, enabled = ?, disabled_reason = ?,
			rate_limit_per_second = ?, secrets = ?, updated_at = ?, description = ? WHERE tenant_id = ? AND id = ?`,
			e.URL, types, e.Enabled, e.DisabledReason, e.RateLimitPerSecond, secrets, t.d.Time(e.UpdatedAt), e.Description, e.TenantID, e.ID)
		return t.affected(res, err, "webhook endpoint", e.ID)
	})
}

// DisableWebhookEndpoint implements core.WebhookStore.
func (s *Store) DisableWebhookEndpoint(ctx context.Context, tenant, id, reason string, at time.Time) error {
	return s.write1(ctx, func(t *txn) error {
		res, err := t.exec(ctx, `UPDATE webhook_endpoints SET enabled = ?, disabled_reason = ?, updated_at = ? WHERE tenant_id = ? AND id = ?`,
			false, reason, t.d.Time(at), tenant, id)
		return t.affected(res, err, "webhook endpoint", id)
	})
}

// DeleteWebhookEndpoint implements core.WebhookStore. Its attempts log is
// kept.
func (s *Store) DeleteWebhookEndpoint(ctx context.Context, tenant, id string) error {
	return s.write1(ctx, func(t *txn) error {
		res, err := t.exec(ctx, `DELETE FROM webhook_endpoints WHERE tenant_id = ? AND id = ?`, tenant, id)
		return t.affected(res, err, "webhook endpoint", id)
	})
}

const attemptCols = `id, tenant_id, job_id, endpoint_id, event_id, attempt, at, status_code, latency_ms, error, response`

func scanAttempt(r scanner) (core.WebhookAttempt, error) {
	var a core.WebhookAttempt
	var ms int64
	err := r.Scan(&a.ID, &a.TenantID, &a.JobID, &a.EndpointID, &a.EventID, &a.Attempt, scanTime{&a.At}, &a.StatusCode, &ms, &a.Error, &a.Response)
	a.Latency = time.Duration(ms) * time.Millisecond
	return a, err
}

// InsertWebhookAttempt implements core.WebhookStore.
func (s *Store) InsertWebhookAttempt(ctx context.Context, a core.WebhookAttempt) error {
	return s.write1(ctx, func(t *txn) error {
		_, err := t.exec(ctx, `INSERT INTO webhook_attempts (`+attemptCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
			a.ID, a.TenantID, a.JobID, a.EndpointID, a.EventID, a.Attempt, t.d.Time(a.At), a.StatusCode,
			a.Latency.Milliseconds(), a.Error, a.Response)
		return err
	})
}

// ListWebhookAttempts implements core.WebhookStore.
func (s *Store) ListWebhookAttempts(ctx context.Context, tenant string, q core.WebhookAttemptQuery, req core.PageRequest) (core.Page[core.WebhookAttempt], error) {
	var out core.Page[core.WebhookAttempt]
	err := s.read1(ctx, func(t *txn) error {
		w := tenantQuery(tenant)
		if q.EndpointID != "" {
			w.and("endpoint_id = ?", q.EndpointID)
		}
		if q.EventID != "" {
			w.and("event_id = ?", q.EventID)
		}
		if q.JobID != "" {
			w.and("job_id = ?", q.JobID)
		}
		var err error
		out, err = page(ctx, t, attemptCols, "webhook_attempts", "at", w, req, scanAttempt,
			func(a core.WebhookAttempt) core.Cursor { return core.Cursor{CreatedAt: a.At, ID: a.ID} })
		return err
	})
	return out, err
}

// Event returns one event of the tenant; ENOTFOUND if there is none. (The
// webhook replayer reads events by id; payg.Reader lists them.)
func (s *Store) Event(ctx context.Context, tenant, id string) (payg.Event, error) {
	var e payg.Event
	err := s.read1(ctx, func(t *txn) error {
		var err error
		e, err = scanEvent(t.queryRow(ctx, `SELECT `+eventCols+` FROM events WHERE tenant_id = ? AND id = ?`, tenant, id))
		return t.one(err, "event", id)
	})
	return e, err
}
