package payg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/lease"
)

// Outcome is what became of a notice.
type Outcome struct {
	Payment Payment
	// Duplicate is true when the notice had been applied before: nothing
	// changed, and the provider gets the same acknowledgement.
	Duplicate bool
	// Contract is the contract after the payment, when one was paid.
	Contract *Contract
	// Suspense is the item created when the payment could not be applied.
	Suspense *SuspenseItem
	Tokens   []Token
	// Allocation is the lease arithmetic of an applied payment.
	Allocation *lease.Result
	// Request is the payment request the notice was about, if any, as
	// the notice left it.
	Request *PaymentRequest
}

// ApplyNotice records a provider's notice for tenant and, if it says money
// moved, applies it: deduplicate on (instance, provider transaction id),
// match the contract, allocate by its plan's waterfall, append ledger lines,
// issue tokens under the device's lock, and write the events — all in one
// transaction. The caller acknowledges the provider only after it returns
// nil. A payment that cannot be applied is kept in suspense, never lost.
func (s *Service) ApplyNotice(ctx context.Context, tenant string, n core.PaymentNotice) (Outcome, error) {
	if n.ProviderTxID == "" && n.RequestID != "" && n.Status != core.NoticeSucceeded {
		// A failed or pending attempt the gateway started has no receipt
		// yet; it is known by the gateway's request id.
		n.ProviderTxID = "request:" + n.RequestID
	}
	if err := validateNotice(n); err != nil {
		return Outcome{}, err
	}
	loc, _, err := s.location(ctx, tenant)
	if err != nil {
		return Outcome{}, err
	}
	var out Outcome
	err = s.inTx(ctx, func(tx Tx) error {
		out = Outcome{}
		req, err := s.requestOf(ctx, tx, tenant, n)
		if err != nil {
			return err
		}
		if err := s.applyNotice(ctx, tx, tenant, loc, n, req, &out); err != nil {
			return err
		}
		return s.settleRequest(ctx, tx, req, n, &out)
	})
	if err != nil {
		return Outcome{}, fmt.Errorf("payg: apply %s notice %s: %w", n.Instance, n.ProviderTxID, err)
	}
	return out, nil
}

func validateNotice(n core.PaymentNotice) error {
	switch {
	case n.Instance == "":
		return core.Errorf(core.EINVALID, "notice: no instance")
	case n.ProviderTxID == "":
		return core.Errorf(core.EINVALID, "notice: no provider transaction id")
	case n.Status == core.NoticeSucceeded && n.Amount.Amount <= 0:
		return core.Errorf(core.EINVALID, "notice: amount %d must be positive", n.Amount.Amount)
	}
	if n.Status == core.NoticeSucceeded {
		if err := n.Amount.Currency.Validate(); err != nil {
			return core.Errorf(core.EINVALID, "notice: %v", err)
		}
	}
	switch n.Status {
	case core.NoticeSucceeded, core.NoticeFailed, core.NoticePending, core.NoticeReversed:
		return nil
	}
	return core.Errorf(core.EINVALID, "notice: status %q is not handled by ApplyNotice", n.Status)
}

