package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/payg"
)

type scanner interface{ Scan(...any) error }

// notFound names what was not found; the tenant filter makes another
// tenant's row not found too.
func notFound(what, id string) error {
	return core.Errorf(core.ENOTFOUND, "%s %q not found", what, id)
}

// one reads a single row, translating no-rows to ENOTFOUND.
func (t *txn) one(err error, what, id string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return notFound(what, id)
	}
	return t.d.Translate(err)
}

// ---- customers

const customerCols = `id, tenant_id, external_id, name, phone, phone_hash, language, created_at, updated_at`

func scanCustomer(r scanner) (payg.Customer, error) {
	var c payg.Customer
	err := r.Scan(&c.ID, &c.TenantID, &c.ExternalID, &c.Name, &c.Phone, &c.PhoneHash, &c.Language,
		scanTime{&c.CreatedAt}, scanTime{&c.UpdatedAt})
	return c, err
}

func (t *txn) InsertCustomer(ctx context.Context, c payg.Customer) error {
	_, err := t.exec(ctx, `INSERT INTO customers (`+customerCols+`) VALUES (?,?,?,?,?,?,?,?,?)`,
		c.ID, c.TenantID, c.ExternalID, c.Name, c.Phone, c.PhoneHash, c.Language, t.d.Time(c.CreatedAt), t.d.Time(c.UpdatedAt))
	return err
}

func (t *txn) Customer(ctx context.Context, tenant, id string) (payg.Customer, error) {
	c, err := scanCustomer(t.queryRow(ctx, `SELECT `+customerCols+` FROM customers WHERE tenant_id = ? AND id = ?`, tenant, id))
	return c, t.one(err, "customer", id)
}

func (t *txn) CustomerByExternalID(ctx context.Context, tenant, ext string) (payg.Customer, error) {
	c, err := scanCustomer(t.queryRow(ctx, `SELECT `+customerCols+` FROM customers WHERE tenant_id = ? AND external_id = ? AND external_id <> ''`, tenant, ext))
	return c, t.one(err, "customer with external_id", ext)
}

// ---- devices

const deviceCols = `id, tenant_id, external_id, serial, scheme, sealed_key, starting_code, value_divider, restricted, counter, token_carry, unlocked, created_at, updated_at`

func scanDevice(r scanner) (payg.Device, error) {
	var d payg.Device
	err := r.Scan(&d.ID, &d.TenantID, &d.ExternalID, &d.Serial, &d.Scheme, scanBytes{&d.SealedKey}, &d.StartingCode,
		&d.ValueDivider, &d.Restricted, &d.Counter, &d.TokenCarry, &d.Unlocked, scanTime{&d.CreatedAt}, scanTime{&d.UpdatedAt})
	return d, err
}

func (t *txn) InsertDevice(ctx context.Context, d payg.Device) error {
	_, err := t.exec(ctx, `INSERT INTO devices (`+deviceCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		d.ID, d.TenantID, d.ExternalID, d.Serial, d.Scheme, d.SealedKey, d.StartingCode, d.ValueDivider, d.Restricted,
		d.Counter, d.TokenCarry, d.Unlocked, t.d.Time(d.CreatedAt), t.d.Time(d.UpdatedAt))
	return err
}

func (t *txn) DeviceByExternalID(ctx context.Context, tenant, ext string) (payg.Device, error) {
	d, err := scanDevice(t.queryRow(ctx, `SELECT `+deviceCols+` FROM devices WHERE tenant_id = ? AND external_id = ? AND external_id <> ''`, tenant, ext))
	return d, t.one(err, "device with external_id", ext)
}

func (t *txn) Device(ctx context.Context, tenant, id string) (payg.Device, error) {
	d, err := scanDevice(t.queryRow(ctx, `SELECT `+deviceCols+` FROM devices WHERE tenant_id = ? AND id = ?`, tenant, id))
	return d, t.one(err, "device", id)
}

func (t *txn) DeviceBySerial(ctx context.Context, tenant, serial string) (payg.Device, error) {
	d, err := scanDevice(t.queryRow(ctx, `SELECT `+deviceCols+` FROM devices WHERE tenant_id = ? AND serial = ?`, tenant, serial))
	return d, t.one(err, "device with serial", serial)
}

