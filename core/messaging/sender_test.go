package messaging_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/coretest"
	"github.com/payg-gateway/gateway/core/jobs"
	"github.com/payg-gateway/gateway/core/messaging"
)

// fakeSMS is an in-process SMS provider. While failing it answers every
// send with fail; otherwise it accepts, unless reply says otherwise.
type fakeSMS struct {
	mu      sync.Mutex
	failing bool
	fail    error
	reply   func(to string) adapters.SMSReceipt // nil: accepted
	calls   int
	sent    map[string]int // accepted sends by message reference
	times   []time.Time    // of accepted sends
	n       int
}

func newFake() *fakeSMS {
	return &fakeSMS{sent: map[string]int{}, fail: errors.New("dial tcp: connection refused")}
}

func (f *fakeSMS) SendSMS(ctx context.Context, msg adapters.SMS) ([]adapters.SMSReceipt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.failing {
		return nil, f.fail
	}
	if len(msg.To) != 1 {
		return nil, fmt.Errorf("fake: %d recipients", len(msg.To))
	}
	if f.reply != nil {
		r := f.reply(msg.To[0])
		r.To = msg.To[0]
		if r.State == adapters.SMSAccepted || r.State == adapters.SMSSent {
			f.sent[msg.Reference]++
		}
		return []adapters.SMSReceipt{r}, nil
	}
	f.n++
	f.sent[msg.Reference]++
	f.times = append(f.times, time.Now())
	return []adapters.SMSReceipt{{To: msg.To[0], ProviderID: fmt.Sprintf("ATXid_%d", f.n), State: adapters.SMSAccepted, Cost: "KES 0.8000"}}, nil
}

func (f *fakeSMS) setFailing(v bool) {
	f.mu.Lock()
	f.failing = v
	f.mu.Unlock()
}

func (f *fakeSMS) snapshot() (calls int, sent map[string]int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int, len(f.sent))
	for k, v := range f.sent {
		out[k] = v
	}
	return f.calls, out
}

// queueMessages makes n contracts and pays each, queueing n messages.
func (e *env) queueMessages(t *testing.T, n int) []messaging.Message {
	t.Helper()
	for i := range n {
		acct := fmt.Sprintf("AC%d", i)
		e.newContract(t, e.customer, acct, dailyPlan, "")
		e.pay(t, "RKT"+acct, acct, 5000)
	}
	ms := e.messages(t, messaging.Query{})
	if len(ms) != n {
		t.Fatalf("%d messages queued, want %d", len(ms), n)
	}
	return ms
}

