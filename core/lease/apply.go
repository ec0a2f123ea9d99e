package lease

import (
	"errors"
	"fmt"
	"time"

	"github.com/payg-gateway/gateway/core"
)

// Result is the outcome of Apply, Reverse, Charge or Transition.
type Result struct {
	// State is the contract's new state; the input state is not modified.
	State State `json:"state"`
	// Lines are the new ledger lines, to append in this order.
	Lines []Line `json:"lines"`
	// CreditSeconds is the net credit time added to the contract (negative
	// when a reversal takes unused credit back): free days, credit bought
	// less negative credit repaid, or how far instalment lines moved Expiry.
	CreditSeconds int64 `json:"credit_seconds"`
	// EnergyWh is the energy to deliver to the meter, net of energy debt.
	EnergyWh int64 `json:"energy_wh"`
	// Activated is true on the payment that completed the deposit.
	Activated bool `json:"activated"`
	// PaidOff is true on the payment that reached the total price: exactly
	// once per contract (again only if a reversal reopened it).
	PaidOff bool `json:"paid_off"`
	// From and To are the statuses (as StatusAt) just before and after.
	From Status `json:"from"`
	To   Status `json:"to"`
}

// StatusChanged reports whether the operation changed the contract's status.
func (r Result) StatusChanged() bool { return r.From != r.To }

// builder posts lines onto a copy of the state and collects the result.
type builder struct {
	p   Plan
	loc *time.Location
	at  time.Time
	res Result
}

func newBuilder(p Plan, s State, at time.Time, loc *time.Location) *builder {
	return &builder{p: p, loc: loc, at: at, res: Result{State: s, From: StatusAt(p, s, at, loc)}}
}

func (b *builder) st() *State { return &b.res.State }

// post writes one line: applies it to the state and records it.
func (b *builder) post(l Line) error {
	l.At = b.at
	if l.Kind == LineArrears || l.Kind == LineCurrentDue || l.Kind == LineAdvance {
		// Instalment lines record how far they move Expiry; work it out
		// on a copy so post can check it like Replay does.
		l.Seconds = expiryMove(b.p, *b.st(), l, b.loc)
		if l.Seconds != 0 {
			l.Note += fmt.Sprintf("; expiry moves %s to the due date of the first unpaid instalment", formatSeconds(l.Seconds))
		}
	}
	if err := post(b.p, b.st(), l, b.loc); err != nil {
		return err
	}
	switch l.Kind {
	case LineCredit, LineFreeDays, LineArrears, LineCurrentDue, LineAdvance:
		b.res.CreditSeconds += l.Seconds + l.DebtSeconds
	case LineEnergy:
		b.res.EnergyWh += l.Wh + l.DebtWh
	}
	b.res.Lines = append(b.res.Lines, l)
	return nil
}

// expiryMove returns how far an instalment line moves Expiry (s is a copy).
func expiryMove(p Plan, s State, l Line, loc *time.Location) int64 {
	before := s.Expiry
	s.InstalmentPaid += l.Amount
	derive(p, &s, l.At, loc)
	return secondsBetween(before, s.Expiry)
}

func (b *builder) status(to Status, note string) error {
	return b.post(Line{Kind: LineStatus, Status: to, Note: note})
}

func (b *builder) done() Result {
	b.res.To = StatusAt(b.p, b.res.State, b.at, b.loc)
	return b.res
}

// checkArgs validates what every operation needs, except the plan.
func checkArgs(p Plan, s State, loc *time.Location) error {
	if loc == nil {
		return fmt.Errorf("nil time zone: %w", ErrInvalidArgument)
	}
	if s.Currency != p.Currency {
		return fmt.Errorf("contract in %s, plan in %s: %w", s.Currency, p.Currency, ErrCurrencyMismatch)
	}
	return nil
}

