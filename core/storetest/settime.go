package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/adapters/nexus"
	"github.com/payg-gateway/gateway/adapters/openpaygo"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/lease"
	"github.com/payg-gateway/gateway/core/payg"
)

// setTimeContract makes a device and a set_time payg_credit contract on it.
func (w *world) setTimeContract(t *testing.T, account, serial string, scheme payg.TokenScheme, divider int) (payg.Device, payg.Contract) {
	t.Helper()
	ctx := context.Background()
	in := payg.DeviceInput{Serial: serial, Scheme: scheme, SecretKeyHex: testKeyHex, StartingCode: testStartingCode}
	if scheme == payg.SchemeOpenPAYGO {
		in.ValueDivider = divider
	}
	d, err := w.svc.CreateDevice(ctx, w.tenant, in)
	if err != nil {
		t.Fatalf("CreateDevice: %v", err)
	}
	plan, err := w.svc.CreatePlan(ctx, w.tenant, payg.PlanInput{Name: "set " + account, Terms: lease.Plan{
		Kind: lease.KindPAYGCredit, Currency: "KES", Price: testPricePerDay, PricePeriod: lease.PeriodDay,
		GraceDays: 3, DefaultDays: 30, TokenMode: lease.TokenModeSetTime,
	}})
	if err != nil {
		t.Fatalf("CreatePlan: %v", err)
	}
	c, err := w.svc.CreateContract(ctx, w.tenant, payg.ContractInput{
		AccountNumber: account, CustomerID: w.customer.ID, DeviceIDs: []string{d.ID}, PlanID: plan.ID,
	})
	if err != nil {
		t.Fatalf("CreateContract: %v", err)
	}
	if c.Plan.TokenMode != lease.TokenModeSetTime {
		t.Fatalf("contract token mode %q, want set_time from its plan", c.Plan.TokenMode)
	}
	return d, c
}

// testSetTimeTokens: a set_time plan's payments send SET_TIME (Nexus
// SET_CREDIT) tokens that set the device to the contract's paid-through
// instant; fractions of a unit come back with the next set token; credit
// beyond one token's maximum follows as ADD_TIME; the device simulator
// accepts every token in order.
func testSetTimeTokens(t *testing.T, h Harness) {
	ctx := context.Background()
	w := newWorld(t, h)
	pay := func(id, account string, amount int64) payg.Outcome {
		t.Helper()
		out, err := w.svc.ApplyNotice(ctx, w.tenant, notice(id, account, amount))
		if err != nil {
			t.Fatalf("ApplyNotice %s: %v", id, err)
		}
		if out.Payment.Status != payg.PaymentApplied {
			t.Fatalf("payment %s is %s", id, out.Payment.Status)
		}
		return out
	}
	device := func(id string) payg.Device {
		t.Helper()
		var d payg.Device
		w.view(t, func(r payg.Reader) (err error) { d, err = r.Device(ctx, w.tenant, id); return err })
		return d
	}

	// OpenPAYGO, divider 1.
	d, c := w.setTimeContract(t, "SET100", "SHS-SET-1", payg.SchemeOpenPAYGO, 1)
	sim := openpaygo.Device{Key: w.key, StartingCode: testStartingCode, ValueDivider: 1}
	state := openpaygo.InitialState(0)
	enter := func(tok payg.Token, typ openpaygo.TokenType, value int) {
		t.Helper()
		res, err := sim.Decode(tok.Code, state)
		if err != nil || res.Type != typ || res.Value != value || int64(res.Count) != tok.Count {
			t.Fatalf("device decodes %s (count %d) as %+v (%v); want %v %d", tok.Code, tok.Count, res, err, typ, value)
		}
		state = state.Apply(res)
	}
	one := func(out payg.Outcome) payg.Token {
		t.Helper()
		if len(out.Tokens) != 1 {
			t.Fatalf("%d tokens, want 1: %+v", len(out.Tokens), out.Tokens)
		}
		return out.Tokens[0]
	}

	// KES 75.00: a day and a half. The device is set to the whole day; the
	// half day waits in the carry (seconds × divider).
	tok := one(pay("SETA1", "SET100", 7500))
	if tok.Type != "SET_TIME" || tok.Value != 1 || tok.Seconds != 86400 || tok.Count%2 != 1 {
		t.Fatalf("first token %+v, want SET_TIME 1 (86400 s) at an odd count", tok)
	}
	enter(tok, openpaygo.SetTime, 1)
	if got := device(d.ID); got.TokenCarry != 43200 || got.Counter != tok.Count {
		t.Fatalf("device carry %d counter %d, want 43200 and %d", got.TokenCarry, got.Counter, tok.Count)
	}
	// KES 25.00 more at once: the paid-through instant is two days away,
	// so the half day comes back in the set token.
	tok = one(pay("SETA2", "SET100", 2500))
	if tok.Type != "SET_TIME" || tok.Value != 2 {
		t.Fatalf("second token %+v, want SET_TIME 2", tok)
	}
	enter(tok, openpaygo.SetTime, 2)
	if got := device(d.ID); got.TokenCarry != 0 {
		t.Fatalf("carry %d after the fraction came back, want 0", got.TokenCarry)
	}
	// A day later, a day more: two days remain, not three.
	w.clock.Advance(24 * time.Hour)
	third := pay("SETA3", "SET100", 5000)
	tok = one(third)
	if tok.Type != "SET_TIME" || tok.Value != 2 {
		t.Fatalf("third token %+v, want SET_TIME 2 (the elapsed day is not given again)", tok)
	}
	enter(tok, openpaygo.SetTime, 2)
	// A reversal sends nothing; the next payment's set token accounts for
	// it: one day remains after taking one back, and one more is bought.
	rev, err := w.svc.Reverse(ctx, w.tenant, third.Payment.ID, "test reversal")
	if err != nil {
		t.Fatalf("Reverse: %v", err)
	}
	if len(rev.Tokens) != 0 {
		t.Fatalf("a reversal on a set_time contract issued %+v", rev.Tokens)
	}
	tok = one(pay("SETA4", "SET100", 5000))
	if tok.Type != "SET_TIME" || tok.Value != 2 {
		t.Fatalf("token after the reversal %+v, want SET_TIME 2", tok)
	}
	enter(tok, openpaygo.SetTime, 2)
	w.checkLedger(t, c.ID, 7500+2500+5000-5000+5000)

	// OpenPAYGO, divider 4: 300 days are 1200 units, more than one token's
	// 995. SET_TIME 995, then ADD_TIME 205 at the next (even) count.
	d4, _ := w.setTimeContract(t, "SET400", "SHS-SET-4", payg.SchemeOpenPAYGO, 4)
	sim = openpaygo.Device{Key: w.key, StartingCode: testStartingCode, ValueDivider: 4}
	state = openpaygo.InitialState(0)
	out := pay("SETB1", "SET400", 300*testPricePerDay)
	if len(out.Tokens) != 2 {
		t.Fatalf("%d tokens for 300 days at divider 4, want 2: %+v", len(out.Tokens), out.Tokens)
	}
	if a, b := out.Tokens[0], out.Tokens[1]; a.Type != "SET_TIME" || a.Value != openpaygo.MaxValue || b.Type != "ADD_TIME" || b.Value != 1200-openpaygo.MaxValue ||
		a.Seconds+b.Seconds != 300*86400 {
		t.Fatalf("tokens %+v, want SET_TIME 995 then ADD_TIME 205 summing to 300 days", out.Tokens)
	}
	enter(out.Tokens[0], openpaygo.SetTime, openpaygo.MaxValue)
	enter(out.Tokens[1], openpaygo.AddTime, 1200-openpaygo.MaxValue)
	if got := device(d4.ID); got.TokenCarry != 0 || got.Counter != out.Tokens[1].Count {
		t.Fatalf("device %+v after the split", got)
	}

	// Nexus: SET_CREDIT in hours; 1.5 days are 36 hours.
	_, _ = w.setTimeContract(t, "SETNX", "NX-SET-1", payg.SchemeNexus, 0)
	tok = one(pay("SETC1", "SETNX", 7500))
	want, err := nexus.Encode(nexus.Request{Protocol: nexus.Full, Type: nexus.SetCredit, Key: w.key[:], ID: uint32(tok.Count), Value: "36"})
	if err != nil {
		t.Fatal(err)
	}
	if tok.Type != "SET_CREDIT" || tok.Value != 36 || tok.Seconds != 36*3600 || tok.Code != want {
		t.Fatalf("nexus token %+v, want SET_CREDIT 36 h = %s", tok, want)
	}
}

