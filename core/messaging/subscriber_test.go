package messaging_test

import (
	"context"
	"strings"
	"testing"

	"github.com/payg-gateway/gateway/core/coretest"
	"github.com/payg-gateway/gateway/core/lease"
	"github.com/payg-gateway/gateway/core/messaging"
	"github.com/payg-gateway/gateway/core/payg"
)

func TestEventMessages(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, coretest.NewClock(start), messaging.Settings{Enabled: true, SupportPhone: "0800 720 000"}, "sw")
	c := e.newContract(t, e.customer, "AC1", dailyPlan, "")

	out := e.pay(t, "RKT1", "AC1", 50000) // KES 500: ten days
	if len(out.Tokens) != 1 {
		t.Fatalf("payment issued %d tokens, want 1", len(out.Tokens))
	}
	ms := e.messages(t, messaging.Query{ContractID: c.ID})
	if len(ms) != 1 {
		t.Fatalf("%d messages after a payment, want 1: %+v", len(ms), ms)
	}
	m := ms[0]
	want := "Asante Amina, tumepokea 500 KES kwa AC1. Umelipa 2%, salio 17,750 KES. Namba: " +
		messaging.GroupToken(out.Tokens[0].Code) + ". Muda hadi 12/03/2026 09:00 (siku 10)."
	if m.Body != want {
		t.Errorf("body =\n%q\nwant\n%q", m.Body, want)
	}
	if m.To != "+254700000123" || m.Language != "sw" || m.Template != messaging.TemplatePaymentReceived ||
		m.State != messaging.StateQueued || m.Encoding != messaging.GSM7 || m.Segments != 1 || m.CustomerID != e.customer.ID {
		t.Errorf("message = %+v", m)
	}
	if !strings.HasSuffix(m.CauseKey, ":payment_received") || !strings.HasPrefix(m.CauseKey, "evt_") {
		t.Errorf("cause key = %q, want the event id and the template", m.CauseKey)
	}
	jobs := e.sendJobs(t)
	if len(jobs) != 1 || jobs[0].Key != m.CauseKey || jobMessageID(t, jobs[0]) != m.ID || jobs[0].MaxAttempts != messaging.DefaultMaxAttempts {
		t.Fatalf("send jobs = %+v, want one keyed %s for %s", jobs, m.CauseKey, m.ID)
	}

	// The same notice again is a duplicate: no second message.
	if out := e.pay(t, "RKT1", "AC1", 50000); !out.Duplicate {
		t.Fatal("second notice was not a duplicate")
	}
	if n := len(e.messages(t, messaging.Query{})); n != 1 {
		t.Errorf("%d messages after a duplicate notice, want 1", n)
	}

	// A payment that pays a contract off: received, then paid off.
	small := lease.Plan{Kind: lease.KindPAYGCredit, Currency: "KES", Price: 5000, PricePeriod: lease.PeriodDay,
		TotalPrice: 10000, GraceDays: 3, DefaultDays: 30}
	c2 := e.newContract(t, e.customer, "AC2", small, "")
	e.pay(t, "RKT2", "AC2", 10000)
	ms = e.messages(t, messaging.Query{ContractID: c2.ID})
	if len(ms) != 2 || ms[0].Template != messaging.TemplatePaymentReceived || ms[1].Template != messaging.TemplatePaidOff {
		t.Fatalf("messages for a paying-off payment = %+v", ms)
	}
	if want := "Hongera Amina! AC2 imelipwa kikamilifu (100 KES). Kifaa ni chako."; ms[1].Body != want {
		t.Errorf("paid off = %q, want %q", ms[1].Body, want)
	}
	if strings.Contains(ms[0].Body, "Muda hadi") {
		t.Errorf("a paid-off contract's receipt speaks of credit expiry: %q", ms[0].Body)
	}

	// An unmatched payment: the payer is told, in English, with the
	// support number.
	e.pay(t, "RKT3", "NOPE-9", 25000)
	ms = e.messages(t, messaging.Query{})
	last := ms[len(ms)-1]
	if last.Template != messaging.TemplatePaymentUnmatched || last.To != "+254700000999" || last.CustomerID != "" ||
		last.Body != "We received 250 KES with reference NOPE-9 but could not match it to an account. Please call 0800 720 000." {
		t.Errorf("unmatched message = %+v", last)
	}

	// A hand-issued token is sent; the payment's tokens were not sent
	// twice.
	tok, err := e.svc.IssueToken(ctx, e.tenant, c.DeviceIDs[0], payg.TokenAddDays, 3, "goodwill")
	if err != nil {
		t.Fatal(err)
	}
	ms = e.messages(t, messaging.Query{ContractID: c.ID})
	if len(ms) != 2 || ms[1].Template != messaging.TemplateTokenIssued {
		t.Fatalf("messages after a manual token = %+v", ms)
	}
	if want := "Amina, namba yako ya AC1: " + messaging.GroupToken(tok.Code) + ". Inaongeza siku 3."; ms[1].Body != want {
		t.Errorf("token message = %q, want %q", ms[1].Body, want)
	}
	if got := len(e.sendJobs(t)); got != len(e.messages(t, messaging.Query{})) {
		t.Errorf("%d send jobs for %d messages", got, len(e.messages(t, messaging.Query{})))
	}
}

