package sqlstore

import (
	"context"
	"database/sql"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/payg"
)

// scanToken reads a row of tokenCols.
func scanToken(r scanner) (payg.Token, error) {
	var k payg.Token
	var contract, payment sql.NullString
	err := r.Scan(&k.ID, &k.TenantID, &k.DeviceID, &contract, &payment, &k.Scheme, &k.Type, &k.Value, &k.Seconds,
		&k.Count, &k.Code, &k.Status, scanTime{&k.CreatedAt}, &k.FailureReason, scanTime{&k.SettledAt})
	k.ContractID, k.PaymentID = contract.String, payment.String
	return k, err
}

// Token implements payg.Reader.
func (t *txn) Token(ctx context.Context, tenant, id string) (payg.Token, error) {
	k, err := scanToken(t.queryRow(ctx, `SELECT `+tokenCols+` FROM tokens WHERE tenant_id = ? AND id = ?`, tenant, id))
	return k, t.one(err, "token", id)
}

// UpdateToken implements payg.Tx: only a pending token is settled.
func (t *txn) UpdateToken(ctx context.Context, k payg.Token) error {
	res, err := t.exec(ctx, `UPDATE tokens SET status = ?, code = ?, failure_reason = ?, settled_at = ? WHERE tenant_id = ? AND id = ? AND status = ?`,
		k.Status, k.Code, k.FailureReason, t.nullTime(k.SettledAt), k.TenantID, k.ID, payg.TokenPending)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return t.d.Translate(err)
	}
	if n == 1 {
		return nil
	}
	if _, err := t.Token(ctx, k.TenantID, k.ID); err != nil {
		return err
	}
	return core.Errorf(core.ECONFLICT, "token %s is not pending", k.ID)
}
