package sqlstore

import (
	"context"
	"time"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/payg"
)

// ---- payment requests

const paymentRequestCols = `id, tenant_id, instance, contract_id, amount, currency, msisdn, account_ref, description,
reference_id, request_id, provider_ref, status, reason, payment_id, initiations, checks,
expires_at, created_at, updated_at, initiated_at, finished_at`

func scanPaymentRequest(r scanner) (payg.PaymentRequest, error) {
	var p payg.PaymentRequest
	err := r.Scan(&p.ID, &p.TenantID, &p.Instance, &p.ContractID, &p.Amount.Amount, &p.Amount.Currency, &p.MSISDN,
		&p.AccountRef, &p.Description, &p.ReferenceID, &p.RequestID, &p.ProviderRef, &p.Status, &p.Reason, &p.PaymentID,
		&p.Initiations, &p.Checks, scanTime{&p.ExpiresAt}, scanTime{&p.CreatedAt}, scanTime{&p.UpdatedAt},
		scanTime{&p.InitiatedAt}, scanTime{&p.FinishedAt})
	return p, err
}

func (t *txn) InsertPaymentRequest(ctx context.Context, p payg.PaymentRequest) error {
	_, err := t.exec(ctx, `INSERT INTO payment_requests (`+paymentRequestCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		p.ID, p.TenantID, p.Instance, p.ContractID, p.Amount.Amount, string(p.Amount.Currency), p.MSISDN, p.AccountRef,
		p.Description, p.ReferenceID, p.RequestID, p.ProviderRef, string(p.Status), p.Reason, p.PaymentID,
		p.Initiations, p.Checks, t.d.Time(p.ExpiresAt), t.d.Time(p.CreatedAt), t.d.Time(p.UpdatedAt),
		t.nullTime(p.InitiatedAt), t.nullTime(p.FinishedAt))
	return err
}

func (t *txn) PaymentRequest(ctx context.Context, tenant, id string) (payg.PaymentRequest, error) {
	p, err := scanPaymentRequest(t.queryRow(ctx, `SELECT `+paymentRequestCols+` FROM payment_requests WHERE tenant_id = ? AND id = ?`, tenant, id))
	return p, t.one(err, "payment request", id)
}

func (t *txn) LockPaymentRequest(ctx context.Context, tenant, id string) (payg.PaymentRequest, error) {
	p, err := scanPaymentRequest(t.queryRow(ctx, `SELECT `+paymentRequestCols+` FROM payment_requests WHERE tenant_id = ? AND id = ?`+t.d.ForUpdate, tenant, id))
	return p, t.one(err, "payment request", id)
}

func (t *txn) PaymentRequestByRequestID(ctx context.Context, instance, requestID string) (payg.PaymentRequest, error) {
	p, err := scanPaymentRequest(t.queryRow(ctx, `SELECT `+paymentRequestCols+` FROM payment_requests WHERE instance = ? AND request_id = ?`, instance, requestID))
	return p, t.one(err, "payment request with request id", requestID)
}

func (t *txn) UpdatePaymentRequest(ctx context.Context, p payg.PaymentRequest) error {
	res, err := t.exec(ctx, `UPDATE payment_requests SET request_id = ?, provider_ref = ?, status = ?, reason = ?, payment_id = ?,
initiations = ?, checks = ?, updated_at = ?, initiated_at = ?, finished_at = ? WHERE tenant_id = ? AND id = ?`,
		p.RequestID, p.ProviderRef, string(p.Status), p.Reason, p.PaymentID, p.Initiations, p.Checks, t.d.Time(p.UpdatedAt),
		t.nullTime(p.InitiatedAt), t.nullTime(p.FinishedAt), p.TenantID, p.ID)
	return t.affected(res, err, "payment request", p.ID)
}

func (t *txn) ListPaymentRequests(ctx context.Context, tenant string, f payg.PaymentRequestQuery, req core.PageRequest) (core.Page[payg.PaymentRequest], error) {
	q := tenantQuery(tenant)
	if f.ContractID != "" {
		q.and("contract_id = ?", f.ContractID)
	}
	if f.Status != "" {
		q.and("status = ?", string(f.Status))
	}
	return page(ctx, t, paymentRequestCols, "payment_requests", "created_at", q, req, scanPaymentRequest,
		func(p payg.PaymentRequest) core.Cursor { return core.Cursor{CreatedAt: p.CreatedAt, ID: p.ID} })
}

// ---- quarantined callbacks of payment requests

func (t *txn) OpenQuarantineByRequestID(ctx context.Context, instance, requestID string) ([]payg.Quarantined, error) {
	rows, err := t.query(ctx, `SELECT `+quarantineCols+` FROM quarantine WHERE instance = ? AND request_id = ? AND request_id <> '' AND status = 'open'
ORDER BY received_at, id`, instance, requestID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []payg.Quarantined
	for rows.Next() {
		q, err := scanQuarantine(rows)
		if err != nil {
			return nil, t.d.Translate(err)
		}
		out = append(out, q)
	}
	return out, t.d.Translate(rows.Err())
}

func (t *txn) ResolveQuarantine(ctx context.Context, tenant, id string, at time.Time) error {
	res, err := t.exec(ctx, `UPDATE quarantine SET status = 'resolved', resolved_at = ? WHERE tenant_id = ? AND id = ? AND status = 'open'`,
		t.d.Time(at), tenant, id)
	return t.affected(res, err, "open quarantined callback", id)
}

func (t *txn) QuarantinedCallback(ctx context.Context, tenant, id string) (payg.Quarantined, error) {
	q, err := scanQuarantine(t.queryRow(ctx, `SELECT `+quarantineCols+` FROM quarantine WHERE tenant_id = ? AND id = ?`, tenant, id))
	return q, t.one(err, "quarantined callback", id)
}
