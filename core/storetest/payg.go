package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/adapters/nexus"
	"github.com/payg-gateway/gateway/adapters/openpaygo"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/coretest"
	"github.com/payg-gateway/gateway/core/lease"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/core/secretbox"
)

// world is a migrated store with a PAYG service and a seeded contract.
type world struct {
	store    core.Store
	pstore   payg.Store
	svc      *payg.Service
	clock    *coretest.Clock
	tenant   string
	customer payg.Customer
	device   payg.Device
	contract payg.Contract
	key      openpaygo.Key
}

// The seeded device's OpenPAYGO parameters.
const (
	testKeyHex       = "bc41ec9530f6dac86b1a29ab82edc5fb"
	testStartingCode = 516959010
	testPricePerDay  = 5000 // KES 50.00
)

func newWorld(t *testing.T, h Harness) *world {
	t.Helper()
	ctx := context.Background()
	s, clock := migrated(t, h)
	ps, ok := s.(payg.Store)
	if !ok {
		t.Fatalf("%T does not implement payg.Store", s)
	}
	if _, err := s.CreateTenant(ctx, core.Tenant{ID: "sunbright-ke", Name: "SunBright Kenya", TimeZone: "Africa/Nairobi", DefaultCountry: "KE"}); err != nil {
		t.Fatal(err)
	}
	box, err := secretbox.New(secretbox.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	w := &world{store: s, pstore: ps, clock: clock, tenant: "sunbright-ke"}
	w.svc = payg.NewService(payg.Options{
		Store: ps, Tenants: s, Clock: clock, Box: box,
		Engines: map[payg.TokenScheme]payg.TokenEngine{payg.SchemeOpenPAYGO: openpaygo.Engine{}, payg.SchemeNexus: nexus.Engine{}},
	})
	w.key, _ = openpaygo.ParseKey(testKeyHex)
	w.customer, err = w.svc.CreateCustomer(ctx, w.tenant, payg.CustomerInput{ExternalID: "crm-123", Name: "Amina Otieno", Phone: "0700000123"})
	if err != nil {
		t.Fatalf("CreateCustomer: %v", err)
	}
	w.device, err = w.svc.CreateDevice(ctx, w.tenant, payg.DeviceInput{
		ExternalID: "crm-dev-1", Serial: "SHS-0001", Scheme: payg.SchemeOpenPAYGO, SecretKeyHex: testKeyHex,
		StartingCode: testStartingCode, ValueDivider: 1, Counter: 1,
	})
	if err != nil {
		t.Fatalf("CreateDevice: %v", err)
	}
	w.contract = w.newContract(t, "AC100234", w.device.ID, 0)
	return w
}

func (w *world) newContract(t *testing.T, account, deviceID string, totalPrice int64) payg.Contract {
	t.Helper()
	c, err := w.svc.CreateContract(context.Background(), w.tenant, payg.ContractInput{
		ExternalID: "crm-" + account, AccountNumber: account, CustomerID: w.customer.ID, DeviceIDs: []string{deviceID},
		Plan: lease.Plan{
			Kind: lease.KindPAYGCredit, Currency: "KES", Price: testPricePerDay, PricePeriod: lease.PeriodDay,
			TotalPrice: totalPrice, GraceDays: 3, DefaultDays: 30,
		},
	})
	if err != nil {
		t.Fatalf("CreateContract: %v", err)
	}
	return c
}

func notice(txID, account string, amount int64) core.PaymentNotice {
	return core.PaymentNotice{
		Instance: "mpesa-ke", ProviderTxID: txID, Status: core.NoticeSucceeded,
		Amount: core.Money{Amount: amount, Currency: "KES"}, AccountRef: account,
		PayerMSISDN: "2547 ***** 123", Raw: []byte(`{"TransID":"` + txID + `"}`),
	}
}

func (w *world) view(t *testing.T, fn func(r payg.Reader) error) {
	t.Helper()
	if err := w.pstore.View(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

// checkLedger asserts the contract's stored state is the fold of its
// stored ledger and that the ledger's cash equals what was applied.
func (w *world) checkLedger(t *testing.T, contractID string, netReceived int64) payg.Contract {
	t.Helper()
	var c payg.Contract
	var lines []payg.LedgerLine
	w.view(t, func(r payg.Reader) error {
		var err error
		if c, err = r.Contract(context.Background(), w.tenant, contractID); err != nil {
			return err
		}
		lines, err = r.LedgerLines(context.Background(), w.tenant, contractID)
		return err
	})
	ll := make([]lease.Line, len(lines))
	for i, l := range lines {
		if l.Seq != int64(i+1) {
			t.Fatalf("ledger seq %d at position %d", l.Seq, i)
		}
		ll[i] = l.Line
	}
	loc, _ := time.LoadLocation("Africa/Nairobi")
	if err := lease.CheckLedger(c.Plan, c.State, ll, netReceived, loc); err != nil {
		t.Fatalf("stored balances do not match the stored ledger: %v", err)
	}
	return c
}

func testPAYGEntities(t *testing.T, h Harness) {
	ctx := context.Background()
	w := newWorld(t, h)
	if w.customer.Phone != "+254700000123" || w.customer.PhoneHash != "54f65df3bfa35fabd44ff4249b6b9eaf2bb1168c1f55fc205812a27676e1a19d" {
		t.Errorf("customer phone %q hash %q: want E.164 in the tenant's country and the fixtures' hash", w.customer.Phone, w.customer.PhoneHash)
	}
	w.view(t, func(r payg.Reader) error {
		c, err := r.ContractByAccount(ctx, w.tenant, "AC100234")
		if err != nil {
			return err
		}
		if c.ID != w.contract.ID || !slices.Equal(c.DeviceIDs, []string{w.device.ID}) || c.Plan.Price != testPricePerDay || c.Version != 1 {
			t.Errorf("contract read back = %+v", c)
		}
		if c.State.Status != lease.StatusPendingDeposit {
			t.Errorf("new contract status %s", c.State.Status)
		}
		d, err := r.DeviceBySerial(ctx, w.tenant, "SHS-0001")
		if err != nil {
			return err
		}
		if d.StartingCode != testStartingCode || d.Counter != 1 || len(d.SealedKey) == 0 || string(d.SealedKey) == testKeyHex {
			t.Errorf("device read back = %+v", d)
		}
		if _, err := r.CustomerByExternalID(ctx, w.tenant, "crm-123"); err != nil {
			t.Errorf("customer by external id: %v", err)
		}
		// Another tenant sees none of it.
		if _, err := r.Contract(ctx, core.DefaultTenantID, w.contract.ID); core.ErrorCode(err) != core.ENOTFOUND {
			t.Errorf("contract seen from another tenant: %v", err)
		}
		if _, err := r.Device(ctx, core.DefaultTenantID, w.device.ID); core.ErrorCode(err) != core.ENOTFOUND {
			t.Errorf("device seen from another tenant: %v", err)
		}
		return nil
	})
	if _, err := w.svc.CreateDevice(ctx, w.tenant, payg.DeviceInput{Serial: "SHS-0001", Scheme: payg.SchemeNone}); core.ErrorCode(err) != core.ECONFLICT {
		t.Errorf("duplicate serial: %v, want conflict", err)
	}
	if _, err := w.svc.CreateDevice(ctx, core.DefaultTenantID, payg.DeviceInput{Serial: "SHS-0001", Scheme: payg.SchemeNone}); err != nil {
		t.Errorf("same serial in another tenant: %v", err)
	}
	if _, err := w.svc.CreateContract(ctx, w.tenant, payg.ContractInput{AccountNumber: "ac100234", CustomerID: w.customer.ID, DeviceIDs: []string{w.device.ID}, Plan: w.contract.Plan}); core.ErrorCode(err) != core.ECONFLICT {
		t.Errorf("duplicate account number (other case): %v, want conflict", err)
	}
	if _, err := w.svc.CreateContract(ctx, core.DefaultTenantID, payg.ContractInput{AccountNumber: "X1", CustomerID: w.customer.ID, DeviceIDs: []string{w.device.ID}, Plan: w.contract.Plan}); core.ErrorCode(err) != core.ENOTFOUND {
		t.Errorf("contract over another tenant's customer: %v, want not found", err)
	}

	// A catalogue plan is snapshotted onto the contracts made from it.
	plan, err := w.svc.CreatePlan(ctx, w.tenant, payg.PlanInput{ExternalID: "shs-80w", Name: "SHS 80 W, 18 months", Terms: lease.Plan{
		Kind: lease.KindInstalmentsByCount, Currency: "KES", Deposit: 200000, TotalPrice: 2000000,
		Frequency: lease.PeriodMonth, InstalmentCount: 18, GraceDays: 7, DefaultDays: 60,
	}})
	if err != nil {
		t.Fatalf("CreatePlan: %v", err)
	}
	c, err := w.svc.CreateContract(ctx, w.tenant, payg.ContractInput{AccountNumber: "AC300001", CustomerID: w.customer.ID, DeviceIDs: []string{w.device.ID}, PlanID: plan.ID})
	if err != nil {
		t.Fatalf("contract from a plan: %v", err)
	}
	w.view(t, func(r payg.Reader) error {
		got, err := r.Contract(ctx, w.tenant, c.ID)
		if err != nil {
			return err
		}
		if got.PlanID != plan.ID || got.Plan.InstalmentCount != 18 || got.Plan.Deposit != 200000 || got.State.Currency != "KES" {
			t.Errorf("contract from plan: plan_id %q terms %+v", got.PlanID, got.Plan)
		}
		plans, err := r.ListPlans(ctx, w.tenant, core.PageRequest{})
		if err != nil || len(plans.Items) != 1 || plans.Items[0].Terms.Frequency != lease.PeriodMonth {
			t.Errorf("ListPlans: %+v, %v", plans, err)
		}
		return nil
	})
	if _, err := w.svc.CreateContract(ctx, core.DefaultTenantID, payg.ContractInput{AccountNumber: "X2", CustomerID: w.customer.ID, DeviceIDs: []string{w.device.ID}, PlanID: plan.ID}); core.ErrorCode(err) != core.ENOTFOUND {
		t.Errorf("another tenant's plan: %v, want not found", err)
	}
	if _, err := w.svc.CreatePlan(ctx, w.tenant, payg.PlanInput{Name: "bad", Terms: lease.Plan{Kind: lease.KindPAYGCredit, Currency: "KES"}}); core.ErrorCode(err) != core.EINVALID {
		t.Errorf("invalid plan terms: %v, want invalid", err)
	}
}

func testApplyPayment(t *testing.T, h Harness) {
	ctx := context.Background()
	w := newWorld(t, h)
	start := w.clock.Now()

	// KES 150.00 at 50.00 a day: 3 days, one ADD_TIME token of 3.
	out, err := w.svc.ApplyNotice(ctx, w.tenant, notice("TEST0A1B2C", "ac 100234", 15000))
	if err != nil {
		t.Fatalf("ApplyNotice: %v", err)
	}
	if out.Duplicate || out.Suspense != nil || out.Payment.Status != payg.PaymentApplied || out.Payment.ContractID != w.contract.ID {
		t.Fatalf("outcome = %+v", out)
	}
	if got, want := out.Contract.State.Expiry, start.Add(72*time.Hour).Truncate(time.Second); !got.Equal(want) {
		t.Errorf("expiry %v, want %v", got, want)
	}
	if len(out.Tokens) != 1 {
		t.Fatalf("%d tokens, want 1", len(out.Tokens))
	}
	tok := out.Tokens[0]
	dev := openpaygo.Device{Key: w.key, StartingCode: testStartingCode, ValueDivider: 1}
	res, err := dev.Decode(tok.Code, openpaygo.InitialState(1))
	if err != nil || res.Type != openpaygo.AddTime || res.Value != 3 || int64(res.Count) != tok.Count {
		t.Fatalf("device decodes token %s as %+v (%v); want ADD_TIME 3 at count %d", tok.Code, res, err, tok.Count)
	}
	w.checkLedger(t, w.contract.ID, 15000)

	// The same notice again: same payment, nothing new.
	dup, err := w.svc.ApplyNotice(ctx, w.tenant, notice("TEST0A1B2C", "AC100234", 15000))
	if err != nil || !dup.Duplicate || dup.Payment.ID != out.Payment.ID || len(dup.Tokens) != 0 {
		t.Fatalf("duplicate: %+v, %v", dup, err)
	}
	var events []payg.Event
	var tokens []payg.Token
	w.view(t, func(r payg.Reader) error {
		var err error
		p, err := r.ListEvents(ctx, w.tenant, payg.EventQuery{ContractID: w.contract.ID}, core.PageRequest{Limit: core.MaxPageLimit})
		if err != nil {
			return err
		}
		events = p.Items
		tokens, err = r.Tokens(ctx, w.tenant, w.contract.ID)
		return err
	})
	if len(tokens) != 1 {
		t.Errorf("%d tokens stored after a duplicate, want 1", len(tokens))
	}
	var types []string
	for i, e := range events {
		types = append(types, e.Type)
		if e.Seq != int64(i+1) {
			t.Errorf("event %d %s has seq %d", i, e.Type, e.Seq)
		}
	}
	want := []string{payg.EventPaymentReceived, payg.EventPaymentApplied, payg.EventContractStatusChanged, payg.EventTokenIssued}
	if !slices.Equal(types, want) {
		t.Errorf("events %v, want %v", types, want)
	}
	w.checkLedger(t, w.contract.ID, 15000)

	// An early payer keeps their days: 2 more days extend the expiry.
	w.clock.Advance(24 * time.Hour)
	out2, err := w.svc.ApplyNotice(ctx, w.tenant, notice("TEST0A1B2D", "AC100234", 10000))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := out2.Contract.State.Expiry, start.Add(5*24*time.Hour).Truncate(time.Second); !got.Equal(want) {
		t.Errorf("expiry after an early payment %v, want %v", got, want)
	}
	if len(out2.Tokens) != 1 || out2.Tokens[0].Count <= tok.Count {
		t.Errorf("second token %+v after count %d", out2.Tokens, tok.Count)
	}
}

func testSuspenseAndMatching(t *testing.T, h Harness) {
	ctx := context.Background()
	w := newWorld(t, h)

	out, err := w.svc.ApplyNotice(ctx, w.tenant, notice("TESTUNKNOWN", "AC999999", 15000))
	if err != nil {
		t.Fatal(err)
	}
	if out.Suspense == nil || out.Suspense.Reason != payg.SuspenseUnknownAccount || out.Payment.Status != payg.PaymentSuspense {
		t.Fatalf("unknown account outcome %+v", out)
	}
	var items []payg.SuspenseItem
	w.view(t, func(r payg.Reader) error {
		var err error
		p, err := r.ListSuspense(ctx, w.tenant, payg.SuspenseOpen, core.PageRequest{})
		items = p.Items
		return err
	})
	if len(items) != 1 || items[0].PaymentID != out.Payment.ID {
		t.Fatalf("open suspense items %+v", items)
	}
	w.view(t, func(r payg.Reader) error {
		p, err := r.Payment(ctx, w.tenant, out.Payment.ID)
		if err != nil {
			return err
		}
		if string(p.Raw) != `{"TransID":"TESTUNKNOWN"}` || p.Amount.Amount != 15000 {
			t.Errorf("suspended payment lost its body or amount: %+v", p)
		}
		return nil
	})

	// Matching by device serial typed as the reference.
	bySerial, err := w.svc.ApplyNotice(ctx, w.tenant, notice("TESTSERIAL", "SHS-0001", 5000))
	if err != nil || bySerial.Payment.ContractID != w.contract.ID {
		t.Errorf("payment by device serial: %+v, %v", bySerial, err)
	}
	// M-Pesa v1: no usable reference, the payer's phone as a hash.
	n := notice("TESTHASH", "", 5000)
	n.PayerMSISDN, n.PayerMSISDNHash = "", "54F65DF3BFA35FABD44FF4249B6B9EAF2BB1168C1F55FC205812A27676E1A19D"
	byHash, err := w.svc.ApplyNotice(ctx, w.tenant, n)
	if err != nil || byHash.Payment.ContractID != w.contract.ID {
		t.Errorf("payment by phone hash: %+v, %v", byHash, err)
	}
	// Below the minimum and the wrong currency go to suspense with reasons.
	wrong := notice("TESTUGX", "AC100234", 5000)
	wrong.Amount.Currency = "UGX"
	out, err = w.svc.ApplyNotice(ctx, w.tenant, wrong)
	if err != nil || out.Suspense == nil || out.Suspense.Reason != payg.SuspenseCurrencyMismatch {
		t.Errorf("currency mismatch: %+v, %v", out, err)
	}
	w.checkLedger(t, w.contract.ID, 10000)
	// A payment in the other tenant's instance space does not see this tenant's contracts.
	other, err := w.svc.ApplyNotice(ctx, core.DefaultTenantID, notice("TESTOTHER", "AC100234", 5000))
	if err != nil || other.Suspense == nil {
		t.Errorf("another tenant's payment matched this tenant's contract: %+v, %v", other, err)
	}
}

// testConcurrentDuplicates: 50 concurrent deliveries of one payment apply
// it once.
func testConcurrentDuplicates(t *testing.T, h Harness) {
	ctx := context.Background()
	w := newWorld(t, h)
	const n = 50
	outs := make([]payg.Outcome, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { outs[i], errs[i] = w.svc.ApplyNotice(ctx, w.tenant, notice("TESTSTORM1", "AC100234", 15000)) })
	}
	wg.Wait()
	applied := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("delivery %d: %v", i, errs[i])
		}
		if !outs[i].Duplicate {
			applied++
		}
		if outs[i].Payment.ID != outs[0].Payment.ID {
			t.Fatalf("delivery %d got payment %s, delivery 0 %s", i, outs[i].Payment.ID, outs[0].Payment.ID)
		}
	}
	if applied != 1 {
		t.Fatalf("%d deliveries applied the payment, want 1", applied)
	}
	c := w.checkLedger(t, w.contract.ID, 15000)
	if c.State.TotalPaid != 15000 {
		t.Errorf("total paid %d, want 15000", c.State.TotalPaid)
	}
}

