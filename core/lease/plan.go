package lease

import (
	"errors"
	"fmt"

	"github.com/payg-gateway/gateway/core"
)

// Kind is the type of a plan.
type Kind string

// Plan kinds.
const (
	// KindPAYGCredit sells credit time: a price per day, week or month.
	KindPAYGCredit Kind = "payg_credit"
	// KindInstalmentsByCount repays TotalPrice-Deposit in InstalmentCount
	// equal weekly or monthly instalments (the last takes the remainder).
	KindInstalmentsByCount Kind = "instalments_by_count"
	// KindInstalmentsByCost repays TotalPrice-Deposit in instalments of
	// InstalmentAmount (the last one is smaller or equal).
	KindInstalmentsByCost Kind = "instalments_by_cost"
	// KindEnergy sells energy (Wh) for a mini-grid meter, with an optional
	// access rate charged every AccessPeriodDays.
	KindEnergy Kind = "energy"
)

// Period is a unit of time for prices and instalment frequencies.
type Period string

// Periods.
const (
	PeriodDay   Period = "day"
	PeriodWeek  Period = "week"
	PeriodMonth Period = "month"
)

// Conversions and limits.
const (
	// SecondsPerDay is the length of a credit day. Credit time is elapsed
	// time: a day of credit is 86400 s whatever the zone's DST rules.
	SecondsPerDay = 86400
	// DaysPerWeek: a weekly PAYG price buys 7 days of credit.
	DaysPerWeek = 7
	// DaysPerMonth: a monthly PAYG price buys 30 days of credit (a fixed
	// conversion, so the same money always buys the same time). Monthly
	// instalments, by contrast, fall due on the same day of each calendar
	// month.
	DaysPerMonth = 30
	// WhPerKWh converts an energy price per kWh into Wh bought.
	WhPerKWh = 1000
	// MaxInstalments bounds the length of an instalment schedule.
	MaxInstalments = 1000
	// MaxDays bounds every day count in a plan (about 27 years).
	MaxDays = 10000
)

// TokenMode says how a payment's credit reaches the contract's devices.
type TokenMode string

// Token modes.
const (
	// TokenModeAddTime (the default, also spelled "") sends the credit a
	// payment buys as tokens that add time to the device (OpenPAYGO
	// ADD_TIME, Nexus ADD_CREDIT); fractions of a token unit are carried
	// to the next payment.
	TokenModeAddTime TokenMode = "add_time"
	// TokenModeSetTime sends a token that sets the device's remaining
	// credit to the contract's paid-through instant, counted from the
	// payment (OpenPAYGO SET_TIME, Nexus SET_CREDIT). Drift between the
	// device and the contract (tokens never entered, reversals) is
	// corrected by every payment.
	TokenModeSetTime TokenMode = "set_time"
)

// Step is one step of a payment waterfall. Each step takes what it is owed
// from what is left of the payment and writes ledger lines.
//
// Two steps are implicit and never listed: the deposit (down payment) is
// always taken first while it is not fully paid, and whatever is left after
// the last step is kept as an overpayment line, so no money is ever dropped.
type Step string

// Waterfall steps.
const (
	// StepPenalties pays penalties charged with Charge.
	StepPenalties Step = "penalties"
	// StepFees pays fees charged with Charge.
	StepFees Step = "fees"
	// StepArrears pays overdue instalments (due on an earlier local date),
	// oldest first.
	StepArrears Step = "arrears"
	// StepCurrentDue pays the next instalment that is not overdue (due
	// today or next).
	StepCurrentDue Step = "current_due"
	// StepAdvance pays later instalments in order, up to the total price.
	StepAdvance Step = "advance"
	// StepCredit buys credit time (PAYG), first absorbing negative credit,
	// up to the total price if the plan has one.
	StepCredit Step = "credit"
	// StepAccessDebt pays access-rate charges that have fallen due (energy).
	StepAccessDebt Step = "access_debt"
	// StepEnergy buys Wh with the rest (energy), first absorbing energy debt.
	StepEnergy Step = "energy"
)

// DefaultWaterfall returns the waterfall used when a plan lists none.
func DefaultWaterfall(k Kind) []Step {
	switch k {
	case KindPAYGCredit:
		return []Step{StepPenalties, StepFees, StepCredit}
	case KindInstalmentsByCount, KindInstalmentsByCost:
		return []Step{StepPenalties, StepFees, StepArrears, StepCurrentDue, StepAdvance}
	case KindEnergy:
		return []Step{StepPenalties, StepFees, StepAccessDebt, StepEnergy}
	}
	return nil
}