func (t *txn) LockDevice(ctx context.Context, tenant, id string) (payg.Device, error) {
	if d, ok := t.lockedDevices[id]; ok && d.TenantID == tenant {
		return d, nil // locked and read with its contract (txn.contract)
	}
	d, err := scanDevice(t.queryRow(ctx, `SELECT `+deviceCols+` FROM devices WHERE tenant_id = ? AND id = ?`+t.d.ForUpdate, tenant, id))
	return d, t.one(err, "device", id)
}

func (t *txn) UpdateDevice(ctx context.Context, d payg.Device) error {
	delete(t.lockedDevices, d.ID)
	return t.later(ctx, t.one1("device", d.ID), `UPDATE devices SET counter = ?, token_carry = ?, unlocked = ?, updated_at = ? WHERE tenant_id = ? AND id = ?`,
		d.Counter, d.TokenCarry, d.Unlocked, t.d.Time(d.UpdatedAt), d.TenantID, d.ID)
}

func (t *txn) UpdateDeviceKey(ctx context.Context, tenant, id string, sealed []byte) error {
	delete(t.lockedDevices, id)
	res, err := t.exec(ctx, `UPDATE devices SET sealed_key = ? WHERE tenant_id = ? AND id = ?`, sealed, tenant, id)
	return t.affected(res, err, "device", id)
}

// one1 is a later check that the write changed one row, what id.
func (t *txn) one1(what, id string) func(sql.Result) error {
	return func(res sql.Result) error { return t.affected(res, nil, what, id) }
}

func (t *txn) affected(res sql.Result, err error, what, id string) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return t.d.Translate(err)
	}
	if n != 1 {
		return notFound(what, id)
	}
	return nil
}

// ---- plans

const planCols = `id, tenant_id, external_id, name, plan, created_at, updated_at`

func scanPlan(r scanner) (payg.Plan, error) {
	var p payg.Plan
	var terms []byte
	if err := r.Scan(&p.ID, &p.TenantID, &p.ExternalID, &p.Name, scanBytes{&terms}, scanTime{&p.CreatedAt}, scanTime{&p.UpdatedAt}); err != nil {
		return p, err
	}
	if err := json.Unmarshal(terms, &p.Terms); err != nil {
		return p, fmt.Errorf("plan %s: %w", p.ID, err)
	}
	return p, nil
}

func (t *txn) InsertPlan(ctx context.Context, p payg.Plan) error {
	terms, err := json.Marshal(p.Terms)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, `INSERT INTO plans (`+planCols+`) VALUES (?,?,?,?,?,?,?)`,
		p.ID, p.TenantID, p.ExternalID, p.Name, string(terms), t.d.Time(p.CreatedAt), t.d.Time(p.UpdatedAt))
	return err
}

func (t *txn) Plan(ctx context.Context, tenant, id string) (payg.Plan, error) {
	p, err := scanPlan(t.queryRow(ctx, `SELECT `+planCols+` FROM plans WHERE tenant_id = ? AND id = ?`, tenant, id))
	return p, t.one(err, "plan", id)
}

// ---- contracts

const contractCols = `id, tenant_id, external_id, account_number, customer_id, plan_id, plan, state, announced_status, version, created_at, updated_at`

// scanContract reads contractCols, and extra columns after them.
func scanContract(r scanner, extra ...any) (payg.Contract, error) {
	var c payg.Contract
	var plan, state []byte
	var planID sql.NullString
	dest := []any{&c.ID, &c.TenantID, &c.ExternalID, &c.AccountNumber, &c.CustomerID, &planID, scanBytes{&plan}, scanBytes{&state},
		&c.AnnouncedStatus, &c.Version, scanTime{&c.CreatedAt}, scanTime{&c.UpdatedAt}}
	if err := r.Scan(append(dest, extra...)...); err != nil {
		return c, err
	}
	c.PlanID = planID.String
	if err := json.Unmarshal(plan, &c.Plan); err != nil {
		return c, fmt.Errorf("contract %s plan: %w", c.ID, err)
	}
	if err := json.Unmarshal(state, &c.State); err != nil {
		return c, fmt.Errorf("contract %s state: %w", c.ID, err)
	}
	return c, nil
}

