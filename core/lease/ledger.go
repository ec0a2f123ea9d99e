package lease

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// LineKind is the bucket a ledger line posts to.
type LineKind string

// Cash line kinds: each allocates part of a payment (positive) or of a
// reversal (negative) to one bucket.
const (
	LineDeposit     LineKind = "deposit"
	LinePenalty     LineKind = "penalty"
	LineFee         LineKind = "fee"
	LineArrears     LineKind = "arrears"     // instalment principal, overdue
	LineCurrentDue  LineKind = "current_due" // instalment principal, due today or next
	LineAdvance     LineKind = "advance"     // instalment principal, paid ahead
	LineCredit      LineKind = "credit"      // payg_credit time bought
	LineAccess      LineKind = "access"      // energy access-rate charges
	LineEnergy      LineKind = "energy"      // energy (Wh) bought
	LineOverpayment LineKind = "overpayment" // beyond everything owed
)

// Non-cash line kinds: they move no money (Amount 0) or record a
// receivable, and are left out of cash totals.
const (
	LineFreeDays      LineKind = "free_days"      // credit granted on activation; Amount 0
	LinePenaltyCharge LineKind = "penalty_charge" // penalty owed (Charge); Amount > 0
	LineFeeCharge     LineKind = "fee_charge"     // fee owed (Charge); Amount > 0
	LineStatus        LineKind = "status"         // status change; Amount 0
)

// IsCash reports whether lines of kind k carry cash received or reversed.
func (k LineKind) IsCash() bool {
	switch k {
	case LineDeposit, LinePenalty, LineFee, LineArrears, LineCurrentDue, LineAdvance,
		LineCredit, LineAccess, LineEnergy, LineOverpayment:
		return true
	}
	return false
}

// Line is one ledger line. The lines of a contract, in order, are its whole
// history: Replay folds them into the State.
//
// Credit and energy lines satisfy, exactly:
//
//	Amount × scale + CarryBefore = Units × price + CarryAfter
//
// where Units is Seconds (scale = seconds per price period, price = Price)
// or Wh (scale = 1000, price = PricePerKWh). Of the units, −DebtSeconds
// (−DebtWh) repaid negative credit (energy debt) on a payment; on a
// reversal DebtSeconds (DebtWh) is the part that was already used and
// became negative credit (energy debt).
type Line struct {
	Kind   LineKind  `json:"kind"`
	Amount int64     `json:"amount"` // signed minor units
	At     time.Time `json:"at"`
	// Reversal marks the lines written by Reverse (negative amounts).
	Reversal bool `json:"reversal,omitempty"`
	// Instalment is the 1-based instalment an instalment line pays.
	Instalment int `json:"instalment,omitempty"`
	// Seconds of credit bought (+) or taken back (−). On instalment lines
	// it is how far the line moved Expiry; on free_days lines the days
	// granted × 86400.
	Seconds     int64 `json:"seconds,omitempty"`
	DebtSeconds int64 `json:"debt_seconds,omitempty"`
	// Wh of energy bought (+) or taken back (−).
	Wh     int64 `json:"wh,omitempty"`
	DebtWh int64 `json:"debt_wh,omitempty"`
	// CarryBefore and CarryAfter are State.Carry around a credit or energy line.
	CarryBefore int64 `json:"carry_before,omitempty"`
	CarryAfter  int64 `json:"carry_after,omitempty"`
	// Status is the new stored status of a status line.
	Status Status `json:"status,omitempty"`
	// Note explains the line's arithmetic in words, for people.
	Note string `json:"note,omitempty"`
}

