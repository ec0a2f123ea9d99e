package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/payg-gateway/gateway/core"
)

var _ core.TenantService = (*Store)(nil)

const tenantCols = `id, name, time_zone, default_country, created_at, updated_at`

func scanTenant(r scanner) (core.Tenant, error) {
	var t core.Tenant
	err := r.Scan(&t.ID, &t.Name, &t.TimeZone, &t.DefaultCountry, scanTime{&t.CreatedAt}, scanTime{&t.UpdatedAt})
	return t, err
}

// conn runs single statements on the read pool outside any transaction: a
// lone SELECT needs no snapshot, and skipping BEGIN saves round trips on
// hot paths such as authentication.
func (s *Store) conn() *txn {
	t := s.txn(s.read)
	t.direct = s.reads
	return t
}

// now is the store clock's time at the microsecond, the precision both
// databases keep.
func (s *Store) now() time.Time { return s.clock.Now().UTC().Truncate(time.Microsecond) }

// CreateTenant implements core.TenantService.
func (s *Store) CreateTenant(ctx context.Context, t core.Tenant) (core.Tenant, error) {
	if err := t.Validate(); err != nil {
		return core.Tenant{}, err
	}
	now := s.now()
	t.CreatedAt, t.UpdatedAt = now, now
	err := s.write1(ctx, func(tx *txn) error {
		_, err := tx.exec(ctx, `INSERT INTO tenants (`+tenantCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
			t.ID, t.Name, t.TimeZone, t.DefaultCountry, tx.d.Time(now), tx.d.Time(now))
		return err
	})
	if core.ErrorCode(err) == core.ECONFLICT {
		return core.Tenant{}, core.Errorf(core.ECONFLICT, "tenant %q already exists", t.ID)
	}
	if err != nil {
		return core.Tenant{}, fmt.Errorf("create tenant: %w", err)
	}
	return t, nil
}

// Tenant implements core.TenantService.
func (s *Store) Tenant(ctx context.Context, id string) (core.Tenant, error) {
	c := s.conn()
	t, err := scanTenant(c.queryRow(ctx, `SELECT `+tenantCols+` FROM tenants WHERE id = ?`, id))
	if err = c.one(err, "tenant", id); core.ErrorCode(err) == core.ENOTFOUND {
		return core.Tenant{}, err
	}
	if err != nil {
		return core.Tenant{}, fmt.Errorf("tenant %q: %w", id, err)
	}
	return t, nil
}

// Tenants implements core.TenantService.
func (s *Store) Tenants(ctx context.Context) ([]core.Tenant, error) {
	c := s.conn()
	rows, err := c.query(ctx, `SELECT `+tenantCols+` FROM tenants ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	defer rows.Close()
	var out []core.Tenant
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return nil, fmt.Errorf("list tenants: %w", c.d.Translate(err))
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tenants: %w", c.d.Translate(err))
	}
	return out, nil
}
