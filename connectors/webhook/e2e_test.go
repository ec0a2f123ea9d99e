package webhook_test

import (
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/connectors/webhook"
	"github.com/payg-gateway/gateway/connectors/webhook/signature"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/jobs"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/test/fakecrm"
)

// A payment produces signed deliveries to every subscribed endpoint, each
// verifiable by the receiver, with the envelope a CRM orders events by.
func TestSignedDeliveries(t *testing.T) {
	eachStore(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		w := newWorld(t, b, options{eventTypes: []string{"payment.*"}})
		all := fakecrm.New(fakecrm.Options{Now: w.clock.Now, Tolerance: crmTolerance})
		defer all.Close()
		allEP := w.addEndpoint(all, []string{"*"}, 0)

		events := w.pay()
		var payments []payg.Event
		for _, e := range events {
			if strings.HasPrefix(e.Type, "payment.") {
				payments = append(payments, e)
			}
		}
		if len(events) < 3 || len(payments) != 2 {
			t.Fatalf("events %v: want payment.received, payment.applied and more", events)
		}
		for _, r := range w.await(len(events) + len(payments)) {
			if r.Outcome != jobs.OutcomeDone {
				t.Errorf("delivery %s: %s (%v)", r.Job.Key, r.Outcome, r.Err)
			}
		}

		check := func(crm *fakecrm.CRM, want []payg.Event) {
			t.Helper()
			got := crm.Received()
			if len(got) != len(want) {
				t.Fatalf("CRM received %d deliveries, want %d", len(got), len(want))
			}
			byID := map[string]fakecrm.Request{}
			for _, r := range got {
				if !r.Verified {
					t.Errorf("delivery %s does not verify: %v", r.ID, r.VerifyErr)
				}
				if r.Header.Get("Content-Type") != "application/json" {
					t.Errorf("content type %q", r.Header.Get("Content-Type"))
				}
				byID[r.ID] = r
			}
			for _, e := range want {
				r, ok := byID[e.ID]
				if !ok {
					t.Errorf("event %s %s not delivered (webhook-id must be the event id)", e.Type, e.ID)
					continue
				}
				var env webhook.Envelope
				if err := json.Unmarshal(r.Body, &env); err != nil {
					t.Fatal(err)
				}
				if env.ID != e.ID || env.Type != e.Type || env.Tenant != tenantID || env.ContractID != w.contract.ID ||
					env.Sequence != e.Seq || env.Sequence == 0 || !env.CreatedAt.Equal(e.CreatedAt) || len(env.Data) < 2 {
					t.Errorf("envelope %+v for event %+v", env, e)
				}
				if ts := r.Header.Get(signature.HeaderTimestamp); ts != "1773480413" {
					t.Errorf("webhook-timestamp %q, want the clock's Unix seconds", ts)
				}
			}
		}
		check(w.crm, payments)
		check(all, events)

		as := w.attempts(core.WebhookAttemptQuery{EndpointID: w.endpoint.ID})
		if len(as) != len(payments) {
			t.Fatalf("%d attempts logged for the payment.* endpoint, want %d", len(as), len(payments))
		}
		for _, a := range as {
			if a.StatusCode != http.StatusOK || a.Attempt != 1 || a.Error != "" || a.Response != `{"status":200}` || !a.At.Equal(epoch) || a.JobID == "" {
				t.Errorf("attempt %+v", a)
			}
		}
		if got := w.counter("delivered"); got != float64(len(events)+len(payments)) {
			t.Errorf("delivered counter %v, want %d", got, len(events)+len(payments))
		}
		if got := w.histogramCount(); got != uint64(len(events)+len(payments)) {
			t.Errorf("latency histogram has %d samples", got)
		}

		// Rotation: both secrets sign until the old one expires; a CRM that
		// switched to the new one verifies meanwhile.
		ep, err := w.store.WebhookEndpoint(ctx, tenantID, allEP.ID)
		if err != nil {
			t.Fatal(err)
		}
		old := ep.Secrets[0].Value
		fresh := webhook.RotateSecret(&ep, w.clock.Now(), time.Hour)
		if err := w.store.UpdateWebhookEndpoint(ctx, ep); err != nil {
			t.Fatal(err)
		}
		all.SetSecrets(fresh.Value)
		w.advance(time.Minute)
		more := w.pay()
		w.await(len(more) + 2)
		last := all.Received()[len(all.Received())-1]
		if sigs := strings.Fields(last.Header.Get(signature.HeaderSignature)); len(sigs) != 2 || !last.Verified {
			t.Fatalf("during rotation: signatures %v, verified %v", sigs, last.Verified)
		}
		if err := signature.Verify([]string{old}, last.Header, last.Body, 0, w.clock.Now()); err != nil {
			t.Errorf("a CRM still on the old secret cannot verify during rotation: %v", err)
		}
		w.advance(time.Hour)
		w.await(len(w.pay()) + 2)
		last = all.Received()[len(all.Received())-1]
		if sigs := strings.Fields(last.Header.Get(signature.HeaderSignature)); len(sigs) != 1 || !last.Verified {
			t.Fatalf("after rotation: signatures %v, verified %v", sigs, last.Verified)
		}
	})
}

