package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/payg-gateway/gateway/core"
)

var _ core.IdempotencyService = (*Store)(nil)

// BeginIdempotency implements core.IdempotencyService. A new key is claimed
// by an insert that loses cleanly to a concurrent one; an existing record
// is decided on under a row lock (Dialect.ForUpdate on PostgreSQL; in
// SQLite the write transaction, begun IMMEDIATE, already holds the
// database).
func (s *Store) BeginIdempotency(ctx context.Context, tenantID, key, fingerprint string) (*core.StoredResponse, error) {
	now := s.now()
	var stored *core.StoredResponse
	err := s.write1(ctx, func(t *txn) error {
		res, err := t.exec(ctx, `INSERT INTO idempotency_keys (tenant_id, idem_key, fingerprint, state, created_at, locked_at)
			VALUES (?, ?, ?, 'in_flight', ?, ?)
			ON CONFLICT (tenant_id, idem_key) DO NOTHING`,
			tenantID, key, fingerprint, t.d.Time(now), t.d.Time(now))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return t.d.Translate(err)
		}
		if n == 1 {
			return nil // a new key: the caller holds it
		}
		var rec core.IdempotencyRecord
		var state string
		var status sql.NullInt64
		var headers, body []byte
		if err := t.queryRow(ctx, `SELECT fingerprint, state, created_at, locked_at, status, headers, body
			FROM idempotency_keys WHERE tenant_id = ? AND idem_key = ?`+t.d.ForUpdate, tenantID, key,
		).Scan(&rec.Fingerprint, &state, scanTime{&rec.CreatedAt}, scanTime{&rec.LockedAt}, &status,
			scanBytes{&headers}, scanBytes{&body}); err != nil {
			return t.d.Translate(err)
		}
		rec.Completed = state == "completed"
		switch act, err := rec.Decide(now, fingerprint); {
		case err != nil:
			return err
		case act == core.IdempotencyReplay:
			stored, err = decodeStoredResponse(int(status.Int64), headers, body)
			return err
		case act == core.IdempotencyRestart:
			_, err := t.exec(ctx, `UPDATE idempotency_keys SET fingerprint = ?, state = 'in_flight', created_at = ?, locked_at = ?,
				status = NULL, headers = NULL, body = NULL
				WHERE tenant_id = ? AND idem_key = ?`,
				fingerprint, t.d.Time(now), t.d.Time(now), tenantID, key)
			return err
		default: // core.IdempotencyTakeOver
			_, err := t.exec(ctx, `UPDATE idempotency_keys SET locked_at = ? WHERE tenant_id = ? AND idem_key = ?`,
				t.d.Time(now), tenantID, key)
			return err
		}
	})
	if err != nil {
		return nil, fmt.Errorf("begin idempotent request: %w", err)
	}
	return stored, nil
}

// decodeStoredResponse rebuilds a stored answer.
func decodeStoredResponse(status int, headers, body []byte) (*core.StoredResponse, error) {
	resp := &core.StoredResponse{Status: status, Body: body}
	if len(headers) > 0 {
		if err := json.Unmarshal(headers, &resp.Header); err != nil {
			return nil, core.Errorf(core.EINTERNAL, "bad stored idempotent response headers")
		}
	}
	if resp.Body == nil {
		resp.Body = []byte{}
	}
	return resp, nil
}

// CompleteIdempotency implements core.IdempotencyService.
func (s *Store) CompleteIdempotency(ctx context.Context, tenantID, key, fingerprint string, resp core.StoredResponse) error {
	headers, err := json.Marshal(resp.Header)
	if err != nil {
		return fmt.Errorf("complete idempotent request: encode headers: %w", err)
	}
	body := resp.Body
	if body == nil {
		body = []byte{}
	}
	err = s.write1(ctx, func(t *txn) error {
		res, err := t.exec(ctx, `UPDATE idempotency_keys SET state = 'completed', status = ?, headers = ?, body = ?
			WHERE tenant_id = ? AND idem_key = ? AND fingerprint = ? AND state = 'in_flight'`,
			resp.Status, string(headers), body, tenantID, key, fingerprint)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return t.d.Translate(err)
		} else if n != 1 {
			return core.Errorf(core.ENOTFOUND, "idempotency key %q is not held by this request", key)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("complete idempotent request: %w", err)
	}
	return nil
}

// ReleaseIdempotency implements core.IdempotencyService.
func (s *Store) ReleaseIdempotency(ctx context.Context, tenantID, key, fingerprint string) error {
	err := s.write1(ctx, func(t *txn) error {
		_, err := t.exec(ctx, `DELETE FROM idempotency_keys
			WHERE tenant_id = ? AND idem_key = ? AND fingerprint = ? AND state = 'in_flight'`,
			tenantID, key, fingerprint)
		return err
	})
	if err != nil {
		return fmt.Errorf("release idempotent request: %w", err)
	}
	return nil
}

// PurgeIdempotency implements core.IdempotencyService.
func (s *Store) PurgeIdempotency(ctx context.Context) (int, error) {
	cutoff := s.clock.Now().UTC().Add(-core.IdempotencyTTL)
	var n int64
	err := s.write1(ctx, func(t *txn) error {
		res, err := t.exec(ctx, `DELETE FROM idempotency_keys WHERE created_at <= ?`, t.d.Time(cutoff))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return t.d.Translate(err)
	})
	if err != nil {
		return 0, fmt.Errorf("purge idempotency records: %w", err)
	}
	return int(n), nil
}