// Apply allocates a payment received at at to a contract, following the
// plan's waterfall, and returns the new state and ledger lines. loc is the
// tenant's time zone, in which due dates and days are reckoned. at is
// truncated to the second.
//
// Order: the deposit while it is not fully paid (completing it activates
// the contract and grants FreeDays), then each waterfall step, then an
// overpayment line for anything left (only possible once the total price is
// reached). A payment that reaches the total price marks the contract
// paid_off.
//
// Errors (wrapped): ErrCurrencyMismatch, ErrInvalidArgument (amount ≤ 0,
// nil loc), ErrContractClosed (paid off, cancelled, repossessed, written
// off), ErrBelowMinimum, ErrInvalidPlan, ErrOverflow.
func Apply(p Plan, s State, payment core.Money, at time.Time, loc *time.Location) (Result, error) {
	const op = "lease: apply"
	if err := p.Validate(); err != nil {
		return Result{}, err // already "lease: plan: <field>: ..."
	}
	if err := checkArgs(p, s, loc); err != nil {
		return Result{}, fmt.Errorf("%s: %w", op, err)
	}
	if payment.Currency != p.Currency {
		return Result{}, fmt.Errorf("%s: payment in %s, contract in %s: %w", op, payment.Currency, p.Currency, ErrCurrencyMismatch)
	}
	if payment.Amount <= 0 {
		return Result{}, fmt.Errorf("%s: amount %d: must be positive: %w", op, payment.Amount, ErrInvalidArgument)
	}
	if s.Status.IsClosed() {
		return Result{}, fmt.Errorf("%s: contract is %s: %w", op, s.Status, ErrContractClosed)
	}
	if payment.Amount < p.MinimumPayment {
		return Result{}, fmt.Errorf("%s: %s is below the minimum payment of %d: %w", op, payment, p.MinimumPayment, ErrBelowMinimum)
	}
	at = normTime(at)
	b := newBuilder(p, s, at, loc)
	a := &allocation{builder: b, rest: payment.Amount}
	if err := a.run(); err != nil {
		return Result{}, fmt.Errorf("%s: %w", op, err)
	}
	return b.done(), nil
}

// allocation runs one payment down the waterfall.
type allocation struct {
	*builder
	rest int64 // minor units not yet allocated
}

func (a *allocation) run() error {
	p, s := a.p, a.st()
	if s.DepositPaid < p.Deposit {
		take := min(a.rest, p.Deposit-s.DepositPaid)
		note := fmt.Sprintf("deposit %d of %d, %d still due", s.DepositPaid+take, p.Deposit, p.Deposit-s.DepositPaid-take)
		if err := a.take(Line{Kind: LineDeposit, Amount: take, Note: note}); err != nil {
			return err
		}
	}
	if s.Status == StatusPendingDeposit {
		if s.DepositPaid < p.Deposit {
			return nil // still pending; the whole payment went to the deposit
		}
		note := "deposit paid: contract activated"
		if p.Deposit == 0 {
			note = "first payment (no deposit): contract activated"
		}
		if err := a.status(StatusActive, note); err != nil {
			return err
		}
		a.res.Activated = true
		if p.Kind == KindPAYGCredit && p.FreeDays > 0 {
			secs := int64(p.FreeDays) * SecondsPerDay
			note := fmt.Sprintf("%d free days on activation = %d s", p.FreeDays, secs)
			if err := a.post(Line{Kind: LineFreeDays, Seconds: secs, Note: note}); err != nil {
				return err
			}
		}
	}
	for _, step := range p.Steps() {
		if a.rest == 0 {
			break
		}
		if err := a.step(step); err != nil {
			return fmt.Errorf("step %s: %w", step, err)
		}
	}
	if a.rest > 0 {
		note := fmt.Sprintf("%d beyond everything owed: kept as a credit balance for the customer", a.rest)
		if err := a.take(Line{Kind: LineOverpayment, Amount: a.rest, Note: note}); err != nil {
			return err
		}
	}
	if s.Status != StatusPaidOff && paidOff(p, *s) {
		a.res.PaidOff = true
		return a.status(StatusPaidOff, fmt.Sprintf("total price %d reached", p.TotalPrice))
	}
	return nil
}

// take posts a cash line and deducts it from what is left of the payment.
func (a *allocation) take(l Line) error {
	if l.Amount <= 0 {
		return nil
	}
	if err := a.post(l); err != nil {
		return err
	}
	a.rest -= l.Amount
	return nil
}