// The CRM is down for a while, then back: every event arrives exactly once
// per endpoint, the breaker opens meanwhile and never spends attempts.
func TestCRMDownThenBack(t *testing.T) {
	eachStore(t, func(t *testing.T, b backend) {
		w := newWorld(t, b, options{breakerFailures: 3, breakerOpenFor: 10 * time.Millisecond})
		w.crm.Set(fakecrm.Fail)
		var events []payg.Event
		for range 3 {
			events = append(events, w.pay()...)
		}
		failures := map[string]int{}
		notAttempted := 0
		// Down: until every delivery failed twice and the breaker turned
		// some away. Each step moves the clock past any retry delay.
		for {
			r := w.next()
			switch r.Outcome {
			case jobs.OutcomeRetry:
				failures[r.Job.ID]++
			case jobs.OutcomeNotAttempted:
				notAttempted++
			default:
				t.Fatalf("while the CRM is down: %+v", r)
			}
			if len(failures) == len(events) && notAttempted > 0 && minValue(failures) >= 2 {
				break
			}
			w.advance(11 * time.Hour)
		}
		// Back.
		w.crm.Set(fakecrm.OK)
		done := map[string]bool{}
		for len(done) < len(events) {
			w.advance(11 * time.Hour)
			r := w.next()
			switch r.Outcome {
			case jobs.OutcomeDone:
				done[r.Job.ID] = true
			case jobs.OutcomeRetry, jobs.OutcomeNotAttempted:
			default:
				t.Fatalf("after the CRM came back: %+v", r)
			}
		}

		delivered := w.crm.Delivered()
		for _, e := range events {
			if delivered[e.ID] != 1 {
				t.Errorf("event %s delivered %d times, want once", e.ID, delivered[e.ID])
			}
		}
		if len(delivered) != len(events) {
			t.Errorf("%d distinct events delivered, want %d", len(delivered), len(events))
		}
		for _, r := range w.crm.Received() {
			if !r.Verified {
				t.Errorf("unverified delivery %s: %v", r.ID, r.VerifyErr)
			}
		}
		// Attempts spent = HTTP attempts made: the breaker's turn-aways
		// are not in either.
		for _, j := range w.jobs(core.JobDone) {
			as := w.attempts(core.WebhookAttemptQuery{JobID: j.ID})
			if j.Attempts != len(as) {
				t.Errorf("job %s spent %d attempts for %d HTTP attempts", j.Key, j.Attempts, len(as))
			}
			if last := as[len(as)-1]; last.StatusCode != http.StatusOK || last.Attempt != j.Attempts {
				t.Errorf("job %s last attempt %+v", j.Key, last)
			}
			for _, a := range as[:len(as)-1] {
				if a.StatusCode != http.StatusInternalServerError {
					t.Errorf("job %s attempt %d: %d, want 500", j.Key, a.Attempt, a.StatusCode)
				}
			}
		}
		if n := len(w.jobs(core.JobDone)); n != len(events) {
			t.Errorf("%d deliveries done, want %d", n, len(events))
		}
		if w.counter("breaker_open") == 0 {
			t.Error("breaker_open counter is zero")
		}
	})
}

