package lease_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/core/lease"
)

func instalmentPlan(kind lease.Kind, freq lease.Period, total, deposit int64) lease.Plan {
	return lease.Plan{
		Kind: kind, Currency: "KES", Frequency: freq,
		TotalPrice: total, Deposit: deposit,
		GraceDays: 2, DefaultDays: 10,
	}
}

func TestApplyInstalments(t *testing.T) {
	const (
		active  = lease.StatusActive
		pending = lease.StatusPendingDeposit
		late    = lease.StatusLate
		paidOff = lease.StatusPaidOff
	)
	byCountWeekly := instalmentPlan(lease.KindInstalmentsByCount, lease.PeriodWeek, 12000, 2000)
	byCountWeekly.InstalmentCount = 3
	byCountMonthly := instalmentPlan(lease.KindInstalmentsByCount, lease.PeriodMonth, 10000, 1000)
	byCountMonthly.InstalmentCount = 4
	byCostWeekly := instalmentPlan(lease.KindInstalmentsByCost, lease.PeriodWeek, 10000, 1500)
	byCostWeekly.InstalmentAmount = 2000
	byCostMonthly := instalmentPlan(lease.KindInstalmentsByCost, lease.PeriodMonth, 5000, 1000)
	byCostMonthly.InstalmentAmount = 1500

	// All contracts are in EAT (UTC+3); times are written in UTC.
	tests := []struct {
		name  string
		plan  lease.Plan
		steps []payStep
	}{
		{
			// 12000 − 2000 down = 10000 in 3 weekly instalments:
			// floor(10000/3) = 3333, 3333, and 3334 (remainder on the last).
			// Activated Mon Mar 2 09:00 EAT; due Mar 9, Mar 16, Mar 23.
			name: "by count, weekly: arrears before current due, overpayment",
			plan: byCountWeekly,
			steps: []payStep{
				// Down payment activates; credit runs to instalment 1's due date.
				{at: "2026-03-02T06:00:00Z", amount: 2000,
					lines:  []string{"deposit 2000", "status 0 status=active"},
					expiry: "2026-03-09T06:00:00Z", from: pending, to: active},
				// Paid a day early: current due #1, expiry moves a week.
				{at: "2026-03-08T06:00:00Z", amount: 3333,
					lines:  []string{"current_due 3333 #1 s=604800"},
					expiry: "2026-03-16T06:00:00Z", from: active, to: active},
				// Mar 20: #2 (due Mar 16) is overdue, 4 days > grace 2: late.
				// 1000 of its 3333 paid; expiry does not move.
				{at: "2026-03-20T06:00:00Z", amount: 1000,
					lines:  []string{"arrears 1000 #2"},
					expiry: "2026-03-16T06:00:00Z", from: late, to: late},
				// 6000: arrears first, 3333 − 1000 = 2333 completes #2; then
				// #3 (due Mar 23, current) 3334 completes the plan; the rest,
				// 6000 − 2333 − 3334 = 333, is an overpayment.
				{at: "2026-03-21T06:00:00Z", amount: 6000,
					lines: []string{"arrears 2333 #2 s=604800", "current_due 3334 #3 s=604800",
						"overpayment 333", "status 0 status=paid_off"},
					expiry: "2026-03-30T06:00:00Z", from: late, to: paidOff, paidOff: true},
			},
		},
		{
			// 10000 − 1000 down = 9000 in 4 monthly instalments of 2250.
			// Activated Jan 31 10:00 EAT; due dates clamp to month ends:
			// Feb 28, Mar 31, Apr 30, May 31.
			name: "by count, monthly: advance payment, then arrears",
			plan: byCountMonthly,
			steps: []payStep{
				{at: "2026-01-31T07:00:00Z", amount: 1000,
					lines:  []string{"deposit 1000", "status 0 status=active"},
					expiry: "2026-02-28T07:00:00Z", from: pending, to: active},
				// 5000 on Feb 20: #1 is current (2250, Feb 28 → Mar 31 =
				// 31 days = 2678400 s), #2 in advance (2250, Mar 31 → Apr 30
				// = 30 days = 2592000 s), 500 in advance on #3.
				{at: "2026-02-20T07:00:00Z", amount: 5000,
					lines:  []string{"current_due 2250 #1 s=2678400", "advance 2250 #2 s=2592000", "advance 500 #3"},
					expiry: "2026-04-30T07:00:00Z", from: active, to: active},
				// May 5: #3 (due Apr 30) overdue 5 days: late. 2000 pays the
				// 1750 left of #3 (Apr 30 → May 31, 31 days) and 250 of #4.
				{at: "2026-05-05T07:00:00Z", amount: 2000,
					lines:  []string{"arrears 1750 #3 s=2678400", "current_due 250 #4"},
					expiry: "2026-05-31T07:00:00Z", from: late, to: active},
			},
		},
		{
			// 10000 − 1500 down = 8500 in weekly instalments of 2000:
			// N = ceil(8500/2000) = 5: 2000 × 4 and a last one of 500.
			// Activated Mar 2 09:00 EAT; due Mar 9, 16, 23, 30, Apr 6.
			name: "by cost, weekly: down payment and first instalment together",
			plan: byCostWeekly,
			steps: []payStep{
				// 3500 = 1500 down + 2000 for #1 (the current instalment).
				{at: "2026-03-02T06:00:00Z", amount: 3500,
					lines:  []string{"deposit 1500", "status 0 status=active", "current_due 2000 #1 s=604800"},
					expiry: "2026-03-16T06:00:00Z", from: pending, to: active},
				// Mar 10: #1 due Mar 9 is paid, so #2 (due Mar 16) is
				// current; 6600 pays #2, #3, #4 (2000 each), #5 (500),
				// 100 over.
				{at: "2026-03-10T06:00:00Z", amount: 6600,
					lines: []string{"current_due 2000 #2 s=604800", "advance 2000 #3 s=604800", "advance 2000 #4 s=604800",
						"advance 500 #5 s=604800", "overpayment 100", "status 0 status=paid_off"},
					expiry: "2026-04-13T06:00:00Z", from: active, to: paidOff, paidOff: true},
			},
		},
		{
			// 5000 − 1000 down = 4000 in monthly instalments of 1500:
			// N = ceil(4000/1500) = 3: 1500, 1500, 1000.
			// Activated Jan 15 10:00 EAT; due Feb 15, Mar 15, Apr 15.
			name: "by cost, monthly: paid on the due date, then a day late",
			plan: byCostMonthly,
			steps: []payStep{
				{at: "2026-01-15T07:00:00Z", amount: 1000,
					lines:  []string{"deposit 1000", "status 0 status=active"},
					expiry: "2026-02-15T07:00:00Z", from: pending, to: active},
				// Feb 15 23:00 EAT: on the due date, so current (not
				// arrears). Feb 15 → Mar 15 = 28 days = 2419200 s.
				{at: "2026-02-15T20:00:00Z", amount: 1500,
					lines:  []string{"current_due 1500 #1 s=2419200"},
					expiry: "2026-03-15T07:00:00Z", from: active, to: active},
				// Mar 16: #2 (due Mar 15) is 1 day overdue (≤ grace 2:
				// still active). Arrears 1500 (Mar 15 → Apr 15 = 31 days),
				// then #3 1000 (Apr 15 → May 15 = 30 days): paid off.
				{at: "2026-03-16T07:00:00Z", amount: 2500,
					lines:  []string{"arrears 1500 #2 s=2678400", "current_due 1000 #3 s=2592000", "status 0 status=paid_off"},
					expiry: "2026-05-15T07:00:00Z", from: active, to: paidOff, paidOff: true},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runSteps(t, newHarness(t, tt.plan, eat), tt.steps)
		})
	}
}