func TestEventMessagesConfigurable(t *testing.T) {
	ctx := context.Background()
	// Off (no SMS instance): nothing is created, payments go on.
	e := newEnv(t, coretest.NewClock(start), messaging.Settings{}, "en")
	c := e.newContract(t, e.customer, "AC1", dailyPlan, "")
	e.pay(t, "RKT1", "AC1", 50000)
	if n := len(e.messages(t, messaging.Query{})); n != 0 {
		t.Errorf("%d messages while messaging is off", n)
	}
	// Only payments: a manual token sends nothing.
	e.settings = messaging.Settings{Enabled: true, Events: []string{payg.EventPaymentApplied}}
	e.pay(t, "RKT2", "AC1", 5000)
	if _, err := e.svc.IssueToken(ctx, e.tenant, c.DeviceIDs[0], payg.TokenAddDays, 1, ""); err != nil {
		t.Fatal(err)
	}
	ms := e.messages(t, messaging.Query{})
	if len(ms) != 1 || ms[0].Template != messaging.TemplatePaymentReceived || ms[0].Language != "en" {
		t.Fatalf("messages = %+v, want one payment_received in en", ms)
	}
	if want := "Thank you Amina, 50 KES received for AC1."; !strings.HasPrefix(ms[0].Body, want) {
		t.Errorf("body = %q, want it to start %q", ms[0].Body, want)
	}
	// An unmatched payer is told in the tenant's language.
	e.settings = messaging.Settings{Enabled: true, Language: "fr"}
	e.pay(t, "RKT4", "NOPE-1", 5000)
	if ms := e.messages(t, messaging.Query{State: messaging.StateQueued}); ms[len(ms)-1].Language != "fr" ||
		ms[len(ms)-1].Body != "Nous avons enregistré 50 KES avec la référence NOPE-1 sans trouver le compte." {
		t.Errorf("unmatched in the tenant's language = %+v", ms[len(ms)-1])
	}
	e.settings = messaging.Settings{Enabled: true, Events: []string{payg.EventPaymentApplied}}
	// A language without templates falls back to English.
	am := e.newCustomer(t, "C-2", "Abebe Bikila", "+254711000222", "am")
	e.newContract(t, am, "AC3", dailyPlan, "")
	e.pay(t, "RKT3", "AC3", 5000)
	ms = e.messages(t, messaging.Query{CustomerID: am.ID})
	if len(ms) != 1 || ms[0].Language != "en" || !strings.HasPrefix(ms[0].Body, "Thank you Abebe,") {
		t.Errorf("fallback message = %+v", ms)
	}
}

// A vendor's token comes after the payment: it is sent when the vendor
// answers.
func TestVendorTokenMessage(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, coretest.NewClock(start), messaging.Settings{Enabled: true}, "en")
	d, err := e.svc.CreateDevice(ctx, e.tenant, payg.DeviceInput{Serial: "V-1", Scheme: "fakevendor"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.svc.CreateContract(ctx, e.tenant, payg.ContractInput{AccountNumber: "AC9", CustomerID: e.customer.ID,
		DeviceIDs: []string{d.ID}, Plan: dailyPlan})
	if err != nil {
		t.Fatal(err)
	}
	out := e.pay(t, "RKT9", "AC9", 10000)
	if len(out.Tokens) != 1 || out.Tokens[0].Status != payg.TokenPending {
		t.Fatalf("tokens = %+v, want one pending", out.Tokens)
	}
	ms := e.messages(t, messaging.Query{ContractID: c.ID})
	if len(ms) != 1 || strings.Contains(ms[0].Body, "Code:") {
		t.Fatalf("messages after the payment = %+v, want a receipt without a code", ms)
	}
	if _, err := e.svc.CompleteToken(ctx, e.tenant, out.Tokens[0].ID, "123456789"); err != nil {
		t.Fatal(err)
	}
	ms = e.messages(t, messaging.Query{ContractID: c.ID})
	if len(ms) != 2 || ms[1].Template != messaging.TemplateTokenIssued || ms[1].Body != "Amina, your code for AC9: 123 456 789. It adds 2 days." {
		t.Fatalf("messages after the vendor answered = %+v", ms)
	}
}
