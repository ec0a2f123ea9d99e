package lease_test

import (
	"slices"
	"testing"

	"github.com/payg-gateway/gateway/core/lease"
)

// TestApplyEnergy: a mini-grid meter at 30 per kWh, access rate 300 every
// 30 days (first charge on the activation date), connection fee 1000.
// Activated Jan 1 08:00 EAT: charges fall due Jan 1, Jan 31, Mar 2, Apr 1.
func TestApplyEnergy(t *testing.T) {
	p := lease.Plan{
		Kind: lease.KindEnergy, Currency: "KES", Deposit: 1000,
		PricePerKWh: 30, AccessRate: 300, AccessPeriodDays: 30,
		GraceDays: 2, DefaultDays: 30,
	}
	h := newHarness(t, p, eat)
	type want struct {
		lines      []string
		expiry     string // paid through: due date of the first unpaid access charge
		accessDebt int64
		energyWh   int64 // delivered by this payment
		from, to   lease.Status
	}
	steps := []struct {
		at     string
		amount int64
		want   want
	}{
		// Connection fee activates; the first access charge (300) is now due.
		{"2026-01-01T05:00:00Z", 1000, want{
			lines:  []string{"deposit 1000", "status 0 status=active"},
			expiry: "2026-01-01T05:00:00Z", accessDebt: 300,
			from: lease.StatusPendingDeposit, to: lease.StatusActive}},
		// Jan 5: 4 days after the unpaid Jan 1 charge (> grace 2): late.
		// Access 300 first (paid through Jan 31), then 700 of energy:
		// 700 × 1000 / 30 = 23333 Wh, remainder 10 carried (10/1000 of a
		// minor unit).
		{"2026-01-05T05:00:00Z", 1000, want{
			lines:  []string{"access 300", "energy 700 wh=23333 carry=0→10"},
			expiry: "2026-01-31T05:00:00Z", energyWh: 23333,
			from: lease.StatusLate, to: lease.StatusActive}},
		// Mar 5: 63 days after activation, 63/30 + 1 = 3 charges due
		// (900), 300 paid: 600 owed; paid through Jan 31 → 33 days (> 30):
		// defaulted. All 10 goes to access.
		{"2026-03-05T05:00:00Z", 10, want{
			lines:  []string{"access 10"},
			expiry: "2026-01-31T05:00:00Z", accessDebt: 590,
			from: lease.StatusDefaulted, to: lease.StatusDefaulted}},
		// 1033: access 590 (paid through Apr 1), energy 443:
		// (443 × 1000 + 10) / 30 = 443010 / 30 = 14767 Wh, carry 0.
		{"2026-03-05T05:00:00Z", 1033, want{
			lines:  []string{"access 590", "energy 443 wh=14767 carry=10→0"},
			expiry: "2026-04-01T05:00:00Z", energyWh: 14767,
			from: lease.StatusDefaulted, to: lease.StatusActive}},
	}
	var second lease.Result
	for i, st := range steps {
		r := h.pay(st.amount, ts(t, st.at))
		if i == 1 {
			second = r
		}
		w := st.want
		if got := summary(r.Lines); !slices.Equal(got, w.lines) {
			t.Errorf("step %d: lines %q, want %q", i+1, got, w.lines)
		}
		if !r.State.Expiry.Equal(ts(t, w.expiry)) || r.State.AccessDebt != w.accessDebt || r.EnergyWh != w.energyWh {
			t.Errorf("step %d: expiry %s access debt %d energy %d; want %s %d %d",
				i+1, r.State.Expiry.Format("2006-01-02T15:04Z07:00"), r.State.AccessDebt, r.EnergyWh, w.expiry, w.accessDebt, w.energyWh)
		}
		if r.From != w.from || r.To != w.to {
			t.Errorf("step %d: status %s → %s, want %s → %s", i+1, r.From, r.To, w.from, w.to)
		}
	}
	// Energy paid 700 + 443 = 1143 buys exactly 1143000 / 30 = 38100 Wh.
	if h.s.EnergyWh != 38100 || h.s.Carry != 0 {
		t.Errorf("energy %d Wh carry %d, want 38100, 0", h.s.EnergyWh, h.s.Carry)
	}

	// Reverse the Jan 5 payment on Mar 6, newest line first. Energy:
	// take back 700 × 1000 = 700000 from carry 0: 700000 = 23333 × 30 + 10,
	// so 23334 Wh with carry 20 (−700000 + 0 = −23334 × 30 + 20). It is
	// already on the meter, so all 23334 Wh become energy debt. Access:
	// 300 owed again, paid through falls back to Mar 2.
	rev := h.reverse(second, ts(t, "2026-03-06T05:00:00Z"))
	if got, want := summary(rev.Lines), []string{"energy -700 wh=-23334 debt_wh=23334 carry=0→20", "access -300"}; !slices.Equal(got, want) {
		t.Errorf("reversal lines %q, want %q", got, want)
	}
	if h.s.EnergyDebtWh != 23334 || h.s.AccessDebt != 300 || !h.s.Expiry.Equal(ts(t, "2026-03-02T05:00:00Z")) {
		t.Errorf("after reversal: energy debt %d, access debt %d, expiry %s", h.s.EnergyDebtWh, h.s.AccessDebt, h.s.Expiry)
	}
	// Next payment 1000: access 300, then (700000 + 20) / 30 = 23334 Wh,
	// all repaying the energy debt: nothing new reaches the meter.
	r := h.pay(1000, ts(t, "2026-03-07T05:00:00Z"))
	if got, want := summary(r.Lines), []string{"access 300", "energy 700 wh=23334 debt_wh=-23334 carry=20→0"}; !slices.Equal(got, want) {
		t.Errorf("lines %q, want %q", got, want)
	}
	if r.EnergyWh != 0 || h.s.EnergyDebtWh != 0 || h.s.EnergyWh != 38100 {
		t.Errorf("delivered %d, debt %d, total %d; want 0, 0, 38100", r.EnergyWh, h.s.EnergyDebtWh, h.s.EnergyWh)
	}
}

// TestEnergyWithoutAccessRate: everything buys energy and the contract
// never falls late.
func TestEnergyWithoutAccessRate(t *testing.T) {
	p := lease.Plan{Kind: lease.KindEnergy, Currency: "KES", PricePerKWh: 40, GraceDays: 0, DefaultDays: 1}
	h := newHarness(t, p, eat)
	// 100 × 1000 / 40 = 2500 Wh.
	r := h.pay(100, ts(t, "2026-01-01T00:00:00Z"))
	if got, want := summary(r.Lines), []string{"status 0 status=active", "energy 100 wh=2500 carry=0→0"}; !slices.Equal(got, want) {
		t.Errorf("lines %q, want %q", got, want)
	}
	if s := lease.StatusAt(p, h.s, ts(t, "2027-01-01T00:00:00Z"), eat); s != lease.StatusActive {
		t.Errorf("a year later: %s, want active", s)
	}
}
