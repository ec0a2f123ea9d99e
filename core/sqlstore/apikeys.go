package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/payg-gateway/gateway/core"
)

var _ core.APIKeyService = (*Store)(nil)

// Only a key's SHA-256 is stored (the hash column, never read back).
const apiKeyCols = `id, tenant_id, name, scope, prefix, created_at, last_used_at, revoked_at`

func scanAPIKey(r scanner) (core.APIKey, error) {
	var k core.APIKey
	err := r.Scan(&k.ID, &k.TenantID, &k.Name, &k.Scope, &k.Prefix, scanTime{&k.CreatedAt},
		scanNullTime{&k.LastUsedAt}, scanNullTime{&k.RevokedAt})
	return k, err
}

// scanNullTime reads a nullable time column as nil or a UTC time.
type scanNullTime struct{ t **time.Time }

func (s scanNullTime) Scan(v any) error {
	if v == nil {
		*s.t = nil
		return nil
	}
	var t time.Time
	if err := (scanTime{&t}).Scan(v); err != nil {
		return err
	}
	*s.t = &t
	return nil
}

// CreateAPIKey implements core.APIKeyService.
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
		CreatedAt: s.now(),
	}
	err := s.write1(ctx, func(t *txn) error {
		var one int
		if err := t.queryRow(ctx, `SELECT 1 FROM tenants WHERE id = ?`, key.TenantID).Scan(&one); err != nil {
			return t.one(err, "tenant", key.TenantID)
		}
		_, err := t.exec(ctx, `INSERT INTO api_keys (id, tenant_id, name, scope, prefix, hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			key.ID, key.TenantID, key.Name, string(key.Scope), key.Prefix, hash, t.d.Time(key.CreatedAt))
		return err
	})
	if err != nil {
		return core.APIKey{}, "", fmt.Errorf("create api key: %w", err)
	}
	return key, plaintext, nil
}

// AuthenticateAPIKey implements core.APIKeyService. The lookup runs on the
// read pool; last_used_at is written only when older than
// core.APIKeyLastUsedResolution, so most requests do not write at all.
func (s *Store) AuthenticateAPIKey(ctx context.Context, plaintext string) (core.APIKey, error) {
	unknown := core.Errorf(core.ENOTFOUND, "unknown or revoked API key")
	if !core.WellFormedAPIKey(plaintext) {
		return core.APIKey{}, unknown
	}
	c := s.conn()
	k, err := scanAPIKey(c.queryRow(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE hash = ?`, core.HashAPIKey(plaintext)))
	if err = c.one(err, "api key", ""); core.ErrorCode(err) == core.ENOTFOUND {
		return core.APIKey{}, unknown
	}
	if err != nil {
		return core.APIKey{}, fmt.Errorf("authenticate api key: %w", err)
	}
	if k.Revoked() {
		return core.APIKey{}, unknown
	}
	now := s.now()
	if k.LastUsedAt != nil && now.Sub(*k.LastUsedAt) < core.APIKeyLastUsedResolution {
		return k, nil
	}
	err = s.write1(ctx, func(t *txn) error {
		_, err := t.exec(ctx, `UPDATE api_keys SET last_used_at = ? WHERE id = ? AND revoked_at IS NULL`, t.d.Time(now), k.ID)
		return err
	})
	if err != nil {
		return core.APIKey{}, fmt.Errorf("record api key use: %w", err)
	}
	k.LastUsedAt = &now
	return k, nil
}

// APIKeys implements core.APIKeyService.
func (s *Store) APIKeys(ctx context.Context, tenantID string, req core.PageRequest) (core.Page[core.APIKey], error) {
	out, err := page(ctx, s.conn(), apiKeyCols, "api_keys", "created_at", tenantQuery(tenantID), req, scanAPIKey,
		func(k core.APIKey) core.Cursor { return core.Cursor{CreatedAt: k.CreatedAt, ID: k.ID} })
	if err != nil && core.ErrorCode(err) != core.EINVALID {
		return out, fmt.Errorf("list api keys: %w", err)
	}
	return out, err
}

// RevokeAPIKey implements core.APIKeyService. A revoked key keeps its
// first revocation time.
func (s *Store) RevokeAPIKey(ctx context.Context, tenantID, id string) (core.APIKey, error) {
	now := s.now()
	var k core.APIKey
	err := s.write1(ctx, func(t *txn) error {
		if _, err := t.exec(ctx, `UPDATE api_keys SET revoked_at = ? WHERE tenant_id = ? AND id = ? AND revoked_at IS NULL`,
			t.d.Time(now), tenantID, id); err != nil {
			return err
		}
		var err error
		k, err = scanAPIKey(t.queryRow(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE tenant_id = ? AND id = ?`, tenantID, id))
		return t.one(err, "api key", id)
	})
	if core.ErrorCode(err) == core.ENOTFOUND {
		return core.APIKey{}, err
	}
	if err != nil {
		return core.APIKey{}, fmt.Errorf("revoke api key: %w", err)
	}
	return k, nil
}
