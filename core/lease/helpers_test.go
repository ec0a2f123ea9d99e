package lease_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/lease"
)

// eat is East Africa Time (Nairobi, Kampala, Dar es Salaam): UTC+3, no DST.
var eat = time.FixedZone("EAT", 3*3600)

func kes(a int64) core.Money { return core.NewMoney(a, "KES") }

// ts parses an RFC 3339 time.
func ts(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("bad time %q: %v", s, err)
	}
	return v
}

// summary writes lines compactly for table comparisons, e.g.
// "credit 150 s=129600 carry=0→0" or "arrears 1000 #2".
func summary(lines []lease.Line) []string {
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		s := fmt.Sprintf("%s %d", l.Kind, l.Amount)
		if l.Instalment != 0 {
			s += fmt.Sprintf(" #%d", l.Instalment)
		}
		if l.Seconds != 0 {
			s += fmt.Sprintf(" s=%d", l.Seconds)
		}
		if l.DebtSeconds != 0 {
			s += fmt.Sprintf(" debt_s=%d", l.DebtSeconds)
		}
		if l.Wh != 0 {
			s += fmt.Sprintf(" wh=%d", l.Wh)
		}
		if l.DebtWh != 0 {
			s += fmt.Sprintf(" debt_wh=%d", l.DebtWh)
		}
		if l.Kind == lease.LineCredit || l.Kind == lease.LineEnergy {
			s += fmt.Sprintf(" carry=%d→%d", l.CarryBefore, l.CarryAfter)
		}
		if l.Status != "" {
			s += " status=" + string(l.Status)
		}
		out = append(out, s)
	}
	return out
}

// harness keeps a contract's state and ledger and checks the ledger
// invariants after every operation.
type harness struct {
	t     *testing.T
	p     lease.Plan
	loc   *time.Location
	s     lease.State
	lines []lease.Line
	net   int64 // payments − reversals
}

func newHarness(t *testing.T, p lease.Plan, loc *time.Location) *harness {
	t.Helper()
	if err := p.Validate(); err != nil {
		t.Fatalf("plan: %v", err)
	}
	return &harness{t: t, p: p, loc: loc, s: lease.NewState(p)}
}

func (h *harness) record(r lease.Result, cash int64) lease.Result {
	h.t.Helper()
	h.s = r.State
	h.lines = append(h.lines, r.Lines...)
	h.net += cash
	if err := lease.CheckLedger(h.p, h.s, h.lines, h.net, h.loc); err != nil {
		h.t.Fatalf("ledger invariant: %v", err)
	}
	for _, l := range r.Lines {
		if l.Note == "" {
			h.t.Errorf("%s line has no note", l.Kind)
		}
	}
	return r
}

func (h *harness) pay(amount int64, at time.Time) lease.Result {
	h.t.Helper()
	r, err := lease.Apply(h.p, h.s, kes(amount), at, h.loc)
	if err != nil {
		h.t.Fatalf("Apply(%d at %s): %v", amount, at.Format(time.RFC3339), err)
	}
	return h.record(r, amount)
}

func (h *harness) reverse(orig lease.Result, at time.Time) lease.Result {
	h.t.Helper()
	r, err := lease.Reverse(h.p, h.s, orig.Lines, at, h.loc)
	if err != nil {
		h.t.Fatalf("Reverse at %s: %v", at.Format(time.RFC3339), err)
	}
	var cash int64
	for _, l := range r.Lines {
		if l.Kind.IsCash() {
			cash += l.Amount
		}
	}
	return h.record(r, cash)
}

func (h *harness) charge(kind lease.LineKind, amount int64, at time.Time) lease.Result {
	h.t.Helper()
	r, err := lease.Charge(h.p, h.s, kind, kes(amount), at, h.loc)
	if err != nil {
		h.t.Fatalf("Charge(%s %d): %v", kind, amount, err)
	}
	return h.record(r, 0)
}

// payStep is one payment of a worked example and what it must produce.
type payStep struct {
	at      string // RFC 3339
	amount  int64
	lines   []string // summary of the lines written
	expiry  string   // RFC 3339 Expiry afterwards ("" = not checked)
	carry   int64
	from    lease.Status
	to      lease.Status
	paidOff bool
}

// runSteps applies the steps in order and checks each result.
func runSteps(t *testing.T, h *harness, steps []payStep) {
	t.Helper()
	for i, st := range steps {
		r := h.pay(st.amount, ts(t, st.at))
		if got := summary(r.Lines); !slices.Equal(got, st.lines) {
			t.Errorf("step %d: lines\n got %q\nwant %q", i+1, got, st.lines)
		}
		if st.expiry != "" && !r.State.Expiry.Equal(ts(t, st.expiry)) {
			t.Errorf("step %d: expiry %s, want %s", i+1, r.State.Expiry.Format(time.RFC3339), st.expiry)
		}
		if r.State.Carry != st.carry {
			t.Errorf("step %d: carry %d, want %d", i+1, r.State.Carry, st.carry)
		}
		if r.From != st.from || r.To != st.to {
			t.Errorf("step %d: status %s → %s, want %s → %s", i+1, r.From, r.To, st.from, st.to)
		}
		if r.PaidOff != st.paidOff {
			t.Errorf("step %d: paid off %v, want %v", i+1, r.PaidOff, st.paidOff)
		}
	}
}
