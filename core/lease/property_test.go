package lease_test

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
	_ "time/tzdata" // Europe/London for DST, whatever the host has installed

	"github.com/payg-gateway/gateway/core/lease"
)

// randomPlan returns a valid plan of a random kind with small, awkward
// numbers, so carries, partial instalments and caps happen often.
func randomPlan(r *rand.Rand) lease.Plan {
	p := lease.Plan{Currency: "KES", GraceDays: r.IntN(5)}
	p.DefaultDays = p.GraceDays + 1 + r.IntN(40)
	if r.IntN(3) == 0 {
		p.MinimumPayment = 1 + r.Int64N(50)
	}
	if r.IntN(2) == 0 {
		p.Deposit = r.Int64N(3000)
	}
	periods := []lease.Period{lease.PeriodDay, lease.PeriodWeek, lease.PeriodMonth}
	switch r.IntN(4) {
	case 0:
		p.Kind = lease.KindPAYGCredit
		p.Price = 1 + r.Int64N(5000)
		p.PricePeriod = periods[r.IntN(3)]
		p.FreeDays = r.IntN(5)
		if r.IntN(2) == 0 {
			p.TotalPrice = p.Deposit + 1 + r.Int64N(50000)
		}
		if r.IntN(3) == 0 {
			p.Waterfall = []lease.Step{lease.StepFees, lease.StepPenalties, lease.StepCredit}
		}
	case 1:
		p.Kind = lease.KindInstalmentsByCount
		p.Frequency = periods[1+r.IntN(2)]
		p.InstalmentCount = 1 + r.IntN(12)
		p.TotalPrice = p.Deposit + int64(p.InstalmentCount) + r.Int64N(30000)
	case 2:
		p.Kind = lease.KindInstalmentsByCost
		p.Frequency = periods[1+r.IntN(2)]
		p.InstalmentAmount = 1 + r.Int64N(5000)
		p.TotalPrice = p.Deposit + 1 + r.Int64N(p.InstalmentAmount*15)
		if r.IntN(3) == 0 {
			p.Waterfall = []lease.Step{lease.StepArrears, lease.StepPenalties, lease.StepFees, lease.StepCurrentDue, lease.StepAdvance}
		}
	case 3:
		p.Kind = lease.KindEnergy
		p.PricePerKWh = 1 + r.Int64N(500)
		if r.IntN(3) > 0 {
			p.AccessRate = 1 + r.Int64N(1000)
			p.AccessPeriodDays = 1 + r.IntN(45)
		}
	}
	return p
}

type payment struct {
	result   lease.Result
	reversed bool
}

// TestPropertyLedger runs random sequences of payments, reversals,
// charges and operator transitions on random plans (fixed seeds) and checks
// after every operation:
//
//   - cash lines sum to payments − reversals, and so does TotalPaid;
//   - Replay(lines) == state (CheckLedger, and again after a JSON round trip);
//   - value is conserved through the carry: Σ credit amounts × scale =
//     Σ seconds × price + Carry (energy: Σ amounts × 1000 = Σ Wh × price + Carry);
//   - 0 ≤ Carry < price; principal never exceeds the total price;
//   - paid_off is reported exactly when a paid_off line is written, and a
//     contract is paid off at most once more than it was reopened;
//   - refused operations return the documented error;
//   - Apply is pure: the same call twice gives the same result.
func TestPropertyLedger(t *testing.T) {
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	zones := []*time.Location{time.UTC, eat, time.FixedZone("UTC-5", -5*3600), london}
	var total counts
	for seed := uint64(1); seed <= 300; seed++ {
		r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
		p := randomPlan(r)
		loc := zones[r.IntN(len(zones))]
		if err := p.Validate(); err != nil {
			t.Fatalf("seed %d: random plan invalid: %v", seed, err)
		}
		total.add(runProperty(t, seed, r, p, loc))
	}
	t.Logf("%+v", total)
	// Make sure the random walk reaches the interesting cases.
	if total.Payments < 5000 || total.Reversals < 1000 || total.PaidOff < 50 || total.Reopened < 5 ||
		total.NegativeCredit < 20 || total.EnergyDebt < 20 || total.Overpayments < 20 || total.Refused < 100 || total.Transitions < 50 {
		t.Errorf("random walk too narrow: %+v", total)
	}
}

// counts tallies what the random walk exercised.
type counts struct {
	Payments, Reversals, Charges, Transitions, Refused          int
	PaidOff, Reopened, NegativeCredit, EnergyDebt, Overpayments int
}

func (c *counts) add(o counts) {
	c.Payments += o.Payments
	c.Reversals += o.Reversals
	c.Charges += o.Charges
	c.Transitions += o.Transitions
	c.Refused += o.Refused
	c.PaidOff += o.PaidOff
	c.Reopened += o.Reopened
	c.NegativeCredit += o.NegativeCredit
	c.EnergyDebt += o.EnergyDebt
	c.Overpayments += o.Overpayments
}