// runJobs runs the send queue until the test ends.
func runJobs(t *testing.T, e *env, sender *messaging.Sender, observe func(jobs.Result)) *jobs.Runner {
	t.Helper()
	r := jobs.New(jobs.Options{Queue: e.store, Clock: core.SystemClock{}, Workers: 4, PollInterval: 20 * time.Millisecond,
		Lease: 30 * time.Second, Observe: observe})
	r.Register(messaging.Queue, sender, jobs.Exponential{Initial: 50 * time.Millisecond, Max: 200 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// outcomes counts job outcomes.
type outcomes struct {
	mu sync.Mutex
	n  map[jobs.Outcome]int
}

func (o *outcomes) observe(r jobs.Result) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n == nil {
		o.n = map[jobs.Outcome]int{}
	}
	o.n[r.Outcome]++
}

func (o *outcomes) get(k jobs.Outcome) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[k]
}

// TestBreakerOutage is acceptance 2 of issue #7: a provider that fails for
// a while opens the breaker, attempts stay bounded (no hot loop), and once
// it recovers every queued message is sent exactly once.
func TestBreakerOutage(t *testing.T) {
	e := newEnv(t, core.SystemClock{}, messaging.Settings{Enabled: true}, "en")
	ms := e.queueMessages(t, 6)
	fake := newFake()
	fake.setFailing(true)
	reg := prometheus.NewRegistry()
	const failures, openFor = 3, 300 * time.Millisecond
	sender, err := messaging.NewSender(messaging.SenderOptions{Store: e.store, Clock: core.SystemClock{},
		Instances: []messaging.Instance{{Name: "at-ke", Sender: fake}}, Route: func(string) string { return "at-ke" },
		BreakerFailures: failures, BreakerOpenFor: openFor, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	var out outcomes
	runJobs(t, e, sender, out.observe)

	const outage = 1500 * time.Millisecond
	time.Sleep(outage)
	calls, _ := fake.snapshot()
	// Without a breaker, 6 messages retried every 50-200 ms would call
	// the provider more than 40 times in the outage. With it: the calls
	// that trip it (up to one per worker in flight), then one trial per
	// open period.
	maxCalls := failures + 4 + int(outage/openFor) + 1
	t.Logf("provider calls during the %v outage: %d (bound %d)", outage, calls, maxCalls)
	if calls < failures || calls > maxCalls {
		t.Errorf("provider called %d times during a %v outage, want %d to %d", calls, outage, failures, maxCalls)
	}
	if st, ok := sender.BreakerState("at-ke"); !ok || st == "closed" {
		t.Errorf("breaker during the outage = %q, want open or half_open", st)
	}
	if _, ok := sender.BreakerState("nope"); ok {
		t.Error("BreakerState knows an unknown instance")
	}
	if out.get(jobs.OutcomeNotAttempted) == 0 {
		t.Error("no send met the open breaker (NotAttempted)")
	}
	if out.get(jobs.OutcomeDead) != 0 {
		t.Errorf("%d send jobs died during the outage", out.get(jobs.OutcomeDead))
	}
	for _, j := range e.sendJobs(t) {
		if j.Attempts > 4 {
			t.Errorf("job %s spent %d attempts in the outage; the breaker should have kept it to a few", j.Key, j.Attempts)
		}
	}

	fake.setFailing(false)
	waitFor(t, 10*time.Second, "every message sent", func() bool {
		return len(e.messages(t, messaging.Query{State: messaging.StateSent})) == len(ms)
	})
	if st, _ := sender.BreakerState("at-ke"); st != "closed" {
		t.Errorf("breaker after recovery = %q, want closed", st)
	}
	_, sent := fake.snapshot()
	for _, m := range ms {
		if sent[m.ID] != 1 {
			t.Errorf("message %s accepted %d times by the provider, want exactly 1", m.ID, sent[m.ID])
		}
	}
	if len(sent) != len(ms) {
		t.Errorf("provider accepted %d distinct messages, want %d", len(sent), len(ms))
	}
	for _, m := range e.messages(t, messaging.Query{}) {
		if m.Instance != "at-ke" || m.ProviderID == "" || m.SentAt.IsZero() || m.Attempts < 1 {
			t.Errorf("sent message = %+v", m)
		}
	}
	waitFor(t, 5*time.Second, "jobs done", func() bool {
		for _, j := range e.sendJobs(t) {
			if j.State != core.JobDone {
				return false
			}
		}
		return true
	})
	for _, name := range []string{"gateway_sms_messages_total", "gateway_sms_segments_total"} {
		if got := counter(t, reg, name, "at-ke", "sent"); got != float64(len(ms)) {
			t.Errorf("%s{at-ke,sent} = %v, want %d", name, got, len(ms))
		}
		if got := counter(t, reg, name, "at-ke", "retry"); got < failures {
			t.Errorf("%s{at-ke,retry} = %v, want at least %d", name, got, failures)
		}
	}
}

// TestFailover: while the primary's breaker is open its secondary sends.
func TestFailover(t *testing.T) {
	e := newEnv(t, core.SystemClock{}, messaging.Settings{Enabled: true}, "en")
	ms := e.queueMessages(t, 8)
	primary, secondary := newFake(), newFake()
	primary.setFailing(true)
	sender, err := messaging.NewSender(messaging.SenderOptions{Store: e.store, Clock: core.SystemClock{},
		Instances: []messaging.Instance{{Name: "at-ke", Sender: primary, Secondary: "twilio-ke"}, {Name: "twilio-ke", Sender: secondary}},
		Route:     func(string) string { return "at-ke" }, BreakerFailures: 2, BreakerOpenFor: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	runJobs(t, e, sender, nil)
	waitFor(t, 10*time.Second, "every message sent", func() bool {
		return len(e.messages(t, messaging.Query{State: messaging.StateSent})) == len(ms)
	})
	pcalls, psent := primary.snapshot()
	_, ssent := secondary.snapshot()
	if len(psent) != 0 || pcalls > 2+4 {
		t.Errorf("primary: %d calls, %d accepted; want at most the failures that open its breaker (+ in flight)", pcalls, len(psent))
	}
	for _, m := range e.messages(t, messaging.Query{}) {
		if ssent[m.ID] != 1 || m.Instance != "twilio-ke" {
			t.Errorf("message %s: secondary accepted it %d times, instance %q", m.ID, ssent[m.ID], m.Instance)
		}
	}
	if _, err := messaging.NewSender(messaging.SenderOptions{Store: e.store,
		Instances: []messaging.Instance{{Name: "at-ke", Sender: primary, Secondary: "nope"}}}); err == nil {
		t.Error("NewSender accepted an unknown secondary")
	}
}

// TestReceipts: each receipt state ends the message (or retries it) as it
// should, one job run at a time.
func TestReceipts(t *testing.T) {
	ctx := context.Background()
	clock := coretest.NewClock(start)
	e := newEnv(t, clock, messaging.Settings{Enabled: true}, "en")
	fake := newFake()
	sender, err := messaging.NewSender(messaging.SenderOptions{Store: e.store, Clock: clock,
		Instances: []messaging.Instance{{Name: "at-ke", Sender: fake}}, Route: func(string) string { return "at-ke" },
		BreakerFailures: 100})
	if err != nil {
		t.Fatal(err)
	}
	run := func() (messaging.Message, error) {
		t.Helper()
		js, err := e.store.Claim(ctx, messaging.Queue, 1, time.Minute)
		if err != nil || len(js) != 1 {
			t.Fatalf("Claim = %d jobs, %v", len(js), err)
		}
		herr := sender.Handle(ctx, js[0])
		m, err := e.store.Message(ctx, e.tenant, jobMessageID(t, js[0]))
		if err != nil {
			t.Fatal(err)
		}
		if herr == nil {
			if err := e.store.Complete(ctx, js[0]); err != nil {
				t.Fatal(err)
			}
		} else if err := e.store.Retry(ctx, js[0], clock.Now(), herr.Error(), true); err != nil {
			t.Fatal(err)
		}
		return m, herr
	}
	e.queueMessages(t, 1)

	fake.reply = func(string) adapters.SMSReceipt {
		return adapters.SMSReceipt{State: adapters.SMSRetry, Code: "500", Reason: "InternalServerError"}
	}
	m, err := run()
	if err == nil || jobs.IsPermanent(err) || m.State != messaging.StateQueued || m.Attempts != 1 || m.Reason != "500 InternalServerError" {
		t.Errorf("after a retry receipt: err %v, message %s attempts %d reason %q", err, m.State, m.Attempts, m.Reason)
	}
	fake.reply = func(string) adapters.SMSReceipt {
		return adapters.SMSReceipt{State: adapters.SMSRejected, Code: "406", Reason: "UserInBlacklist"}
	}
	m, err = run()
	if err != nil || m.State != messaging.StateRejected || m.Reason != "406 UserInBlacklist" || m.FinalAt.IsZero() || m.Attempts != 2 {
		t.Errorf("after a rejection: err %v, message %+v", err, m)
	}

	// A refusal of the whole request that no retry can fix fails the
	// message and kills the job.
	e.newContract(t, e.customer, "ACX", dailyPlan, "")
	e.pay(t, "RKTX", "ACX", 5000)
	fake.reply = nil
	fake.mu.Lock()
	fake.failing, fake.fail = true, &adapters.ProviderError{Provider: "africastalking", Op: "send", HTTPStatus: 401, Code: "401", Message: "bad API key"}
	fake.mu.Unlock()
	m, err = run()
	if !jobs.IsPermanent(err) || m.State != messaging.StateFailed || m.Reason != "401 bad API key" {
		t.Errorf("after a permanent refusal: err %v, message %s %q", err, m.State, m.Reason)
	}

	// A message already sent is not sent again when its job runs again.
	fake.setFailing(false)
	e.newContract(t, e.customer, "ACY", dailyPlan, "")
	e.pay(t, "RKTY", "ACY", 5000)
	js, _ := e.store.Claim(ctx, messaging.Queue, 1, time.Minute)
	if err := sender.Handle(ctx, js[0]); err != nil {
		t.Fatal(err)
	}
	calls, _ := fake.snapshot()
	if err := sender.Handle(ctx, js[0]); err != nil { // the worker died before Complete
		t.Fatal(err)
	}
	if again, _ := fake.snapshot(); again != calls {
		t.Errorf("a sent message's job ran again and called the provider (%d → %d calls)", calls, again)
	}

	// No instance for the tenant: rescheduled, no attempt spent.
	none, _ := messaging.NewSender(messaging.SenderOptions{Store: e.store, Clock: clock})
	e.newContract(t, e.customer, "ACZ", dailyPlan, "")
	e.pay(t, "RKTZ", "ACZ", 5000)
	js, _ = e.store.Claim(ctx, messaging.Queue, 1, time.Minute)
	at, ok := jobs.WasNotAttempted(none.Handle(ctx, js[0]))
	if !ok || !at.Equal(clock.Now().Add(messaging.NoInstanceDelay)) {
		t.Errorf("no instance: NotAttempted %v at %v", ok, at)
	}
}

// counter reads one labelled counter from reg.
func counter(t *testing.T, reg *prometheus.Registry, name, instance, state string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["instance"] == instance && labels["state"] == state {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