// testConcurrentTokens: 100 concurrent payments on one device give 100
// tokens with distinct counts, which the device accepts in order.
func testConcurrentTokens(t *testing.T, h Harness) {
	ctx := context.Background()
	w := newWorld(t, h)
	const n = 100
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = w.svc.ApplyNotice(ctx, w.tenant, notice(fmt.Sprintf("TESTCONC%03d", i), "AC100234", testPricePerDay))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("payment %d: %v", i, err)
		}
	}
	var tokens []payg.Token
	w.view(t, func(r payg.Reader) error {
		var err error
		tokens, err = r.Tokens(ctx, w.tenant, w.contract.ID)
		return err
	})
	if len(tokens) != n {
		t.Fatalf("%d tokens, want %d", len(tokens), n)
	}
	slices.SortFunc(tokens, func(a, b payg.Token) int { return int(a.Count - b.Count) })
	dev := openpaygo.Device{Key: w.key, StartingCode: testStartingCode, ValueDivider: 1}
	state := openpaygo.InitialState(1)
	for i, tok := range tokens {
		if i > 0 && tok.Count == tokens[i-1].Count {
			t.Fatalf("two tokens at count %d", tok.Count)
		}
		res, err := dev.Decode(tok.Code, state)
		if err != nil || res.Type != openpaygo.AddTime || res.Value != 1 {
			t.Fatalf("token %d (%s, count %d): device says %+v, %v", i, tok.Code, tok.Count, res, err)
		}
		state = state.Apply(res)
	}
	c := w.checkLedger(t, w.contract.ID, n*testPricePerDay)
	if c.State.TotalPaid != n*testPricePerDay {
		t.Errorf("total paid %d", c.State.TotalPaid)
	}
}