func runProperty(t *testing.T, seed uint64, r *rand.Rand, p lease.Plan, loc *time.Location) (c counts) {
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d (%s plan %+v, %s): "+format, append([]any{seed, p.Kind, p, loc}, args...)...)
	}
	s := lease.NewState(p)
	var (
		lines                []lease.Line
		paid, reversed       int64
		payments             []*payment
		paidOffs, reopenings int
	)
	at := time.Date(2026, time.Month(1+r.IntN(12)), 1+r.IntN(28), r.IntN(24), r.IntN(60), 0, 0, time.UTC)
	for op := range 80 {
		at = at.Add(time.Duration(r.Int64N(10*24*3600)) * time.Second)
		var res lease.Result
		var err error
		var cash int64
		switch k := r.IntN(40); {
		case k < 28: // payment
			var amount int64
			switch r.IntN(3) {
			case 0:
				amount = 1 + r.Int64N(20)
			case 1:
				amount = 1 + r.Int64N(2000)
			default:
				amount = 1 + r.Int64N(20000)
			}
			res, err = lease.Apply(p, s, kes(amount), at, loc)
			switch {
			case s.Status.IsClosed():
				if !errors.Is(err, lease.ErrContractClosed) {
					fail("op %d: payment to %s contract: %v", op, s.Status, err)
				}
				c.Refused++
				continue
			case amount < p.MinimumPayment:
				if !errors.Is(err, lease.ErrBelowMinimum) {
					fail("op %d: payment %d below minimum %d: %v", op, amount, p.MinimumPayment, err)
				}
				c.Refused++
				continue
			case err != nil:
				fail("op %d: Apply(%d): %v", op, amount, err)
			}
			again, _ := lease.Apply(p, s, kes(amount), at, loc)
			if !reflect.DeepEqual(again, res) {
				fail("op %d: Apply is not deterministic", op)
			}
			paid += amount
			cash = amount
			c.Payments++
			// Debt first: new time reaches the expiry or the meter only
			// once negative credit and energy debt are repaid.
			if (res.CreditSeconds > 0 && res.State.NegativeCreditSeconds > 0) || (res.EnergyWh > 0 && res.State.EnergyDebtWh > 0) {
				fail("op %d: extended credit %d s / %d Wh with debt %d s / %d Wh left", op,
					res.CreditSeconds, res.EnergyWh, res.State.NegativeCreditSeconds, res.State.EnergyDebtWh)
			}
			// Credit extends from the running expiry (early payer) or from
			// the payment time (lapsed or new).
			if p.Kind == lease.KindPAYGCredit && res.CreditSeconds > 0 {
				base := at
				if s.Expiry.After(at) {
					base = s.Expiry
				}
				if want := base.Add(time.Duration(res.CreditSeconds) * time.Second); !res.State.Expiry.Equal(want) {
					fail("op %d: expiry %s, want %s + %d s", op, res.State.Expiry, base, res.CreditSeconds)
				}
			}
			payments = append(payments, &payment{result: res})
		case k < 34: // reversal of a random unreversed payment
			var open []*payment
			for _, pm := range payments {
				if !pm.reversed {
					open = append(open, pm)
				}
			}
			if len(open) == 0 {
				continue
			}
			pm := open[r.IntN(len(open))]
			res, err = lease.Reverse(p, s, pm.result.Lines, at, loc)
			if err != nil {
				fail("op %d: Reverse: %v", op, err)
			}
			pm.reversed = true
			c.Reversals++
			for _, l := range res.Lines {
				if l.Kind.IsCash() {
					cash += l.Amount
				}
			}
			reversed -= cash
		case k < 39: // penalty or fee
			kind := lease.LinePenaltyCharge
			if r.IntN(2) == 0 {
				kind = lease.LineFeeCharge
			}
			res, err = lease.Charge(p, s, kind, kes(1+r.Int64N(500)), at, loc)
			if s.Status.IsClosed() {
				if !errors.Is(err, lease.ErrContractClosed) {
					fail("op %d: charge on %s contract: %v", op, s.Status, err)
				}
				continue
			}
			if err != nil {
				fail("op %d: Charge: %v", op, err)
			}
			c.Charges++
		default: // operator transition
			to := []lease.Status{lease.StatusCancelled, lease.StatusRepossessed, lease.StatusWrittenOff}[r.IntN(3)]
			from := lease.StatusAt(p, s, at, loc)
			res, err = lease.Transition(p, s, to, at, loc)
			if lease.CanTransition(from, to) != (err == nil) {
				fail("op %d: Transition %s → %s: %v", op, from, to, err)
			}
			if err != nil {
				c.Refused++
				continue
			}
			c.Transitions++
		}

		s = res.State
		lines = append(lines, res.Lines...)
		var wrotePaidOff bool
		for _, l := range res.Lines {
			switch {
			case l.Kind == lease.LineOverpayment && l.Amount > 0:
				c.Overpayments++
			case l.DebtSeconds > 0:
				c.NegativeCredit++
			case l.DebtWh > 0:
				c.EnergyDebt++
			}
			if l.Status == lease.StatusPaidOff {
				wrotePaidOff = true
				paidOffs++
			}
			if l.Status == lease.StatusActive && res.From == lease.StatusPaidOff {
				reopenings++
			}
		}
		if res.PaidOff != wrotePaidOff {
			fail("op %d: PaidOff %v but paid_off line written %v", op, res.PaidOff, wrotePaidOff)
		}
		if n := paidOffs - reopenings; n < 0 || n > 1 || (n == 1) != (s.Status == lease.StatusPaidOff) {
			fail("op %d: paid off %d times, reopened %d times, status %s", op, paidOffs, reopenings, s.Status)
		}
		checkInvariants(t, fail, p, s, lines, paid-reversed, loc, op)
	}

	// The ledger survives a store round trip (JSON here) and still replays.
	raw, err := json.Marshal(lines)
	if err != nil {
		fail("marshal lines: %v", err)
	}
	var back []lease.Line
	if err := json.Unmarshal(raw, &back); err != nil {
		fail("unmarshal lines: %v", err)
	}
	if err := lease.CheckLedger(p, s, back, paid-reversed, loc); err != nil {
		fail("after JSON round trip: %v", err)
	}
	c.PaidOff, c.Reopened = paidOffs, reopenings
	return c
}