func (s *Service) applyNotice(ctx context.Context, tx Tx, tenant string, loc *time.Location, n core.PaymentNotice, req *PaymentRequest, out *Outcome) error {
	now := s.clock.Now()
	existing, err := tx.PaymentByKey(ctx, n.Instance, n.ProviderTxID)
	if n.Status == core.NoticeReversed {
		return s.reverseNotice(ctx, tx, loc, existing, err, n, out)
	}
	switch {
	case err == nil && !(existing.Status == PaymentPending && n.Status != core.NoticePending):
		out.Payment, out.Duplicate = existing, true
		return nil
	case err != nil && core.ErrorCode(err) != core.ENOTFOUND:
		return err
	}
	p := Payment{
		ID: newID(prefixPayment), TenantID: tenant, Instance: n.Instance, ProviderTxID: n.ProviderTxID,
		RequestID: n.RequestID, Amount: n.Amount, AccountRef: strings.TrimSpace(n.AccountRef),
		PayerMSISDN: n.PayerMSISDN, PayerMSISDNHash: strings.ToLower(n.PayerMSISDNHash), PayerName: n.PayerName,
		OccurredAt: n.OccurredAt, ReceivedAt: now, Reason: n.Reason, Raw: n.Raw,
	}
	update := err == nil // a pending payment that is now final
	if update {
		p.ID, p.ReceivedAt = existing.ID, existing.ReceivedAt
	}
	switch n.Status {
	case core.NoticeFailed:
		p.Status = PaymentFailed
	case core.NoticePending:
		p.Status = PaymentPending
	}
	if p.Status != "" {
		out.Payment = p
		return s.savePayment(ctx, tx, p, update)
	}

	c, reason, detail, err := s.matchFor(ctx, tx, tenant, p, req)
	if err != nil {
		return err
	}
	var res lease.Result
	if reason == "" {
		res, err = lease.Apply(c.Plan, c.State, p.Amount, now, loc)
		switch {
		case errors.Is(err, lease.ErrCurrencyMismatch):
			reason, detail = SuspenseCurrencyMismatch, fmt.Sprintf("payment in %s, contract %s in %s", p.Amount.Currency, c.AccountNumber, c.State.Currency)
		case errors.Is(err, lease.ErrBelowMinimum):
			reason, detail = SuspenseBelowMinimum, fmt.Sprintf("payment of %d below the plan's minimum %d for contract %s", p.Amount.Amount, c.Plan.MinimumPayment, c.AccountNumber)
		case errors.Is(err, lease.ErrContractClosed):
			reason, detail = SuspenseContractClosed, fmt.Sprintf("contract %s is %s", c.AccountNumber, c.State.Status)
		case err != nil:
			return fmt.Errorf("allocate: %w", err)
		}
	}
	if reason != "" {
		return s.toSuspense(ctx, tx, p, update, reason, detail, out)
	}

	p.Status, p.ContractID = PaymentApplied, c.ID
	if err := s.savePayment(ctx, tx, p, update); err != nil {
		return err
	}
	c, tokens, from, err := s.post(ctx, tx, c, p.ID, res, now)
	if err != nil {
		return err
	}
	out.Payment, out.Contract, out.Tokens, out.Allocation = p, &c, tokens, &res
	return s.emitPayment(ctx, tx, p, c, from, res, tokens, now)
}

// savePayment inserts p, or updates it when a pending payment became final.
// A duplicate key (ErrConcurrentWrite, which inTx retries) means a
// concurrent transaction stored the same notice first: run again, and this
// time it is a duplicate.
func (s *Service) savePayment(ctx context.Context, tx Tx, p Payment, update bool) error {
	if update {
		return tx.UpdatePayment(ctx, p)
	}
	return tx.InsertPayment(ctx, p)
}

// match finds and locks the contract a payment is for (see find). A reason
// is returned when there is none, or more than one, to apply it to.
func (s *Service) match(ctx context.Context, tx Tx, tenant string, p Payment) (Contract, SuspenseReason, string, error) {
	// Most payments name their contract's account: read and lock it in
	// one step, and look further only when it is not one.
	if ref := normalizeAccount(p.AccountRef); ref != "" {
		c, err := tx.LockContractByAccount(ctx, tenant, ref)
		if err == nil {
			return c, "", "", nil
		}
		if core.ErrorCode(err) != core.ENOTFOUND {
			return Contract{}, "", "", err
		}
	}
	id, reason, detail, err := find(ctx, tx, tenant, p.AccountRef, p.PayerMSISDN, p.PayerMSISDNHash, false)
	if err != nil || reason != "" {
		return Contract{}, reason, detail, err
	}
	c, err := tx.LockContract(ctx, tenant, id)
	return c, "", "", err
}

// find returns the id of the contract a payment is for: by account number
// (unless byAccount is false: the caller looked already), then device
// serial, then the payer's phone (its hash, or the number).
func find(ctx context.Context, r Reader, tenant, accountRef, msisdn, msisdnHash string, byAccount bool) (string, SuspenseReason, string, error) {
	if ref := normalizeAccount(accountRef); ref != "" {
		if byAccount {
			c, err := r.ContractByAccount(ctx, tenant, ref)
			if err == nil {
				return c.ID, "", "", nil
			}
			if core.ErrorCode(err) != core.ENOTFOUND {
				return "", "", "", err
			}
		}
		d, err := r.DeviceBySerial(ctx, tenant, strings.TrimSpace(accountRef))
		if err == nil {
			cs, err := r.ContractsByDevice(ctx, tenant, d.ID)
			if err != nil {
				return "", "", "", err
			}
			if open := openContracts(cs); len(open) == 1 {
				return open[0].ID, "", "", nil
			}
		} else if core.ErrorCode(err) != core.ENOTFOUND {
			return "", "", "", err
		}
	}
	hash := strings.ToLower(msisdnHash)
	if hash == "" && msisdn != "" {
		if e164, err := NormalizePhone(msisdn, ""); err == nil {
			hash = PhoneHash(e164)
		}
	}
	if hash != "" {
		cs, err := r.ContractsByPhoneHash(ctx, tenant, hash)
		if err != nil {
			return "", "", "", err
		}
		switch open := openContracts(cs); len(open) {
		case 0:
		case 1:
			return open[0].ID, "", "", nil
		default:
			return "", SuspenseAmbiguous, fmt.Sprintf("reference %q unknown; the payer's phone has %d open contracts", accountRef, len(open)), nil
		}
	}
	return "", SuspenseUnknownAccount, fmt.Sprintf("no contract or device matches reference %q or the payer's phone", accountRef), nil
}