// Plan is a price plan as data. A JSON API creates it and a copy is
// snapshotted onto each contract, so later edits to a catalogue plan never
// change a running contract. All amounts are minor units of Currency.
//
// Fields that belong to another kind must be zero; Validate says which.
type Plan struct {
	Kind     Kind          `json:"kind"`
	Currency core.Currency `json:"currency"`

	// Deposit is the deposit (PAYG, energy connection fee) or down payment
	// (instalments). It is taken first; the contract is activated when it
	// is fully paid (or by the first payment when it is zero).
	Deposit int64 `json:"deposit"`
	// MinimumPayment: a smaller payment is refused with ErrBelowMinimum.
	MinimumPayment int64 `json:"minimum_payment"`
	// GraceDays: the contract is late when it is more than GraceDays days
	// in arrears (local calendar days after the credit expiry or due date).
	GraceDays int `json:"grace_days"`
	// DefaultDays: the contract is defaulted when it is more than
	// DefaultDays days in arrears. Must be greater than GraceDays.
	DefaultDays int `json:"default_days"`
	// Waterfall orders the steps a payment pays; empty means
	// DefaultWaterfall(Kind).
	Waterfall []Step `json:"waterfall,omitempty"`

	// TotalPrice includes the deposit. payg_credit: optional, 0 means an
	// open-ended subscription that is never paid off. Instalments: required.
	// Energy: must be 0.
	TotalPrice int64 `json:"total_price,omitempty"`

	// Price is the payg_credit price of one PricePeriod of credit.
	Price int64 `json:"price,omitempty"`
	// PricePeriod is day (1 day), week (7 days) or month (30 days).
	PricePeriod Period `json:"price_period,omitempty"`
	// FreeDays of credit are granted on activation (payg_credit).
	FreeDays int `json:"free_days,omitempty"`

	// Frequency of instalments: week or month (calendar month, same day,
	// clamped to the month's last day).
	Frequency Period `json:"frequency,omitempty"`
	// InstalmentCount is N for instalments_by_count.
	InstalmentCount int `json:"instalment_count,omitempty"`
	// InstalmentAmount is the fixed instalment for instalments_by_cost.
	InstalmentAmount int64 `json:"instalment_amount,omitempty"`

	// PricePerKWh is the energy price; payments buy whole Wh.
	PricePerKWh int64 `json:"price_per_kwh,omitempty"`
	// AccessRate is charged every AccessPeriodDays from activation (the
	// first charge on the activation date); 0 means none.
	AccessRate       int64 `json:"access_rate,omitempty"`
	AccessPeriodDays int   `json:"access_period_days,omitempty"`

	// TokenMode is how credit reaches the devices (payg_credit and
	// instalments): add_time (the default when empty) or set_time.
	TokenMode TokenMode `json:"token_mode,omitempty"`
}

// FieldError names a plan field that breaks a rule. It wraps ErrInvalidPlan.
type FieldError struct {
	Field  string // the JSON name of the field, e.g. "price_period"
	Reason string
}

func (e *FieldError) Error() string { return "lease: plan: " + e.Field + ": " + e.Reason }

// Unwrap returns ErrInvalidPlan.
func (e *FieldError) Unwrap() error { return ErrInvalidPlan }

