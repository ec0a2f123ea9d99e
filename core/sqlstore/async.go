package sqlstore

import (
	"context"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/payg"
)

// ---- asynchronous provider requests (status queries, reversals)

const asyncRequestCols = `id, tenant_id, instance, operation, ref_request_id, ref_provider_ref, ref_provider_tx_id,
request_ref, provider_ref, state, attempts, max_attempts, result_code, result_description, payment_request_id,
quarantine_id, created_at, updated_at, sent_at, next_attempt_at, finished_at`

func scanAsyncRequest(r scanner) (payg.AsyncRequest, error) {
	var a payg.AsyncRequest
	err := r.Scan(&a.ID, &a.TenantID, &a.Instance, &a.Operation, &a.RefRequestID, &a.RefProviderRef, &a.RefProviderTxID,
		&a.RequestRef, &a.ProviderRef, &a.State, &a.Attempts, &a.MaxAttempts, &a.ResultCode, &a.ResultDescription,
		&a.PaymentRequestID, &a.QuarantineID, scanTime{&a.CreatedAt}, scanTime{&a.UpdatedAt}, scanTime{&a.SentAt},
		scanTime{&a.NextAttemptAt}, scanTime{&a.FinishedAt})
	return a, err
}

func (t *txn) InsertAsyncRequest(ctx context.Context, a payg.AsyncRequest) error {
	_, err := t.exec(ctx, `INSERT INTO async_requests (`+asyncRequestCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		a.ID, a.TenantID, a.Instance, a.Operation, a.RefRequestID, a.RefProviderRef, a.RefProviderTxID,
		a.RequestRef, a.ProviderRef, string(a.State), a.Attempts, a.MaxAttempts, a.ResultCode, a.ResultDescription,
		a.PaymentRequestID, a.QuarantineID, t.d.Time(a.CreatedAt), t.d.Time(a.UpdatedAt), t.nullTime(a.SentAt),
		t.nullTime(a.NextAttemptAt), t.nullTime(a.FinishedAt))
	return err
}

func (t *txn) AsyncRequest(ctx context.Context, tenant, id string) (payg.AsyncRequest, error) {
	a, err := scanAsyncRequest(t.queryRow(ctx, `SELECT `+asyncRequestCols+` FROM async_requests WHERE tenant_id = ? AND id = ?`, tenant, id))
	return a, t.one(err, "asynchronous request", id)
}

func (t *txn) LockAsyncRequest(ctx context.Context, tenant, id string) (payg.AsyncRequest, error) {
	a, err := scanAsyncRequest(t.queryRow(ctx, `SELECT `+asyncRequestCols+` FROM async_requests WHERE tenant_id = ? AND id = ?`+t.d.ForUpdate, tenant, id))
	return a, t.one(err, "asynchronous request", id)
}

func (t *txn) AsyncRequestByRef(ctx context.Context, instance, requestRef, providerRef string) (payg.AsyncRequest, error) {
	// Each arm uses its partial index; an empty id matches no row.
	a, err := scanAsyncRequest(t.queryRow(ctx, `SELECT `+asyncRequestCols+` FROM async_requests
WHERE instance = ? AND ((request_ref = ? AND request_ref <> '') OR (provider_ref = ? AND provider_ref <> ''))
ORDER BY created_at DESC, id DESC LIMIT 1`, instance, requestRef, providerRef))
	ref := requestRef
	if ref == "" {
		ref = providerRef
	}
	return a, t.one(err, "asynchronous request with provider id", ref)
}

func (t *txn) UpdateAsyncRequest(ctx context.Context, a payg.AsyncRequest) error {
	res, err := t.exec(ctx, `UPDATE async_requests SET request_ref = ?, provider_ref = ?, state = ?, attempts = ?, result_code = ?,
result_description = ?, updated_at = ?, sent_at = ?, next_attempt_at = ?, finished_at = ? WHERE tenant_id = ? AND id = ?`,
		a.RequestRef, a.ProviderRef, string(a.State), a.Attempts, a.ResultCode, a.ResultDescription, t.d.Time(a.UpdatedAt),
		t.nullTime(a.SentAt), t.nullTime(a.NextAttemptAt), t.nullTime(a.FinishedAt), a.TenantID, a.ID)
	return t.affected(res, err, "asynchronous request", a.ID)
}

func (t *txn) ListAsyncRequests(ctx context.Context, tenant string, f payg.AsyncRequestQuery, req core.PageRequest) (core.Page[payg.AsyncRequest], error) {
	q := tenantQuery(tenant)
	if f.Operation != "" {
		q.and("operation = ?", f.Operation)
	}
	if f.State != "" {
		q.and("state = ?", string(f.State))
	}
	if f.Receipt != "" {
		q.and("ref_provider_tx_id = ?", f.Receipt)
	}
	return page(ctx, t, asyncRequestCols, "async_requests", "created_at", q, req, scanAsyncRequest,
		func(a payg.AsyncRequest) core.Cursor { return core.Cursor{CreatedAt: a.CreatedAt, ID: a.ID} })
}
