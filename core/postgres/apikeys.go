package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/payg-gateway/gateway/core"
)

// CreateAPIKey stores a new key and returns it with its plaintext.
func (s *Store) CreateAPIKey(ctx context.Context, k core.APIKey) (core.APIKey, string, error) {
	if err := k.Validate(); err != nil {
		return core.APIKey{}, "", err
	}
	plaintext, prefix, hash := core.NewAPIKeySecret()
	key := core.APIKey{
		ID:        core.NewAPIKeyID(),
		TenantID:  k.TenantID,
		Name:      k.Name,
		Scope:     k.Scope,
		Prefix:    prefix,
		CreatedAt: s.clock.Now().UTC().Truncate(time.Microsecond),
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := apiTenantExists(ctx, tx, key.TenantID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx,
			`INSERT INTO api_keys (id, tenant_id, name, scope, prefix, hash, created_at)
			 VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			key.ID, key.TenantID, key.Name, string(key.Scope), key.Prefix, hash, key.CreatedAt)
		return translate(err)
	})
	if err != nil {
		return core.APIKey{}, "", fmt.Errorf("postgres: create api key: %w", err)
	}
	return key, plaintext, nil
}

// AuthenticateAPIKey finds the live key with the given plaintext.
func (s *Store) AuthenticateAPIKey(ctx context.Context, plaintext string) (core.APIKey, error) {
	unknown := core.Errorf(core.ENOTFOUND, "unknown or revoked API key")
	if !core.WellFormedAPIKey(plaintext) {
		return core.APIKey{}, unknown
	}
	k, err := scanAPIKey(s.pool.QueryRow(ctx,
		`SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = $1`, core.HashAPIKey(plaintext)))
	if core.ErrorCode(err) == core.ENOTFOUND {
		return core.APIKey{}, unknown
	}
	if err != nil {
		return core.APIKey{}, fmt.Errorf("postgres: authenticate api key: %w", err)
	}
	if k.Revoked() {
		return core.APIKey{}, unknown
	}
	now := s.clock.Now().UTC().Truncate(time.Microsecond)
	if k.LastUsedAt != nil && now.Sub(*k.LastUsedAt) < core.APIKeyLastUsedResolution {
		return k, nil
	}
	if _, err := s.pool.Exec(ctx,
		`UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND revoked_at IS NULL`, now, k.ID); err != nil {
		return core.APIKey{}, fmt.Errorf("postgres: record api key use: %w", translate(err))
	}
	k.LastUsedAt = &now
	return k, nil
}

// APIKeys lists the tenant's keys by (created_at, id).
func (s *Store) APIKeys(ctx context.Context, tenantID string, page core.PageRequest) (core.Page[core.APIKey], error) {
	limit, after, err := page.Resolve()
	if err != nil {
		return core.Page[core.APIKey]{}, err
	}
	query := `SELECT ` + apiKeyColumns + ` FROM api_keys WHERE tenant_id = $1`
	args := []any{tenantID}
	if after != nil {
		query += ` AND (created_at, id) > ($2, $3)`
		args = append(args, after.CreatedAt, after.ID)
	}
	query += fmt.Sprintf(` ORDER BY created_at, id LIMIT $%d`, len(args)+1)
	args = append(args, limit+1)
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return core.Page[core.APIKey]{}, fmt.Errorf("postgres: list api keys: %w", translate(err))
	}
	defer rows.Close()
	var out core.Page[core.APIKey]
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return core.Page[core.APIKey]{}, fmt.Errorf("postgres: list api keys: %w", err)
		}
		out.Items = append(out.Items, k)
	}
	if err := rows.Err(); err != nil {
		return core.Page[core.APIKey]{}, fmt.Errorf("postgres: list api keys: %w", translate(err))
	}
	if len(out.Items) > limit {
		out.Items = out.Items[:limit]
		last := out.Items[limit-1]
		out.NextCursor = core.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}.Encode()
	}
	return out, nil
}

// RevokeAPIKey revokes the tenant's key.
func (s *Store) RevokeAPIKey(ctx context.Context, tenantID, id string) (core.APIKey, error) {
	now := s.clock.Now().UTC().Truncate(time.Microsecond)
	var k core.APIKey
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx,
			`UPDATE api_keys SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL`,
			now, tenantID, id); err != nil {
			return translate(err)
		}
		var err error
		k, err = scanAPIKey(tx.QueryRow(ctx,
			`SELECT `+apiKeyColumns+` FROM api_keys WHERE tenant_id = $1 AND id = $2`, tenantID, id))
		return err
	})
	if core.ErrorCode(err) == core.ENOTFOUND {
		return core.APIKey{}, core.Errorf(core.ENOTFOUND, "api key %q not found", id)
	}
	if err != nil {
		return core.APIKey{}, fmt.Errorf("postgres: revoke api key: %w", err)
	}
	return k, nil
}

// apiTenantExists returns ENOTFOUND naming the tenant if it does not exist.
func apiTenantExists(ctx context.Context, tx pgx.Tx, id string) error {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM tenants WHERE id = $1`, id).Scan(&one)
	if err == pgx.ErrNoRows {
		return core.Errorf(core.ENOTFOUND, "tenant %q not found", id)
	}
	return translate(err)
}

const apiKeyColumns = `id, tenant_id, name, scope, prefix, created_at, last_used_at, revoked_at`

func scanAPIKey(row pgx.Row) (core.APIKey, error) {
	var k core.APIKey
	var scope string
	if err := row.Scan(&k.ID, &k.TenantID, &k.Name, &scope, &k.Prefix, &k.CreatedAt, &k.LastUsedAt, &k.RevokedAt); err != nil {
		return core.APIKey{}, translate(err)
	}
	k.Scope = core.Scope(scope)
	k.CreatedAt = k.CreatedAt.UTC()
	for _, t := range []*time.Time{k.LastUsedAt, k.RevokedAt} {
		if t != nil {
			*t = t.UTC()
		}
	}
	return k, nil
}