// testPaidOff: reaching the total price unlocks the device for good, once.
func testPaidOff(t *testing.T, h Harness) {
	ctx := context.Background()
	w := newWorld(t, h)
	d, err := w.svc.CreateDevice(ctx, w.tenant, payg.DeviceInput{Serial: "NX-1", Scheme: payg.SchemeNexus, SecretKeyHex: "deadbeefdeadbeefdeadbeefdeadbeef"})
	if err != nil {
		t.Fatal(err)
	}
	c := w.newContract(t, "AC200001", d.ID, 20000)
	out, err := w.svc.ApplyNotice(ctx, w.tenant, notice("TESTPAY1", "AC200001", 10000))
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Tokens) != 1 || out.Tokens[0].Type != "ADD_CREDIT" || out.Tokens[0].Value != 48 {
		t.Fatalf("nexus credit tokens %+v: want one ADD_CREDIT of 48 hours", out.Tokens)
	}
	out, err = w.svc.ApplyNotice(ctx, w.tenant, notice("TESTPAY2", "AC200001", 15000))
	if err != nil {
		t.Fatal(err)
	}
	if !out.Allocation.PaidOff || out.Contract.State.Status != lease.StatusPaidOff {
		t.Fatalf("not paid off: %+v", out.Allocation)
	}
	if len(out.Tokens) != 1 || out.Tokens[0].Type != "UNLOCK" || out.Tokens[0].Count != 2 {
		t.Fatalf("paid-off tokens %+v: want one UNLOCK at message id 2", out.Tokens)
	}
	// Overpayment is kept, never lost.
	if out.Contract.State.Overpayment != 5000 {
		t.Errorf("overpayment %d, want 5000", out.Contract.State.Overpayment)
	}
	// A payment after paid-off goes to suspense; no second unlock.
	late, err := w.svc.ApplyNotice(ctx, w.tenant, notice("TESTPAY3", "AC200001", 5000))
	if err != nil || late.Suspense == nil || late.Suspense.Reason != payg.SuspenseContractClosed || len(late.Tokens) != 0 {
		t.Fatalf("payment to a paid-off contract: %+v, %v", late, err)
	}
	w.checkLedger(t, c.ID, 25000)
}