func checkInvariants(t *testing.T, fail func(string, ...any), p lease.Plan, s lease.State, lines []lease.Line, net int64, loc *time.Location, op int) {
	t.Helper()
	var sum int64
	for _, l := range lines {
		if l.Kind.IsCash() {
			sum += l.Amount
		}
	}
	if sum != net || s.TotalPaid != net {
		fail("op %d: lines sum %d, total paid %d, payments − reversals %d", op, sum, s.TotalPaid, net)
	}
	if err := lease.CheckLedger(p, s, lines, net, loc); err != nil {
		fail("op %d: %v", op, err)
	}
	replayed, err := lease.Replay(p, lines, loc)
	if err != nil {
		fail("op %d: Replay: %v", op, err)
	}
	if d := lease.Diff(replayed, s); d != nil {
		fail("op %d: Replay differs: %v", op, d)
	}

	// Value conservation through the carry, recomputed from scratch.
	var amounts, units int64
	for _, l := range lines {
		switch l.Kind {
		case lease.LineCredit:
			amounts, units = amounts+l.Amount, units+l.Seconds
		case lease.LineEnergy:
			amounts, units = amounts+l.Amount, units+l.Wh
		}
	}
	switch p.Kind {
	case lease.KindPAYGCredit:
		if amounts*p.PeriodSeconds() != units*p.Price+s.Carry {
			fail("op %d: %d × %d != %d s × %d + carry %d", op, amounts, p.PeriodSeconds(), units, p.Price, s.Carry)
		}
		if s.Carry < 0 || s.Carry >= p.Price {
			fail("op %d: carry %d outside [0, %d)", op, s.Carry, p.Price)
		}
	case lease.KindEnergy:
		if amounts*lease.WhPerKWh != units*p.PricePerKWh+s.Carry {
			fail("op %d: %d × 1000 != %d Wh × %d + carry %d", op, amounts, units, p.PricePerKWh, s.Carry)
		}
		if s.Carry < 0 || s.Carry >= p.PricePerKWh {
			fail("op %d: carry %d outside [0, %d)", op, s.Carry, p.PricePerKWh)
		}
		// Delivered energy is what was bought net of what is still owed back.
		if s.EnergyWh != units+s.EnergyDebtWh {
			fail("op %d: delivered %d Wh, bought %d, debt %d", op, s.EnergyWh, units, s.EnergyDebtWh)
		}
	default:
		if s.Carry != 0 || s.NegativeCreditSeconds != 0 || s.EnergyWh != 0 {
			fail("op %d: instalment plan with carry %d, negative credit %d, energy %d", op, s.Carry, s.NegativeCreditSeconds, s.EnergyWh)
		}
	}
	if p.TotalPrice > 0 && s.PrincipalPaid() > p.TotalPrice {
		fail("op %d: principal %d beyond total price %d", op, s.PrincipalPaid(), p.TotalPrice)
	}
	if p.IsInstalments() && s.InstalmentPaid > p.Financed() {
		fail("op %d: instalments %d beyond financed %d", op, s.InstalmentPaid, p.Financed())
	}
	switch s.Status {
	case lease.StatusLate, lease.StatusDefaulted:
		fail("op %d: derived status %s stored", op, s.Status)
	}
}
