package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/payg-gateway/gateway/core"
)

// CreateTenant stores a new tenant.
func (s *Store) CreateTenant(ctx context.Context, t core.Tenant) (core.Tenant, error) {
	if err := t.Validate(); err != nil {
		return core.Tenant{}, err
	}
	now := s.clock.Now().UTC().Truncate(time.Microsecond) // both stores keep µs
	t.CreatedAt, t.UpdatedAt = now, now
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx,
			`INSERT INTO tenants (id, name, time_zone, default_country, created_at, updated_at)
			 VALUES ($1, $2, $3, $4, $5, $6)`,
			t.ID, t.Name, t.TimeZone, t.DefaultCountry, now, now)
		return translate(err)
	})
	if core.ErrorCode(err) == core.ECONFLICT {
		return core.Tenant{}, core.Errorf(core.ECONFLICT, "tenant %q already exists", t.ID)
	}
	if err != nil {
		return core.Tenant{}, fmt.Errorf("postgres: create tenant: %w", err)
	}
	return t, nil
}

// Tenant returns the tenant with the given id.
func (s *Store) Tenant(ctx context.Context, id string) (core.Tenant, error) {
	row := s.pool.QueryRow(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE id = $1`, id)
	t, err := scanTenant(row)
	if core.ErrorCode(err) == core.ENOTFOUND {
		return core.Tenant{}, core.Errorf(core.ENOTFOUND, "tenant %q not found", id)
	}
	if err != nil {
		return core.Tenant{}, fmt.Errorf("postgres: tenant %q: %w", id, err)
	}
	return t, nil
}

// Tenants lists every tenant ordered by id.
func (s *Store) Tenants(ctx context.Context) ([]core.Tenant, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tenantColumns+` FROM tenants ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("postgres: list tenants: %w", translate(err))
	}
	defer rows.Close()
	var out []core.Tenant
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: list tenants: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list tenants: %w", translate(err))
	}
	return out, nil
}

const tenantColumns = `id, name, time_zone, default_country, created_at, updated_at`

func scanTenant(row pgx.Row) (core.Tenant, error) {
	var t core.Tenant
	if err := row.Scan(&t.ID, &t.Name, &t.TimeZone, &t.DefaultCountry, &t.CreatedAt, &t.UpdatedAt); err != nil {
		return core.Tenant{}, translate(err)
	}
	t.CreatedAt, t.UpdatedAt = t.CreatedAt.UTC(), t.UpdatedAt.UTC()
	return t, nil
}