// testReverseAndResolve: reversals write negative lines once; suspense items
// are matched (and applied) or refunded, once.
func testReverseAndResolve(t *testing.T, h Harness) {
	ctx := context.Background()
	w := newWorld(t, h)
	first, err := w.svc.ApplyNotice(ctx, w.tenant, notice("TESTREV1", "AC100234", 15000))
	if err != nil {
		t.Fatal(err)
	}
	expiry := first.Contract.State.Expiry
	w.clock.Advance(24 * time.Hour) // one of the three days used

	rev, err := w.svc.Reverse(ctx, w.tenant, first.Payment.ID, "customer dispute")
	if err != nil {
		t.Fatalf("Reverse: %v", err)
	}
	if rev.Payment.Status != payg.PaymentReversed || !rev.Contract.State.Expiry.Before(expiry) {
		t.Errorf("after reversal: payment %s, expiry %v (was %v)", rev.Payment.Status, rev.Contract.State.Expiry, expiry)
	}
	if rev.Contract.State.NegativeCreditSeconds != 86400 {
		t.Errorf("negative credit %d s, want one used day (86400)", rev.Contract.State.NegativeCreditSeconds)
	}
	if _, err := w.svc.Reverse(ctx, w.tenant, first.Payment.ID, "again"); core.ErrorCode(err) != core.ECONFLICT {
		t.Errorf("second reversal: %v, want conflict", err)
	}
	// The provider's own reversal notice for it is now a duplicate.
	n := notice("TESTREV1", "AC100234", 15000)
	n.Status = core.NoticeReversed
	if out, err := w.svc.ApplyNotice(ctx, w.tenant, n); err != nil || !out.Duplicate {
		t.Errorf("provider reversal after ours: %+v, %v", out, err)
	}
	w.checkLedger(t, w.contract.ID, 0)

	// The next payment repays the used day first: 2 days paid, 1 to repay.
	next, err := w.svc.ApplyNotice(ctx, w.tenant, notice("TESTREV2", "AC100234", 10000))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := next.Contract.State.Expiry, w.clock.Now().Add(24*time.Hour).Truncate(time.Second); !got.Equal(want) {
		t.Errorf("expiry after repaying negative credit %v, want %v", got, want)
	}
	if len(next.Tokens) != 0 {
		// The device already holds three days from the reversed payment;
		// the day repaid and the one bought are covered by it.
		t.Errorf("tokens %+v issued while the device still holds reversed credit", next.Tokens)
	}
	w.checkLedger(t, w.contract.ID, 10000)

	// Suspense: match one, refund another.
	a, err := w.svc.ApplyNotice(ctx, w.tenant, notice("TESTSUS1", "TYPO-AC10023", 5000))
	if err != nil || a.Suspense == nil {
		t.Fatalf("typo payment: %+v, %v", a, err)
	}
	b, err := w.svc.ApplyNotice(ctx, w.tenant, notice("TESTSUS2", "NOBODY", 5000))
	if err != nil || b.Suspense == nil {
		t.Fatalf("unknown payment: %+v, %v", b, err)
	}
	m, err := w.svc.MatchSuspense(ctx, w.tenant, a.Suspense.ID, w.contract.ID)
	if err != nil {
		t.Fatalf("MatchSuspense: %v", err)
	}
	if m.Payment.Status != payg.PaymentApplied || m.Suspense.Status != payg.SuspenseMatched || m.Payment.ContractID != w.contract.ID {
		t.Errorf("matched: %+v", m)
	}
	if _, err := w.svc.MatchSuspense(ctx, w.tenant, a.Suspense.ID, w.contract.ID); core.ErrorCode(err) != core.ECONFLICT {
		t.Errorf("matching twice: %v, want conflict", err)
	}
	r, err := w.svc.RefundSuspense(ctx, w.tenant, b.Suspense.ID, "sent back by M-Pesa reversal")
	if err != nil || r.Status != payg.SuspenseRefunded {
		t.Fatalf("RefundSuspense: %+v, %v", r, err)
	}
	var open []payg.SuspenseItem
	w.view(t, func(rd payg.Reader) error {
		var err error
		p, err := rd.ListSuspense(ctx, w.tenant, payg.SuspenseOpen, core.PageRequest{})
		open = p.Items
		return err
	})
	if len(open) != 0 {
		t.Errorf("open suspense items after resolving both: %+v", open)
	}
	w.checkLedger(t, w.contract.ID, 15000)
}