// An open breaker reschedules deliveries without spending their attempts.
func TestBreakerDoesNotSpendAttempts(t *testing.T) {
	eachStore(t, func(t *testing.T, b backend) {
		w := newWorld(t, b, options{workers: 1, breakerFailures: 2, breakerOpenFor: time.Hour})
		w.crm.Set(fakecrm.Fail)
		events := w.pay()
		rs := w.await(len(events))
		var outcomes []jobs.Outcome
		for _, r := range rs {
			outcomes = append(outcomes, r.Outcome)
		}
		if outcomes[0] != jobs.OutcomeRetry || outcomes[1] != jobs.OutcomeRetry || slices.ContainsFunc(outcomes[2:], func(o jobs.Outcome) bool { return o != jobs.OutcomeNotAttempted }) {
			t.Fatalf("outcomes %v: want two failures, then the breaker open", outcomes)
		}
		for _, r := range rs[2:] {
			if want := w.clock.Now().Add(time.Hour); !r.RunAt.Equal(want) {
				t.Errorf("rescheduled at %v, want when the breaker may close (%v)", r.RunAt, want)
			}
		}
		// Every delivery comes back while the breaker is still open, and
		// having been due 11 hours now waits 11 hours more (not past
		// BreakerMaxWait, 16 hours here), keeping its due time.
		w.advance(11 * time.Hour)
		for _, r := range w.await(len(events)) {
			if r.Outcome != jobs.OutcomeNotAttempted {
				t.Errorf("with the breaker open: %+v", r)
			}
			if want := w.clock.Now().Add(w.clock.Now().Sub(r.Job.DueAt)); !r.RunAt.Equal(want) || r.Job.DueAt.After(epoch.Add(time.Hour)) {
				t.Errorf("due at %v, turned away again until %v; want %v", r.Job.DueAt, r.RunAt, want)
			}
		}
		for _, j := range w.jobs(core.JobPending) {
			if j.Attempts == 0 && !j.DueAt.Equal(epoch) {
				t.Errorf("job %s turned away twice is due at %v, want %v still", j.Key, j.DueAt, epoch)
			}
		}
		var spent []int
		for _, j := range w.jobs(core.JobPending) {
			spent = append(spent, j.Attempts)
			if !strings.Contains(j.LastError, "circuit breaker") {
				t.Errorf("job %s last error %q", j.Key, j.LastError)
			}
		}
		slices.Sort(spent)
		if want := append([]int{}, make([]int, len(events)-2)...); !slices.Equal(spent, append(want, 1, 1)) {
			t.Errorf("attempts spent %v: only the two real failures may count", spent)
		}
		if got := len(w.attempts(core.WebhookAttemptQuery{EndpointID: w.endpoint.ID})); got != 2 {
			t.Errorf("%d attempts logged, want 2", got)
		}
		if got := w.counter("breaker_open"); got != float64(2*len(events)-2) {
			t.Errorf("breaker_open counter %v, want %d", got, 2*len(events)-2)
		}
	})
}

