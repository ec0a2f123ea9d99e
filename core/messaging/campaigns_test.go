package messaging_test

import (
	"context"
	"fmt"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/jobs"
	"github.com/payg-gateway/gateway/core/lease"
	"github.com/payg-gateway/gateway/core/messaging"
	"github.com/payg-gateway/gateway/core/payg"
)

// seedContracts stores n contracts of plan, each with its own customer,
// whose credit ran out daysLate days ago, in one transaction.
func (e *env) seedContracts(t *testing.T, prefix string, n int, plan payg.Plan, daysLate int) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	err := e.store.InTx(ctx, func(tx payg.Tx) error {
		for i := range n {
			id := fmt.Sprintf("%s%05d", prefix, i)
			phone := fmt.Sprintf("+2547%08d", len(prefix)*100000+i)
			cu := payg.Customer{ID: "cus_" + id, TenantID: e.tenant, Name: "Customer " + id, Phone: phone,
				PhoneHash: payg.PhoneHash(phone), Language: "en", CreatedAt: now, UpdatedAt: now}
			d := payg.Device{ID: "dev_" + id, TenantID: e.tenant, Serial: "SN-" + id, Scheme: payg.SchemeNone, CreatedAt: now, UpdatedAt: now}
			st := lease.State{Status: lease.StatusActive, Currency: "KES", ActivatedAt: now.AddDate(0, -1, 0),
				Expiry: now.AddDate(0, 0, -daysLate), LastEventAt: now, TotalPaid: 35000, CreditPaid: 35000,
				Outstanding: plan.Terms.TotalPrice - 35000}
			c := payg.Contract{ID: "con_" + id, TenantID: e.tenant, AccountNumber: "AC" + id, CustomerID: cu.ID,
				DeviceIDs: []string{d.ID}, PlanID: plan.ID, Plan: plan.Terms, State: st,
				AnnouncedStatus: lease.StatusActive, Version: 1, CreatedAt: now, UpdatedAt: now}
			if err := tx.InsertCustomer(ctx, cu); err != nil {
				return err
			}
			if err := tx.InsertDevice(ctx, d); err != nil {
				return err
			}
			if err := tx.InsertContract(ctx, c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCampaignTenThousand is acceptance 4 of issue #7: a campaign to
// 10,000 contracts on the SQLite default completes within the configured
// rate limit, with a complete per-recipient report. The limit is set high
// to keep the test fast (on a loaded machine SQLite may be the bound);
// TestCampaignRateLimit shows the limit binding.
func TestCampaignTenThousand(t *testing.T) {
	t.Parallel() // its own store and fakes: nothing shared with other tests
	if testing.Short() {
		t.Skip("10,000 messages")
	}
	runCampaign(t, 10000, 1000, 50)
}

// TestCampaignRateLimit: a limit below what the store can do sets the pace.
func TestCampaignRateLimit(t *testing.T) {
	t.Parallel() // its own store and fakes: nothing shared with other tests
	runCampaign(t, 300, 100, 10)
}

// runCampaign sends a campaign to n chosen contracts (and not to 400
// others) through an instance limited to rate sends a second, and checks
// the pace, the progress and the per-recipient report.
func runCampaign(t *testing.T, n, rate, burst int) {
	ctx := context.Background()
	e := newEnv(t, core.SystemClock{}, messaging.Settings{Enabled: true}, "en")
	mkPlan := func(ext string) payg.Plan {
		p, err := e.svc.CreatePlan(ctx, e.tenant, payg.PlanInput{ExternalID: ext, Name: ext, Terms: lease.Plan{
			Kind: lease.KindPAYGCredit, Currency: "KES", Price: 35000, PricePeriod: lease.PeriodWeek,
			TotalPrice: 3500000, GraceDays: 3, DefaultDays: 30}})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	weekly, other := mkPlan("WEEKLY"), mkPlan("OTHER")
	// Chosen: late contracts of the weekly plan. Not chosen: the same
	// plan on time or too late, another plan.
	e.seedContracts(t, "a", n, weekly, 5)
	e.seedContracts(t, "b", 150, weekly, 0)
	e.seedContracts(t, "c", 150, weekly, 45) // defaulted
	e.seedContracts(t, "d", 100, other, 5)

	fake := newFake()
	sender, err := messaging.NewSender(messaging.SenderOptions{Store: e.store, Clock: core.SystemClock{},
		Instances: []messaging.Instance{{Name: "at-ke", Sender: fake, RatePerSecond: float64(rate), Burst: burst}},
		Route:     func(string) string { return "at-ke" }})
	if err != nil {
		t.Fatal(err)
	}
	maxLate := 30
	c, err := e.msgs.CreateCampaign(ctx, e.tenant, messaging.CampaignInput{Name: "arrears", Template: messaging.TemplateOverdue,
		Filter: messaging.CampaignFilter{Statuses: []string{"late"}, PlanIDs: []string{weekly.ID}, MinDaysInArrears: 1, MaxDaysInArrears: &maxLate}})
	if err != nil {
		t.Fatal(err)
	}

	// Each send's outcome wakes the wait below; it asks for the progress
	// once n sends are settled (done or dead), and otherwise every 10 s.
	// The progress counts every message of the campaign (0.3 s at 10,000
	// under -race): asking every 20 ms, then every second, took a third,
	// then a fifth, of the 10,000-message run's CPU away from the sends.
	var settled atomic.Int64
	woken := make(chan struct{}, 1)
	observe := func(res jobs.Result) {
		if res.Job.Queue == messaging.Queue && (res.Outcome == jobs.OutcomeDone || res.Outcome == jobs.OutcomeDead) {
			settled.Add(1)
		}
		select {
		case woken <- struct{}{}:
		default:
		}
	}
	began := time.Now()
	r := jobs.New(jobs.Options{Queue: e.store, Clock: core.SystemClock{}, Workers: 8, PollInterval: 20 * time.Millisecond, Observe: observe})
	r.Register(messaging.Queue, sender, messaging.DefaultRetryPolicy)
	r.Register(messaging.CampaignQueue, e.msgs.CampaignHandler(), nil)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = r.Run(rctx); close(done) }()
	defer func() { cancel(); <-done }()

	var p messaging.CampaignProgress
	// Under -race, beside the rest of the suite, the SQLite writer sends
	// ~90 messages a second (110 s for 10,000 alone); the limit is
	// checked below, so this deadline only catches a stalled campaign.
	deadline := time.After(6 * time.Minute)
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-woken:
			if settled.Load() < int64(n) {
				continue
			}
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for the campaign done: %d of %d sends settled", settled.Load(), n)
		}
		p, err = e.msgs.Progress(ctx, e.tenant, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if p.State == messaging.CampaignDone {
			break
		}
	}
	took := time.Since(began)
	t.Logf("campaign to %d contracts: %v (%.0f messages/s, limit %d/s burst %d)", n, took, float64(n)/took.Seconds(), rate, burst)

	if p.Recipients != n || p.Skipped != 0 || p.Counts[messaging.StateSent] != n || len(p.Counts) != 1 {
		t.Errorf("progress = recipients %d skipped %d counts %v; want %d sent", p.Recipients, p.Skipped, p.Counts, n)
	}
	// The rate limit held: no second saw more than rate + burst sends,
	// and the whole took at least (n - burst) / rate.
	if min := time.Duration(n-burst) * time.Second / time.Duration(rate); took < min {
		t.Errorf("%d sends took %v, faster than the limit allows (%v)", n, took, min)
	}
	fake.mu.Lock()
	times := append([]time.Time(nil), fake.times...)
	sent := len(fake.sent)
	fake.mu.Unlock()
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	peak := 0
	for i, j := 0, 0; i < len(times); i++ {
		for times[i].Sub(times[j]) >= time.Second {
			j++
		}
		peak = max(peak, i-j+1)
	}
	t.Logf("peak sends in one second: %d", peak)
	if peak > rate+burst {
		t.Errorf("%d sends within one second, limit %d + burst %d", peak, rate, burst)
	}
	if sent != n || len(times) != n {
		t.Errorf("provider accepted %d distinct messages in %d sends, want %d each", sent, len(times), n)
	}
	// The per-recipient report: each chosen contract once, none other.
	seen := map[string]bool{}
	req := core.PageRequest{Limit: core.MaxPageLimit}
	for {
		page, err := e.store.ListMessages(ctx, e.tenant, messaging.Query{CampaignID: c.ID}, req)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page.Items {
			if seen[m.ContractID] || m.ContractID[:5] != "con_a" || m.State != messaging.StateSent || m.Template != messaging.TemplateOverdue {
				t.Fatalf("report row %+v (seen before: %v)", m, seen[m.ContractID])
			}
			seen[m.ContractID] = true
		}
		if page.NextCursor == "" {
			break
		}
		req.Cursor = page.NextCursor
	}
	if len(seen) != n {
		t.Errorf("report has %d recipients, want %d", len(seen), n)
	}
}

func TestCampaignBodyAndValidation(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, core.SystemClock{}, messaging.Settings{}, "en")
	if _, err := e.msgs.CreateCampaign(ctx, e.tenant, messaging.CampaignInput{Body: "Hi {{name}}"}); core.ErrorCode(err) != core.EUNAVAILABLE {
		t.Errorf("campaign with messaging off = %v, want EUNAVAILABLE", err)
	}
	e.settings = messaging.Settings{Enabled: true}
	for _, in := range []messaging.CampaignInput{
		{},                                // neither
		{Template: "reminder", Body: "x"}, // both
		{Template: "paid_off"},            // not a campaign template
		{Body: "Hi {{nmae}}"},             // unknown variable
		{Body: "Balance {{balance}}"},     // may be empty, unguarded
		{Body: "x", Filter: messaging.CampaignFilter{Statuses: []string{"sleepy"}}},
	} {
		if _, err := e.msgs.CreateCampaign(ctx, e.tenant, in); core.ErrorCode(err) != core.EINVALID {
			t.Errorf("CreateCampaign(%+v) = %v, want EINVALID", in, err)
		}
	}
	e.newContract(t, e.customer, "AC1", dailyPlan, "")
	e.pay(t, "RKT1", "AC1", 5000)
	// A customer whose number a provider rejected (blacklisted) is passed
	// over by campaigns.
	bob := e.newCustomer(t, "C-2", "Bob", "+254711000222", "en")
	e.newContract(t, bob, "AC2", dailyPlan, "")
	e.pay(t, "RKT2", "AC2", 5000)
	if err := e.store.InTx(ctx, func(tx payg.Tx) error {
		m := e.messages(t, messaging.Query{CustomerID: bob.ID})[0]
		cur, err := tx.(messaging.Tx).LockMessage(ctx, e.tenant, m.ID)
		if err != nil {
			return err
		}
		cur.State, cur.Reason = messaging.StateRejected, "406 UserInBlacklist"
		return tx.(messaging.Tx).UpdateMessage(ctx, cur)
	}); err != nil {
		t.Fatal(err)
	}
	c, err := e.msgs.CreateCampaign(ctx, e.tenant, messaging.CampaignInput{Name: "hello",
		Body: "Hi {{name}}, {{account}}{{#balance}} owes {{balance}}{{/balance}}."})
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.msgs.Progress(ctx, e.tenant, c.ID)
	if err != nil || p.State != messaging.CampaignPending || p.Done() {
		t.Fatalf("new campaign progress = %+v, %v", p, err)
	}
	if err := e.msgs.CampaignHandler().Handle(ctx, core.Job{TenantID: e.tenant,
		Payload: []byte(`{"campaign_id":"` + c.ID + `"}`)}); err != nil {
		t.Fatal(err)
	}
	// Run again (a worker died): nothing more.
	if err := e.msgs.CampaignHandler().Handle(ctx, core.Job{TenantID: e.tenant,
		Payload: []byte(`{"campaign_id":"` + c.ID + `"}`)}); err != nil {
		t.Fatal(err)
	}
	ms := e.messages(t, messaging.Query{CampaignID: c.ID})
	if len(ms) != 1 || ms[0].Body != "Hi Amina, AC1 owes 18,200 KES." || ms[0].Template != "" {
		t.Fatalf("campaign messages = %+v", ms)
	}
	p, _ = e.msgs.Progress(ctx, e.tenant, c.ID)
	if p.State != messaging.CampaignRunning || p.Recipients != 1 || p.Skipped != 1 || p.Counts[messaging.StateQueued] != 1 {
		t.Errorf("progress = %+v", p)
	}
}
