package sqlstore

import (
	"context"

	"github.com/payg-gateway/gateway/core"
)

// Tenant reads a tenant inside the transaction. Event subscribers use it
// (through a type assertion on payg.Tx) instead of the store's pool: a
// second connection taken while the transaction holds one deadlocks once
// as many transactions run as the pool has connections.
func (t *txn) Tenant(ctx context.Context, id string) (core.Tenant, error) {
	c, err := scanTenant(t.queryRow(ctx, `SELECT `+tenantCols+` FROM tenants WHERE id = ?`, id))
	return c, t.one(err, "tenant", id)
}