// 410 Gone disables the endpoint: its deliveries are dead, new events
// enqueue nothing for it, and after re-enabling, its dead deliveries can be
// replayed with their history kept.
func TestGoneDisablesEndpoint(t *testing.T) {
	eachStore(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		w := newWorld(t, b, options{})
		w.crm.Set(fakecrm.Gone)
		events := w.pay()
		for _, r := range w.await(len(events)) {
			if r.Outcome != jobs.OutcomeDead || !jobs.IsPermanent(r.Err) {
				t.Errorf("after 410: %+v", r)
			}
		}
		ep, err := w.store.WebhookEndpoint(ctx, tenantID, w.endpoint.ID)
		if err != nil {
			t.Fatal(err)
		}
		if ep.Enabled || !strings.Contains(ep.DisabledReason, "410") {
			t.Fatalf("endpoint after 410: enabled %v, reason %q", ep.Enabled, ep.DisabledReason)
		}
		dead := w.jobs(core.JobDead)
		if len(dead) != len(events) {
			t.Fatalf("%d dead deliveries, want %d", len(dead), len(events))
		}
		// At least one delivery met the 410; any claimed after the endpoint
		// was disabled died without an HTTP attempt.
		gone := w.attempts(core.WebhookAttemptQuery{EndpointID: ep.ID})
		if len(gone) == 0 || len(gone) > len(events) {
			t.Fatalf("%d attempts logged", len(gone))
		}
		for _, a := range gone {
			if a.StatusCode != http.StatusGone {
				t.Errorf("attempt %+v, want 410", a)
			}
		}
		before := len(w.jobs(""))
		w.pay()
		if got := len(w.jobs("")); got != before {
			t.Errorf("events after the 410 enqueued %d deliveries to the disabled endpoint", got-before)
		}
		if _, err := w.replayer.ReplayDead(ctx, tenantID, ep.ID); core.ErrorCode(err) != core.ECONFLICT {
			t.Errorf("replay to a disabled endpoint: %v, want conflict", err)
		}

		// The CRM fixes its endpoint; the operator re-enables and replays.
		w.crm.Set(fakecrm.OK)
		ep.Enabled, ep.DisabledReason, ep.UpdatedAt = true, "", w.clock.Now()
		if err := w.store.UpdateWebhookEndpoint(ctx, ep); err != nil {
			t.Fatal(err)
		}
		n, err := w.replayer.ReplayDead(ctx, tenantID, ep.ID)
		if err != nil || n != len(dead) {
			t.Fatalf("ReplayDead = %d, %v; want %d", n, err, len(dead))
		}
		for _, r := range w.await(n) {
			if r.Outcome != jobs.OutcomeDone || !strings.Contains(r.Job.Key, "#replay:") {
				t.Errorf("replayed delivery %+v", r)
			}
		}
		for _, e := range events {
			if w.crm.Delivered()[e.ID] != 1 {
				t.Errorf("event %s not delivered by the replay", e.ID)
			}
		}
		// History kept: the dead jobs and their 410 attempts remain.
		if n := len(w.jobs(core.JobDead)); n != len(dead) {
			t.Errorf("%d dead deliveries after the replay, want the %d kept", n, len(dead))
		}
		after := w.attempts(core.WebhookAttemptQuery{EndpointID: ep.ID})
		for _, a := range gone {
			if !slices.ContainsFunc(after, func(b core.WebhookAttempt) bool { return b.ID == a.ID }) {
				t.Errorf("attempt %s lost by the replay", a.ID)
			}
		}
		if len(after) != len(gone)+len(dead) {
			t.Errorf("%d attempts after the replay, want %d", len(after), len(gone)+len(dead))
		}
		if again, err := w.replayer.ReplayDead(ctx, tenantID, ep.ID); err != nil || again != 0 {
			t.Errorf("replaying the same dead deliveries again = %d, %v; want 0", again, err)
		}
	})
}