// CheckAccount answers a provider's question before a payment is made (an
// M-Pesa C2B validation): would a payment of amount with this reference
// and payer be applied? It returns the contract, or the suspense reason the
// payment would get. Nothing is written.
func (s *Service) CheckAccount(ctx context.Context, tenant, accountRef, msisdn, msisdnHash string, amount core.Money) (Contract, SuspenseReason, string, error) {
	var c Contract
	var reason SuspenseReason
	var detail string
	err := s.store.View(ctx, func(r Reader) error {
		id, rs, d, err := find(ctx, r, tenant, accountRef, msisdn, msisdnHash, true)
		if err != nil || rs != "" {
			reason, detail = rs, d
			return err
		}
		if c, err = r.Contract(ctx, tenant, id); err != nil {
			return err
		}
		switch {
		case c.State.Status.IsClosed():
			reason, detail = SuspenseContractClosed, fmt.Sprintf("contract %s is %s", c.AccountNumber, c.State.Status)
		case amount.Currency != c.State.Currency:
			reason, detail = SuspenseCurrencyMismatch, fmt.Sprintf("payment in %s, contract in %s", amount.Currency, c.State.Currency)
		case amount.Amount < c.Plan.MinimumPayment:
			reason, detail = SuspenseBelowMinimum, fmt.Sprintf("minimum payment is %d", c.Plan.MinimumPayment)
		}
		return nil
	})
	return c, reason, detail, err
}

func openContracts(cs []Contract) []Contract {
	var open []Contract
	for _, c := range cs {
		if !c.State.Status.IsClosed() {
			open = append(open, c)
		}
	}
	return open
}

func (s *Service) toSuspense(ctx context.Context, tx Tx, p Payment, update bool, reason SuspenseReason, detail string, out *Outcome) error {
	now := s.clock.Now()
	p.Status, p.ContractID = PaymentSuspense, ""
	if err := s.savePayment(ctx, tx, p, update); err != nil {
		return err
	}
	item := SuspenseItem{
		ID: newID(prefixSuspense), TenantID: p.TenantID, PaymentID: p.ID, Reason: reason,
		Detail: detail, Status: SuspenseOpen, CreatedAt: now,
	}
	if err := tx.InsertSuspense(ctx, item); err != nil {
		return fmt.Errorf("store suspense item: %w", err)
	}
	out.Payment, out.Suspense = p, &item
	if err := s.emit(ctx, tx, p.TenantID, "", EventPaymentReceived, paymentData(p), now); err != nil {
		return err
	}
	return s.emit(ctx, tx, p.TenantID, "", EventPaymentUnmatched, map[string]any{
		"payment": paymentData(p), "suspense_id": item.ID, "reason": reason, "detail": detail,
	}, now)
}

// post stores an allocation: ledger lines, the contract's new state and
// the tokens its credit buys. It returns the status announced before, so
// the caller can emit contract.status_changed when it differs from res.To.
func (s *Service) post(ctx context.Context, tx Tx, c Contract, paymentID string, res lease.Result, now time.Time) (Contract, []Token, lease.Status, error) {
	announced := c.AnnouncedStatus
	if announced == "" {
		announced = res.From
	}
	lines := make([]LedgerLine, len(res.Lines))
	for i, l := range res.Lines {
		lines[i] = LedgerLine{TenantID: c.TenantID, ContractID: c.ID, PaymentID: paymentID, Line: l}
	}
	if err := tx.AppendLedger(ctx, lines); err != nil {
		return Contract{}, nil, "", fmt.Errorf("append ledger: %w", err)
	}
	c.State, c.AnnouncedStatus, c.Version, c.UpdatedAt = res.State, res.To, c.Version+1, now
	if err := tx.UpdateContract(ctx, c); err != nil {
		return Contract{}, nil, "", fmt.Errorf("update contract: %w", err)
	}
	tokens, err := s.issueTokens(ctx, tx, c, paymentID, res.CreditSeconds, res.PaidOff)
	if err != nil {
		return Contract{}, nil, "", err
	}
	return c, tokens, announced, nil
}

