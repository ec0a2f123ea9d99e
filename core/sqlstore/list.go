package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/payg"
)

// query is a SELECT being built: a fixed head and AND-ed conditions.
type query struct {
	where []string
	args  []any
}

func (q *query) and(cond string, args ...any) {
	q.where = append(q.where, cond)
	q.args = append(q.args, args...)
}

// page runs "SELECT cols FROM from WHERE … ORDER BY at, id LIMIT n+1" in a
// stable (at, id) order, after the page's cursor, and scans one page.
func page[T any](ctx context.Context, t *txn, cols, from, at string, q query, req core.PageRequest,
	scan func(scanner) (T, error), key func(T) core.Cursor) (core.Page[T], error) {
	limit, after, err := req.Resolve()
	if err != nil {
		return core.Page[T]{}, err
	}
	if after != nil {
		ts := t.d.Time(after.CreatedAt)
		q.and("("+at+" > ? OR ("+at+" = ? AND id > ?))", ts, ts, after.ID)
	}
	sqlText := "SELECT " + cols + " FROM " + from + " WHERE " + strings.Join(q.where, " AND ") +
		" ORDER BY " + at + ", id LIMIT ?"
	rows, err := t.query(ctx, sqlText, append(q.args, limit+1)...)
	if err != nil {
		return core.Page[T]{}, err
	}
	defer rows.Close()
	var out core.Page[T]
	for rows.Next() {
		item, err := scan(rows)
		if err != nil {
			return core.Page[T]{}, t.d.Translate(err)
		}
		out.Items = append(out.Items, item)
	}
	if err := rows.Err(); err != nil {
		return core.Page[T]{}, t.d.Translate(err)
	}
	if len(out.Items) > limit {
		out.Items = out.Items[:limit]
		out.NextCursor = key(out.Items[limit-1]).Encode()
	}
	return out, nil
}

func tenantQuery(tenant string) query {
	var q query
	q.and("tenant_id = ?", tenant)
	return q
}

func (t *txn) ListCustomers(ctx context.Context, tenant string, req core.PageRequest) (core.Page[payg.Customer], error) {
	return page(ctx, t, customerCols, "customers", "created_at", tenantQuery(tenant), req, scanCustomer,
		func(c payg.Customer) core.Cursor { return core.Cursor{CreatedAt: c.CreatedAt, ID: c.ID} })
}

func (t *txn) ListDevices(ctx context.Context, tenant string, req core.PageRequest) (core.Page[payg.Device], error) {
	return page(ctx, t, deviceCols, "devices", "created_at", tenantQuery(tenant), req, scanDevice,
		func(d payg.Device) core.Cursor { return core.Cursor{CreatedAt: d.CreatedAt, ID: d.ID} })
}

func (t *txn) ListPlans(ctx context.Context, tenant string, req core.PageRequest) (core.Page[payg.Plan], error) {
	return page(ctx, t, planCols, "plans", "created_at", tenantQuery(tenant), req, scanPlan,
		func(p payg.Plan) core.Cursor { return core.Cursor{CreatedAt: p.CreatedAt, ID: p.ID} })
}

func (t *txn) ListContracts(ctx context.Context, tenant string, f payg.ContractQuery, req core.PageRequest) (core.Page[payg.Contract], error) {
	q := tenantQuery(tenant)
	if len(f.Statuses) > 0 {
		q.and("status IN ("+strings.TrimSuffix(strings.Repeat("?,", len(f.Statuses)), ",")+")", anys(f.Statuses)...)
	}
	if !f.PaidThroughBefore.IsZero() {
		q.and("paid_through IS NOT NULL AND paid_through < ?", t.d.Time(f.PaidThroughBefore))
	}
	at := "created_at"
	if !f.UpdatedSince.IsZero() {
		// Ordered by updated_at, so a CRM polling for changes pages
		// through them in the order they happened.
		at = "updated_at"
		q.and("updated_at >= ?", t.d.Time(f.UpdatedSince))
	}
	p, err := page(ctx, t, contractCols, "contracts", at, q, req, func(r scanner) (payg.Contract, error) { return scanContract(r) }, func(c payg.Contract) core.Cursor {
		if at == "updated_at" {
			return core.Cursor{CreatedAt: c.UpdatedAt, ID: c.ID}
		}
		return core.Cursor{CreatedAt: c.CreatedAt, ID: c.ID}
	})
	if err != nil {
		return p, err
	}
	for i := range p.Items {
		if p.Items[i], err = t.withDevices(ctx, p.Items[i], nil, "", ""); err != nil {
			return core.Page[payg.Contract]{}, err
		}
	}
	return p, nil
}

