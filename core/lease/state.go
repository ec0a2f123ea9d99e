package lease

import (
	"fmt"
	"reflect"
	"time"

	"github.com/payg-gateway/gateway/core"
)

// Status is the status of a contract.
type Status string

// Statuses. State.Status stores only pending_deposit, active, paid_off and
// the operator statuses; late and defaulted are derived from the credit
// expiry by StatusAt, so they never go stale in storage.
const (
	StatusPendingDeposit Status = "pending_deposit"
	StatusActive         Status = "active"
	StatusLate           Status = "late"      // more than GraceDays days in arrears
	StatusDefaulted      Status = "defaulted" // more than DefaultDays days in arrears
	StatusPaidOff        Status = "paid_off"
	StatusCancelled      Status = "cancelled"   // operator, terminal
	StatusRepossessed    Status = "repossessed" // operator; may still be written off
	StatusWrittenOff     Status = "written_off" // operator, terminal
)

// IsClosed reports whether a contract in status s refuses payments and
// charges (they go to suspense with ErrContractClosed).
func (s Status) IsClosed() bool {
	switch s {
	case StatusPaidOff, StatusCancelled, StatusRepossessed, StatusWrittenOff:
		return true
	}
	return false
}

// CanTransition reports whether the status machine allows from → to.
//
// System changes: pending_deposit → active (deposit paid) or paid_off;
// active ↔ late ↔ defaulted as time passes and payments arrive (a
// defaulted contract that pays up is active again); → paid_off; and
// paid_off → active/late/defaulted only when Reverse undoes the paying-off
// payment. Operator changes (Transition): → cancelled from pending_deposit
// or active; → repossessed from active, late or defaulted; → written_off
// from late, defaulted or repossessed. cancelled and written_off are
// terminal.
func CanTransition(from, to Status) bool {
	var next []Status
	switch from {
	case StatusPendingDeposit:
		next = []Status{StatusActive, StatusPaidOff, StatusCancelled}
	case StatusActive:
		next = []Status{StatusLate, StatusDefaulted, StatusPaidOff, StatusCancelled, StatusRepossessed}
	case StatusLate:
		next = []Status{StatusActive, StatusDefaulted, StatusPaidOff, StatusRepossessed, StatusWrittenOff}
	case StatusDefaulted:
		next = []Status{StatusActive, StatusLate, StatusPaidOff, StatusRepossessed, StatusWrittenOff}
	case StatusPaidOff:
		next = []Status{StatusActive, StatusLate, StatusDefaulted}
	case StatusRepossessed:
		next = []Status{StatusWrittenOff}
	}
	for _, s := range next {
		if s == to {
			return true
		}
	}
	return false
}

// State is a contract's balances: a plain value that Apply, Reverse, Charge
// and Transition return a new copy of. It is a pure function of the ledger
// (see Replay). Amounts are minor units of Currency; times are whole UTC
// seconds.
type State struct {
	// Status is the stored status (never late or defaulted; see StatusAt).
	Status   Status        `json:"status"`
	Currency core.Currency `json:"currency"`
	// ActivatedAt is when the deposit was completed (zero while pending).
	ActivatedAt time.Time `json:"activated_at"`
	// Expiry is when credit runs out: payg_credit, the end of credit time
	// bought; instalments, the due date of the first instalment not fully
	// paid; energy with an access rate, the due date of the first access
	// charge not fully paid. Zero for energy without an access rate.
	Expiry time.Time `json:"expiry"`
	// LastEventAt is the time of the last ledger line; Outstanding,
	// Arrears and AccessDebt are as of then (use ArrearsAt for another time).
	LastEventAt time.Time `json:"last_event_at"`

	// TotalPaid is cash received net of reversals: the sum of the buckets below.
	TotalPaid      int64 `json:"total_paid"`
	DepositPaid    int64 `json:"deposit_paid"`
	CreditPaid     int64 `json:"credit_paid"`     // payg_credit time bought
	InstalmentPaid int64 `json:"instalment_paid"` // instalment principal
	PenaltiesPaid  int64 `json:"penalties_paid"`
	FeesPaid       int64 `json:"fees_paid"`
	AccessPaid     int64 `json:"access_paid"`
	EnergyPaid     int64 `json:"energy_paid"`
	// Overpayment is money received beyond everything owed (only possible
	// once the total price is reached): a credit balance owed to the
	// customer for refund or transfer, never dropped.
	Overpayment int64 `json:"overpayment"`

	PenaltiesDue int64 `json:"penalties_due"`
	FeesDue      int64 `json:"fees_due"`

	// Outstanding is TotalPrice − principal paid (0 without a total price).
	Outstanding int64 `json:"outstanding"`
	// Arrears is the overdue amount (instalments or access charges due on
	// an earlier local date than LastEventAt, unpaid).
	Arrears int64 `json:"arrears"`
	// AccessDebt is access charges fallen due and unpaid at LastEventAt.
	AccessDebt int64 `json:"access_debt"`
	// InstalmentsPaid counts fully paid instalments.
	InstalmentsPaid int `json:"instalments_paid"`

	// NegativeCreditSeconds is credit time reversed after it was used: the
	// next credit purchase repays it before extending Expiry.
	NegativeCreditSeconds int64 `json:"negative_credit_seconds"`
	// Carry is the value left over from buying whole units, in units of
	// 1/scale minor units (scale = seconds per price period for
	// payg_credit, 1000 for energy); always 0 ≤ Carry < price. Carry/scale
	// minor units are owed to the next purchase, so rounding loses nothing.
	Carry int64 `json:"carry"`
	// EnergyWh is energy delivered to the meter; EnergyDebtWh is reversed
	// energy that was already delivered, repaid by the next purchase first.
	EnergyWh     int64 `json:"energy_wh"`
	EnergyDebtWh int64 `json:"energy_debt_wh"`
}

