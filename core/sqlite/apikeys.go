package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

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
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := apiTenantExists(ctx, tx, key.TenantID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx,
			`INSERT INTO api_keys (id, tenant_id, name, scope, prefix, hash, created_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?)`,
			key.ID, key.TenantID, key.Name, string(key.Scope), key.Prefix, hash, formatTime(key.CreatedAt))
		return translate(err)
	})
	if err != nil {
		return core.APIKey{}, "", fmt.Errorf("sqlite: create api key: %w", err)
	}
	return key, plaintext, nil
}

// AuthenticateAPIKey finds the live key with the given plaintext.
func (s *Store) AuthenticateAPIKey(ctx context.Context, plaintext string) (core.APIKey, error) {
	unknown := core.Errorf(core.ENOTFOUND, "unknown or revoked API key")
	if !core.WellFormedAPIKey(plaintext) {
		return core.APIKey{}, unknown
	}
	row := s.read.QueryRowContext(ctx,
		`SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = ?`, core.HashAPIKey(plaintext))
	k, err := scanAPIKey(row)
	if core.ErrorCode(err) == core.ENOTFOUND {
		return core.APIKey{}, unknown
	}
	if err != nil {
		return core.APIKey{}, fmt.Errorf("sqlite: authenticate api key: %w", err)
	}
	if k.Revoked() {
		return core.APIKey{}, unknown
	}
	now := s.clock.Now().UTC().Truncate(time.Microsecond)
	if k.LastUsedAt != nil && now.Sub(*k.LastUsedAt) < core.APIKeyLastUsedResolution {
		return k, nil
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			`UPDATE api_keys SET last_used_at = ? WHERE id = ? AND revoked_at IS NULL`,
			formatTime(now), k.ID)
		return translate(err)
	})
	if err != nil {
		return core.APIKey{}, fmt.Errorf("sqlite: record api key use: %w", err)
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
	query := `SELECT ` + apiKeyColumns + ` FROM api_keys WHERE tenant_id = ?`
	args := []any{tenantID}
	if after != nil {
		query += ` AND (created_at, id) > (?, ?)`
		args = append(args, formatTime(after.CreatedAt), after.ID)
	}
	query += ` ORDER BY created_at, id LIMIT ?`
	args = append(args, limit+1)
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return core.Page[core.APIKey]{}, fmt.Errorf("sqlite: list api keys: %w", translate(err))
	}
	defer rows.Close()
	var out core.Page[core.APIKey]
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return core.Page[core.APIKey]{}, fmt.Errorf("sqlite: list api keys: %w", err)
		}
		out.Items = append(out.Items, k)
	}
	if err := rows.Err(); err != nil {
		return core.Page[core.APIKey]{}, fmt.Errorf("sqlite: list api keys: %w", translate(err))
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
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			`UPDATE api_keys SET revoked_at = ? WHERE tenant_id = ? AND id = ? AND revoked_at IS NULL`,
			formatTime(now), tenantID, id); err != nil {
			return translate(err)
		}
		var err error
		k, err = scanAPIKey(tx.QueryRowContext(ctx,
			`SELECT `+apiKeyColumns+` FROM api_keys WHERE tenant_id = ? AND id = ?`, tenantID, id))
		return err
	})
	if core.ErrorCode(err) == core.ENOTFOUND {
		return core.APIKey{}, core.Errorf(core.ENOTFOUND, "api key %q not found", id)
	}
	if err != nil {
		return core.APIKey{}, fmt.Errorf("sqlite: revoke api key: %w", err)
	}
	return k, nil
}

// apiTenantExists returns ENOTFOUND naming the tenant if it does not exist.
func apiTenantExists(ctx context.Context, tx *sql.Tx, id string) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM tenants WHERE id = ?`, id).Scan(&one)
	if err == sql.ErrNoRows {
		return core.Errorf(core.ENOTFOUND, "tenant %q not found", id)
	}
	return translate(err)
}

const apiKeyColumns = `id, tenant_id, name, scope, prefix, created_at, last_used_at, revoked_at`

func scanAPIKey(row interface{ Scan(...any) error }) (core.APIKey, error) {
	var k core.APIKey
	var scope, created string
	var lastUsed, revoked sql.NullString
	if err := row.Scan(&k.ID, &k.TenantID, &k.Name, &scope, &k.Prefix, &created, &lastUsed, &revoked); err != nil {
		return core.APIKey{}, translate(err)
	}
	k.Scope = core.Scope(scope)
	var err error
	if k.CreatedAt, err = parseTime(created); err != nil {
		return core.APIKey{}, err
	}
	if k.LastUsedAt, err = apiNullTime(lastUsed); err != nil {
		return core.APIKey{}, err
	}
	if k.RevokedAt, err = apiNullTime(revoked); err != nil {
		return core.APIKey{}, err
	}
	return k, nil
}

func apiNullTime(s sql.NullString) (*time.Time, error) {
	if !s.Valid {
		return nil, nil
	}
	t, err := parseTime(s.String)
	if err != nil {
		return nil, err
	}
	return &t, nil
}
