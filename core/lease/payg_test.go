package lease_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/core/lease"
)

func paygPlan(price int64, period lease.Period) lease.Plan {
	return lease.Plan{
		Kind: lease.KindPAYGCredit, Currency: "KES",
		Price: price, PricePeriod: period,
		GraceDays: 2, DefaultDays: 30,
	}
}

func TestApplyPAYGCredit(t *testing.T) {
	const (
		active  = lease.StatusActive
		pending = lease.StatusPendingDeposit
		late    = lease.StatusLate
	)
	withDeposit := paygPlan(100, lease.PeriodDay)
	withDeposit.Deposit, withDeposit.FreeDays, withDeposit.MinimumPayment = 500, 2, 10

	tests := []struct {
		name  string
		plan  lease.Plan
		steps []payStep
	}{
		{
			// 100 per day, deposit 500, 2 free days.
			name: "deposit, free days, early payer keeps days, lapsed payer starts now",
			plan: withDeposit,
			steps: []payStep{
				// Deposit 500 activates; 2 free days = 172800 s from the
				// payment: Jan 1 10:00 + 2d = Jan 3 10:00.
				{at: "2026-01-01T10:00:00Z", amount: 500,
					lines:  []string{"deposit 500", "status 0 status=active", "free_days 0 s=172800"},
					expiry: "2026-01-03T10:00:00Z", from: pending, to: active},
				// Early payer: 150 × 86400 / 100 = 129600 s (1.5 d), added
				// to the running expiry Jan 3 10:00 → Jan 4 22:00.
				{at: "2026-01-02T10:00:00Z", amount: 150,
					lines:  []string{"credit 150 s=129600 carry=0→0"},
					expiry: "2026-01-04T22:00:00Z", from: active, to: active},
				// Lapsed since Jan 4 22:00 (Jan 10 is 6 days later > grace
				// 2: late). 250 × 86400 / 100 = 216000 s (2.5 d) from the
				// payment time: Jan 10 00:00 + 60 h = Jan 12 12:00.
				{at: "2026-01-10T00:00:00Z", amount: 250,
					lines:  []string{"credit 250 s=216000 carry=0→0"},
					expiry: "2026-01-12T12:00:00Z", from: late, to: active},
			},
		},
		{
			// 700 per week: a week is 7 × 86400 = 604800 s.
			name: "weekly price buys 7 days",
			plan: paygPlan(700, lease.PeriodWeek),
			steps: []payStep{
				// No deposit: the first payment activates. 700 × 604800 /
				// 700 = 604800 s = 7 days.
				{at: "2026-01-01T00:00:00Z", amount: 700,
					lines:  []string{"status 0 status=active", "credit 700 s=604800 carry=0→0"},
					expiry: "2026-01-08T00:00:00Z", from: pending, to: active},
				// 1 × 604800 / 700 = 864 s = 14 min 24 s.
				{at: "2026-01-02T00:00:00Z", amount: 1,
					lines:  []string{"credit 1 s=864 carry=0→0"},
					expiry: "2026-01-08T00:14:24Z", from: active, to: active},
			},
		},
		{
			// 3000 per month: a month of credit is 30 × 86400 = 2592000 s.
			name: "monthly price buys 30 days",
			plan: paygPlan(3000, lease.PeriodMonth),
			steps: []payStep{
				// 1000 × 2592000 / 3000 = 864000 s = 10 days.
				{at: "2026-02-01T00:00:00Z", amount: 1000,
					lines:  []string{"status 0 status=active", "credit 1000 s=864000 carry=0→0"},
					expiry: "2026-02-11T00:00:00Z", from: pending, to: active},
				// 3000 buys exactly 30 days: Feb 11 + 30 d = Mar 13 (2026
				// is not a leap year: Feb 11 + 17 d = Feb 28, + 13 d).
				{at: "2026-02-05T00:00:00Z", amount: 3000,
					lines:  []string{"credit 3000 s=2592000 carry=0→0"},
					expiry: "2026-03-13T00:00:00Z", from: active, to: active},
			},
		},
		{
			// 7 per day: 1 minor unit buys 86400/7 = 12342.857… s. The
			// fraction is carried in sevenths of a second-minor-unit:
			// carry_n = (n × 86400) mod 7, and 86400 mod 7 = 6.
			name: "fractional carry: seven payments of 1 buy exactly one day",
			plan: paygPlan(7, lease.PeriodDay),
			steps: []payStep{
				// (1×86400 + 0) / 7 = 12342 r 6
				{at: "2026-01-01T00:00:00Z", amount: 1, carry: 6,
					lines: []string{"status 0 status=active", "credit 1 s=12342 carry=0→6"}, from: pending, to: active},
				// (86400 + 6) / 7 = 12343 r 5
				{at: "2026-01-01T00:00:00Z", amount: 1, carry: 5, lines: []string{"credit 1 s=12343 carry=6→5"}, from: active, to: active},
				// (86400 + 5) / 7 = 12343 r 4
				{at: "2026-01-01T00:00:00Z", amount: 1, carry: 4, lines: []string{"credit 1 s=12343 carry=5→4"}, from: active, to: active},
				{at: "2026-01-01T00:00:00Z", amount: 1, carry: 3, lines: []string{"credit 1 s=12343 carry=4→3"}, from: active, to: active},
				{at: "2026-01-01T00:00:00Z", amount: 1, carry: 2, lines: []string{"credit 1 s=12343 carry=3→2"}, from: active, to: active},
				{at: "2026-01-01T00:00:00Z", amount: 1, carry: 1, lines: []string{"credit 1 s=12343 carry=2→1"}, from: active, to: active},
				// (86400 + 1) / 7 = 12343 r 0; total 12342 + 6×12343 =
				// 86400 s: 7 minor units at 7 per day are exactly one day.
				{at: "2026-01-01T00:00:00Z", amount: 1, carry: 0, lines: []string{"credit 1 s=12343 carry=1→0"},
					expiry: "2026-01-02T00:00:00Z", from: active, to: active},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runSteps(t, newHarness(t, tt.plan, time.UTC), tt.steps)
		})
	}
}