func anys[T any](xs []T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

func (t *txn) ListPayments(ctx context.Context, tenant string, f payg.PaymentQuery, req core.PageRequest) (core.Page[payg.Payment], error) {
	q := tenantQuery(tenant)
	if f.ContractID != "" {
		q.and("contract_id = ?", f.ContractID)
	}
	if f.Status != "" {
		q.and("status = ?", string(f.Status))
	}
	return page(ctx, t, paymentCols, "payments", "received_at", q, req, scanPayment,
		func(p payg.Payment) core.Cursor { return core.Cursor{CreatedAt: p.ReceivedAt, ID: p.ID} })
}

func (t *txn) ListSuspense(ctx context.Context, tenant string, status payg.SuspenseStatus, req core.PageRequest) (core.Page[payg.SuspenseItem], error) {
	q := tenantQuery(tenant)
	if status != "" {
		q.and("status = ?", string(status))
	}
	return page(ctx, t, suspenseCols, "suspense_items", "created_at", q, req, scanSuspense,
		func(s payg.SuspenseItem) core.Cursor { return core.Cursor{CreatedAt: s.CreatedAt, ID: s.ID} })
}

const eventCols = `id, tenant_id, type, contract_id, seq, data, created_at`

func scanEvent(r scanner) (payg.Event, error) {
	var e payg.Event
	var contract sql.NullString
	var data []byte
	err := r.Scan(&e.ID, &e.TenantID, &e.Type, &contract, &e.Seq, scanBytes{&data}, scanTime{&e.CreatedAt})
	e.ContractID, e.Data = contract.String, data
	return e, err
}

func (t *txn) ListEvents(ctx context.Context, tenant string, f payg.EventQuery, req core.PageRequest) (core.Page[payg.Event], error) {
	q := tenantQuery(tenant)
	if f.ContractID != "" {
		q.and("contract_id = ?", f.ContractID)
	}
	if f.Type != "" {
		q.and("type = ?", f.Type)
	}
	if !f.Since.IsZero() {
		q.and("created_at >= ?", t.d.Time(f.Since))
	}
	return page(ctx, t, eventCols, "events", "created_at", q, req, scanEvent,
		func(e payg.Event) core.Cursor { return core.Cursor{CreatedAt: e.CreatedAt, ID: e.ID} })
}

const quarantineCols = `id, tenant_id, instance, kind, reason, request_id, provider_ref, provider_tx_id, method, remote_addr, headers, body, status, received_at, resolved_at`

func scanQuarantine(r scanner) (payg.Quarantined, error) {
	var q payg.Quarantined
	var headers []byte
	if err := r.Scan(&q.ID, &q.TenantID, &q.Instance, &q.Kind, &q.Reason, &q.RequestID, &q.ProviderRef, &q.ProviderTxID,
		&q.Method, &q.RemoteAddr, scanBytes{&headers}, scanBytes{&q.Body}, &q.Status, scanTime{&q.ReceivedAt}, scanTime{&q.ResolvedAt}); err != nil {
		return q, err
	}
	return q, json.Unmarshal(headers, &q.Headers)
}

func (t *txn) InsertQuarantine(ctx context.Context, q payg.Quarantined) error {
	headers, err := json.Marshal(q.Headers)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, `INSERT INTO quarantine (`+quarantineCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		q.ID, q.TenantID, q.Instance, q.Kind, q.Reason, q.RequestID, q.ProviderRef, q.ProviderTxID, q.Method, q.RemoteAddr,
		string(headers), q.Body, q.Status, t.d.Time(q.ReceivedAt), t.nullTime(q.ResolvedAt))
	return err
}

func (t *txn) ListQuarantine(ctx context.Context, tenant string, req core.PageRequest) (core.Page[payg.Quarantined], error) {
	return page(ctx, t, quarantineCols, "quarantine", "received_at", tenantQuery(tenant), req, scanQuarantine,
		func(q payg.Quarantined) core.Cursor { return core.Cursor{CreatedAt: q.ReceivedAt, ID: q.ID} })
}
