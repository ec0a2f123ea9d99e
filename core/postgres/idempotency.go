package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/payg-gateway/gateway/core"
)

// BeginIdempotency claims key for one request; see core.IdempotencyService.
// A new key is claimed by an insert that loses cleanly to a concurrent one;
// an existing record is decided on under a row lock.
func (s *Store) BeginIdempotency(ctx context.Context, tenantID, key, fingerprint string) (*core.StoredResponse, error) {
	now := s.clock.Now().UTC().Truncate(time.Microsecond)
	var stored *core.StoredResponse
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx,
			`INSERT INTO idempotency_keys (tenant_id, idem_key, fingerprint, state, created_at, locked_at)
			 VALUES ($1, $2, $3, 'in_flight', $4, $4)
			 ON CONFLICT (tenant_id, idem_key) DO NOTHING`,
			tenantID, key, fingerprint, now)
		if err != nil {
			return translate(err)
		}
		if tag.RowsAffected() == 1 {
			return nil // a new key: the caller holds it
		}
		var rec core.IdempotencyRecord
		var state string
		var status *int32
		var headers, body []byte
		if err := tx.QueryRow(ctx,
			`SELECT fingerprint, state, created_at, locked_at, status, headers, body
			 FROM idempotency_keys WHERE tenant_id = $1 AND idem_key = $2 FOR UPDATE`, tenantID, key,
		).Scan(&rec.Fingerprint, &state, &rec.CreatedAt, &rec.LockedAt, &status, &headers, &body); err != nil {
			return translate(err)
		}
		rec.Completed = state == "completed"
		switch act, err := rec.Decide(now, fingerprint); {
		case err != nil:
			return err
		case act == core.IdempotencyReplay:
			resp := &core.StoredResponse{Body: body}
			if status != nil {
				resp.Status = int(*status)
			}
			if len(headers) > 0 {
				if err := json.Unmarshal(headers, &resp.Header); err != nil {
					return core.Errorf(core.EINTERNAL, "bad stored idempotent response headers")
				}
			}
			if resp.Body == nil {
				resp.Body = []byte{}
			}
			stored = resp
			return nil
		case act == core.IdempotencyRestart:
			_, err := tx.Exec(ctx,
				`UPDATE idempotency_keys SET fingerprint = $1, state = 'in_flight', created_at = $2, locked_at = $2,
				        status = NULL, headers = NULL, body = NULL
				 WHERE tenant_id = $3 AND idem_key = $4`,
				fingerprint, now, tenantID, key)
			return translate(err)
		default: // core.IdempotencyTakeOver
			_, err := tx.Exec(ctx,
				`UPDATE idempotency_keys SET locked_at = $1 WHERE tenant_id = $2 AND idem_key = $3`,
				now, tenantID, key)
			return translate(err)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: begin idempotent request: %w", err)
	}
	return stored, nil
}

// CompleteIdempotency stores the answer of the request holding key.
func (s *Store) CompleteIdempotency(ctx context.Context, tenantID, key, fingerprint string, resp core.StoredResponse) error {
	headers, err := json.Marshal(resp.Header)
	if err != nil {
		return fmt.Errorf("postgres: complete idempotent request: encode headers: %w", err)
	}
	body := resp.Body
	if body == nil {
		body = []byte{}
	}
	tag, err := s.pool.Exec(ctx,
		`UPDATE idempotency_keys SET state = 'completed', status = $1, headers = $2, body = $3
		 WHERE tenant_id = $4 AND idem_key = $5 AND fingerprint = $6 AND state = 'in_flight'`,
		resp.Status, string(headers), body, tenantID, key, fingerprint)
	if err != nil {
		return fmt.Errorf("postgres: complete idempotent request: %w", translate(err))
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("postgres: complete idempotent request: %w",
			core.Errorf(core.ENOTFOUND, "idempotency key %q is not held by this request", key))
	}
	return nil
}

// ReleaseIdempotency forgets an in-flight key.
func (s *Store) ReleaseIdempotency(ctx context.Context, tenantID, key, fingerprint string) error {
	if _, err := s.pool.Exec(ctx,
		`DELETE FROM idempotency_keys
		 WHERE tenant_id = $1 AND idem_key = $2 AND fingerprint = $3 AND state = 'in_flight'`,
		tenantID, key, fingerprint); err != nil {
		return fmt.Errorf("postgres: release idempotent request: %w", translate(err))
	}
	return nil
}

// PurgeIdempotency deletes expired records.
func (s *Store) PurgeIdempotency(ctx context.Context) (int, error) {
	cutoff := s.clock.Now().UTC().Add(-core.IdempotencyTTL)
	tag, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE created_at <= $1`, cutoff)
	if err != nil {
		return 0, fmt.Errorf("postgres: purge idempotency records: %w", translate(err))
	}
	return int(tag.RowsAffected()), nil
}