// TestFractionalCarryManyPayments: 1000 payments of 1 at 7 per day must buy
// what one payment of 1000 buys: 1000 × 86400 = 86400000 = 12342857 × 7 + 1,
// so 12342857 s with 1 left in the carry. Nothing is lost to rounding.
func TestFractionalCarryManyPayments(t *testing.T) {
	p := paygPlan(7, lease.PeriodDay)
	p.MinimumPayment = 1
	h := newHarness(t, p, time.UTC)
	t0 := ts(t, "2026-01-01T00:00:00Z")
	var secs int64
	for i := range 1000 {
		// Every payment lands while credit is running, so credit is contiguous.
		r := h.pay(1, t0.Add(time.Duration(i)*time.Minute))
		for _, l := range r.Lines {
			secs += l.Seconds
		}
	}
	if secs != 12342857 || h.s.Carry != 1 {
		t.Errorf("bought %d s, carry %d; want 12342857 s, carry 1", secs, h.s.Carry)
	}
	if want := t0.Add(12342857 * time.Second); !h.s.Expiry.Equal(want) {
		t.Errorf("expiry %s, want %s", h.s.Expiry, want)
	}
	one := newHarness(t, p, time.UTC)
	one.pay(1000, t0)
	if one.s.Expiry != h.s.Expiry || one.s.Carry != h.s.Carry {
		t.Errorf("one payment of 1000: expiry %s carry %d; 1000 of 1: %s carry %d", one.s.Expiry, one.s.Carry, h.s.Expiry, h.s.Carry)
	}
}

