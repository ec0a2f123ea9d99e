package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/payg-gateway/gateway/core"
)

// CreateTenant stores a new tenant.
func (s *Store) CreateTenant(ctx context.Context, t core.Tenant) (core.Tenant, error) {
	if err := t.Validate(); err != nil {
		return core.Tenant{}, err
	}
	now := s.clock.Now().UTC().Truncate(time.Microsecond) // both stores keep µs
	t.CreatedAt, t.UpdatedAt = now, now
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO tenants (id, name, time_zone, default_country, created_at, updated_at)
			 VALUES (?, ?, ?, ?, ?, ?)`,
			t.ID, t.Name, t.TimeZone, t.DefaultCountry, formatTime(now), formatTime(now))
		return translate(err)
	})
	if core.ErrorCode(err) == core.ECONFLICT {
		return core.Tenant{}, core.Errorf(core.ECONFLICT, "tenant %q already exists", t.ID)
	}
	if err != nil {
		return core.Tenant{}, fmt.Errorf("sqlite: create tenant: %w", err)
	}
	return t, nil
}

// Tenant returns the tenant with the given id.
func (s *Store) Tenant(ctx context.Context, id string) (core.Tenant, error) {
	row := s.read.QueryRowContext(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE id = ?`, id)
	t, err := scanTenant(row)
	if core.ErrorCode(err) == core.ENOTFOUND {
		return core.Tenant{}, core.Errorf(core.ENOTFOUND, "tenant %q not found", id)
	}
	if err != nil {
		return core.Tenant{}, fmt.Errorf("sqlite: tenant %q: %w", id, err)
	}
	return t, nil
}

// Tenants lists every tenant ordered by id.
func (s *Store) Tenants(ctx context.Context) ([]core.Tenant, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+tenantColumns+` FROM tenants ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list tenants: %w", translate(err))
	}
	defer rows.Close()
	var out []core.Tenant
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list tenants: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list tenants: %w", translate(err))
	}
	return out, nil
}

const tenantColumns = `id, name, time_zone, default_country, created_at, updated_at`

func scanTenant(row interface{ Scan(...any) error }) (core.Tenant, error) {
	var t core.Tenant
	var created, updated string
	if err := row.Scan(&t.ID, &t.Name, &t.TimeZone, &t.DefaultCountry, &created, &updated); err != nil {
		return core.Tenant{}, translate(err)
	}
	var err error
	if t.CreatedAt, err = parseTime(created); err != nil {
		return core.Tenant{}, err
	}
	if t.UpdatedAt, err = parseTime(updated); err != nil {
		return core.Tenant{}, err
	}
	return t, nil
}