// post applies one line to s, checks the line against s, and re-derives the
// time-dependent balances as of l.At. It is the only code that changes
// balances, used by Apply, Reverse, Charge, Transition and Replay alike.
func post(p Plan, s *State, l Line, loc *time.Location) error {
	mismatch := func(format string, args ...any) error {
		return fmt.Errorf("%s line at %s: %s: %w", l.Kind, l.At.Format(time.RFC3339), fmt.Sprintf(format, args...), ErrLedgerMismatch)
	}
	if !l.Kind.IsCash() && l.Kind != LinePenaltyCharge && l.Kind != LineFeeCharge && l.Amount != 0 {
		return mismatch("amount %d on a line that moves no money", l.Amount)
	}
	if l.Kind != LineStatus && l.Kind != LinePenaltyCharge && l.Kind != LineFeeCharge && s.ActivatedAt.IsZero() && l.Kind != LineDeposit {
		return mismatch("contract is not active")
	}
	var b balance
	a := l.Amount
	switch l.Kind {
	case LineDeposit:
		b.add(&s.DepositPaid, a, "deposit_paid")
	case LinePenalty:
		b.add(&s.PenaltiesPaid, a, "penalties_paid")
		b.add(&s.PenaltiesDue, -a, "penalties_due")
	case LineFee:
		b.add(&s.FeesPaid, a, "fees_paid")
		b.add(&s.FeesDue, -a, "fees_due")
	case LineArrears, LineCurrentDue, LineAdvance:
		if !p.IsInstalments() {
			return mismatch("not an instalment plan")
		}
		b.add(&s.InstalmentPaid, a, "instalment_paid")
	case LineCredit, LineEnergy:
		if err := postUnits(p, s, l, &b); err != nil {
			if errors.Is(err, ErrOverflow) {
				return fmt.Errorf("%s line: %w", l.Kind, err)
			}
			return mismatch("%v", err)
		}
	case LineFreeDays:
		if p.Kind != KindPAYGCredit || l.Seconds < 0 {
			return mismatch("free days on a %s plan", p.Kind)
		}
		e, err := addSeconds(later(s.Expiry, l.At), l.Seconds)
		if err != nil {
			return err
		}
		s.Expiry = e
	case LineAccess:
		b.add(&s.AccessPaid, a, "access_paid")
	case LineOverpayment:
		b.add(&s.Overpayment, a, "overpayment")
	case LinePenaltyCharge:
		b.add(&s.PenaltiesDue, a, "penalties_due")
	case LineFeeCharge:
		b.add(&s.FeesDue, a, "fees_due")
	case LineStatus:
		if l.Status == "" {
			return mismatch("empty status")
		}
		s.Status = l.Status
		if l.Status == StatusActive && s.ActivatedAt.IsZero() {
			s.ActivatedAt = l.At
			if p.Kind == KindPAYGCredit {
				s.Expiry = l.At
			}
		}
	default:
		return mismatch("unknown line kind")
	}
	if l.Kind.IsCash() {
		b.add(&s.TotalPaid, a, "total_paid")
	}
	if b.err != nil {
		return b.err
	}
	if neg := negativeBalances(*s); len(neg) > 0 {
		return mismatch("negative %s", strings.Join(neg, ", "))
	}
	before := s.Expiry
	derive(p, s, l.At, loc)
	if p.IsInstalments() && (l.Kind == LineArrears || l.Kind == LineCurrentDue || l.Kind == LineAdvance) {
		if moved := secondsBetween(before, s.Expiry); moved != l.Seconds {
			return mismatch("moves expiry by %d s, line says %d", moved, l.Seconds)
		}
	}
	return nil
}