// testListContracts: pages in a stable order, filters by status (derived
// late and defaulted included) and by days in arrears in the tenant's zone.
func testListContracts(t *testing.T, h Harness) {
	ctx := context.Background()
	w := newWorld(t, h)
	// Nairobi is UTC+3: the suite's epoch, 09:26 UTC, is 12:26 local.
	var ids []string
	for i := range 5 {
		d, err := w.svc.CreateDevice(ctx, w.tenant, payg.DeviceInput{Serial: fmt.Sprintf("LIST-%d", i), Scheme: payg.SchemeNone})
		if err != nil {
			t.Fatal(err)
		}
		c := w.newContract(t, fmt.Sprintf("AC7%05d", i), d.ID, 0)
		ids = append(ids, c.ID)
		w.clock.Advance(time.Second)
	}
	// Contract i pays i days of credit now.
	for i := 1; i < len(ids); i++ {
		if _, err := w.svc.ApplyNotice(ctx, w.tenant, notice(fmt.Sprintf("LIST%d", i), fmt.Sprintf("AC7%05d", i), int64(i)*testPricePerDay)); err != nil {
			t.Fatal(err)
		}
	}
	all := func(f payg.ContractFilter, limit int) []string {
		var got []string
		req := core.PageRequest{Limit: limit}
		for range 20 {
			p, err := w.svc.ListContracts(ctx, w.tenant, f, req)
			if err != nil {
				t.Fatalf("ListContracts(%+v): %v", f, err)
			}
			if len(p.Items) > limit {
				t.Fatalf("page of %d items for limit %d", len(p.Items), limit)
			}
			for _, c := range p.Items {
				got = append(got, c.AccountNumber)
			}
			if p.NextCursor == "" {
				return got
			}
			req.Cursor = p.NextCursor
		}
		t.Fatal("paging did not end")
		return nil
	}
	if got := all(payg.ContractFilter{}, 2); len(got) != 6 || got[0] != "AC100234" || got[1] != "AC700000" || got[5] != "AC700004" {
		t.Errorf("all contracts by pages of 2: %v", got)
	}
	if got := all(payg.ContractFilter{Status: lease.StatusPendingDeposit}, 10); !slices.Equal(got, []string{"AC100234", "AC700000"}) {
		t.Errorf("pending: %v", got)
	}
	// Ten days later (grace 3, default 30): contract i is 10-i days in
	// arrears counted in Nairobi days; 1 → 9, 4 → 6.
	w.clock.Advance(10 * 24 * time.Hour)
	if got := all(payg.ContractFilter{DaysInArrearsAtLeast: 8}, 1); !slices.Equal(got, []string{"AC700001", "AC700002"}) {
		t.Errorf("days in arrears >= 8: %v", got)
	}
	if got := all(payg.ContractFilter{Status: lease.StatusLate}, 1); len(got) != 4 {
		t.Errorf("late: %v, want all four paying contracts", got)
	}
	if got := all(payg.ContractFilter{Status: lease.StatusActive}, 3); len(got) != 0 {
		t.Errorf("active (not late): %v", got)
	}
	if _, err := w.svc.ListContracts(ctx, w.tenant, payg.ContractFilter{Status: "sleepy"}, core.PageRequest{}); core.ErrorCode(err) != core.EINVALID {
		t.Errorf("unknown status: %v", err)
	}
	if _, err := w.svc.ListContracts(ctx, w.tenant, payg.ContractFilter{}, core.PageRequest{Cursor: "garbage!"}); core.ErrorCode(err) != core.EINVALID {
		t.Errorf("bad cursor: %v", err)
	}
	// Another tenant's list is empty.
	p, err := w.svc.ListContracts(ctx, core.DefaultTenantID, payg.ContractFilter{}, core.PageRequest{})
	if err != nil || len(p.Items) != 0 {
		t.Errorf("default tenant sees %d contracts (%v)", len(p.Items), err)
	}
}