// statusChanged is the data of a contract.status_changed event.
func statusChanged(c Contract, from lease.Status, reason string) map[string]any {
	d := map[string]any{"contract_id": c.ID, "account_number": c.AccountNumber, "from": from, "to": c.AnnouncedStatus}
	if reason != "" {
		d["reason"] = reason
	}
	return d
}

func (s *Service) emitPayment(ctx context.Context, tx Tx, p Payment, c Contract, from lease.Status, res lease.Result, tokens []Token, now time.Time) error {
	type event struct {
		typ  string
		data any
	}
	events := []event{
		{EventPaymentReceived, paymentData(p)},
		{EventPaymentApplied, map[string]any{
			"payment": paymentData(p), "contract_id": c.ID, "account_number": c.AccountNumber,
			"lines": res.Lines, "credit_seconds": res.CreditSeconds, "expiry": c.State.Expiry,
			"status": res.To,
		}},
	}
	if from != c.AnnouncedStatus {
		events = append(events, event{EventContractStatusChanged, statusChanged(c, from, "payment")})
	}
	if res.PaidOff {
		events = append(events, event{EventContractPaidOff, map[string]any{"contract_id": c.ID, "total_paid": c.State.TotalPaid}})
	}
	for _, t := range tokens {
		if t.Status == TokenIssued { // a pending token's event comes when its vendor answers
			events = append(events, event{EventTokenIssued, tokenData(t)})
		}
	}
	for _, e := range events {
		if err := s.emit(ctx, tx, p.TenantID, c.ID, e.typ, e.data, now); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) emit(ctx context.Context, tx Tx, tenant, contractID, typ string, data any, now time.Time) error {
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("event %s: %w", typ, err)
	}
	e, err := tx.InsertEvent(ctx, Event{ID: newID(prefixEvent), TenantID: tenant, Type: typ, ContractID: contractID, Data: b, CreatedAt: now})
	if err != nil {
		return fmt.Errorf("store event %s: %w", typ, err)
	}
	for _, sub := range s.subs {
		if err := sub.OnEvent(ctx, tx, e); err != nil {
			return fmt.Errorf("event %s subscriber: %w", typ, err)
		}
	}
	return nil
}

// paymentData is a payment as events carry it: no raw body.
func paymentData(p Payment) map[string]any {
	return map[string]any{
		"id": p.ID, "instance": p.Instance, "provider_tx_id": p.ProviderTxID, "status": p.Status,
		"amount":      map[string]any{"amount": p.Amount.Amount, "currency": p.Amount.Currency},
		"account_ref": p.AccountRef, "payer_msisdn": p.PayerMSISDN, "received_at": p.ReceivedAt,
	}
}

func tokenData(t Token) map[string]any {
	d := map[string]any{
		"id": t.ID, "device_id": t.DeviceID, "contract_id": t.ContractID, "payment_id": t.PaymentID,
		"scheme": t.Scheme, "type": t.Type, "value": t.Value, "seconds": t.Seconds, "count": t.Count,
		"code": t.Code, "status": t.Status,
	}
	if t.FailureReason != "" {
		d["failure_reason"] = t.FailureReason
	}
	return d
}

// reverseNotice handles a provider's word that a payment was reversed. A
// repeat of it is a duplicate; a reversal of a payment the gateway never
// saw is an error, so the callback is not acknowledged and stays visible.
func (s *Service) reverseNotice(ctx context.Context, tx Tx, loc *time.Location, p Payment, err error, n core.PaymentNotice, out *Outcome) error {
	if err != nil {
		if core.ErrorCode(err) == core.ENOTFOUND {
			return core.Errorf(core.ENOTFOUND, "reversal of unknown payment %s/%s", n.Instance, n.ProviderTxID)
		}
		return err
	}
	if p.Status == PaymentReversed {
		out.Payment, out.Duplicate = p, true
		return nil
	}
	o, err := s.reverse(ctx, tx, loc, p, n.Reason)
	*out = o
	return err
}