func (a *allocation) step(step Step) error {
	p, s := a.p, a.st()
	switch step {
	case StepPenalties:
		take := min(a.rest, s.PenaltiesDue)
		return a.take(Line{Kind: LinePenalty, Amount: take, Note: fmt.Sprintf("penalties: %d of %d due", take, s.PenaltiesDue)})
	case StepFees:
		take := min(a.rest, s.FeesDue)
		return a.take(Line{Kind: LineFee, Amount: take, Note: fmt.Sprintf("fees: %d of %d due", take, s.FeesDue)})
	case StepArrears:
		for a.rest > 0 {
			k := s.InstalmentsPaid + 1
			if k > p.NumInstalments() || !overdue(p.dueDate(s.ActivatedAt, k, a.loc), a.at, a.loc) {
				return nil
			}
			if err := a.instalment(LineArrears, k); err != nil {
				return err
			}
		}
	case StepCurrentDue:
		// The current instalment is the first one not overdue; pay it only
		// if it is also the first one unpaid (else the customer is ahead).
		k := s.InstalmentsPaid + 1
		if k > p.NumInstalments() || overdue(p.dueDate(s.ActivatedAt, k, a.loc), a.at, a.loc) {
			return nil
		}
		if k > 1 && !overdue(p.dueDate(s.ActivatedAt, k-1, a.loc), a.at, a.loc) {
			return nil
		}
		return a.instalment(LineCurrentDue, k)
	case StepAdvance:
		for a.rest > 0 && s.InstalmentsPaid < p.NumInstalments() {
			if err := a.instalment(LineAdvance, s.InstalmentsPaid+1); err != nil {
				return err
			}
		}
	case StepCredit:
		return a.credit()
	case StepAccessDebt:
		due := accessDebtAt(p, *s, a.at, a.loc)
		take := min(a.rest, due)
		return a.take(Line{Kind: LineAccess, Amount: take, Note: fmt.Sprintf("access rate: %d of %d due (%d every %d days)", take, due, p.AccessRate, p.AccessPeriodDays)})
	case StepEnergy:
		return a.energy()
	default:
		return fmt.Errorf("unknown step %q: %w", step, ErrInvalidPlan)
	}
	return nil
}

// instalment pays what is unpaid of instalment k, up to what is left.
func (a *allocation) instalment(kind LineKind, k int) error {
	p, s := a.p, a.st()
	unpaid := p.cumulative(k) - s.InstalmentPaid
	take := min(a.rest, unpaid)
	due := p.dueDate(s.ActivatedAt, k, a.loc)
	note := fmt.Sprintf("instalment %d of %d (%d, due %s): %d paid, %d still due",
		k, p.NumInstalments(), p.Instalment(k), due.In(a.loc).Format("2006-01-02"), take, unpaid-take)
	return a.take(Line{Kind: kind, Amount: take, Instalment: k, Note: note})
}

// credit buys credit time with what is left, up to the outstanding total
// price, repaying negative credit first.
func (a *allocation) credit() error {
	p, s := a.p, a.st()
	take := a.rest
	if p.TotalPrice > 0 {
		take = min(take, s.Outstanding)
	}
	if take == 0 {
		return nil
	}
	secs, carry, err := buyUnits(take, p.scale(), s.Carry, p.Price)
	if err != nil {
		return err
	}
	repaid := min(secs, s.NegativeCreditSeconds)
	note := fmt.Sprintf("(%d × %d s + carry %d) ÷ %d per %s = %d s (%s), carry %d",
		take, p.scale(), s.Carry, p.Price, p.PricePeriod, secs, formatSeconds(secs), carry)
	if repaid > 0 {
		note += fmt.Sprintf("; %d s repay negative credit, %d s extend the expiry", repaid, secs-repaid)
	}
	return a.take(Line{Kind: LineCredit, Amount: take, Seconds: secs, DebtSeconds: -repaid, CarryBefore: s.Carry, CarryAfter: carry, Note: note})
}