func TestSchedule(t *testing.T) {
	byCount := instalmentPlan(lease.KindInstalmentsByCount, lease.PeriodMonth, 12000, 2000)
	byCount.InstalmentCount = 3
	byCost := instalmentPlan(lease.KindInstalmentsByCost, lease.PeriodWeek, 10000, 1500)
	byCost.InstalmentAmount = 2000
	tests := []struct {
		name      string
		plan      lease.Plan
		activated string
		due       []string // local dates in EAT
		amounts   []int64
	}{
		{
			// 10000 / 3 = 3333 r 1: the remainder goes on the last.
			// Jan 31 + 1, 2, 3 months, clamped to month ends.
			name: "by count monthly from Jan 31", plan: byCount, activated: "2026-01-31T07:00:00Z",
			due: []string{"2026-02-28", "2026-03-31", "2026-04-30"}, amounts: []int64{3333, 3333, 3334},
		},
		{
			name: "leap year", plan: byCount, activated: "2028-01-31T07:00:00Z",
			due: []string{"2028-02-29", "2028-03-31", "2028-04-30"}, amounts: []int64{3333, 3333, 3334},
		},
		{
			// Activated Jan 31 23:30 EAT (20:30 UTC): the local date counts.
			name: "local date, not UTC", plan: byCount, activated: "2026-01-31T20:30:00Z",
			due: []string{"2026-02-28", "2026-03-31", "2026-04-30"}, amounts: []int64{3333, 3333, 3334},
		},
		{
			// 8500 / 2000: four of 2000 and a last one of 500.
			name: "by cost weekly", plan: byCost, activated: "2026-03-02T06:00:00Z",
			due:     []string{"2026-03-09", "2026-03-16", "2026-03-23", "2026-03-30", "2026-04-06"},
			amounts: []int64{2000, 2000, 2000, 2000, 500},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := lease.Schedule(tt.plan, ts(t, tt.activated), eat)
			if err != nil {
				t.Fatal(err)
			}
			var due []string
			var amounts []int64
			var sum int64
			for _, in := range s {
				due = append(due, in.Due.In(eat).Format("2006-01-02"))
				amounts = append(amounts, in.Amount)
				sum += in.Amount
			}
			if !slices.Equal(due, tt.due) || !slices.Equal(amounts, tt.amounts) {
				t.Errorf("schedule %v %v, want %v %v", due, amounts, tt.due, tt.amounts)
			}
			if sum != tt.plan.Financed() {
				t.Errorf("instalments sum to %d, want %d", sum, tt.plan.Financed())
			}
		})
	}
}

