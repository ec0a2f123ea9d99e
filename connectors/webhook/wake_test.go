package webhook_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/connectors/webhook"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/jobs"
	"github.com/payg-gateway/gateway/test/fakecrm"
)

// The CRM is down long enough that the breaker puts deliveries back far
// past its short BreakerOpenFor. When the CRM is back and a probe gets
// through, the backlog goes at once (or as fast as the endpoint's rate
// limit lets it), longest-due first, not each when it was put back for:
// the turned-away deliveries keep their due times, the one waiting to
// retry a failed attempt goes last.
func TestRecoveryWakesTheBacklog(t *testing.T) {
	for _, rate := range []int{0, 1} {
		t.Run(fmt.Sprintf("rate=%d", rate), func(t *testing.T) {
			eachStore(t, func(t *testing.T, b backend) { testRecoveryWakesTheBacklog(t, b, rate) })
		})
	}
}

func testRecoveryWakesTheBacklog(t *testing.T, b backend, rate int) {
	const openFor = 300 * time.Millisecond // wall time, as gobreaker's
	w := newWorld(t, b, options{
		workers: 1, breakerFailures: 1, breakerOpenFor: openFor, breakerMaxWait: 16 * time.Hour,
		schedule: jobs.Schedule{Delays: []time.Duration{2 * time.Hour}}, rateLimit: rate,
	})
	w.crm.Set(fakecrm.Fail)
	// Six deliveries due 60, 50, …, 10 minutes ago (no contract order
	// between them, so each is claimed by its due time alone).
	const n = 6
	for i := range n {
		w.enqueueDelivery(fmt.Sprintf("evt_%d", i), w.clock.Now().Add(-time.Duration(n-i)*10*time.Minute))
	}
	w.runner.Wake()

	// Down: the first delivery fails and opens the breaker, which turns
	// the others away, each for about as long as it has been due.
	for step := 0; ; step++ {
		if step > 100 {
			t.Fatalf("deliveries still coming back every step: %+v", w.jobs(core.JobPending))
		}
		w.idle()
		soon := slices.ContainsFunc(w.jobs(core.JobPending), func(j core.Job) bool {
			return j.RunAt.Before(w.clock.Now().Add(5 * time.Minute))
		})
		if !soon {
			break
		}
		w.stepToNext()
	}
	if got := len(w.jobs(core.JobPending)); got != n {
		t.Fatalf("%d deliveries pending while the CRM is down, want %d", got, n)
	}
	if w.counter("breaker_open") == 0 {
		t.Fatal("the breaker turned nothing away")
	}

	// Back. The breaker lets a probe through, kept for the longest-due
	// delivery it turned away: step the clock from one delivery coming
	// back to the next until the probe is delivered.
	w.crm.Set(fakecrm.OK)
	time.Sleep(2 * openFor)
	var before []core.Job // pending just before the probe's step
	for step := 0; len(w.jobs(core.JobDone)) == 0; step++ {
		if step > 100 {
			t.Fatalf("no probe got through: %+v", w.jobs(core.JobPending))
		}
		before = w.jobs(core.JobPending)
		w.stepToNext()
		w.idle()
	}
	probeAt := w.clock.Now()
	turnedAway := w.counter("breaker_open")
	received := w.crm.Received()
	slices.SortFunc(received, func(a, b fakecrm.Request) int { return a.Arrival - b.Arrival })
	first := slices.IndexFunc(received, func(r fakecrm.Request) bool { return r.Status == 200 })
	if first < 0 {
		t.Fatal("a delivery is done, none reached the CRM")
	}
	probe := received[first].ID // the first to get through
	var backlog []core.Job
	late := 0
	for _, j := range before {
		if event(w, j) == probe {
			continue
		}
		backlog = append(backlog, j)
		if !j.RunAt.Before(probeAt.Add(5 * time.Minute)) {
			late++
		}
	}
	if late < 3 {
		t.Fatalf("only %d deliveries were put back past the probe (%v): %+v", late, probeAt, backlog)
	}

	// The backlog is delivered now (one a second under a rate limit of
	// 1/s), not at the times it was put back for.
	limit := probeAt
	if rate > 0 {
		limit = probeAt.Add(time.Duration(len(backlog)) * time.Second / time.Duration(rate))
	}
	for len(w.jobs(core.JobPending)) > 0 {
		if w.clock.Now().After(limit.Add(time.Minute)) {
			break
		}
		w.stepToNext()
		w.idle()
	}
	if pending := w.jobs(core.JobPending); len(pending) > 0 {
		for _, j := range pending {
			t.Errorf("after the probe at %v, delivery %s waits until %v", probeAt, j.Key, j.RunAt)
		}
		t.FailNow()
	}
	if got := w.counter("breaker_open"); got != turnedAway {
		t.Errorf("the closed breaker turned %v deliveries away", got-turnedAway)
	}

	// Delivered once each, in due order: the turned-away deliveries by the
	// times they became due, then the one that failed, due from the wake.
	wantOrder := slices.Clone(backlog)
	due := func(j core.Job) time.Time {
		if j.DueAt.After(probeAt) {
			return probeAt
		}
		return j.DueAt
	}
	slices.SortFunc(wantOrder, func(a, b core.Job) int {
		return cmp.Or(due(a).Compare(due(b)), strings.Compare(a.ID, b.ID))
	})
	if wantOrder[len(wantOrder)-1].Attempts != 1 || !wantOrder[len(wantOrder)-1].DueAt.After(probeAt) {
		t.Errorf("last in due order %+v: want the failed delivery, waiting to retry past the probe", wantOrder[len(wantOrder)-1])
	}
	var want []string
	for _, j := range wantOrder {
		want = append(want, event(w, j))
	}
	received = w.crm.Received()
	slices.SortFunc(received, func(a, b fakecrm.Request) int { return a.Arrival - b.Arrival })
	var got []string
	for _, r := range received {
		if r.Status != 200 || r.ID == probe {
			continue
		}
		got = append(got, r.ID)
		if r.At.After(limit) {
			t.Errorf("delivery %s reached the CRM at %v, after %v", r.ID, r.At, limit)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("backlog delivered in order %v, want %v (due order)", got, want)
	}
	latest := slices.MaxFunc(backlog, func(a, b core.Job) int { return a.RunAt.Compare(b.RunAt) }).RunAt
	t.Logf("probe at +%v; %d deliveries put back until up to +%v, all delivered by +%v",
		probeAt.Sub(epoch), len(backlog), latest.Sub(epoch), w.clock.Now().Sub(epoch))
	for id, c := range w.crm.Delivered() {
		if c != 1 {
			t.Errorf("event %s delivered %d times", id, c)
		}
	}
}

// event is the event id of a delivery enqueued by enqueueDelivery.
func event(w *world, j core.Job) string {
	return strings.TrimPrefix(j.Key, "webhook:"+w.endpoint.ID+":")
}

// enqueueDelivery enqueues a delivery of event to the world's endpoint,
// due at due, with no contract order.
func (w *world) enqueueDelivery(event string, due time.Time) {
	w.t.Helper()
	w.enqueueDeliveryTo(webhook.Queue, event, due)
}

// enqueueDeliveryTo is enqueueDelivery on another queue.
func (w *world) enqueueDeliveryTo(queue, event string, due time.Time) {
	w.t.Helper()
	body := fmt.Sprintf(`{"id":%q,"type":"payment.applied","data":{}}`, event)
	p, err := json.Marshal(map[string]string{"endpoint_id": w.endpoint.ID, "event_id": event, "event_type": "payment.applied", "body": body})
	if err != nil {
		w.t.Fatal(err)
	}
	j := core.Job{
		TenantID: tenantID, Queue: queue, Key: "webhook:" + w.endpoint.ID + ":" + event,
		Payload: p, MaxAttempts: webhook.DefaultMaxAttempts, RunAt: due,
	}
	if ok, err := w.store.EnqueueJob(context.Background(), j); err != nil || !ok {
		w.t.Fatalf("enqueue %s: %v, %v", event, ok, err)
	}
}

// stepToNext moves the clock to the earliest time a pending delivery runs
// at and wakes the runner.
func (w *world) stepToNext() {
	w.t.Helper()
	pending := w.jobs(core.JobPending)
	if len(pending) == 0 {
		w.t.Fatal("no delivery pending")
	}
	next := slices.MinFunc(pending, func(a, b core.Job) int { return a.RunAt.Compare(b.RunAt) }).RunAt
	w.advance(max(next.Sub(w.clock.Now()), 0))
}

// idle waits until the runner has nothing to do at the clock's time: no
// delivery running, none pending and due.
func (w *world) idle() {
	w.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		busy := slices.ContainsFunc(w.jobs(""), func(j core.Job) bool {
			return j.State == core.JobRunning || j.State == core.JobPending && !j.RunAt.After(w.clock.Now())
		})
		if !busy {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("deliveries still due or running after 15s: %+v", w.jobs(""))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// With several replicas, a replica whose breaker is not closed yet does not
// keep its probe for a delivery another replica has delivered meanwhile
// (after that replica's probe found the CRM up and woke the backlog): its
// next delivery is the probe, and its breaker closes.
func TestProbeNotKeptForADeliveryDoneElsewhere(t *testing.T) {
	eachStore(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		w := newWorld(t, b, options{})
		const queue = "webhook-replica" // no runner claims these
		for i, key := range []string{"first", "old", "newer"} {
			w.enqueueDeliveryTo(queue, "evt_"+key, epoch.Add(time.Duration(i-3)*time.Hour))
		}
		js, err := w.store.Claim(ctx, queue, 10, time.Hour)
		if err != nil || len(js) != 3 {
			t.Fatalf("claimed %d, %v", len(js), err)
		}
		first, old, newer := js[0], js[1], js[2]
		d, err := webhook.NewDeliverer(webhook.DelivererOptions{
			Store: w.store, Clock: w.clock, Egress: webhook.Egress{AllowLoopback: true},
			BreakerFailures: 1, BreakerOpenFor: 200 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		// This replica: one failure opens its breaker, which turns the old
		// delivery away and keeps the probe for it.
		w.crm.Set(fakecrm.Fail)
		if err := d.Handle(ctx, first); err == nil {
			t.Fatal("the failing CRM accepted a delivery")
		}
		if _, ok := jobs.WasNotAttempted(d.Handle(ctx, old)); !ok {
			t.Fatal("the open breaker let the old delivery through")
		}
		// Another replica delivers it.
		w.crm.Set(fakecrm.OK)
		if err := w.store.Complete(ctx, old); err != nil {
			t.Fatal(err)
		}
		time.Sleep(250 * time.Millisecond) // the breaker may let a probe through now
		if err := d.Handle(ctx, newer); err != nil {
			t.Fatalf("the probe is still kept for the delivery done elsewhere: %v", err)
		}
		if err := d.Handle(ctx, first); err != nil {
			t.Fatalf("after the probe: %v, want the breaker closed", err)
		}
		if got := w.crm.Delivered(); got["evt_newer"] != 1 || got["evt_first"] != 1 || got["evt_old"] != 0 {
			t.Errorf("delivered %v", got)
		}
	})
}
