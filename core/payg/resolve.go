package payg

import (
	"context"
	"fmt"
	"time"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/lease"
)

// Reverse takes back an applied payment: negative ledger lines, credit
// already in a token becomes negative credit the next payment absorbs,
// and a payment.reversed event. A payment is reversed at most once.
func (s *Service) Reverse(ctx context.Context, tenant, paymentID, reason string) (Outcome, error) {
	loc, _, err := s.location(ctx, tenant)
	if err != nil {
		return Outcome{}, err
	}
	var out Outcome
	err = s.inTx(ctx, func(tx Tx) error {
		p, err := tx.Payment(ctx, tenant, paymentID)
		if err != nil {
			return err
		}
		out, err = s.reverse(ctx, tx, loc, p, reason)
		return err
	})
	if err != nil {
		return Outcome{}, fmt.Errorf("payg: reverse payment %s: %w", paymentID, err)
	}
	return out, nil
}

func (s *Service) reverse(ctx context.Context, tx Tx, loc *time.Location, p Payment, reason string) (Outcome, error) {
	if p.Status != PaymentApplied {
		return Outcome{}, core.Errorf(core.ECONFLICT, "payment %s is %s; only an applied payment can be reversed", p.ID, p.Status)
	}
	// The contract lock serialises this with every other change to it;
	// re-read the payment under it so two reversals cannot both pass.
	c, err := tx.LockContract(ctx, p.TenantID, p.ContractID)
	if err != nil {
		return Outcome{}, err
	}
	if p, err = tx.Payment(ctx, p.TenantID, p.ID); err != nil {
		return Outcome{}, err
	}
	if p.Status != PaymentApplied {
		return Outcome{}, core.Errorf(core.ECONFLICT, "payment %s is %s; only an applied payment can be reversed", p.ID, p.Status)
	}
	all, err := tx.LedgerLines(ctx, p.TenantID, c.ID)
	if err != nil {
		return Outcome{}, err
	}
	var original []lease.Line
	for _, l := range all {
		if l.PaymentID == p.ID && !l.Line.Reversal {
			original = append(original, l.Line)
		}
	}
	now := s.clock.Now()
	res, err := lease.Reverse(c.Plan, c.State, original, now, loc)
	if err != nil {
		return Outcome{}, err
	}
	p.Status, p.Reason = PaymentReversed, reason
	if err := tx.UpdatePayment(ctx, p); err != nil {
		return Outcome{}, err
	}
	c, tokens, from, err := s.post(ctx, tx, c, p.ID, res, now)
	if err != nil {
		return Outcome{}, err
	}
	if err := s.emit(ctx, tx, p.TenantID, c.ID, EventPaymentReversed, map[string]any{
		"payment": paymentData(p), "contract_id": c.ID, "reason": reason, "lines": res.Lines,
		"credit_seconds": res.CreditSeconds, "expiry": c.State.Expiry,
	}, now); err != nil {
		return Outcome{}, err
	}
	if from != c.AnnouncedStatus {
		if err := s.emit(ctx, tx, p.TenantID, c.ID, EventContractStatusChanged, statusChanged(c, from, "reversal"), now); err != nil {
			return Outcome{}, err
		}
	}
	return Outcome{Payment: p, Contract: &c, Tokens: tokens, Allocation: &res}, nil
}

// MatchSuspense applies a suspended payment to the contract an operator
// chose. If the lease rules still refuse it (closed contract, currency,
// minimum), the item stays open and the error says why.
func (s *Service) MatchSuspense(ctx context.Context, tenant, suspenseID, contractID string) (Outcome, error) {
	loc, _, err := s.location(ctx, tenant)
	if err != nil {
		return Outcome{}, err
	}
	var out Outcome
	err = s.inTx(ctx, func(tx Tx) error {
		c, err := tx.LockContract(ctx, tenant, contractID)
		if err != nil {
			return err
		}
		item, p, err := openSuspense(ctx, tx, tenant, suspenseID)
		if err != nil {
			return err
		}
		now := s.clock.Now()
		res, err := lease.Apply(c.Plan, c.State, p.Amount, now, loc)
		if err != nil {
			return err
		}
		p.Status, p.ContractID = PaymentApplied, c.ID
		if err := tx.UpdatePayment(ctx, p); err != nil {
			return err
		}
		item.Status, item.ContractID, item.ResolvedAt = SuspenseMatched, c.ID, now
		if err := tx.UpdateSuspense(ctx, item); err != nil {
			return err
		}
		c, tokens, from, err := s.post(ctx, tx, c, p.ID, res, now)
		if err != nil {
			return err
		}
		out = Outcome{Payment: p, Contract: &c, Suspense: &item, Tokens: tokens, Allocation: &res}
		return s.emitPayment(ctx, tx, p, c, from, res, tokens, now)
	})
	if err != nil {
		return Outcome{}, fmt.Errorf("payg: match suspense item %s: %w", suspenseID, err)
	}
	return out, nil
}

// RefundSuspense closes a suspense item whose money was given back outside
// the gateway; the payment is kept, marked refunded.
func (s *Service) RefundSuspense(ctx context.Context, tenant, suspenseID, note string) (SuspenseItem, error) {
	var item SuspenseItem
	err := s.inTx(ctx, func(tx Tx) error {
		var p Payment
		var err error
		if item, p, err = openSuspense(ctx, tx, tenant, suspenseID); err != nil {
			return err
		}
		now := s.clock.Now()
		p.Status = PaymentRefunded
		if err := tx.UpdatePayment(ctx, p); err != nil {
			return err
		}
		item.Status, item.ResolvedAt = SuspenseRefunded, now
		if note != "" {
			item.Detail += "; refunded: " + note
		}
		if err := tx.UpdateSuspense(ctx, item); err != nil {
			return err
		}
		return s.emit(ctx, tx, tenant, "", EventPaymentRefunded, map[string]any{
			"payment": paymentData(p), "suspense_id": item.ID, "note": note,
		}, now)
	})
	if err != nil {
		return SuspenseItem{}, fmt.Errorf("payg: refund suspense item %s: %w", suspenseID, err)
	}
	return item, nil
}

func openSuspense(ctx context.Context, tx Tx, tenant, id string) (SuspenseItem, Payment, error) {
	item, err := tx.SuspenseItem(ctx, tenant, id)
	if err != nil {
		return SuspenseItem{}, Payment{}, err
	}
	if item.Status != SuspenseOpen {
		return SuspenseItem{}, Payment{}, core.Errorf(core.ECONFLICT, "suspense item %s is already %s", id, item.Status)
	}
	p, err := tx.Payment(ctx, tenant, item.PaymentID)
	if err != nil {
		return SuspenseItem{}, Payment{}, err
	}
	return item, p, nil
}
