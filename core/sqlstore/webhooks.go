package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/core/secretbox"
)

var _ core.WebhookStore = (*Store)(nil)

const endpointCols = `id, tenant_id, url, event_types, enabled, disabled_reason, rate_limit_per_second, secrets, created_at, updated_at, description, version`

// storedSecret is a webhook secret as the secrets column holds it. With a
// master key (UseSecretBox) the value is Sealed by core/secretbox, bound to
// its endpoint and secret ids; Value holds it in plain text only in rows
// written without one (and in rows from before sealing existed, until
// ResealWebhookSecrets seals them).
type storedSecret struct {
	ID        string    `json:"id"`
	Value     string    `json:"value,omitempty"`
	Sealed    []byte    `json:"sealed,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// secretAAD binds a sealed secret to its endpoint and id, so a sealed value
// copied to another endpoint or secret does not open.
func secretAAD(endpointID, secretID string) []byte {
	return []byte("webhook-secret:" + endpointID + ":" + secretID)
}

// UseSecretBox makes the store seal webhook signing secrets under box's
// master key when it writes them and open them when it reads them. Call it
// once, before the store is used; nil leaves secrets in plain text (a
// gateway without a master key).
func (s *Store) UseSecretBox(box *secretbox.Box) { s.box.Store(box) }

// scanEndpoint reads an endpoint row, opening its secrets with box; with
// open false the secrets are left out (nil), for readers that do not sign.
func scanEndpoint(r scanner, box *secretbox.Box, open bool) (core.WebhookEndpoint, error) {
	var e core.WebhookEndpoint
	var types, secrets []byte
	if err := r.Scan(&e.ID, &e.TenantID, &e.URL, scanBytes{&types}, &e.Enabled, &e.DisabledReason, &e.RateLimitPerSecond,
		scanBytes{&secrets}, scanTime{&e.CreatedAt}, scanTime{&e.UpdatedAt}, &e.Description, &e.Version); err != nil {
		return e, err
	}
	if err := json.Unmarshal(types, &e.EventTypes); err != nil {
		return e, fmt.Errorf("webhook endpoint %s event types: %w", e.ID, err)
	}
	if !open {
		return e, nil
	}
	var ss []storedSecret
	if err := json.Unmarshal(secrets, &ss); err != nil {
		return e, fmt.Errorf("webhook endpoint %s secrets: unreadable", e.ID) // never quote them
	}
	for _, s := range ss {
		value := s.Value
		if s.Sealed != nil {
			if box == nil {
				return e, fmt.Errorf("webhook endpoint %s secret %s is sealed and this gateway has no master key", e.ID, s.ID)
			}
			plain, err := box.Open(s.Sealed, secretAAD(e.ID, s.ID))
			if err != nil {
				return e, fmt.Errorf("webhook endpoint %s secret %s: %w", e.ID, s.ID, err)
			}
			value = string(plain)
		}
		e.Secrets = append(e.Secrets, core.WebhookSecret{ID: s.ID, Value: value, CreatedAt: s.CreatedAt.UTC(), ExpiresAt: s.ExpiresAt.UTC()})
	}
	return e, nil
}

// endpointColumns marshals an endpoint's JSON columns, sealing its secrets
// with box (nil: in plain text).
func endpointColumns(e core.WebhookEndpoint, box *secretbox.Box) (types, secrets string, err error) {
	if e.EventTypes == nil {
		e.EventTypes = []string{}
	}
	t, err := json.Marshal(e.EventTypes)
	if err != nil {
		return "", "", err
	}
	ss := make([]storedSecret, len(e.Secrets))
	for i, s := range e.Secrets {
		ss[i] = storedSecret{ID: s.ID, CreatedAt: s.CreatedAt.UTC(), ExpiresAt: s.ExpiresAt.UTC()}
		if box != nil {
			ss[i].Sealed = box.Seal([]byte(s.Value), secretAAD(e.ID, s.ID))
		} else {
			ss[i].Value = s.Value
		}
	}
	b, err := json.Marshal(ss)
	if err != nil {
		return "", "", err
	}
	return string(t), string(b), nil
}

// ResealWebhookSecrets seals every webhook endpoint's signing secrets, in
// every tenant, under next: plain-text ones (rows written before sealing
// existed, or without a master key) and ones sealed under the store's
// current box (UseSecretBox). Secrets that already open under next are left
// alone, so it can run again after an interruption and on every start.
// Serve runs it with the current box at start, sealing what is still in
// plain text; `gateway keys rotate` runs it with the new master key. It
// returns how many secrets it sealed. Rows are locked while they are
// rewritten, so concurrent replicas and API edits wait for each other.
func (s *Store) ResealWebhookSecrets(ctx context.Context, next *secretbox.Box) (int, error) {
	if next == nil {
		return 0, core.Errorf(core.EINVALID, "reseal webhook secrets: no master key")
	}
	cur := s.box.Load()
	n := 0
	err := s.write1(ctx, func(t *txn) error {
		n = 0
		type row struct{ id, secrets string }
		rows, err := t.query(ctx, `SELECT id, secrets FROM webhook_endpoints ORDER BY id`+t.d.ForUpdate)
		if err != nil {
			return err
		}
		var all []row
		for rows.Next() {
			var r row
			var b []byte
			if err := rows.Scan(&r.id, scanBytes{&b}); err != nil {
				rows.Close()
				return t.d.Translate(err)
			}
			r.secrets = string(b)
			all = append(all, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return t.d.Translate(err)
		}
		for _, r := range all {
			var ss []storedSecret
			if err := json.Unmarshal([]byte(r.secrets), &ss); err != nil {
				return fmt.Errorf("webhook endpoint %s secrets: unreadable", r.id)
			}
			changed := 0
			for i, sec := range ss {
				aad := secretAAD(r.id, sec.ID)
				plain := []byte(sec.Value)
				if sec.Sealed != nil {
					if _, err := next.Open(sec.Sealed, aad); err == nil {
						continue // sealed under next already
					}
					if cur == nil {
						return fmt.Errorf("webhook endpoint %s secret %s: sealed under a master key this gateway does not have", r.id, sec.ID)
					}
					if plain, err = cur.Open(sec.Sealed, aad); err != nil {
						return fmt.Errorf("webhook endpoint %s secret %s: %w", r.id, sec.ID, err)
					}
				}
				ss[i].Value, ss[i].Sealed = "", next.Seal(plain, aad)
				changed++
			}
			if changed == 0 {
				continue
			}
			b, err := json.Marshal(ss)
			if err != nil {
				return err
			}
			if _, err := t.exec(ctx, `UPDATE webhook_endpoints SET secrets = ? WHERE id = ?`, string(b), r.id); err != nil {
				return err
			}
			n += changed
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("reseal webhook secrets: %w", err)
	}
	return n, nil
}

// CreateWebhookEndpoint implements core.WebhookStore.
func (s *Store) CreateWebhookEndpoint(ctx context.Context, e core.WebhookEndpoint) error {
	types, secrets, err := endpointColumns(e, s.box.Load())
	if err != nil {
		return fmt.Errorf("create webhook endpoint: %w", err)
	}
	return s.write1(ctx, func(t *txn) error {
		_, err := t.exec(ctx, `INSERT INTO webhook_endpoints (`+endpointCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
			e.ID, e.TenantID, e.URL, types, e.Enabled, e.DisabledReason, e.RateLimitPerSecond, secrets,
			t.d.Time(e.CreatedAt), t.d.Time(e.UpdatedAt), e.Description, 1)
		return err
	})
}

// WebhookEndpoint implements core.WebhookStore.
func (s *Store) WebhookEndpoint(ctx context.Context, tenant, id string) (core.WebhookEndpoint, error) {
	var e core.WebhookEndpoint
	err := s.read1(ctx, func(t *txn) error {
		var err error
		e, err = scanEndpoint(t.queryRow(ctx, `SELECT `+endpointCols+` FROM webhook_endpoints WHERE tenant_id = ? AND id = ?`, tenant, id), s.box.Load(), true)
		return t.one(err, "webhook endpoint", id)
	})
	return e, err
}

// ListWebhookEndpoints implements core.WebhookStore.
func (s *Store) ListWebhookEndpoints(ctx context.Context, tenant string, req core.PageRequest) (core.Page[core.WebhookEndpoint], error) {
	var out core.Page[core.WebhookEndpoint]
	box := s.box.Load()
	scan := func(r scanner) (core.WebhookEndpoint, error) { return scanEndpoint(r, box, true) }
	err := s.read1(ctx, func(t *txn) error {
		var err error
		out, err = page(ctx, t, endpointCols, "webhook_endpoints", "created_at", tenantQuery(tenant), req, scan,
			func(e core.WebhookEndpoint) core.Cursor { return core.Cursor{CreatedAt: e.CreatedAt, ID: e.ID} })
		return err
	})
	return out, err
}

// EnabledWebhookEndpoints lists a tenant's enabled endpoints inside a
// business transaction, so the webhook subscriber (connectors/webhook)
// enqueues deliveries from the same snapshot as the event. Their Secrets
// are left out: enqueueing signs nothing, and a secret that cannot be
// opened must not fail the payment that raised the event.
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
	// The events being raised stay held: the endpoints are asked for while
	// the first of them is handed to the subscribers.
	rows, err := t.queryKeepHeld(ctx, `SELECT `+endpointCols+` FROM webhook_endpoints WHERE tenant_id = ? AND enabled = ? ORDER BY created_at, id`, tenant, true)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []core.WebhookEndpoint
	for rows.Next() {
		e, err := scanEndpoint(rows, nil, false)
		if err != nil {
			return nil, t.d.Translate(err)
		}
		out = append(out, e)
	}
	return out, t.d.Translate(rows.Err())
}

// UpdateWebhookEndpoint implements core.WebhookStore: it writes e only if
// the stored row is still at e.Version (compare-and-set), and bumps the
// version; a row changed meanwhile, by this replica or another, is
// ECONFLICT.
func (s *Store) UpdateWebhookEndpoint(ctx context.Context, e core.WebhookEndpoint) error {
	types, secrets, err := endpointColumns(e, s.box.Load())
	if err != nil {
		return fmt.Errorf("update webhook endpoint: %w", err)
	}
	return s.write1(ctx, func(t *txn) error {
		res, err := t.exec(ctx, `UPDATE webhook_endpoints SET url = ?, event_types = ?, enabled = ?, disabled_reason = ?,
			rate_limit_per_second = ?, secrets = ?, updated_at = ?, description = ?, version = version + 1
			WHERE tenant_id = ? AND id = ? AND version = ?`,
			e.URL, types, e.Enabled, e.DisabledReason, e.RateLimitPerSecond, secrets, t.d.Time(e.UpdatedAt), e.Description,
			e.TenantID, e.ID, e.Version)
		if err := t.affected(res, err, "webhook endpoint", e.ID); core.ErrorCode(err) != core.ENOTFOUND {
			return err
		}
		var v int64
		switch err := t.queryRow(ctx, `SELECT version FROM webhook_endpoints WHERE tenant_id = ? AND id = ?`, e.TenantID, e.ID).Scan(&v); {
		case errors.Is(err, sql.ErrNoRows):
			return notFound("webhook endpoint", e.ID)
		case err != nil:
			return t.d.Translate(err)
		}
		return core.Errorf(core.ECONFLICT, "webhook endpoint %s changed meanwhile (version %d, not %d)", e.ID, v, e.Version)
	})
}

// DisableWebhookEndpoint implements core.WebhookStore.
func (s *Store) DisableWebhookEndpoint(ctx context.Context, tenant, id, reason string, at time.Time) error {
	return s.write1(ctx, func(t *txn) error {
		res, err := t.exec(ctx, `UPDATE webhook_endpoints SET enabled = ?, disabled_reason = ?, updated_at = ?, version = version + 1 WHERE tenant_id = ? AND id = ?`,
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
