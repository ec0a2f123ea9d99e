package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/payg-gateway/gateway/core"
)

// BeginIdempotency claims key for one request; see core.IdempotencyService.
// The write transaction (BEGIN IMMEDIATE) serialises claims of one key.
func (s *Store) BeginIdempotency(ctx context.Context, tenantID, key, fingerprint string) (*core.StoredResponse, error) {
	now := s.clock.Now().UTC().Truncate(time.Microsecond)
	var stored *core.StoredResponse
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`INSERT INTO idempotency_keys (tenant_id, idem_key, fingerprint, state, created_at, locked_at)
			 VALUES (?, ?, ?, 'in_flight', ?, ?)
			 ON CONFLICT (tenant_id, idem_key) DO NOTHING`,
			tenantID, key, fingerprint, formatTime(now), formatTime(now))
		if err != nil {
			return translate(err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil // a new key: the caller holds it
		}
		var rec core.IdempotencyRecord
		var state, created, locked string
		var status sql.NullInt64
		var headers sql.NullString
		var body []byte
		if err := tx.QueryRowContext(ctx,
			`SELECT fingerprint, state, created_at, locked_at, status, headers, body
			 FROM idempotency_keys WHERE tenant_id = ? AND idem_key = ?`, tenantID, key,
		).Scan(&rec.Fingerprint, &state, &created, &locked, &status, &headers, &body); err != nil {
			return translate(err)
		}
		rec.Completed = state == "completed"
		if rec.CreatedAt, err = parseTime(created); err != nil {
			return err
		}
		if rec.LockedAt, err = parseTime(locked); err != nil {
			return err
		}
		switch act, err := rec.Decide(now, fingerprint); {
		case err != nil:
			return err
		case act == core.IdempotencyReplay:
			stored, err = decodeStoredResponse(int(status.Int64), []byte(headers.String), body)
			return err
		case act == core.IdempotencyRestart:
			_, err := tx.ExecContext(ctx,
				`UPDATE idempotency_keys SET fingerprint = ?, state = 'in_flight', created_at = ?, locked_at = ?,
				        status = NULL, headers = NULL, body = NULL
				 WHERE tenant_id = ? AND idem_key = ?`,
				fingerprint, formatTime(now), formatTime(now), tenantID, key)
			return translate(err)
		default: // core.IdempotencyTakeOver
			_, err := tx.ExecContext(ctx,
				`UPDATE idempotency_keys SET locked_at = ? WHERE tenant_id = ? AND idem_key = ?`,
				formatTime(now), tenantID, key)
			return translate(err)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: begin idempotent request: %w", err)
	}
	return stored, nil
}

// CompleteIdempotency stores the answer of the request holding key.
func (s *Store) CompleteIdempotency(ctx context.Context, tenantID, key, fingerprint string, resp core.StoredResponse) error {
	headers, err := json.Marshal(resp.Header)
	if err != nil {
		return fmt.Errorf("sqlite: complete idempotent request: encode headers: %w", err)
	}
	body := resp.Body
	if body == nil {
		body = []byte{}
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE idempotency_keys SET state = 'completed', status = ?, headers = ?, body = ?
			 WHERE tenant_id = ? AND idem_key = ? AND fingerprint = ? AND state = 'in_flight'`,
			resp.Status, string(headers), body, tenantID, key, fingerprint)
		if err != nil {
			return translate(err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return core.Errorf(core.ENOTFOUND, "idempotency key %q is not held by this request", key)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: complete idempotent request: %w", err)
	}
	return nil
}

// ReleaseIdempotency forgets an in-flight key.
func (s *Store) ReleaseIdempotency(ctx context.Context, tenantID, key, fingerprint string) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			`DELETE FROM idempotency_keys
			 WHERE tenant_id = ? AND idem_key = ? AND fingerprint = ? AND state = 'in_flight'`,
			tenantID, key, fingerprint)
		return translate(err)
	})
	if err != nil {
		return fmt.Errorf("sqlite: release idempotent request: %w", err)
	}
	return nil
}

// PurgeIdempotency deletes expired records.
func (s *Store) PurgeIdempotency(ctx context.Context) (int, error) {
	cutoff := s.clock.Now().UTC().Add(-core.IdempotencyTTL)
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE created_at <= ?`, formatTime(cutoff))
		if err != nil {
			return translate(err)
		}
		n, err = res.RowsAffected()
		return translate(err)
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: purge idempotency records: %w", err)
	}
	return int(n), nil
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