// Validate checks the plan and returns every broken rule joined, each a
// *FieldError naming its field; nil if the plan is usable.
func (p Plan) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	nonNeg := func(field string, v int64) {
		if v < 0 {
			bad(field, "must not be negative, got %d", v)
		}
	}
	days := func(field string, v int) {
		if v < 0 || v > MaxDays {
			bad(field, "must be between 0 and %d days, got %d", MaxDays, v)
		}
	}
	unused := func(field string, set bool) {
		if set {
			bad(field, "not used by %s plans, must be empty", p.Kind)
		}
	}

	if err := p.Currency.Validate(); err != nil {
		bad("currency", "must be three upper-case letters (ISO 4217), got %q", string(p.Currency))
	}
	nonNeg("deposit", p.Deposit)
	nonNeg("minimum_payment", p.MinimumPayment)
	nonNeg("total_price", p.TotalPrice)
	days("grace_days", p.GraceDays)
	days("default_days", p.DefaultDays)
	if p.DefaultDays <= p.GraceDays {
		bad("default_days", "must be greater than grace_days (%d), got %d", p.GraceDays, p.DefaultDays)
	}

	payg := p.Kind == KindPAYGCredit
	inst := p.Kind == KindInstalmentsByCount || p.Kind == KindInstalmentsByCost
	energy := p.Kind == KindEnergy
	switch {
	case payg:
		if p.Price <= 0 {
			bad("price", "must be greater than 0, got %d", p.Price)
		}
		switch p.PricePeriod {
		case PeriodDay, PeriodWeek, PeriodMonth:
		default:
			bad("price_period", "must be day, week or month, got %q", p.PricePeriod)
		}
		days("free_days", p.FreeDays)
		if p.TotalPrice != 0 && p.TotalPrice <= p.Deposit {
			bad("total_price", "must be 0 (open-ended) or greater than deposit (%d), got %d", p.Deposit, p.TotalPrice)
		}
	case inst:
		if p.TotalPrice <= p.Deposit {
			bad("total_price", "must be greater than deposit (%d), got %d", p.Deposit, p.TotalPrice)
		}
		if p.Frequency != PeriodWeek && p.Frequency != PeriodMonth {
			bad("frequency", "must be week or month, got %q", p.Frequency)
		}
		financed := p.TotalPrice - p.Deposit
		if p.Kind == KindInstalmentsByCount {
			switch {
			case p.InstalmentCount < 1 || p.InstalmentCount > MaxInstalments:
				bad("instalment_count", "must be between 1 and %d, got %d", MaxInstalments, p.InstalmentCount)
			case financed > 0 && financed < int64(p.InstalmentCount):
				bad("instalment_count", "must not exceed total_price-deposit (%d) so every instalment is at least 1, got %d", financed, p.InstalmentCount)
			}
			unused("instalment_amount", p.InstalmentAmount != 0)
		} else {
			switch {
			case p.InstalmentAmount <= 0:
				bad("instalment_amount", "must be greater than 0, got %d", p.InstalmentAmount)
			case financed > 0 && ceilDiv(financed, p.InstalmentAmount) > MaxInstalments:
				bad("instalment_amount", "gives more than %d instalments for %d", MaxInstalments, financed)
			}
			unused("instalment_count", p.InstalmentCount != 0)
		}
	case energy:
		if p.PricePerKWh <= 0 {
			bad("price_per_kwh", "must be greater than 0, got %d", p.PricePerKWh)
		}
		nonNeg("access_rate", p.AccessRate)
		switch {
		case p.AccessRate > 0 && (p.AccessPeriodDays < 1 || p.AccessPeriodDays > MaxDays):
			bad("access_period_days", "must be between 1 and %d when access_rate is set, got %d", MaxDays, p.AccessPeriodDays)
		case p.AccessRate == 0 && p.AccessPeriodDays != 0:
			bad("access_period_days", "must be 0 when access_rate is 0, got %d", p.AccessPeriodDays)
		}
		unused("total_price", p.TotalPrice != 0)
	default:
		bad("kind", "must be payg_credit, instalments_by_count, instalments_by_cost or energy, got %q", p.Kind)
	}
	switch p.TokenMode {
	case "", TokenModeAddTime:
	case TokenModeSetTime:
		unused("token_mode", energy)
	default:
		bad("token_mode", "must be add_time or set_time, got %q", p.TokenMode)
	}
	if payg || inst || energy {
		unused("price", !payg && p.Price != 0)
		unused("price_period", !payg && p.PricePeriod != "")
		unused("free_days", !payg && p.FreeDays != 0)
		unused("frequency", !inst && p.Frequency != "")
		unused("instalment_count", !inst && p.InstalmentCount != 0)
		unused("instalment_amount", !inst && p.InstalmentAmount != 0)
		unused("price_per_kwh", !energy && p.PricePerKWh != 0)
		unused("access_rate", !energy && p.AccessRate != 0)
		unused("access_period_days", !energy && p.AccessPeriodDays != 0)
		if err := p.validateWaterfall(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// validateWaterfall checks the steps: each allowed for the kind, no
// duplicates, the kind's required steps present, and the step that takes
// "everything else" last.
func (p Plan) validateWaterfall() error {
	if len(p.Waterfall) == 0 {
		return nil
	}
	var allowed, required []Step
	var last Step
	switch p.Kind {
	case KindPAYGCredit:
		allowed = []Step{StepPenalties, StepFees, StepCredit}
		required, last = []Step{StepCredit}, StepCredit
	case KindInstalmentsByCount, KindInstalmentsByCost:
		allowed = []Step{StepPenalties, StepFees, StepArrears, StepCurrentDue, StepAdvance}
		required, last = []Step{StepArrears, StepCurrentDue, StepAdvance}, StepAdvance
	case KindEnergy:
		allowed = []Step{StepPenalties, StepFees, StepEnergy}
		required, last = []Step{StepEnergy}, StepEnergy
		if p.AccessRate > 0 {
			allowed = append(allowed, StepAccessDebt)
			required = append(required, StepAccessDebt)
		}
	}
	pos := map[Step]int{}
	for i, s := range p.Waterfall {
		if !contains(allowed, s) {
			return &FieldError{Field: fmt.Sprintf("waterfall[%d]", i), Reason: fmt.Sprintf("step %q is not allowed for %s plans (allowed: %v)", s, p.Kind, allowed)}
		}
		if _, dup := pos[s]; dup {
			return &FieldError{Field: fmt.Sprintf("waterfall[%d]", i), Reason: fmt.Sprintf("step %q is listed twice", s)}
		}
		pos[s] = i
	}
	for _, s := range required {
		if _, ok := pos[s]; !ok {
			return &FieldError{Field: "waterfall", Reason: fmt.Sprintf("must include step %q", s)}
		}
	}
	if p.Waterfall[len(p.Waterfall)-1] != last {
		return &FieldError{Field: "waterfall", Reason: fmt.Sprintf("must end with step %q", last)}
	}
	// Instalment principal fills the schedule oldest first, so the three
	// principal steps must keep that order.
	if _, ok := pos[StepArrears]; ok && !(pos[StepArrears] < pos[StepCurrentDue] && pos[StepCurrentDue] < pos[StepAdvance]) {
		return &FieldError{Field: "waterfall", Reason: "arrears, current_due and advance must appear in that order"}
	}
	return nil
}

// ceilDiv returns ⌈a/b⌉ for a ≥ 0, b > 0.
func ceilDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 {
		q++
	}
	return q
}

func contains(steps []Step, s Step) bool {
	for _, x := range steps {
		if x == s {
			return true
		}
	}
	return false
}

// Steps returns the plan's waterfall, or the default for its kind.
func (p Plan) Steps() []Step {
	if len(p.Waterfall) > 0 {
		return append([]Step(nil), p.Waterfall...)
	}
	return DefaultWaterfall(p.Kind)
}

// IsInstalments reports whether the plan is one of the two instalment kinds.
func (p Plan) IsInstalments() bool {
	return p.Kind == KindInstalmentsByCount || p.Kind == KindInstalmentsByCost
}

// PeriodSeconds returns the credit time one payg_credit Price buys:
// 86400 s for day, 7×86400 for week, 30×86400 for month.
func (p Plan) PeriodSeconds() int64 {
	switch p.PricePeriod {
	case PeriodWeek:
		return DaysPerWeek * SecondsPerDay
	case PeriodMonth:
		return DaysPerMonth * SecondsPerDay
	}
	return SecondsPerDay
}

// SetsTime reports whether the plan's tokens set the device's remaining
// credit rather than add to it.
func (p Plan) SetsTime() bool { return p.TokenMode == TokenModeSetTime }

// Financed returns the amount repaid by instalments: TotalPrice - Deposit.
func (p Plan) Financed() int64 { return p.TotalPrice - p.Deposit }

// NumInstalments returns the number of instalments: InstalmentCount for
// instalments_by_count, ceil(Financed / InstalmentAmount) for
// instalments_by_cost, 0 for other kinds.
func (p Plan) NumInstalments() int {
	switch p.Kind {
	case KindInstalmentsByCount:
		return p.InstalmentCount
	case KindInstalmentsByCost:
		return int(ceilDiv(p.Financed(), p.InstalmentAmount))
	}
	return 0
}

// regularInstalment is the amount of every instalment but the last:
// floor(Financed / N) by count, InstalmentAmount by cost.
func (p Plan) regularInstalment() int64 {
	if p.Kind == KindInstalmentsByCount {
		return p.Financed() / int64(p.InstalmentCount)
	}
	return p.InstalmentAmount
}

// Instalment returns the amount of instalment k (1-based).
//
// Rounding rule, instalments_by_count: every instalment is
// floor(Financed / N); the last one also takes the remainder, so it is
// larger by at most N-1 minor units and the instalments sum to Financed
// exactly. instalments_by_cost: every instalment is InstalmentAmount; the
// last one is Financed - (N-1)×InstalmentAmount, smaller or equal.
func (p Plan) Instalment(k int) int64 {
	n := p.NumInstalments()
	if k < 1 || k > n {
		return 0
	}
	return p.cumulative(k) - p.cumulative(k-1)
}

// cumulative returns the sum of instalments 1..k.
func (p Plan) cumulative(k int) int64 {
	n := p.NumInstalments()
	switch {
	case k <= 0:
		return 0
	case k >= n:
		return p.Financed()
	}
	return p.regularInstalment() * int64(k)
}

// scale and unitPrice describe how a payg_credit or energy payment buys
// units (seconds or Wh): Amount × scale + carry = units × unitPrice + carry'.
func (p Plan) scale() int64 {
	if p.Kind == KindEnergy {
		return WhPerKWh
	}
	return p.PeriodSeconds()
}

func (p Plan) unitPrice() int64 {
	if p.Kind == KindEnergy {
		return p.PricePerKWh
	}
	return p.Price
}