// Retry-After is honoured when later than the schedule.
func TestRetryAfter(t *testing.T) {
	eachStore(t, func(t *testing.T, b backend) {
		w := newWorld(t, b, options{breakerFailures: 100})
		w.crm.Set(fakecrm.TooMany)
		w.crm.SetRetryAfter("120")
		events := w.pay()
		want := w.clock.Now().Add(120 * time.Second)
		for _, r := range w.await(len(events)) {
			if r.Outcome != jobs.OutcomeRetry || !r.RunAt.Equal(want) {
				t.Errorf("after 429 Retry-After: 120: %+v, want a retry at %v", r, want)
			}
		}
		for _, j := range w.jobs(core.JobPending) {
			if !j.RunAt.Equal(want) || j.Attempts != 1 {
				t.Errorf("stored delivery %s: run at %v after %d attempts", j.Key, j.RunAt, j.Attempts)
			}
		}
		for _, a := range w.attempts(core.WebhookAttemptQuery{}) {
			if a.StatusCode != http.StatusTooManyRequests {
				t.Errorf("attempt %+v", a)
			}
		}
		// 503 with an HTTP date.
		w.crm.Set(fakecrm.Unavailable)
		w.crm.SetRetryAfter(w.clock.Now().Add(10 * time.Minute).Format(http.TimeFormat))
		w.advance(120 * time.Second)
		want = w.clock.Now().Add(8 * time.Minute)
		for _, r := range w.await(len(events)) {
			if r.Outcome != jobs.OutcomeRetry || !r.RunAt.Equal(want) {
				t.Errorf("after 503 Retry-After date: %+v, want a retry at %v", r, want)
			}
		}
		w.crm.Set(fakecrm.OK)
		w.advance(8 * time.Minute)
		for _, r := range w.await(len(events)) {
			if r.Outcome != jobs.OutcomeDone {
				t.Errorf("after the Retry-After: %+v", r)
			}
		}
	})
}

// After its last attempt a delivery is dead, with every attempt kept.
func TestDeadAfterLastAttempt(t *testing.T) {
	eachStore(t, func(t *testing.T, b backend) {
		w := newWorld(t, b, options{maxAttempts: 3, breakerFailures: 100})
		w.crm.Set(fakecrm.Fail)
		events := w.pay()
		dead := 0
		for dead < len(events) {
			r := w.next()
			switch r.Outcome {
			case jobs.OutcomeDead:
				dead++
			case jobs.OutcomeRetry:
				w.advance(11 * time.Hour)
			default:
				t.Fatalf("%+v", r)
			}
		}
		for _, j := range w.jobs(core.JobDead) {
			as := w.attempts(core.WebhookAttemptQuery{JobID: j.ID})
			if j.Attempts != 3 || len(as) != 3 || j.LastError == "" {
				t.Errorf("dead delivery %+v with %d attempts logged", j, len(as))
			}
			for i, a := range as {
				if a.Attempt != i+1 || a.StatusCode != http.StatusInternalServerError || a.Latency < 0 {
					t.Errorf("attempt %+v", a)
				}
			}
		}
		if got := w.counter("dead"); got != float64(len(events)) {
			t.Errorf("dead counter %v, want %d", got, len(events))
		}
		if got := w.counter("failed"); got != float64(2*len(events)) {
			t.Errorf("failed counter %v, want %d", got, 2*len(events))
		}
	})
}

// Timeouts and connection resets are failed attempts, retried.
func TestSlowAndReset(t *testing.T) {
	eachStore(t, func(t *testing.T, b backend) {
		w := newWorld(t, b, options{workers: 1, timeout: 200 * time.Millisecond, breakerFailures: 100})
		w.crm.Set(fakecrm.Slow)
		w.crm.SetDelay(time.Hour)
		events := w.pay()
		w.await(len(events))
		w.crm.Set(fakecrm.Reset)
		w.advance(11 * time.Hour)
		w.await(len(events))
		w.crm.Set(fakecrm.OK)
		w.advance(11 * time.Hour)
		for _, r := range w.await(len(events)) {
			if r.Outcome != jobs.OutcomeDone {
				t.Errorf("%+v", r)
			}
		}
		for _, j := range w.jobs(core.JobDone) {
			as := w.attempts(core.WebhookAttemptQuery{JobID: j.ID})
			if len(as) != 3 {
				t.Fatalf("%d attempts for %s", len(as), j.Key)
			}
			if as[0].StatusCode != 0 || !strings.Contains(strings.ToLower(as[0].Error), "timeout") && !strings.Contains(as[0].Error, "deadline exceeded") {
				t.Errorf("slow answer attempt %+v", as[0])
			}
			if as[1].StatusCode != 0 || as[1].Error == "" {
				t.Errorf("reset attempt %+v", as[1])
			}
			if as[2].StatusCode != http.StatusOK {
				t.Errorf("last attempt %+v", as[2])
			}
		}
	})
}