// TestWaterfallIsData: the same payment on the same contract, allocated by
// two waterfalls. Contract: 3000 in 3 weekly instalments of 1000, no down
// payment; #1 paid; #2 (due Mar 16) overdue on Mar 18; penalty 200 and fee
// 50 charged.
func TestWaterfallIsData(t *testing.T) {
	tests := []struct {
		name      string
		waterfall []lease.Step
		lines     []string
	}{
		{
			// Default: penalties 200, fees 50, then 1100 − 250 = 850 of #2.
			name:  "default",
			lines: []string{"penalty 200", "fee 50", "arrears 850 #2"},
		},
		{
			// Arrears first: 1000 completes #2 (expiry Mar 16 → Mar 23),
			// the remaining 100 goes to penalties; fees get nothing.
			name:      "arrears first",
			waterfall: []lease.Step{lease.StepArrears, lease.StepPenalties, lease.StepFees, lease.StepCurrentDue, lease.StepAdvance},
			lines:     []string{"arrears 1000 #2 s=604800", "penalty 100"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := instalmentPlan(lease.KindInstalmentsByCount, lease.PeriodWeek, 3000, 0)
			p.InstalmentCount, p.Waterfall = 3, tt.waterfall
			h := newHarness(t, p, eat)
			// No deposit: the first payment activates and pays #1.
			r := h.pay(1000, ts(t, "2026-03-02T06:00:00Z"))
			if got, want := summary(r.Lines), []string{"status 0 status=active", "current_due 1000 #1 s=604800"}; !slices.Equal(got, want) {
				t.Fatalf("activation lines %q, want %q", got, want)
			}
			h.charge(lease.LinePenaltyCharge, 200, ts(t, "2026-03-18T06:00:00Z"))
			h.charge(lease.LineFeeCharge, 50, ts(t, "2026-03-18T06:00:00Z"))
			r = h.pay(1100, ts(t, "2026-03-18T06:00:00Z"))
			if got := summary(r.Lines); !slices.Equal(got, tt.lines) {
				t.Errorf("lines %q, want %q", got, tt.lines)
			}
		})
	}
}