// TestPaidOffOnce: 100 per day, deposit 500, total price 1500. The
// paying-off payment buys only what is outstanding; the rest is kept as an
// overpayment (a credit balance for the customer). Later payments are
// refused as closed, and a reversal of the paying-off payment reopens.
func TestPaidOffOnce(t *testing.T) {
	p := paygPlan(100, lease.PeriodDay)
	p.Deposit, p.TotalPrice = 500, 1500
	h := newHarness(t, p, time.UTC)
	runSteps(t, h, []payStep{
		// Deposit 500: active, no free days, credit starts at 0 s.
		{at: "2026-01-01T00:00:00Z", amount: 500,
			lines:  []string{"deposit 500", "status 0 status=active"},
			expiry: "2026-01-01T00:00:00Z", from: lease.StatusPendingDeposit, to: lease.StatusActive},
		// 600 = 6 days from the payment (credit had run out): Jan 1 01:00 + 6 d.
		// Outstanding 1500 − 1100 = 400.
		{at: "2026-01-01T01:00:00Z", amount: 600,
			lines:  []string{"credit 600 s=518400 carry=0→0"},
			expiry: "2026-01-07T01:00:00Z", from: lease.StatusActive, to: lease.StatusActive},
		// 1000 paid, 400 outstanding: credit 400 (4 days on top of Jan 7
		// 01:00), overpayment 600, paid off.
		{at: "2026-01-03T00:00:00Z", amount: 1000,
			lines:  []string{"credit 400 s=345600 carry=0→0", "overpayment 600", "status 0 status=paid_off"},
			expiry: "2026-01-11T01:00:00Z", from: lease.StatusActive, to: lease.StatusPaidOff, paidOff: true},
	})
	paying := lease.Result{Lines: h.lines[len(h.lines)-3:]}
	if h.s.Overpayment != 600 || h.s.Outstanding != 0 || h.s.TotalPaid != 2100 {
		t.Errorf("overpayment %d outstanding %d total %d; want 600, 0, 2100", h.s.Overpayment, h.s.Outstanding, h.s.TotalPaid)
	}

	// Closed: the next payment goes to suspense.
	_, err := lease.Apply(p, h.s, kes(100), ts(t, "2026-01-04T00:00:00Z"), time.UTC)
	if !errors.Is(err, lease.ErrContractClosed) {
		t.Fatalf("payment after paid off: error %v, want ErrContractClosed", err)
	}

	// Reversing the paying-off payment takes back the overpayment and the
	// 400 of credit (4 days, all still unused on Jan 4) and reopens.
	r := h.reverse(paying, ts(t, "2026-01-04T00:00:00Z"))
	if got, want := summary(r.Lines), []string{"overpayment -600", "credit -400 s=-345600 carry=0→0", "status 0 status=active"}; !slices.Equal(got, want) {
		t.Errorf("reversal lines %q, want %q", got, want)
	}
	if r.From != lease.StatusPaidOff || r.To != lease.StatusActive || r.PaidOff {
		t.Errorf("reversal status %s → %s (paid off %v)", r.From, r.To, r.PaidOff)
	}
	// Paid off again by a new payment: PaidOff is reported on that one only.
	r = h.pay(400, ts(t, "2026-01-05T00:00:00Z"))
	if !r.PaidOff || r.To != lease.StatusPaidOff {
		t.Errorf("repaying: paid off %v, status %s", r.PaidOff, r.To)
	}
	var paidOffLines int
	for _, l := range h.lines {
		if l.Status == lease.StatusPaidOff {
			paidOffLines++
		}
	}
	if paidOffLines != 2 {
		t.Errorf("%d paid_off lines, want 2 (once, reopened, once)", paidOffLines)
	}
}

