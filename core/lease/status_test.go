package lease_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/lease"
)

// TestStatusAcrossTimeZones: credit runs out at Mar 1 20:00 UTC, which is
// Mar 1 23:00 in EAT (UTC+3) and Mar 1 15:00 in UTC−5. Days in arrears
// count local midnights after that instant; grace 0, default 2.
func TestStatusAcrossTimeZones(t *testing.T) {
	p := paygPlan(100, lease.PeriodDay)
	p.GraceDays, p.DefaultDays = 0, 2
	h := newHarness(t, p, time.UTC)
	h.pay(100, ts(t, "2026-02-28T20:00:00Z")) // 1 day: expiry Mar 1 20:00 UTC
	west := time.FixedZone("UTC-5", -5*3600)

	tests := []struct {
		at   string
		loc  *time.Location
		days int
		want lease.Status
	}{
		// One second before expiry: paid up everywhere.
		{"2026-03-01T19:59:59Z", eat, 0, lease.StatusActive},
		// 21:30 UTC is already Mar 2 00:30 in EAT: one midnight passed.
		{"2026-03-01T21:30:00Z", eat, 1, lease.StatusLate},
		{"2026-03-01T21:30:00Z", time.UTC, 0, lease.StatusActive},
		{"2026-03-01T21:30:00Z", west, 0, lease.StatusActive},
		// Mar 2 04:30 UTC is Mar 1 23:30 in UTC−5: still the expiry date there.
		{"2026-03-02T04:30:00Z", west, 0, lease.StatusActive},
		{"2026-03-02T04:30:00Z", time.UTC, 1, lease.StatusLate},
		{"2026-03-02T05:30:00Z", west, 1, lease.StatusLate},
		// Mar 3 21:00 UTC is Mar 4 00:00 EAT: 3 days > default 2.
		{"2026-03-03T21:00:00Z", eat, 3, lease.StatusDefaulted},
		{"2026-03-03T21:00:00Z", time.UTC, 2, lease.StatusLate},
	}
	for _, tt := range tests {
		at := ts(t, tt.at)
		if d := lease.DaysInArrears(p, h.s, at, tt.loc); d != tt.days {
			t.Errorf("DaysInArrears(%s, %s) = %d, want %d", tt.at, tt.loc, d, tt.days)
		}
		if s := lease.StatusAt(p, h.s, at, tt.loc); s != tt.want {
			t.Errorf("StatusAt(%s, %s) = %s, want %s", tt.at, tt.loc, s, tt.want)
		}
	}
}

// TestApplyErrors: every refusal wraps a recognisable error with a code
// for the HTTP layer, and leaves the state alone.
func TestApplyErrors(t *testing.T) {
	p := paygPlan(100, lease.PeriodDay)
	p.MinimumPayment = 50
	fresh := lease.NewState(p)
	paid := fresh
	paid.Status = lease.StatusPaidOff
	at := ts(t, "2026-01-01T00:00:00Z")
	bad := p
	bad.Price = 0
	cheap := paygPlan(1, lease.PeriodMonth) // 1 minor unit buys 30 days
	tests := []struct {
		name    string
		plan    lease.Plan
		state   lease.State
		payment core.Money
		loc     *time.Location
		want    error
		code    string
	}{
		{"currency mismatch", p, fresh, core.NewMoney(100, "UGX"), eat, lease.ErrCurrencyMismatch, core.EINVALID},
		{"below minimum", p, fresh, kes(49), eat, lease.ErrBelowMinimum, core.EINVALID},
		{"zero", p, fresh, kes(0), eat, lease.ErrInvalidArgument, core.EINVALID},
		{"negative", p, fresh, kes(-100), eat, lease.ErrInvalidArgument, core.EINVALID},
		{"paid off", p, paid, kes(100), eat, lease.ErrContractClosed, core.ECONFLICT},
		{"nil zone", p, fresh, kes(100), nil, lease.ErrInvalidArgument, core.EINVALID},
		{"invalid plan", bad, fresh, kes(100), eat, lease.ErrInvalidPlan, core.EINVALID},
		// MaxInt64 × 2592000 s does not fit in an int64 of seconds.
		{"seconds overflow", cheap, lease.NewState(cheap), kes(math.MaxInt64), eat, lease.ErrOverflow, core.EINVALID},
		// 10^12 × 30 days is far beyond year 9999.
		{"expiry beyond 9999", cheap, lease.NewState(cheap), kes(1e12), eat, lease.ErrOverflow, core.EINVALID},
		{"state in another currency", p, lease.State{Status: lease.StatusPendingDeposit, Currency: "UGX"}, kes(100), eat, lease.ErrCurrencyMismatch, core.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := lease.Apply(tt.plan, tt.state, tt.payment, at, tt.loc)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if c := core.ErrorCode(err); c != tt.code {
				t.Errorf("code %q, want %q", c, tt.code)
			}
		})
	}
	// Minimum payment applies exactly: 50 is accepted.
	if _, err := lease.Apply(p, fresh, kes(50), at, eat); err != nil {
		t.Errorf("payment of exactly the minimum: %v", err)
	}
}