// testOperatorActions: statuses set by an operator and tokens issued by
// hand follow the same locks, ledger and events as payments.
func testOperatorActions(t *testing.T, h Harness) {
	ctx := context.Background()
	w := newWorld(t, h)
	if _, err := w.svc.ApplyNotice(ctx, w.tenant, notice("TESTOPS1", "AC100234", 15000)); err != nil {
		t.Fatal(err)
	}
	// A goodwill day: a token the device accepts after the paid one.
	tok, err := w.svc.IssueToken(ctx, w.tenant, w.device.ID, payg.TokenAddDays, 2, "outage compensation")
	if err != nil {
		t.Fatalf("IssueToken: %v", err)
	}
	dev := openpaygo.Device{Key: w.key, StartingCode: testStartingCode, ValueDivider: 1}
	var tokens []payg.Token
	w.view(t, func(r payg.Reader) error {
		var err error
		tokens, err = r.Tokens(ctx, w.tenant, w.contract.ID)
		return err
	})
	if len(tokens) != 2 {
		t.Fatalf("%d tokens, want the paid one and the goodwill one", len(tokens))
	}
	state := openpaygo.InitialState(1)
	for _, k := range tokens {
		res, err := dev.Decode(k.Code, state)
		if err != nil || !res.Accepted() {
			t.Fatalf("device refuses %s token %s: %+v %v", k.Type, k.Code, res, err)
		}
		state = state.Apply(res)
	}
	if res, _ := dev.Decode(tok.Code, openpaygo.InitialState(1)); res.Value != 2 || res.Type != openpaygo.AddTime {
		t.Errorf("goodwill token decodes as %+v", res)
	}
	sync, err := w.svc.IssueToken(ctx, w.tenant, w.device.ID, payg.TokenCounterSync, 0, "migrated")
	if err != nil || sync.Type != "COUNTER_SYNC" || sync.Count <= tok.Count {
		t.Errorf("counter sync: %+v, %v", sync, err)
	}
	if _, err := w.svc.IssueToken(ctx, w.tenant, w.device.ID, "teleport", 0, ""); core.ErrorCode(err) != core.EINVALID {
		t.Errorf("unknown kind: %v", err)
	}
	if _, err := w.svc.IssueToken(ctx, core.DefaultTenantID, w.device.ID, payg.TokenAddDays, 1, ""); core.ErrorCode(err) != core.ENOTFOUND {
		t.Errorf("another tenant's device: %v", err)
	}

	// Operator statuses: active → written_off is not allowed; → repossessed
	// then → written_off is.
	if _, err := w.svc.SetStatus(ctx, w.tenant, w.contract.ID, lease.StatusWrittenOff, "x"); core.ErrorCode(err) != core.ECONFLICT {
		t.Errorf("active → written_off: %v, want conflict", err)
	}
	c, err := w.svc.SetStatus(ctx, w.tenant, w.contract.ID, lease.StatusRepossessed, "field team collected the unit")
	if err != nil || c.State.Status != lease.StatusRepossessed {
		t.Fatalf("→ repossessed: %+v, %v", c.State.Status, err)
	}
	if out, err := w.svc.ApplyNotice(ctx, w.tenant, notice("TESTOPS2", "AC100234", 5000)); err != nil || out.Suspense == nil || out.Suspense.Reason != payg.SuspenseContractClosed {
		t.Errorf("payment to a repossessed contract: %+v, %v", out, err)
	}
	var events []payg.Event
	w.view(t, func(r payg.Reader) error {
		p, err := r.ListEvents(ctx, w.tenant, payg.EventQuery{ContractID: w.contract.ID, Type: payg.EventContractStatusChanged}, core.PageRequest{})
		events = p.Items
		return err
	})
	if len(events) != 2 { // pending_deposit → active on the payment, active → repossessed by hand
		t.Errorf("%d status events, want 2", len(events))
	}
	w.checkLedger(t, w.contract.ID, 15000)
}