// A rate-limited endpoint gets at most its rate; the rest wait without
// spending attempts.
func TestRateLimit(t *testing.T) {
	eachStore(t, func(t *testing.T, b backend) {
		w := newWorld(t, b, options{rateLimit: 1})
		events := w.pay()
		if len(events) < 3 {
			t.Fatalf("%d events, want 3 or more", len(events))
		}
		// One delivered; the next is turned away by the limit, and the
		// ones after it wait for its first attempt (per-contract order), so
		// they are not even claimed. The two outcomes may be reported in
		// either order: the second delivery can be claimed as soon as the
		// first is stored done, before the first's handler reports it.
		rs := w.await(2)
		slices.SortFunc(rs, func(a, b jobs.Result) int { return cmp.Compare(a.Job.OrderSeq, b.Job.OrderSeq) })
		if rs[0].Outcome != jobs.OutcomeDone || rs[1].Outcome != jobs.OutcomeNotAttempted ||
			rs[0].Job.OrderSeq != events[0].Seq || rs[1].Job.OrderSeq != events[1].Seq {
			t.Fatalf("outcomes %v: want the first event delivered, the second waiting", rs)
		}
		for _, j := range w.jobs(core.JobPending) {
			if j.Attempts != 0 {
				t.Errorf("waiting delivery %s spent %d attempts", j.Key, j.Attempts)
			}
		}
		if n := len(w.jobs(core.JobPending)); n != len(events)-1 {
			t.Errorf("%d deliveries waiting, want %d", n, len(events)-1)
		}
		for range len(events) - 1 {
			w.advance(time.Second)
			for {
				if r := w.next(); r.Outcome == jobs.OutcomeDone {
					break
				}
			}
		}
		for _, j := range w.jobs(core.JobDone) {
			if j.Attempts != 1 {
				t.Errorf("delivery %s spent %d attempts", j.Key, j.Attempts)
			}
		}
		if w.counter("rate_limited") == 0 {
			t.Error("rate_limited counter is zero")
		}
	})
}

// Replays deliver again with the same webhook-id.
func TestReplay(t *testing.T) {
	eachStore(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		w := newWorld(t, b, options{})
		first := w.pay()
		w.await(len(first))
		w.advance(time.Hour)
		second := w.pay()
		w.await(len(second))

		n, err := w.replayer.ReplayEvent(ctx, tenantID, first[0].ID, "")
		if err != nil || n != 1 {
			t.Fatalf("ReplayEvent = %d, %v", n, err)
		}
		if r := w.next(); r.Outcome != jobs.OutcomeDone {
			t.Fatalf("%+v", r)
		}
		if got := w.crm.Delivered()[first[0].ID]; got != 2 {
			t.Errorf("replayed event delivered %d times, want 2", got)
		}
		// The second payment's events only.
		n, err = w.replayer.ReplayRange(ctx, tenantID, epoch.Add(time.Minute), epoch.Add(2*time.Hour), w.endpoint.ID)
		if err != nil || n != len(second) {
			t.Fatalf("ReplayRange = %d, %v; want %d", n, err, len(second))
		}
		w.await(n)
		for _, e := range second {
			if got := w.crm.Delivered()[e.ID]; got != 2 {
				t.Errorf("event %s delivered %d times, want 2", e.ID, got)
			}
		}
		for _, e := range first[1:] {
			if got := w.crm.Delivered()[e.ID]; got != 1 {
				t.Errorf("event %s outside the range delivered %d times", e.ID, got)
			}
		}
		if _, err := w.replayer.ReplayEvent(ctx, tenantID, "evt_nope", ""); core.ErrorCode(err) != core.ENOTFOUND {
			t.Errorf("replay of an unknown event: %v", err)
		}
	})
}