func TestTransition(t *testing.T) {
	p := paygPlan(100, lease.PeriodDay) // grace 2, default 30
	t0 := ts(t, "2026-01-01T00:00:00Z")
	// Contract states at t0 + 40 days by how much was paid on t0.
	state := func(t *testing.T, status lease.Status) lease.State {
		s := lease.NewState(p)
		switch status {
		case lease.StatusPendingDeposit:
			return s
		case lease.StatusActive:
			r, _ := lease.Apply(p, s, kes(5000), t0, eat) // 50 days
			return r.State
		case lease.StatusLate:
			r, _ := lease.Apply(p, s, kes(3500), t0, eat) // 35 days: 5 in arrears
			return r.State
		case lease.StatusDefaulted:
			r, _ := lease.Apply(p, s, kes(500), t0, eat) // 5 days: 35 in arrears
			return r.State
		}
		s.Status = status
		return s
	}
	at := t0.AddDate(0, 0, 40)
	tests := []struct {
		from, to lease.Status
		ok       bool
	}{
		{lease.StatusPendingDeposit, lease.StatusCancelled, true},
		{lease.StatusPendingDeposit, lease.StatusRepossessed, false},
		{lease.StatusActive, lease.StatusCancelled, true},
		{lease.StatusActive, lease.StatusRepossessed, true},
		{lease.StatusActive, lease.StatusWrittenOff, false},
		{lease.StatusLate, lease.StatusWrittenOff, true},
		{lease.StatusLate, lease.StatusCancelled, false},
		{lease.StatusDefaulted, lease.StatusRepossessed, true},
		{lease.StatusDefaulted, lease.StatusWrittenOff, true},
		{lease.StatusRepossessed, lease.StatusWrittenOff, true},
		{lease.StatusRepossessed, lease.StatusCancelled, false},
		{lease.StatusWrittenOff, lease.StatusRepossessed, false},
		{lease.StatusCancelled, lease.StatusWrittenOff, false},
		{lease.StatusPaidOff, lease.StatusCancelled, false},
		{lease.StatusActive, lease.StatusPaidOff, false}, // not an operator status
		{lease.StatusLate, lease.StatusActive, false},    // not an operator status
	}
	for _, tt := range tests {
		t.Run(string(tt.from)+"→"+string(tt.to), func(t *testing.T) {
			s := state(t, tt.from)
			if got := lease.StatusAt(p, s, at, eat); got != tt.from {
				t.Fatalf("setup: status %s, want %s", got, tt.from)
			}
			r, err := lease.Transition(p, s, tt.to, at, eat)
			if !tt.ok {
				if !errors.Is(err, lease.ErrIllegalTransition) {
					t.Errorf("error %v, want ErrIllegalTransition", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.From != tt.from || r.To != tt.to || r.State.Status != tt.to || len(r.Lines) != 1 {
				t.Errorf("result %s → %s, stored %s, %d lines", r.From, r.To, r.State.Status, len(r.Lines))
			}
			// Closed contracts refuse payments and charges.
			if _, err := lease.Apply(p, r.State, kes(100), at, eat); !errors.Is(err, lease.ErrContractClosed) {
				t.Errorf("payment after %s: error %v, want ErrContractClosed", tt.to, err)
			}
		})
	}
}

// TestReverseAfterWriteOff: money can still be taken back from a closed
// contract, and the operator status stays.
func TestReverseAfterWriteOff(t *testing.T) {
	p := paygPlan(100, lease.PeriodDay)
	h := newHarness(t, p, eat)
	first := h.pay(500, ts(t, "2026-01-01T00:00:00Z"))
	r, err := lease.Transition(p, h.s, lease.StatusWrittenOff, ts(t, "2026-02-15T00:00:00Z"), eat)
	if err != nil {
		t.Fatal(err)
	}
	h.record(r, 0)
	rev := h.reverse(first, ts(t, "2026-02-20T00:00:00Z"))
	if rev.State.Status != lease.StatusWrittenOff || rev.State.NegativeCreditSeconds != 5*lease.SecondsPerDay {
		t.Errorf("status %s, negative credit %d", rev.State.Status, rev.State.NegativeCreditSeconds)
	}
}

// TestCheckLedgerDetectsTampering: the ledger check names what differs.
func TestCheckLedgerDetectsTampering(t *testing.T) {
	p := paygPlan(7, lease.PeriodDay)
	h := newHarness(t, p, eat)
	h.pay(10, ts(t, "2026-01-01T00:00:00Z"))
	h.pay(20, ts(t, "2026-01-02T00:00:00Z"))

	stored := h.s
	stored.Carry++
	if err := lease.CheckLedger(p, stored, h.lines, h.net, eat); !errors.Is(err, lease.ErrLedgerMismatch) {
		t.Errorf("changed carry: %v", err)
	}
	if err := lease.CheckLedger(p, h.s, h.lines, h.net+1, eat); !errors.Is(err, lease.ErrLedgerMismatch) {
		t.Errorf("wrong net received: %v", err)
	}
	lines := append([]lease.Line(nil), h.lines...)
	lines[len(lines)-1].Seconds++ // breaks Amount × scale + carry = seconds × price + carry
	if _, err := lease.Replay(p, lines, eat); !errors.Is(err, lease.ErrLedgerMismatch) {
		t.Errorf("tampered seconds: %v", err)
	}
	if d := lease.Diff(h.s, stored); len(d) != 1 {
		t.Errorf("Diff = %q, want one field", d)
	}
}