// testRotateKeys: every device key is re-sealed under the new master key;
// tokens still issue; a second run has nothing to do.
func testRotateKeys(t *testing.T, h Harness) {
	ctx := context.Background()
	w := newWorld(t, h)
	if _, err := w.svc.CreateDevice(ctx, core.DefaultTenantID, payg.DeviceInput{Serial: "OTHER-1", Scheme: payg.SchemeNexus, SecretKeyHex: testKeyHex}); err != nil {
		t.Fatal(err)
	}
	next, err := secretbox.New(secretbox.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	n, err := w.svc.RotateKeys(ctx, next)
	if err != nil || n != 2 {
		t.Fatalf("RotateKeys = %d, %v; want the 2 devices of both tenants", n, err)
	}
	rotated := payg.NewService(payg.Options{Store: w.pstore, Tenants: w.store, Clock: w.clock, Box: next,
		Engines: map[payg.TokenScheme]payg.TokenEngine{payg.SchemeOpenPAYGO: openpaygo.Engine{}, payg.SchemeNexus: nexus.Engine{}}})
	out, err := rotated.ApplyNotice(ctx, w.tenant, notice("TESTROT1", "AC100234", 5000))
	if err != nil || len(out.Tokens) != 1 {
		t.Fatalf("token after rotation: %+v, %v", out.Tokens, err)
	}
	if _, err := w.svc.ApplyNotice(ctx, w.tenant, notice("TESTROT2", "AC100234", 5000)); err == nil {
		t.Error("the old master key still opens device keys after rotation")
	}
	// Interrupted-and-rerun: the old box finds every key already rotated.
	if n, err := w.svc.RotateKeys(ctx, next); err != nil || n != 0 {
		t.Errorf("second rotation = %d, %v; want 0, nil", n, err)
	}
}

// testSweepStatuses: time alone makes an active contract late, then
// defaulted; each change is announced once, and a payment announces the
// way back.
func testSweepStatuses(t *testing.T, h Harness) {
	ctx := context.Background()
	w := newWorld(t, h)
	if _, err := w.svc.ApplyNotice(ctx, w.tenant, notice("TESTSWEEP1", "AC100234", testPricePerDay)); err != nil {
		t.Fatal(err)
	}
	statusEvents := func() []string {
		var out []string
		w.view(t, func(r payg.Reader) error {
			p, err := r.ListEvents(ctx, w.tenant, payg.EventQuery{ContractID: w.contract.ID, Type: payg.EventContractStatusChanged}, core.PageRequest{})
			for _, e := range p.Items {
				var d struct{ From, To string }
				_ = json.Unmarshal(e.Data, &d)
				out = append(out, d.From+">"+d.To)
			}
			return err
		})
		return out
	}
	sweep := func(want int) {
		t.Helper()
		if n, err := w.svc.SweepStatuses(ctx); err != nil || n != want {
			t.Fatalf("SweepStatuses = %d, %v; want %d", n, err, want)
		}
	}
	sweep(0)                            // paid for a day
	w.clock.Advance(5 * 24 * time.Hour) // grace 3 days: late
	sweep(1)
	sweep(0)                             // announced once
	w.clock.Advance(40 * 24 * time.Hour) // default 30 days: defaulted
	sweep(1)
	if _, err := w.svc.ApplyNotice(ctx, w.tenant, notice("TESTSWEEP2", "AC100234", 50*testPricePerDay)); err != nil {
		t.Fatal(err)
	}
	sweep(0)
	got := statusEvents()
	want := []string{"pending_deposit>active", "active>late", "late>defaulted", "defaulted>active"}
	if !slices.Equal(got, want) {
		t.Errorf("status events %v, want %v", got, want)
	}
}