// Deliveries never reach an address the egress policy refuses, whatever
// the URL's host name resolves to when dialled.
func TestEgressRefusedAtDial(t *testing.T) {
	b := backends()[0] // the check is the client's, not the store's
	w := newWorld(t, b, options{egress: &webhook.Egress{}, breakerFailures: 100})
	ep := w.endpoint
	ep.URL = strings.Replace(ep.URL, "127.0.0.1", "localhost", 1)
	if err := w.store.UpdateWebhookEndpoint(context.Background(), ep); err != nil {
		t.Fatal(err)
	}
	events := w.pay()
	for _, r := range w.await(len(events)) {
		if r.Outcome != jobs.OutcomeRetry {
			t.Errorf("%+v", r)
		}
	}
	if n := len(w.crm.Received()); n != 0 {
		t.Fatalf("the CRM on loopback received %d requests", n)
	}
	for _, a := range w.attempts(core.WebhookAttemptQuery{}) {
		if !strings.Contains(a.Error, "refused by the egress policy") || strings.Contains(a.Error, "localhost:") && strings.Contains(a.Error, "http://") {
			t.Errorf("attempt error %q", a.Error)
		}
	}
}

func minValue(m map[string]int) int {
	first := true
	low := 0
	for _, v := range m {
		if first || v < low {
			low, first = v, false
		}
	}
	return low
}

// While the breaker is open, the probe it lets through goes to the
// longest-due delivery it turned away, not to whichever asks first.
func TestProbeGoesToTheLongestDue(t *testing.T) {
	b := backends()[0] // the choice is the deliverer's, not the store's
	w := newWorld(t, b, options{})
	w.crm.Set(fakecrm.Fail)
	d, err := webhook.NewDeliverer(webhook.DelivererOptions{
		Store: w.store, Clock: w.clock, Egress: webhook.Egress{AllowLoopback: true},
		BreakerFailures: 1, BreakerOpenFor: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	job := func(id string, due time.Time) core.Job {
		p, _ := json.Marshal(map[string]string{"endpoint_id": w.endpoint.ID, "event_id": "evt_" + id, "event_type": "payment.applied", "body": `{"id":"evt_` + id + `"}`})
		return core.Job{ID: id, TenantID: tenantID, Queue: webhook.Queue, Payload: p, Attempts: 1, MaxAttempts: 12, DueAt: due}
	}
	old, newer := job("job_old", epoch), job("job_newer", epoch.Add(time.Hour))
	w.clock.Advance(2 * time.Hour)
	// One failure opens the breaker; the old delivery is turned away.
	if err := d.Handle(ctx, job("job_first", epoch)); err == nil {
		t.Fatal("the failing CRM accepted a delivery")
	}
	if err := d.Handle(ctx, old); err != nil {
		if _, ok := jobs.WasNotAttempted(err); !ok {
			t.Fatalf("the open breaker let the old delivery through: %v", err)
		}
	} else {
		t.Fatal("the open breaker let the old delivery through")
	}
	time.Sleep(60 * time.Millisecond) // the breaker may let a probe through now
	before := len(w.crm.Received())
	if _, ok := jobs.WasNotAttempted(d.Handle(ctx, newer)); !ok {
		t.Fatal("the probe went to the newer delivery while the older one waits")
	}
	if _, ok := jobs.WasNotAttempted(d.Handle(ctx, old)); ok {
		t.Fatal("the probe was not kept for the old delivery")
	}
	if got := len(w.crm.Received()) - before; got != 1 {
		t.Fatalf("%d requests reached the CRM, want the one probe", got)
	}
}
