package messaging_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/adapters/openpaygo"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/coretest"
	"github.com/payg-gateway/gateway/core/lease"
	"github.com/payg-gateway/gateway/core/messaging"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/core/secretbox"
	"github.com/payg-gateway/gateway/core/sqlite"
)

// env is a migrated SQLite store with PAYG and messaging wired as the
// gateway wires them, and one customer.
type env struct {
	store    *sqlite.Store
	clock    *coretest.Clock
	svc      *payg.Service
	msgs     *messaging.Service
	settings messaging.Settings
	tenant   string
	customer payg.Customer
	loc      *time.Location
	devices  int
}

const testKey = "bc41ec9530f6dac86b1a29ab82edc5fb"

// Start of the test clock: Monday 2 March 2026, 09:00 in Nairobi.
var start = time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC)

func newEnv(t testing.TB, clock core.Clock, settings messaging.Settings, lang string) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gateway.db"), clock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateTenant(ctx, core.Tenant{ID: "sunbright-ke", Name: "SunBright", TimeZone: "Africa/Nairobi", DefaultCountry: "KE"}); err != nil {
		t.Fatal(err)
	}
	templates, err := messaging.NewTemplates(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{store: st, settings: settings, tenant: "sunbright-ke"}
	if c, ok := clock.(*coretest.Clock); ok {
		e.clock = c
	}
	e.loc, _ = time.LoadLocation("Africa/Nairobi")
	e.msgs = messaging.NewService(messaging.Options{Store: st, Tenants: st, Clock: clock, Templates: templates,
		Settings: func(string) messaging.Settings { return e.settings }})
	box, _ := secretbox.New(secretbox.NewKey())
	e.svc = payg.NewService(payg.Options{Store: st, Tenants: st, Clock: clock, Box: box,
		Engines:     map[payg.TokenScheme]payg.TokenEngine{payg.SchemeOpenPAYGO: openpaygo.Engine{}, "fakevendor": fakeVendor{}},
		Subscribers: []payg.EventSubscriber{e.msgs}})
	e.customer = e.newCustomer(t, "C-1", "Amina Otieno", "0700000123", lang)
	return e
}

func (e *env) newCustomer(t testing.TB, ext, name, phone, lang string) payg.Customer {
	t.Helper()
	c, err := e.svc.CreateCustomer(context.Background(), e.tenant, payg.CustomerInput{ExternalID: ext, Name: name, Phone: phone, Language: lang})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newContract makes a device and a contract on plan for customer.
func (e *env) newContract(t testing.TB, customer payg.Customer, account string, plan lease.Plan, planID string) payg.Contract {
	t.Helper()
	ctx := context.Background()
	e.devices++
	d, err := e.svc.CreateDevice(ctx, e.tenant, payg.DeviceInput{Serial: fmt.Sprintf("SHS-%05d", e.devices),
		Scheme: payg.SchemeOpenPAYGO, SecretKeyHex: testKey, StartingCode: 516959010, ValueDivider: 1})
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.svc.CreateContract(ctx, e.tenant, payg.ContractInput{AccountNumber: account, CustomerID: customer.ID,
		DeviceIDs: []string{d.ID}, Plan: plan, PlanID: planID})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// dailyPlan is KES 50 a day, paid off at KES 18,250.
var dailyPlan = lease.Plan{Kind: lease.KindPAYGCredit, Currency: "KES", Price: 5000, PricePeriod: lease.PeriodDay,
	TotalPrice: 1825000, GraceDays: 3, DefaultDays: 30}

func (e *env) pay(t testing.TB, txID, account string, amount int64) payg.Outcome {
	t.Helper()
	out, err := e.svc.ApplyNotice(context.Background(), e.tenant, core.PaymentNotice{
		Instance: "mpesa-ke", ProviderTxID: txID, Status: core.NoticeSucceeded,
		Amount: core.Money{Amount: amount, Currency: "KES"}, AccountRef: account, PayerMSISDN: "254700000999",
	})
	if err != nil {
		t.Fatalf("pay %s: %v", txID, err)
	}
	return out
}

func (e *env) messages(t testing.TB, q messaging.Query) []messaging.Message {
	t.Helper()
	var out []messaging.Message
	req := core.PageRequest{Limit: core.MaxPageLimit}
	for {
		p, err := e.store.ListMessages(context.Background(), e.tenant, q, req)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Items...)
		if p.NextCursor == "" {
			return out
		}
		req.Cursor = p.NextCursor
	}
}

func (e *env) sendJobs(t testing.TB) []core.Job {
	t.Helper()
	var out []core.Job
	req := core.PageRequest{Limit: core.MaxPageLimit}
	for {
		p, err := e.store.ListJobs(context.Background(), core.JobQuery{TenantID: e.tenant, Queue: messaging.Queue}, req)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Items...)
		if p.NextCursor == "" {
			return out
		}
		req.Cursor = p.NextCursor
	}
}

func jobMessageID(t testing.TB, j core.Job) string {
	t.Helper()
	var p struct {
		MessageID string `json:"message_id"`
	}
	if err := json.Unmarshal(j.Payload, &p); err != nil {
		t.Fatal(err)
	}
	return p.MessageID
}

// fakeVendor is a token vendor's cloud: its tokens are pending until
// CompleteToken.
type fakeVendor struct{}

func (fakeVendor) Unit(payg.Device) (int64, int64) { return 86400, 1 }
func (fakeVendor) MaxUnits(payg.Device) int64      { return 1000 }
func (fakeVendor) AddCredit(d payg.Device, _ []byte, units int64) (payg.IssuedCode, error) {
	return payg.IssuedCode{Type: "ADD_CREDIT", Value: units, Counter: d.Counter + 1}, nil
}
func (fakeVendor) Unlock(d payg.Device, _ []byte) (payg.IssuedCode, error) {
	return payg.IssuedCode{Type: "UNLOCK", Counter: d.Counter + 1}, nil
}
func (fakeVendor) Job(payg.VendorRequest) (core.Job, error) {
	return core.Job{Queue: "token.fakevendor", Payload: []byte("{}")}, nil
}