// TestInstalmentReversal: reversing an instalment payment moves the
// expiry back and the arrears reappear.
func TestInstalmentReversal(t *testing.T) {
	p := instalmentPlan(lease.KindInstalmentsByCount, lease.PeriodWeek, 12000, 2000)
	p.InstalmentCount = 3
	h := newHarness(t, p, eat)
	h.pay(2000, ts(t, "2026-03-02T06:00:00Z"))
	first := h.pay(3333, ts(t, "2026-03-08T06:00:00Z")) // #1, expiry → Mar 16
	rev := h.reverse(first, ts(t, "2026-03-12T06:00:00Z"))
	if got, want := summary(rev.Lines), []string{"current_due -3333 #1 s=-604800"}; !slices.Equal(got, want) {
		t.Errorf("reversal lines %q, want %q", got, want)
	}
	// Back to Mar 9: 3 days in arrears on Mar 12 (> grace 2), 3333 overdue.
	if !h.s.Expiry.Equal(ts(t, "2026-03-09T06:00:00Z")) || h.s.Arrears != 3333 || rev.To != lease.StatusLate {
		t.Errorf("after reversal: expiry %s, arrears %d, status %s", h.s.Expiry, h.s.Arrears, rev.To)
	}
	// Reversing the same payment twice is refused: only 0 is left in
	// instalment principal.
	if _, err := lease.Reverse(p, h.s, first.Lines, ts(t, "2026-03-12T07:00:00Z"), eat); !errors.Is(err, lease.ErrInvalidReversal) {
		t.Errorf("second reversal of the same payment: error %v, want ErrInvalidReversal", err)
	}
	// Reversal lines cannot themselves be reversed.
	if _, err := lease.Reverse(p, h.s, rev.Lines, ts(t, "2026-03-12T07:00:00Z"), eat); !errors.Is(err, lease.ErrInvalidReversal) {
		t.Errorf("reversing a reversal: error %v, want ErrInvalidReversal", err)
	}
}

// TestDueDateLocalZone: whether an instalment is arrears or current due
// depends on the local date. Activated Mar 3 01:30 EAT (Mar 2 22:30 UTC),
// so #1 is due Mar 10 01:30 EAT = Mar 9 22:30 UTC. A payment at Mar 10
// 00:30 UTC (03:30 EAT) is on the due date in EAT (current) but a day late
// in UTC (arrears).
func TestDueDateLocalZone(t *testing.T) {
	for _, tt := range []struct {
		loc  *time.Location
		want string
	}{
		{eat, "current_due 1000 #1 s=604800"},
		{time.UTC, "arrears 1000 #1 s=604800"},
	} {
		t.Run(tt.loc.String(), func(t *testing.T) {
			// 2500 − 500 down = 2000 in 2 weekly instalments of 1000.
			p := instalmentPlan(lease.KindInstalmentsByCount, lease.PeriodWeek, 2500, 500)
			p.InstalmentCount = 2
			h := newHarness(t, p, tt.loc)
			h.pay(500, ts(t, "2026-03-02T22:30:00Z"))
			r := h.pay(1000, ts(t, "2026-03-10T00:30:00Z"))
			if got := summary(r.Lines); len(got) != 1 || got[0] != tt.want {
				t.Errorf("lines %q, want [%q]", got, tt.want)
			}
		})
	}
}