// TestReversalNegativeCredit: 100 per day, no deposit.
func TestReversalNegativeCredit(t *testing.T) {
	p := paygPlan(100, lease.PeriodDay)
	p.GraceDays, p.DefaultDays = 3, 30
	h := newHarness(t, p, time.UTC)
	// 1000 = 10 days: Feb 1 → Feb 11.
	first := h.pay(1000, ts(t, "2026-02-01T00:00:00Z"))
	// 500 = 5 days on top: Feb 11 → Feb 16.
	h.pay(500, ts(t, "2026-02-06T00:00:00Z"))

	// On Feb 14 the first payment is reversed: 1000 × 86400 / 100 = 864000 s
	// (10 days) come back. Only Feb 14 → Feb 16 (2 days = 172800 s) is
	// unused and comes off the expiry; the other 8 days (691200 s) were
	// used and become negative credit. Paid through: Feb 14 − 8 d = Feb 6,
	// so 8 days in arrears (> grace 3): late.
	rev := h.reverse(first, ts(t, "2026-02-14T00:00:00Z"))
	if got, want := summary(rev.Lines), []string{"credit -1000 s=-864000 debt_s=691200 carry=0→0"}; !slices.Equal(got, want) {
		t.Errorf("reversal lines %q, want %q", got, want)
	}
	if !h.s.Expiry.Equal(ts(t, "2026-02-14T00:00:00Z")) || h.s.NegativeCreditSeconds != 691200 || rev.CreditSeconds != -172800 {
		t.Errorf("after reversal: expiry %s, negative credit %d, credit seconds %d", h.s.Expiry, h.s.NegativeCreditSeconds, rev.CreditSeconds)
	}
	if d := lease.DaysInArrears(p, h.s, ts(t, "2026-02-14T00:00:00Z"), time.UTC); d != 8 || rev.To != lease.StatusLate {
		t.Errorf("after reversal: %d days in arrears, status %s; want 8, late", d, rev.To)
	}

	// Feb 15: 1000 buys 864000 s; 691200 repay the negative credit first,
	// the remaining 172800 s (2 days) extend from now: Feb 17.
	r := h.pay(1000, ts(t, "2026-02-15T00:00:00Z"))
	if got, want := summary(r.Lines), []string{"credit 1000 s=864000 debt_s=-691200 carry=0→0"}; !slices.Equal(got, want) {
		t.Errorf("lines %q, want %q", got, want)
	}
	if !h.s.Expiry.Equal(ts(t, "2026-02-17T00:00:00Z")) || h.s.NegativeCreditSeconds != 0 || r.CreditSeconds != 172800 {
		t.Errorf("after payment: expiry %s, negative credit %d, credit seconds %d", h.s.Expiry, h.s.NegativeCreditSeconds, r.CreditSeconds)
	}
	if r.From != lease.StatusLate || r.To != lease.StatusActive {
		t.Errorf("status %s → %s, want late → active", r.From, r.To)
	}
}

// TestReversalThroughCarry: at 7 per day, reversing one of two payments of
// 1 leaves exactly what a single payment of 1 buys.
func TestReversalThroughCarry(t *testing.T) {
	h := newHarness(t, paygPlan(7, lease.PeriodDay), time.UTC)
	t0 := ts(t, "2026-01-01T00:00:00Z")
	first := h.pay(1, t0) // 86400/7 = 12342 r 6
	h.pay(1, t0)          // (86400+6)/7 = 12343 r 5
	// Take back 1 × 86400 of value from 24685 s + carry 5:
	// −86400 + 5 = −86395 = −12343 × 7 + 6, so 12343 s and carry 6.
	rev := h.reverse(first, t0.Add(time.Hour))
	if got, want := summary(rev.Lines), []string{"credit -1 s=-12343 carry=5→6"}; !slices.Equal(got, want) {
		t.Errorf("reversal lines %q, want %q", got, want)
	}
	// Left: 12342 s and carry 6, as after a single payment of 1.
	if want := t0.Add(12342 * time.Second); !h.s.Expiry.Equal(want) || h.s.Carry != 6 {
		t.Errorf("expiry %s carry %d, want %s carry 6", h.s.Expiry, h.s.Carry, want)
	}
}