// energy buys Wh with everything left, repaying energy debt first.
func (a *allocation) energy() error {
	p, s := a.p, a.st()
	wh, carry, err := buyUnits(a.rest, WhPerKWh, s.Carry, p.PricePerKWh)
	if err != nil {
		return err
	}
	repaid := min(wh, s.EnergyDebtWh)
	note := fmt.Sprintf("(%d × 1000 + carry %d) ÷ %d per kWh = %d Wh, carry %d", a.rest, s.Carry, p.PricePerKWh, wh, carry)
	if repaid > 0 {
		note += fmt.Sprintf("; %d Wh repay energy debt, %d Wh to the meter", repaid, wh-repaid)
	}
	return a.take(Line{Kind: LineEnergy, Amount: a.rest, Wh: wh, DebtWh: -repaid, CarryBefore: s.Carry, CarryAfter: carry, Note: note})
}

// Charge records a penalty (LinePenaltyCharge) or fee (LineFeeCharge) owed
// by the customer at at; the penalties and fees steps of later payments pay
// it. The line is not cash: it does not count towards TotalPaid.
func Charge(p Plan, s State, kind LineKind, amount core.Money, at time.Time, loc *time.Location) (Result, error) {
	const op = "lease: charge"
	if err := p.Validate(); err != nil {
		return Result{}, err // already "lease: plan: <field>: ..."
	}
	if err := checkArgs(p, s, loc); err != nil {
		return Result{}, fmt.Errorf("%s: %w", op, err)
	}
	if kind != LinePenaltyCharge && kind != LineFeeCharge {
		return Result{}, fmt.Errorf("%s: kind %q: want penalty_charge or fee_charge: %w", op, kind, ErrInvalidArgument)
	}
	if amount.Currency != p.Currency {
		return Result{}, fmt.Errorf("%s: %s on a contract in %s: %w", op, amount, p.Currency, ErrCurrencyMismatch)
	}
	if amount.Amount <= 0 {
		return Result{}, fmt.Errorf("%s: amount %d: must be positive: %w", op, amount.Amount, ErrInvalidArgument)
	}
	if s.Status.IsClosed() {
		return Result{}, fmt.Errorf("%s: contract is %s: %w", op, s.Status, ErrContractClosed)
	}
	b := newBuilder(p, s, normTime(at), loc)
	if err := b.post(Line{Kind: kind, Amount: amount.Amount, Note: fmt.Sprintf("%s of %d charged", kind, amount.Amount)}); err != nil {
		return Result{}, fmt.Errorf("%s: %w", op, err)
	}
	return b.done(), nil
}

// Transition applies an operator's status change (cancelled, repossessed or
// written_off) at at, checked against the status machine (CanTransition)
// from the status at that time. It writes a status line.
func Transition(p Plan, s State, to Status, at time.Time, loc *time.Location) (Result, error) {
	const op = "lease: transition"
	if err := p.Validate(); err != nil {
		return Result{}, err // already "lease: plan: <field>: ..."
	}
	if err := checkArgs(p, s, loc); err != nil {
		return Result{}, fmt.Errorf("%s: %w", op, err)
	}
	at = normTime(at)
	from := StatusAt(p, s, at, loc)
	switch to {
	case StatusCancelled, StatusRepossessed, StatusWrittenOff:
	default:
		return Result{}, fmt.Errorf("%s: %s → %s: only cancelled, repossessed and written_off are set by an operator: %w", op, from, to, ErrIllegalTransition)
	}
	if !CanTransition(from, to) {
		return Result{}, fmt.Errorf("%s: %s → %s: %w", op, from, to, ErrIllegalTransition)
	}
	b := newBuilder(p, s, at, loc)
	if err := b.status(to, fmt.Sprintf("operator: %s → %s", from, to)); err != nil {
		return Result{}, fmt.Errorf("%s: %w", op, err)
	}
	return b.done(), nil
}