func (t *txn) withDevices(ctx context.Context, c payg.Contract, err error, what, id string) (payg.Contract, error) {
	if err != nil {
		return c, t.one(err, what, id)
	}
	rows, err := t.query(ctx, `SELECT device_id FROM contract_devices WHERE contract_id = ? ORDER BY device_id`, c.ID)
	if err != nil {
		return c, err
	}
	defer rows.Close()
	c.DeviceIDs = nil
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return c, t.d.Translate(err)
		}
		c.DeviceIDs = append(c.DeviceIDs, id)
	}
	return c, t.d.Translate(rows.Err())
}

func (t *txn) InsertContract(ctx context.Context, c payg.Contract) error {
	plan, err := json.Marshal(c.Plan)
	if err != nil {
		return err
	}
	state, err := json.Marshal(c.State)
	if err != nil {
		return err
	}
	if _, err := t.exec(ctx, `INSERT INTO contracts (`+contractCols+`, status, currency, paid_through) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		c.ID, c.TenantID, c.ExternalID, c.AccountNumber, c.CustomerID, nullString(c.PlanID), string(plan), string(state),
		string(c.AnnouncedStatus), c.Version,
		t.d.Time(c.CreatedAt), t.d.Time(c.UpdatedAt), string(c.State.Status), string(c.Plan.Currency),
		t.nullTime(c.State.PaidThrough())); err != nil {
		return err
	}
	for _, d := range c.DeviceIDs {
		if _, err := t.exec(ctx, `INSERT INTO contract_devices (contract_id, device_id) VALUES (?, ?)`, c.ID, d); err != nil {
			return err
		}
	}
	return nil
}

// contractWithDevices selects a contract (alias c) with its devices, one
// row per device, so a contract is read in one statement.
var contractWithDevices = `SELECT ` + contractColsC + `, cd.device_id FROM contracts c
	LEFT JOIN contract_devices cd ON cd.contract_id = c.id WHERE `

// contract reads the one contract matching where, with its devices' ids;
// lock takes the row locks of the contract and its devices until the
// transaction ends, and keeps the devices read for LockDevice.
//
// A payment locks its contract and then the devices it issues tokens for,
// so the locked read takes the devices' rows in the same statement:
// PostgreSQL locks them first (in the lateral subquery), the contract then,
// which is also the order of callers that lock a device before its
// contract. The devices read are the latest versions, as FOR UPDATE
// returns them.
func (t *txn) contract(ctx context.Context, where string, lock bool, what, id string, args ...any) (payg.Contract, error) {
	q := contractWithDevices + where + ` ORDER BY cd.device_id`
	var nd *nullDevice
	if lock {
		devices, forUpdate := `LEFT JOIN devices d ON d.id = cd.device_id`, ""
		if t.d.ForUpdate != "" {
			devices = `LEFT JOIN LATERAL (SELECT ` + deviceCols + ` FROM devices WHERE id = cd.device_id` + t.d.ForUpdate + `) d ON true`
			forUpdate = t.d.ForUpdate + " OF c"
		}
		q = `SELECT ` + contractColsC + `, cd.device_id, ` + deviceColsD + ` FROM contracts c
	LEFT JOIN contract_devices cd ON cd.contract_id = c.id ` + devices + ` WHERE ` + where + ` ORDER BY cd.device_id` + forUpdate
		nd = &nullDevice{}
	}
	rows, err := t.query(ctx, q, args...)
	if err != nil {
		return payg.Contract{}, err
	}
	defer rows.Close()
	var c payg.Contract
	found := false
	for rows.Next() { // one row per device
		var dev sql.NullString
		extra := []any{&dev}
		if nd != nil {
			*nd = nullDevice{}
			extra = append(extra, nd.dest()...)
		}
		next, err := scanContract(rows, extra...)
		if err != nil {
			return payg.Contract{}, t.d.Translate(err)
		}
		if !found {
			c, found = next, true
		}
		if !dev.Valid {
			continue
		}
		c.DeviceIDs = append(c.DeviceIDs, dev.String)
		if nd != nil {
			if t.lockedDevices == nil {
				t.lockedDevices = map[string]payg.Device{}
			}
			t.lockedDevices[dev.String] = nd.device()
		}
	}
	if err := rows.Err(); err != nil {
		return payg.Contract{}, t.d.Translate(err)
	}
	if !found {
		return payg.Contract{}, notFound(what, id)
	}
	return c, nil
}

// nullDevice scans deviceCols from the nullable side of an outer join
// (NULL when the contract has no device).
type nullDevice struct {
	id, tenant, ext, serial, scheme sql.NullString
	key                             []byte
	start, divider, counter, carry  sql.NullInt64
	restricted, unlocked            sql.NullBool
	created, updated                time.Time
}

func (n *nullDevice) dest() []any {
	return []any{&n.id, &n.tenant, &n.ext, &n.serial, &n.scheme, scanBytes{&n.key}, &n.start,
		&n.divider, &n.restricted, &n.counter, &n.carry, &n.unlocked, scanTime{&n.created}, scanTime{&n.updated}}
}

func (n *nullDevice) device() payg.Device {
	return payg.Device{ID: n.id.String, TenantID: n.tenant.String, ExternalID: n.ext.String, Serial: n.serial.String,
		Scheme: payg.TokenScheme(n.scheme.String), SealedKey: n.key, StartingCode: n.start.Int64,
		ValueDivider: int(n.divider.Int64), Restricted: n.restricted.Bool, Counter: n.counter.Int64,
		TokenCarry: n.carry.Int64, Unlocked: n.unlocked.Bool, CreatedAt: n.created, UpdatedAt: n.updated}
}

func (t *txn) Contract(ctx context.Context, tenant, id string) (payg.Contract, error) {
	return t.contract(ctx, `c.tenant_id = ? AND c.id = ?`, false, "contract", id, tenant, id)
}

func (t *txn) ContractByExternalID(ctx context.Context, tenant, ext string) (payg.Contract, error) {
	return t.contract(ctx, `c.tenant_id = ? AND c.external_id = ? AND c.external_id <> ''`, false, "contract with external_id", ext, tenant, ext)
}

func (t *txn) ContractByAccount(ctx context.Context, tenant, account string) (payg.Contract, error) {
	return t.contract(ctx, `c.tenant_id = ? AND c.account_number = ?`, false, "contract with account number", account, tenant, account)
}

func (t *txn) LockContract(ctx context.Context, tenant, id string) (payg.Contract, error) {
	return t.contract(ctx, `c.tenant_id = ? AND c.id = ?`, true, "contract", id, tenant, id)
}

func (t *txn) LockContractByAccount(ctx context.Context, tenant, account string) (payg.Contract, error) {
	return t.contract(ctx, `c.tenant_id = ? AND c.account_number = ?`, true, "contract with account number", account, tenant, account)
}

func (t *txn) contracts(ctx context.Context, q string, args ...any) ([]payg.Contract, error) {
	rows, err := t.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	var out []payg.Contract
	for rows.Next() {
		c, err := scanContract(rows)
		if err != nil {
			rows.Close()
			return nil, t.d.Translate(err)
		}
		out = append(out, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, t.d.Translate(err)
	}
	for i := range out {
		if out[i], err = t.withDevices(ctx, out[i], nil, "", ""); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (t *txn) ContractsByDevice(ctx context.Context, tenant, deviceID string) ([]payg.Contract, error) {
	return t.contracts(ctx, `SELECT `+contractColsC+` FROM contracts c JOIN contract_devices cd ON cd.contract_id = c.id
		WHERE c.tenant_id = ? AND cd.device_id = ? ORDER BY c.id`, tenant, deviceID)
}

func (t *txn) ContractsByPhoneHash(ctx context.Context, tenant, hash string) ([]payg.Contract, error) {
	return t.contracts(ctx, `SELECT `+contractColsC+` FROM contracts c JOIN customers cu ON cu.id = c.customer_id
		WHERE c.tenant_id = ? AND cu.tenant_id = ? AND cu.phone_hash = ? ORDER BY c.id`, tenant, tenant, hash)
}

func (t *txn) UpdateContract(ctx context.Context, c payg.Contract) error {
	state, err := json.Marshal(c.State)
	if err != nil {
		return err
	}
	// The caller holds the contract's lock, so the version matches unless
	// the caller's copy is stale: the check can wait for the next round trip.
	return t.later(ctx, func(res sql.Result) error {
		if err := t.affected(res, nil, "contract", c.ID); core.ErrorCode(err) == core.ENOTFOUND {
			return core.Errorf(core.ECONFLICT, "contract %s changed concurrently", c.ID)
		} else if err != nil {
			return err
		}
		return nil
	}, `UPDATE contracts SET state = ?, status = ?, announced_status = ?, paid_through = ?, version = ?, updated_at = ?
		WHERE tenant_id = ? AND id = ? AND version = ?`,
		string(state), string(c.State.Status), string(c.AnnouncedStatus), t.nullTime(c.State.PaidThrough()), c.Version,
		t.d.Time(c.UpdatedAt), c.TenantID, c.ID, c.Version-1)
}

// contractCols and deviceCols of tables aliased c and d.
var contractColsC, deviceColsD = prefixed("c.", contractCols), prefixed("d.", deviceCols)

// prefixed qualifies each column of a column list with p (a table alias).
func prefixed(p, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// ---- payments

const paymentCols = `id, tenant_id, instance, provider_tx_id, request_id, status, amount, currency, account_ref, payer_msisdn, payer_msisdn_hash, payer_name, contract_id, occurred_at, received_at, reason, raw`

func scanPayment(r scanner) (payg.Payment, error) {
	var p payg.Payment
	var contract sql.NullString
	err := r.Scan(&p.ID, &p.TenantID, &p.Instance, &p.ProviderTxID, &p.RequestID, &p.Status, &p.Amount.Amount, &p.Amount.Currency,
		&p.AccountRef, &p.PayerMSISDN, &p.PayerMSISDNHash, &p.PayerName, &contract, scanTime{&p.OccurredAt}, scanTime{&p.ReceivedAt},
		&p.Reason, scanBytes{&p.Raw})
	p.ContractID = contract.String
	return p, err
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// InsertPayment is deferred (later): a payment's key taken by a concurrent
// transaction leaves the row out without aborting the transaction, and its
// check then fails the transaction with payg.ErrConcurrentWrite, which the
// service runs again.
func (t *txn) InsertPayment(ctx context.Context, p payg.Payment) error {
	taken := func(r sql.Result) error {
		n, err := r.RowsAffected()
		if err == nil && n == 0 {
			err = fmt.Errorf("payment %s/%s: %w", p.Instance, p.ProviderTxID, payg.ErrConcurrentWrite)
		}
		return err
	}
	return t.later(ctx, taken, `INSERT INTO payments (`+paymentCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT (instance, provider_tx_id) DO NOTHING`,
		p.ID, p.TenantID, p.Instance, p.ProviderTxID, p.RequestID, p.Status, p.Amount.Amount, string(p.Amount.Currency),
		p.AccountRef, p.PayerMSISDN, p.PayerMSISDNHash, p.PayerName, nullString(p.ContractID), t.nullTime(p.OccurredAt),
		t.d.Time(p.ReceivedAt), p.Reason, p.Raw)
}

func (t *txn) UpdatePayment(ctx context.Context, p payg.Payment) error {
	return t.later(ctx, t.one1("payment", p.ID), `UPDATE payments SET status = ?, amount = ?, currency = ?, account_ref = ?, payer_msisdn = ?,
		payer_msisdn_hash = ?, payer_name = ?, contract_id = ?, occurred_at = ?, reason = ?, raw = ?
		WHERE tenant_id = ? AND id = ?`,
		p.Status, p.Amount.Amount, string(p.Amount.Currency), p.AccountRef, p.PayerMSISDN, p.PayerMSISDNHash, p.PayerName,
		nullString(p.ContractID), t.nullTime(p.OccurredAt), p.Reason, p.Raw, p.TenantID, p.ID)
}

func (t *txn) Payment(ctx context.Context, tenant, id string) (payg.Payment, error) {
	p, err := scanPayment(t.queryRow(ctx, `SELECT `+paymentCols+` FROM payments WHERE tenant_id = ? AND id = ?`, tenant, id))
	return p, t.one(err, "payment", id)
}

func (t *txn) PaymentByKey(ctx context.Context, instance, txID string) (payg.Payment, error) {
	p, err := scanPayment(t.queryRow(ctx, `SELECT `+paymentCols+` FROM payments WHERE instance = ? AND provider_tx_id = ?`, instance, txID))
	return p, t.one(err, "payment", instance+"/"+txID)
}

// ---- ledger

func (t *txn) AppendLedger(ctx context.Context, lines []payg.LedgerLine) error {
	if len(lines) == 0 {
		return nil
	}
	var q strings.Builder
	q.WriteString(`INSERT INTO ledger_lines (contract_id, seq, tenant_id, payment_id, kind, amount, at, line) VALUES `)
	args := make([]any, 0, 8*len(lines))
	for i, l := range lines {
		seq, err := t.nextSeq(ctx, false, l.ContractID)
		if err != nil {
			return err
		}
		body, err := json.Marshal(l.Line)
		if err != nil {
			return err
		}
		if i > 0 {
			q.WriteString(",")
		}
		q.WriteString("(?,?,?,?,?,?,?,?)")
		args = append(args, l.ContractID, seq, l.TenantID, nullString(l.PaymentID), string(l.Line.Kind), l.Line.Amount, t.d.Time(l.Line.At), string(body))
	}
	return t.later(ctx, nil, q.String(), args...)
}

// nextSeq returns the next seq of contract's ledger lines or events,
// counting from the stored maxima, both read once per transaction:
// the rows of a contract are written under its lock (SQLite's single
// writer), and within this transaction only through this txn.
func (t *txn) nextSeq(ctx context.Context, events bool, contractID string) (int64, error) {
	if t.ledgerSeq == nil {
		t.ledgerSeq, t.eventSeq = map[string]int64{}, map[string]int64{}
	}
	seqs := t.ledgerSeq
	if events {
		seqs = t.eventSeq
	}
	seq, ok := seqs[contractID]
	if !ok {
		// Both tables' in one statement: a transaction that appends
		// ledger lines to a contract mostly records events of it too.
		var ledger, events int64
		if err := t.queryRow(ctx, `SELECT (SELECT COALESCE(MAX(seq), 0) FROM ledger_lines WHERE contract_id = ?),
			(SELECT COALESCE(MAX(seq), 0) FROM events WHERE contract_id = ?)`, contractID, contractID).Scan(&ledger, &events); err != nil {
			return 0, t.d.Translate(err)
		}
		if _, ok := t.ledgerSeq[contractID]; !ok {
			t.ledgerSeq[contractID] = ledger
		}
		if _, ok := t.eventSeq[contractID]; !ok {
			t.eventSeq[contractID] = events
		}
		seq = seqs[contractID]
	}
	seq++
	seqs[contractID] = seq
	return seq, nil
}

func (t *txn) LedgerLines(ctx context.Context, tenant, contractID string) ([]payg.LedgerLine, error) {
	rows, err := t.query(ctx, `SELECT contract_id, seq, tenant_id, payment_id, line FROM ledger_lines
		WHERE tenant_id = ? AND contract_id = ? ORDER BY seq`, tenant, contractID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []payg.LedgerLine
	for rows.Next() {
		var l payg.LedgerLine
		var payment sql.NullString
		var body []byte
		if err := rows.Scan(&l.ContractID, &l.Seq, &l.TenantID, &payment, scanBytes{&body}); err != nil {
			return nil, t.d.Translate(err)
		}
		l.PaymentID = payment.String
		if err := json.Unmarshal(body, &l.Line); err != nil {
			return nil, fmt.Errorf("ledger line %s/%d: %w", l.ContractID, l.Seq, err)
		}
		out = append(out, l)
	}
	return out, t.d.Translate(rows.Err())
}

// ---- tokens

const tokenCols = `id, tenant_id, device_id, contract_id, payment_id, scheme, type, value, seconds, count, code, status, created_at, failure_reason, settled_at`

func (t *txn) InsertToken(ctx context.Context, k payg.Token) error {
	return t.later(ctx, nil, `INSERT INTO tokens (`+tokenCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		k.ID, k.TenantID, k.DeviceID, nullString(k.ContractID), nullString(k.PaymentID), k.Scheme, k.Type, k.Value, k.Seconds,
		k.Count, k.Code, k.Status, t.d.Time(k.CreatedAt), k.FailureReason, t.nullTime(k.SettledAt))
}

func (t *txn) Tokens(ctx context.Context, tenant, contractID string) ([]payg.Token, error) {
	rows, err := t.query(ctx, `SELECT `+tokenCols+` FROM tokens WHERE tenant_id = ? AND contract_id = ? ORDER BY created_at, count`, tenant, contractID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []payg.Token
	for rows.Next() {
		k, err := scanToken(rows)
		if err != nil {
			return nil, t.d.Translate(err)
		}
		out = append(out, k)
	}
	return out, t.d.Translate(rows.Err())
}

// ---- suspense

const suspenseCols = `id, tenant_id, payment_id, reason, detail, status, contract_id, created_at, resolved_at`

func scanSuspense(r scanner) (payg.SuspenseItem, error) {
	var s payg.SuspenseItem
	var contract sql.NullString
	err := r.Scan(&s.ID, &s.TenantID, &s.PaymentID, &s.Reason, &s.Detail, &s.Status, &contract, scanTime{&s.CreatedAt}, scanTime{&s.ResolvedAt})
	s.ContractID = contract.String
	return s, err
}

func (t *txn) InsertSuspense(ctx context.Context, s payg.SuspenseItem) error {
	return t.later(ctx, nil, `INSERT INTO suspense_items (`+suspenseCols+`) VALUES (?,?,?,?,?,?,?,?,?)`,
		s.ID, s.TenantID, s.PaymentID, s.Reason, s.Detail, s.Status, nullString(s.ContractID), t.d.Time(s.CreatedAt), t.nullTime(s.ResolvedAt))
}

func (t *txn) UpdateSuspense(ctx context.Context, s payg.SuspenseItem) error {
	res, err := t.exec(ctx, `UPDATE suspense_items SET status = ?, contract_id = ?, resolved_at = ?, detail = ? WHERE tenant_id = ? AND id = ?`,
		s.Status, nullString(s.ContractID), t.nullTime(s.ResolvedAt), s.Detail, s.TenantID, s.ID)
	return t.affected(res, err, "suspense item", s.ID)
}

func (t *txn) SuspenseItem(ctx context.Context, tenant, id string) (payg.SuspenseItem, error) {
	s, err := scanSuspense(t.queryRow(ctx, `SELECT `+suspenseCols+` FROM suspense_items WHERE tenant_id = ? AND id = ?`, tenant, id))
	return s, t.one(err, "suspense item", id)
}

// ---- events

func (t *txn) InsertEvent(ctx context.Context, e payg.Event) (payg.Event, error) {
	if e.ContractID != "" {
		seq, err := t.nextSeq(ctx, true, e.ContractID)
		if err != nil {
			return e, err
		}
		e.Seq = seq
	}
	// Held, to go with the transaction's other events in one statement.
	t.events = append(t.events, e)
	return e, nil
}

// flush inserts the events and jobs held back (InsertEvent, EnqueueJob),
// one statement each, run (or, on a Pipeline store, queued) ahead of the
// statement about to run or the commit. Its error is returned then and by every later call, so the
// transaction cannot commit without them.
func (t *txn) flush(ctx context.Context) error {
	if t.held != nil {
		return t.held
	}
	if len(t.events) == 0 && len(t.jobs) == 0 {
		return nil
	}
	events, jobs := t.events, t.jobs
	t.events, t.jobs = nil, nil
	for part := range slices.Chunk(events, maxRowsPerInsert) {
		if err := t.insertEvents(ctx, part); err != nil {
			t.held = fmt.Errorf("insert events: %w", err)
			return t.held
		}
	}
	for part := range slices.Chunk(jobs, maxRowsPerInsert) {
		var args []any
		for _, a := range part {
			args = append(args, a...)
		}
		if err := t.later(ctx, nil, insertJobs(len(part)), args...); err != nil {
			t.held = fmt.Errorf("enqueue jobs: %w", err)
			return t.held
		}
	}
	return nil
}

// maxRowsPerInsert bounds the rows of one multi-row INSERT, so that a
// transaction holding many events or jobs (a campaign) stays under the
// stores' limits on parameters per statement (SQLite 32,766, PostgreSQL
// 65,535; a job row has 17).
const maxRowsPerInsert = 500

// insertEvents inserts events in one statement.
func (t *txn) insertEvents(ctx context.Context, events []payg.Event) error {
	var q strings.Builder
	q.WriteString(`INSERT INTO events (id, tenant_id, type, contract_id, seq, data, created_at) VALUES `)
	args := make([]any, 0, 7*len(events))
	for i, e := range events {
		if i > 0 {
			q.WriteString(",")
		}
		q.WriteString("(?,?,?,?,?,?,?)")
		args = append(args, e.ID, e.TenantID, e.Type, nullString(e.ContractID), e.Seq, string(e.Data), t.d.Time(e.CreatedAt))
	}
	return t.later(ctx, nil, q.String(), args...)
}

// discard drops the held events and their error (a group commit's member
// that failed, whose writes its savepoint undoes).
func (t *txn) discard() {
	t.events, t.jobs, t.held = nil, nil, nil
}

// errRow is a row whose Scan fails with err.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

var _ payg.Tx = (*txn)(nil)