// NewState returns the state of a new contract on plan: pending deposit,
// nothing paid.
func NewState(p Plan) State {
	return State{Status: StatusPendingDeposit, Currency: p.Currency}
}

// PrincipalPaid is the money paid towards the total price: deposit, credit
// and instalments.
func (s State) PrincipalPaid() int64 { return s.DepositPaid + s.CreditPaid + s.InstalmentPaid }

// PaidThrough is the instant the paid credit covers: Expiry less any
// negative credit. Days in arrears count from it.
func (s State) PaidThrough() time.Time {
	if s.Expiry.IsZero() {
		return s.Expiry
	}
	return time.Unix(s.Expiry.Unix()-s.NegativeCreditSeconds, 0).UTC()
}

// DaysInArrears returns how many local calendar days (midnights in loc; nil
// means UTC)
// separate the paid-through instant from t: 0 while paid up, and 0 for a
// contract that is pending, paid off or cancelled. A contract whose credit
// ran out at 23:00 is 1 day in arrears at 00:30 the next local day. The
// state carries all it needs; p is taken for symmetry with StatusAt.
func DaysInArrears(p Plan, s State, t time.Time, loc *time.Location) int {
	switch s.Status {
	case StatusPendingDeposit, StatusPaidOff, StatusCancelled:
		return 0
	}
	if loc == nil {
		loc = time.UTC
	}
	pt := s.PaidThrough()
	if pt.IsZero() || !t.After(pt) {
		return 0
	}
	return int(civilDay(t, loc) - civilDay(pt, loc))
}

// StatusAt returns the contract's status at t: for a stored active
// contract, late when more than GraceDays days in arrears and defaulted
// when more than DefaultDays; otherwise the stored status.
func StatusAt(p Plan, s State, t time.Time, loc *time.Location) Status {
	if s.Status != StatusActive {
		return s.Status
	}
	switch d := DaysInArrears(p, s, t, loc); {
	case d > p.DefaultDays:
		return StatusDefaulted
	case d > p.GraceDays:
		return StatusLate
	}
	return StatusActive
}

// ArrearsAt returns the overdue amount at t in minor units: instalments or
// access charges that fell due on an earlier local date and are unpaid.
// payg_credit has no money arrears (its debt is NegativeCreditSeconds).
func ArrearsAt(p Plan, s State, t time.Time, loc *time.Location) int64 {
	if s.ActivatedAt.IsZero() {
		return 0
	}
	if loc == nil {
		loc = time.UTC
	}
	switch {
	case p.IsInstalments():
		m := s.InstalmentsPaid
		for k := m + 1; k <= p.NumInstalments() && overdue(p.dueDate(s.ActivatedAt, k, loc), t, loc); k++ {
			m = k
		}
		return max(0, p.cumulative(m)-s.InstalmentPaid)
	case p.Kind == KindEnergy:
		_, od := p.accessCharges(s.ActivatedAt, t, loc)
		return max(0, satMul(p.AccessRate, od)-s.AccessPaid)
	}
	return 0
}

// accessDebtAt returns access charges fallen due at t and unpaid.
func accessDebtAt(p Plan, s State, t time.Time, loc *time.Location) int64 {
	due, _ := p.accessCharges(s.ActivatedAt, t, loc)
	return max(0, satMul(p.AccessRate, due)-s.AccessPaid)
}

// derive recomputes the balances that follow from the others and from the
// time: Outstanding, InstalmentsPaid, Expiry (instalments, energy), Arrears
// and AccessDebt, as of at.
func derive(p Plan, s *State, at time.Time, loc *time.Location) {
	s.LastEventAt = at
	if p.TotalPrice > 0 {
		s.Outstanding = max(0, p.TotalPrice-s.PrincipalPaid())
	}
	if s.ActivatedAt.IsZero() {
		return
	}
	switch {
	case p.IsInstalments():
		s.InstalmentsPaid = p.paidInstalments(s.InstalmentPaid)
		s.Expiry = p.dueDate(s.ActivatedAt, s.InstalmentsPaid+1, loc)
	case p.Kind == KindEnergy && p.AccessRate > 0:
		s.AccessDebt = accessDebtAt(p, *s, at, loc)
		s.Expiry = p.accessStart(s.ActivatedAt, s.AccessPaid/p.AccessRate, loc)
	}
	s.Arrears = ArrearsAt(p, *s, at, loc)
}

// paidOff reports whether the total price is reached and no penalty or fee
// is owed.
func paidOff(p Plan, s State) bool {
	return p.TotalPrice > 0 && s.PrincipalPaid() >= p.TotalPrice && s.PenaltiesDue == 0 && s.FeesDue == 0
}

// Diff lists the fields in which a and b differ ("TotalPaid: 100 != 90"),
// comparing times with time.Time.Equal; nil if they are equal. Stores use it
// to compare stored balances with Replay.
func Diff(a, b State) []string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	var out []string
	for i := 0; i < va.NumField(); i++ {
		fa, fb := va.Field(i).Interface(), vb.Field(i).Interface()
		if ta, ok := fa.(time.Time); ok {
			if !ta.Equal(fb.(time.Time)) {
				out = append(out, fmt.Sprintf("%s: %s != %s", va.Type().Field(i).Name, ta.Format(time.RFC3339), fb.(time.Time).Format(time.RFC3339)))
			}
			continue
		}
		if fa != fb {
			out = append(out, fmt.Sprintf("%s: %v != %v", va.Type().Field(i).Name, fa, fb))
		}
	}
	return out
}