// Reverse undoes a payment whose ledger lines are original (as returned by
// Apply, or read back from the ledger), at time at. It writes one negative
// line per cash line of the original, newest first:
//
//   - deposit, penalty, fee, instalment, access and overpayment lines take
//     the money back out of their bucket: the penalty or fee is owed
//     again, instalment arrears reappear, Expiry of an instalment plan
//     moves back; a reversed deposit is owed again (the deposit is taken
//     first from the next payment) but the contract stays active;
//   - a credit line takes back exactly its value (Amount × seconds per
//     period, through the carry, so no minor unit is lost): seconds still
//     in the future come off Expiry; seconds already used become negative
//     credit that the next payment repays before extending Expiry;
//   - an energy line takes back its value in Wh, all of it energy debt,
//     because energy is on the meter as soon as it is bought.
//
// If the contract was paid off and no longer is, it goes back to active
// (shown in From/To); free days and status lines are not reversed. Reverse
// works in any status. The store must make sure a payment is reversed at
// most once; Reverse refuses lines that are reversals, not cash, or more
// than the buckets hold (ErrInvalidReversal).
func Reverse(p Plan, s State, original []Line, at time.Time, loc *time.Location) (Result, error) {
	const op = "lease: reverse"
	if err := p.Validate(); err != nil {
		return Result{}, err // already "lease: plan: <field>: ..."
	}
	if err := checkArgs(p, s, loc); err != nil {
		return Result{}, fmt.Errorf("%s: %w", op, err)
	}
	var cash []Line
	for _, l := range original {
		switch {
		case l.Reversal:
			return Result{}, fmt.Errorf("%s: line %s is itself a reversal: %w", op, l.Kind, ErrInvalidReversal)
		case l.Kind.IsCash() && l.Amount <= 0:
			return Result{}, fmt.Errorf("%s: %s line of %d: %w", op, l.Kind, l.Amount, ErrInvalidReversal)
		case l.Kind.IsCash():
			cash = append(cash, l)
		}
	}
	if len(cash) == 0 {
		return Result{}, fmt.Errorf("%s: no cash lines to reverse: %w", op, ErrInvalidReversal)
	}
	at = normTime(at)
	b := newBuilder(p, s, at, loc)
	for i := len(cash) - 1; i >= 0; i-- {
		l, err := b.reversal(cash[i])
		if err == nil {
			err = b.post(l)
		}
		if err != nil {
			if errors.Is(err, ErrOverflow) {
				return Result{}, fmt.Errorf("%s: %w", op, err)
			}
			return Result{}, fmt.Errorf("%s: %v: %w", op, err, ErrInvalidReversal)
		}
	}
	if st := b.st(); st.Status == StatusPaidOff && !paidOff(p, *st) {
		if err := b.status(StatusActive, "paying-off payment reversed: contract reopened"); err != nil {
			return Result{}, fmt.Errorf("%s: %w", op, err)
		}
	}
	return b.done(), nil
}

// reversal builds the negative line that undoes original line o.
func (b *builder) reversal(o Line) (Line, error) {
	p, s := b.p, b.st()
	l := Line{Kind: o.Kind, Amount: -o.Amount, Instalment: o.Instalment, Reversal: true,
		Note: fmt.Sprintf("reversal of %s %d", o.Kind, o.Amount)}
	switch o.Kind {
	case LineCredit:
		if p.Kind != KindPAYGCredit {
			return Line{}, fmt.Errorf("credit line on a %s plan", p.Kind)
		}
		secs, carry, err := removeUnits(o.Amount, p.scale(), s.Carry, p.Price)
		if err != nil {
			return Line{}, err
		}
		unused := max(0, secondsBetween(b.at, s.Expiry))
		used := secs - min(secs, unused)
		l.Seconds, l.DebtSeconds, l.CarryBefore, l.CarryAfter = -secs, used, s.Carry, carry
		l.Note = fmt.Sprintf("reversal of credit %d: (−%d × %d s + carry %d) = −%d s × %d + carry %d; %d s unused come off the expiry, %d s already used become negative credit",
			o.Amount, o.Amount, p.scale(), s.Carry, secs, p.Price, carry, secs-used, used)
	case LineEnergy:
		if p.Kind != KindEnergy {
			return Line{}, fmt.Errorf("energy line on a %s plan", p.Kind)
		}
		wh, carry, err := removeUnits(o.Amount, WhPerKWh, s.Carry, p.PricePerKWh)
		if err != nil {
			return Line{}, err
		}
		l.Wh, l.DebtWh, l.CarryBefore, l.CarryAfter = -wh, wh, s.Carry, carry
		l.Note = fmt.Sprintf("reversal of energy %d: (−%d × 1000 + carry %d) = −%d Wh × %d + carry %d; already on the meter, so %d Wh become energy debt",
			o.Amount, o.Amount, s.Carry, wh, p.PricePerKWh, carry, wh)
	}
	return l, nil
}