// testSetTimeNeedsEngine: a set_time contract is refused for a device
// whose engine cannot set credit.
func testSetTimeNeedsEngine(t *testing.T, h Harness) {
	ctx := context.Background()
	w := newWorld(t, h)
	s := payg.NewService(payg.Options{Store: w.pstore, Tenants: w.store, Clock: w.clock,
		Engines: map[payg.TokenScheme]payg.TokenEngine{"acme": addOnly{}}})
	d, err := s.CreateDevice(ctx, w.tenant, payg.DeviceInput{Serial: "ACME-1", Scheme: "acme"})
	if err == nil {
		t.Fatalf("CreateDevice of an unknown scheme = %+v, want an error", d)
	}
	// A device of a scheme that is not an AsyncTokenEngine cannot be
	// created through CreateDevice; insert it directly.
	d = payg.Device{ID: "dev_acme1", TenantID: w.tenant, Serial: "ACME-1", Scheme: "acme", CreatedAt: w.clock.Now(), UpdatedAt: w.clock.Now()}
	if err := w.pstore.InTx(ctx, func(tx payg.Tx) error { return tx.InsertDevice(ctx, d) }); err != nil {
		t.Fatal(err)
	}
	plan := lease.Plan{Kind: lease.KindPAYGCredit, Currency: "KES", Price: 100, PricePeriod: lease.PeriodDay, DefaultDays: 30, TokenMode: lease.TokenModeSetTime}
	_, err = s.CreateContract(ctx, w.tenant, payg.ContractInput{AccountNumber: "ACME1", CustomerID: w.customer.ID, DeviceIDs: []string{d.ID}, Plan: plan})
	if core.ErrorCode(err) != core.EINVALID {
		t.Fatalf("set_time contract on an add-only device: %v, want EINVALID", err)
	}
	plan.TokenMode = lease.TokenModeAddTime
	if _, err := s.CreateContract(ctx, w.tenant, payg.ContractInput{AccountNumber: "ACME1", CustomerID: w.customer.ID, DeviceIDs: []string{d.ID}, Plan: plan}); err != nil {
		t.Fatalf("add_time contract on an add-only device: %v", err)
	}
}

// addOnly is an engine without CreditSetter.
type addOnly struct{}

func (addOnly) Unit(payg.Device) (int64, int64)                     { return 86400, 1 }
func (addOnly) MaxUnits(payg.Device) int64                          { return 100 }
func (addOnly) Unlock(payg.Device, []byte) (payg.IssuedCode, error) { return payg.IssuedCode{}, nil }
func (addOnly) AddCredit(d payg.Device, _ []byte, units int64) (payg.IssuedCode, error) {
	return payg.IssuedCode{Code: "x", Type: "ADD", Value: units, Counter: d.Counter + 1}, nil
}