// postUnits applies a credit or energy line: checks its value identity and
// carry, then moves Expiry or the energy balance.
func postUnits(p Plan, s *State, l Line, b *balance) error {
	units, debt := l.Seconds, l.DebtSeconds
	if l.Kind == LineEnergy {
		units, debt = l.Wh, l.DebtWh
		if p.Kind != KindEnergy {
			return fmt.Errorf("energy line on a %s plan", p.Kind)
		}
	} else if p.Kind != KindPAYGCredit {
		return fmt.Errorf("credit line on a %s plan", p.Kind)
	}
	switch {
	case l.CarryBefore != s.Carry:
		return fmt.Errorf("carry before is %d, balance has %d", l.CarryBefore, s.Carry)
	case l.CarryAfter < 0 || l.CarryAfter >= p.unitPrice():
		return fmt.Errorf("carry after %d outside [0, %d)", l.CarryAfter, p.unitPrice())
	case !valueHolds(l.Amount, p.scale(), l.CarryBefore, units, p.unitPrice(), l.CarryAfter):
		return fmt.Errorf("%d×%d + %d != %d×%d + %d", l.Amount, p.scale(), l.CarryBefore, units, p.unitPrice(), l.CarryAfter)
	case l.Amount >= 0 && (units < 0 || debt > 0 || -debt > units):
		return fmt.Errorf("payment line with units %d, debt %d", units, debt)
	case l.Amount < 0 && (units > 0 || debt < 0 || debt > -units):
		return fmt.Errorf("reversal line with units %d, debt %d", units, debt)
	}
	s.Carry = l.CarryAfter
	net := units + debt // what reaches the expiry or the meter
	if l.Kind == LineEnergy {
		b.add(&s.EnergyPaid, l.Amount, "energy_paid")
		b.add(&s.EnergyDebtWh, debt, "energy_debt_wh")
		b.add(&s.EnergyWh, net, "energy_wh")
		return nil
	}
	b.add(&s.CreditPaid, l.Amount, "credit_paid")
	b.add(&s.NegativeCreditSeconds, debt, "negative_credit_seconds")
	switch {
	case net > 0: // extend from the expiry if still running, else from now
		e, err := addSeconds(later(s.Expiry, l.At), net)
		if err != nil {
			return err
		}
		s.Expiry = e
	case net < 0: // take back unused credit only
		e, err := addSeconds(s.Expiry, net)
		if err != nil {
			return err
		}
		if e.Before(l.At) {
			return fmt.Errorf("takes back %d s but only %d s are unused", -net, secondsBetween(l.At, s.Expiry))
		}
		s.Expiry = e
	}
	return nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// negativeBalances names the balances that must never go below zero and did.
func negativeBalances(s State) []string {
	var out []string
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"deposit_paid", s.DepositPaid}, {"credit_paid", s.CreditPaid}, {"instalment_paid", s.InstalmentPaid},
		{"penalties_paid", s.PenaltiesPaid}, {"fees_paid", s.FeesPaid}, {"access_paid", s.AccessPaid},
		{"energy_paid", s.EnergyPaid}, {"overpayment", s.Overpayment}, {"penalties_due", s.PenaltiesDue},
		{"fees_due", s.FeesDue}, {"negative_credit_seconds", s.NegativeCreditSeconds},
		{"energy_debt_wh", s.EnergyDebtWh}, {"energy_wh", s.EnergyWh}, {"total_paid", s.TotalPaid},
	} {
		if f.v < 0 {
			out = append(out, f.name)
		}
	}
	return out
}

// Replay folds a contract's ledger lines, in ledger order, into its State,
// checking each line against the balances it finds (carry, value identity,
// no negative balance). A store compares the result with its stored
// balances (see CheckLedger); loc is the tenant's zone.
func Replay(p Plan, lines []Line, loc *time.Location) (State, error) {
	if err := p.Validate(); err != nil {
		return State{}, err
	}
	if loc == nil {
		return State{}, fmt.Errorf("lease: replay: nil time zone: %w", ErrInvalidArgument)
	}
	s := NewState(p)
	for i, l := range lines {
		if err := post(p, &s, l, loc); err != nil {
			return State{}, fmt.Errorf("lease: replay: line %d: %w", i, err)
		}
	}
	return s, nil
}

// CheckLedger verifies the invariants a store can check at any time:
//
//   - the cash lines sum to netReceived (payments minus reversals, taken
//     from the payments table), and so does s.TotalPaid;
//   - TotalPaid is the sum of the paid buckets;
//   - Replay(p, lines) equals s, field by field.
//
// It returns an error wrapping ErrLedgerMismatch naming what differs.
func CheckLedger(p Plan, s State, lines []Line, netReceived int64, loc *time.Location) error {
	var sum int64
	var b balance
	for _, l := range lines {
		if l.Kind.IsCash() {
			b.add(&sum, l.Amount, "sum of lines")
		}
	}
	if b.err != nil {
		return fmt.Errorf("lease: check ledger: %w", b.err)
	}
	if sum != netReceived {
		return fmt.Errorf("lease: check ledger: cash lines sum to %d, payments net of reversals are %d: %w", sum, netReceived, ErrLedgerMismatch)
	}
	if s.TotalPaid != netReceived {
		return fmt.Errorf("lease: check ledger: total_paid is %d, payments net of reversals are %d: %w", s.TotalPaid, netReceived, ErrLedgerMismatch)
	}
	buckets := s.DepositPaid + s.CreditPaid + s.InstalmentPaid + s.PenaltiesPaid + s.FeesPaid + s.AccessPaid + s.EnergyPaid + s.Overpayment
	if buckets != s.TotalPaid {
		return fmt.Errorf("lease: check ledger: buckets sum to %d, total_paid is %d: %w", buckets, s.TotalPaid, ErrLedgerMismatch)
	}
	r, err := Replay(p, lines, loc)
	if err != nil {
		return fmt.Errorf("lease: check ledger: %w", err)
	}
	if d := Diff(r, s); len(d) > 0 {
		return fmt.Errorf("lease: check ledger: replayed != stored: %s: %w", strings.Join(d, "; "), ErrLedgerMismatch)
	}
	return nil
}
