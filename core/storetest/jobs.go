package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/coretest"
	"github.com/payg-gateway/gateway/core/payg"
)

// jobStore is what the job tests need of a store.
type jobStore interface {
	core.Store
	payg.Store
	core.JobQueue
	core.JobService
}

func asJobStore(t *testing.T, s core.Store) jobStore {
	t.Helper()
	js, ok := s.(jobStore)
	if !ok {
		t.Fatalf("%T does not implement the job queue", s)
	}
	return js
}

func testJobs(t *testing.T, h Harness) {
	t.Run("EnqueueFollowsTheTransaction", func(t *testing.T) { testJobEnqueueTx(t, h) })
	t.Run("ClaimCompleteRetryKill", func(t *testing.T) { testJobLifecycle(t, h) })
	t.Run("LeaseExpiry", func(t *testing.T) { testJobLeaseExpiry(t, h) })
	t.Run("ConcurrentClaimers", func(t *testing.T) { testJobConcurrentClaimers(t, h) })
	t.Run("Order", func(t *testing.T) { testJobOrder(t, h) })
	t.Run("TurnedAwayKeepsItsPlace", func(t *testing.T) { testJobDueAt(t, h) })
	t.Run("Wake", func(t *testing.T) { testJobWake(t, h) })
}

func job(key string) core.Job {
	return core.Job{TenantID: core.DefaultTenantID, Queue: "test", Key: key, Payload: []byte(`{"n":1}`), MaxAttempts: 3}
}

func jobByKey(t *testing.T, s jobStore, key string) (core.Job, bool) {
	t.Helper()
	p, err := s.ListJobs(context.Background(), core.JobQuery{TenantID: core.DefaultTenantID, KeyPrefix: key}, core.PageRequest{Limit: core.MaxPageLimit})
	if err != nil {
		t.Fatalf("ListJobs: %v", err)
	}
	for _, j := range p.Items {
		if j.Key == key {
			return j, true
		}
	}
	return core.Job{}, false
}

func testJobEnqueueTx(t *testing.T, h Harness) {
	ctx := context.Background()
	st, clock := migrated(t, h)
	s := asJobStore(t, st)

	// A transaction that rolls back leaves no job behind.
	errBoom := errors.New("boom")
	err := s.InTx(ctx, func(tx payg.Tx) error {
		if err := tx.EnqueueJob(ctx, job("rolled-back")); err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("InTx = %v, want the function's error", err)
	}
	if _, ok := jobByKey(t, s, "rolled-back"); ok {
		t.Fatal("a job enqueued in a rolled-back transaction exists")
	}

	// A duplicate key is a no-op, in the same transaction, in another one,
	// and outside any.
	err = s.InTx(ctx, func(tx payg.Tx) error {
		for range 2 {
			if err := tx.EnqueueJob(ctx, job("once")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("enqueue twice in one transaction: %v", err)
	}
	if err := s.InTx(ctx, func(tx payg.Tx) error { return tx.EnqueueJob(ctx, job("once")) }); err != nil {
		t.Fatalf("enqueue a taken key again: %v", err)
	}
	if inserted, err := s.EnqueueJob(ctx, job("once")); err != nil || inserted {
		t.Fatalf("EnqueueJob of a taken key = %v, %v; want false, nil", inserted, err)
	}
	p, err := s.ListJobs(ctx, core.JobQuery{TenantID: core.DefaultTenantID, Queue: "test"}, core.PageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Items) != 1 {
		t.Fatalf("%d jobs, want 1", len(p.Items))
	}
	j := p.Items[0]
	now := clock.Now().Truncate(time.Microsecond)
	if j.Key != "once" || j.State != core.JobPending || j.Attempts != 0 || j.MaxAttempts != 3 ||
		!j.RunAt.Equal(now) || !j.CreatedAt.Equal(now) || string(j.Payload) != `{"n":1}` || j.ID == "" {
		t.Errorf("stored job %+v", j)
	}
	if got, err := s.Job(ctx, core.DefaultTenantID, j.ID); err != nil || got.Key != "once" {
		t.Errorf("Job(%s) = %+v, %v", j.ID, got, err)
	}
	if _, err := s.CreateTenant(ctx, tenant("other")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Job(ctx, "other", j.ID); core.ErrorCode(err) != core.ENOTFOUND {
		t.Errorf("another tenant's job: %v, want not found", err)
	}
	if _, err := s.EnqueueJob(ctx, core.Job{TenantID: core.DefaultTenantID, Queue: "test"}); core.ErrorCode(err) != core.EINVALID {
		t.Errorf("job without a key: %v, want invalid", err)
	}

	// One transaction may hold more jobs than one INSERT has room for
	// (SQLite takes at most 32,766 parameters; a job row has 17).
	const many = 2500
	err = s.InTx(ctx, func(tx payg.Tx) error {
		for i := range many {
			j := job(fmt.Sprintf("many-%04d", i))
			j.Queue = "many"
			if err := tx.EnqueueJob(ctx, j); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("enqueue %d jobs in one transaction: %v", many, err)
	}
	n := 0
	for req := (core.PageRequest{Limit: core.MaxPageLimit}); ; {
		p, err := s.ListJobs(ctx, core.JobQuery{TenantID: core.DefaultTenantID, Queue: "many"}, req)
		if err != nil {
			t.Fatal(err)
		}
		n += len(p.Items)
		if p.NextCursor == "" {
			break
		}
		req.Cursor = p.NextCursor
	}
	if n != many {
		t.Errorf("%d jobs stored, want %d", n, many)
	}
}

func claim(t *testing.T, s core.JobQueue, limit int, lease time.Duration) []core.Job {
	t.Helper()
	js, err := s.Claim(context.Background(), "test", limit, lease)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	return js
}

func keys(js []core.Job) []string {
	var out []string
	for _, j := range js {
		out = append(out, j.Key)
	}
	return out
}

func testJobLifecycle(t *testing.T, h Harness) {
	ctx := context.Background()
	st, clock := migrated(t, h)
	s := asJobStore(t, st)
	start := clock.Now()
	later := job("later")
	later.RunAt = start.Add(time.Hour)
	for _, j := range []core.Job{job("a"), job("b"), later} {
		if _, err := s.EnqueueJob(ctx, j); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Millisecond)
	}
	other := job("other-queue")
	other.Queue = "elsewhere"
	if _, err := s.EnqueueJob(ctx, other); err != nil {
		t.Fatal(err)
	}

	// Due jobs of the queue only, in order, up to the limit.
	got := claim(t, s, 1, time.Minute)
	if len(got) != 1 || got[0].Key != "a" {
		t.Fatalf("first claim %v, want [a]", keys(got))
	}
	a := got[0]
	leaseEnd := clock.Now().Add(time.Minute).Truncate(time.Microsecond)
	if a.State != core.JobRunning || a.Attempts != 1 || !a.LockedUntil.Equal(leaseEnd) || !a.RunAt.Equal(leaseEnd) {
		t.Errorf("claimed job %+v; want running, attempt 1, locked until %v", a, leaseEnd)
	}
	got = claim(t, s, 10, time.Minute)
	if len(got) != 1 || got[0].Key != "b" {
		t.Fatalf("second claim %v, want [b]: a is running, later is not due", keys(got))
	}
	b := got[0]
	if got := claim(t, s, 10, time.Minute); len(got) != 0 {
		t.Fatalf("third claim %v, want nothing", keys(got))
	}

	// Retry spends the attempt; the job is due again at the given time.
	if err := s.Retry(ctx, a, clock.Now().Add(10*time.Second), "timeout", true); err != nil {
		t.Fatalf("Retry: %v", err)
	}
	if got := claim(t, s, 10, time.Minute); len(got) != 0 {
		t.Fatalf("claim before the retry time: %v", keys(got))
	}
	clock.Advance(10 * time.Second)
	got = claim(t, s, 10, time.Minute)
	if len(got) != 1 || got[0].Key != "a" || got[0].Attempts != 2 || got[0].LastError != "timeout" {
		t.Fatalf("claim after the retry time: %+v", got)
	}
	a = got[0]

	// A retry without spending gives the attempt back.
	if err := s.Retry(ctx, a, clock.Now(), "breaker open", false); err != nil {
		t.Fatal(err)
	}
	got = claim(t, s, 10, time.Minute)
	if len(got) != 1 || got[0].Attempts != 2 {
		t.Fatalf("after a retry that did not spend: %+v; want attempt 2 again", got)
	}
	a = got[0]

	if err := s.Complete(ctx, a); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if err := s.Complete(ctx, a); core.ErrorCode(err) != core.ECONFLICT {
		t.Errorf("second Complete = %v, want conflict", err)
	}
	if err := s.Kill(ctx, b, "410 Gone"); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	clock.Advance(2 * time.Hour)
	got = claim(t, s, 10, time.Minute)
	if len(got) != 1 || got[0].Key != "later" {
		t.Fatalf("after two hours: %v, want [later]: done and dead jobs never run again", keys(got))
	}

	dead, err := s.ListJobs(ctx, core.JobQuery{TenantID: core.DefaultTenantID, Queue: "test", State: core.JobDead}, core.PageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(dead.Items) != 1 || dead.Items[0].Key != "b" || dead.Items[0].LastError != "410 Gone" || !dead.Items[0].LockedUntil.IsZero() {
		t.Errorf("dead jobs %+v, want b with its error", dead.Items)
	}
	if j, ok := jobByKey(t, s, "a"); !ok || j.State != core.JobDone || j.Attempts != 2 {
		t.Errorf("completed job %+v", j)
	}

	// A replay is a new job under a derived key; replaying again is a no-op.
	replay := dead.Items[0]
	replay.ID, replay.Key, replay.Attempts, replay.RunAt, replay.CreatedAt = "", replay.ReplayKey(replay.ID), 0, time.Time{}, time.Time{}
	for i, want := range []bool{true, false} {
		if inserted, err := s.EnqueueJob(ctx, replay); err != nil || inserted != want {
			t.Fatalf("replay #%d: inserted %v, %v; want %v", i+1, inserted, err, want)
		}
	}
	got = claim(t, s, 10, time.Minute)
	if len(got) != 1 || got[0].Key != "b#replay:"+b.ID || got[0].Attempts != 1 {
		t.Fatalf("claim after a replay: %+v", got)
	}
}

func testJobLeaseExpiry(t *testing.T, h Harness) {
	ctx := context.Background()
	st, clock := migrated(t, h)
	s := asJobStore(t, st)
	if _, err := s.EnqueueJob(ctx, job("crash")); err != nil {
		t.Fatal(err)
	}
	first := claim(t, s, 1, time.Minute)
	if len(first) != 1 {
		t.Fatalf("claimed %d", len(first))
	}
	// The worker dies. Until its lease ends, nobody else gets the job.
	clock.Advance(59 * time.Second)
	if got := claim(t, s, 1, time.Minute); len(got) != 0 {
		t.Fatalf("claimed a leased job: %v", keys(got))
	}
	clock.Advance(time.Second)
	second := claim(t, s, 1, time.Minute)
	if len(second) != 1 || second[0].ID != first[0].ID || second[0].Attempts != 2 {
		t.Fatalf("after the lease: %+v, want the job again at attempt 2", second)
	}
	// The first worker wakes up: its outcome is refused.
	if err := s.Complete(ctx, first[0]); core.ErrorCode(err) != core.ECONFLICT {
		t.Errorf("Complete by the worker that lost its lease = %v, want conflict", err)
	}
	if err := s.Retry(ctx, first[0], clock.Now(), "late", true); core.ErrorCode(err) != core.ECONFLICT {
		t.Errorf("Retry by the worker that lost its lease = %v, want conflict", err)
	}
	if err := s.Complete(ctx, second[0]); err != nil {
		t.Errorf("Complete by the new owner: %v", err)
	}
}

// testJobConcurrentClaimers runs several replicas (stores on one database)
// with several claiming goroutines each: every job is claimed exactly once.
func testJobConcurrentClaimers(t *testing.T, h Harness) {
	ctx := context.Background()
	open := h.NewDatabase(t)
	clock := coretest.NewClock(Epoch)
	first := asJobStore(t, open(t, clock))
	if err := first.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	const total = 600
	err := first.InTx(ctx, func(tx payg.Tx) error {
		for i := range total {
			if err := tx.EnqueueJob(ctx, job(fmt.Sprintf("job-%04d", i))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	stores := []jobStore{first, asJobStore(t, open(t, clock)), asJobStore(t, open(t, clock))}
	const perStore = 4
	var (
		mu     sync.Mutex
		claims = map[string]int{}
		wg     sync.WaitGroup
		errs   = make(chan error, len(stores)*perStore)
	)
	begin := time.Now()
	for _, s := range stores {
		for range perStore {
			wg.Go(func() {
				for {
					var js []core.Job
					err := whileBusy(func() (err error) {
						js, err = s.Claim(ctx, "test", 5, time.Hour)
						return err
					})
					if err != nil {
						errs <- err
						return
					}
					if len(js) == 0 {
						return
					}
					for _, j := range js {
						mu.Lock()
						claims[j.Key]++
						mu.Unlock()
						if err := whileBusy(func() error { return s.Complete(ctx, j) }); err != nil {
							errs <- err
							return
						}
					}
				}
			})
		}
	}
	wg.Wait()
	took := time.Since(begin)
	close(errs)
	for err := range errs {
		t.Errorf("claimer: %v", err)
	}
	if len(claims) != total {
		t.Errorf("%d jobs claimed, want %d", len(claims), total)
	}
	for k, n := range claims {
		if n != 1 {
			t.Errorf("job %s claimed %d times", k, n)
		}
	}
	t.Logf("%d jobs claimed and completed by %d claimers on %d stores in %v (%.0f jobs/s)",
		total, len(stores)*perStore, len(stores), took.Round(time.Millisecond), float64(total)/took.Seconds())
}

func orderedJob(key, order string, seq int64) core.Job {
	j := job(key)
	j.OrderKey, j.OrderSeq = order, seq
	return j
}

// testJobOrder: jobs of one order key are claimed one after another in
// OrderSeq order until each has been attempted; a retry that did not
// attempt the work keeps the later ones waiting, a spent one frees them;
// other keys and unordered jobs are not held back.
func testJobOrder(t *testing.T, h Harness) {
	ctx := context.Background()
	st, clock := migrated(t, h)
	s := asJobStore(t, st)
	// Enqueued out of sequence order: the sequence decides, not creation.
	for _, j := range []core.Job{orderedJob("a2", "A", 2), orderedJob("a1", "A", 1), orderedJob("a3", "A", 3),
		orderedJob("b1", "B", 1), orderedJob("b2", "B", 2), job("free")} {
		if _, err := s.EnqueueJob(ctx, j); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Millisecond)
	}
	want := func(got []core.Job, keys ...string) {
		t.Helper()
		var k []string
		for _, j := range got {
			k = append(k, j.Key)
		}
		if fmt.Sprint(k) != fmt.Sprint(keys) {
			t.Fatalf("claimed %v, want %v", k, keys)
		}
	}
	js := claim(t, s, 10, time.Minute)
	want(js, "a1", "b1", "free")
	if !js[0].AttemptedAt.IsZero() || js[0].OrderKey != "A" || js[0].OrderSeq != 1 {
		t.Fatalf("claimed job %+v", js[0])
	}
	a1, b1 := js[0], js[1]
	if err := s.Complete(ctx, js[2]); err != nil {
		t.Fatal(err)
	}
	// Claimed but not attempted yet: the next ones still wait.
	want(claim(t, s, 10, time.Minute))
	// a1 is put back without an attempt (an open breaker): a2 waits on.
	if err := s.Retry(ctx, a1, clock.Now().Add(time.Hour), "breaker open", false); err != nil {
		t.Fatal(err)
	}
	want(claim(t, s, 10, time.Minute))
	if j, _ := jobByKey(t, s, "a1"); !j.AttemptedAt.IsZero() {
		t.Fatalf("a job retried without an attempt has AttemptedAt %v", j.AttemptedAt)
	}
	// b1 is attempted and fails: b2 goes ahead while b1 waits to retry.
	if err := s.Retry(ctx, b1, clock.Now().Add(time.Hour), "500", true); err != nil {
		t.Fatal(err)
	}
	if j, _ := jobByKey(t, s, "b1"); !j.AttemptedAt.Equal(clock.Now().Truncate(time.Microsecond)) {
		t.Fatalf("b1 AttemptedAt %v, want now", j.AttemptedAt)
	}
	js = claim(t, s, 10, time.Minute)
	want(js, "b2")
	if err := s.Kill(ctx, js[0], "gone"); err != nil {
		t.Fatal(err)
	}
	// When a1 is due, it is attempted; then a2, then a3.
	clock.Advance(time.Hour)
	js = claim(t, s, 10, time.Minute)
	want(js, "a1", "b1")
	if err := s.Complete(ctx, js[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(ctx, js[1]); err != nil {
		t.Fatal(err)
	}
	js = claim(t, s, 10, time.Minute)
	want(js, "a2")
	// A worker that died holding a2 does not free a3: the lease runs out
	// and a2 is claimed again first.
	clock.Advance(2 * time.Minute)
	js = claim(t, s, 10, time.Minute)
	want(js, "a2")
	if err := s.Complete(ctx, js[0]); err != nil {
		t.Fatal(err)
	}
	want(claim(t, s, 10, time.Minute), "a3")
}

// testJobDueAt: claims take the longest-due first. A job turned away
// without an attempt (an open breaker) keeps its due time, so it is not
// overtaken by jobs that became due after it, even though it was put back
// to run later than they; a spent attempt gives it a new due time.
func testJobDueAt(t *testing.T, h Harness) {
	ctx := context.Background()
	st, clock := migrated(t, h)
	s := asJobStore(t, st)
	start := clock.Now().Truncate(time.Microsecond)
	for _, k := range []string{"old", "retry", "new"} {
		if _, err := s.EnqueueJob(ctx, job(k)); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Minute)
	}
	js := claim(t, s, 2, time.Hour)
	if fmt.Sprint(keys(js)) != "[old retry]" || !js[0].DueAt.Equal(start) {
		t.Fatalf("claimed %v (old due at %v), want [old retry], old due at %v", keys(js), js[0].DueAt, start)
	}
	// old is turned away until 10 minutes from now; retry fails and is
	// due again in 5 minutes.
	if err := s.Retry(ctx, js[0], clock.Now().Add(10*time.Minute), "breaker open", false); err != nil {
		t.Fatal(err)
	}
	if err := s.Retry(ctx, js[1], clock.Now().Add(5*time.Minute), "500", true); err != nil {
		t.Fatal(err)
	}
	if j, _ := jobByKey(t, s, "old"); !j.DueAt.Equal(start) || !j.RunAt.Equal(clock.Now().Add(10*time.Minute).Truncate(time.Microsecond)) {
		t.Fatalf("turned-away job due at %v, run at %v: want its due time kept", j.DueAt, j.RunAt)
	}
	if j, _ := jobByKey(t, s, "retry"); !j.DueAt.Equal(j.RunAt) || !j.DueAt.Equal(clock.Now().Add(5*time.Minute).Truncate(time.Microsecond)) {
		t.Fatalf("retried job due at %v, run at %v: want both the retry time", j.DueAt, j.RunAt)
	}
	// All three are due: old first (due the longest), then new (due since
	// it was enqueued), then retry (due since its retry time).
	clock.Advance(time.Hour)
	for _, want := range []string{"old", "new", "retry"} {
		js := claim(t, s, 1, time.Hour)
		if len(js) != 1 || js[0].Key != want {
			t.Fatalf("claimed %v, want [%s]", keys(js), want)
		}
	}
}

// testJobWake: WakeJobs makes the pending jobs of one tenant, queue and
// key prefix that wait past now due now. One turned away keeps its due
// time, so its place; one waiting to retry a failed attempt, or enqueued
// to run later, is due from now. Jobs already due, running, done, of
// another key prefix, queue or tenant are left alone.
func testJobWake(t *testing.T, h Harness) {
	ctx := context.Background()
	st, clock := migrated(t, h)
	s := asJobStore(t, st)
	if _, err := s.CreateTenant(ctx, tenant("other")); err != nil {
		t.Fatal(err)
	}
	t0 := clock.Now().Truncate(time.Microsecond)
	for _, k := range []string{"ep1:away", "ep1:failed", "ep1:due", "ep1:running", "ep1:done", "ep2:away"} {
		if _, err := s.EnqueueJob(ctx, job(k)); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Minute)
	}
	later := clock.Now().Add(time.Hour).Truncate(time.Microsecond)
	for _, j := range []core.Job{job("ep1:later"), job("ep1:other-queue"), job("ep1:other-tenant")} {
		j.RunAt = later
		switch j.Key {
		case "ep1:other-queue":
			j.Queue = "other"
		case "ep1:other-tenant":
			j.TenantID = "other"
		}
		if _, err := s.EnqueueJob(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	js := claim(t, s, 10, time.Hour)
	if fmt.Sprint(keys(js)) != "[ep1:away ep1:failed ep1:due ep1:running ep1:done ep2:away]" {
		t.Fatalf("claimed %v", keys(js))
	}
	now := clock.Now()
	for _, r := range []struct {
		j     core.Job
		at    time.Time
		spend bool
	}{{js[0], later, false}, {js[1], later, true}, {js[2], now, false}, {js[5], later, false}} {
		if err := s.Retry(ctx, r.j, r.at, "not now", r.spend); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Complete(ctx, js[4]); err != nil {
		t.Fatal(err)
	}

	clock.Advance(time.Minute)
	woke := clock.Now().Truncate(time.Microsecond)
	if n, err := s.WakeJobs(ctx, core.DefaultTenantID, "test", "ep1:"); err != nil || n != 3 {
		t.Fatalf("WakeJobs = %d, %v; want 3 (away, failed, later)", n, err)
	}
	for _, c := range []struct {
		key          string
		state        core.JobState
		runAt, dueAt time.Time
	}{
		{"ep1:away", core.JobPending, woke, t0},                                               // keeps its place
		{"ep1:failed", core.JobPending, woke, woke},                                           // due from now
		{"ep1:later", core.JobPending, woke, woke},                                            // due from now
		{"ep1:due", core.JobPending, now.Truncate(time.Microsecond), t0.Add(2 * time.Minute)}, // already due
		{"ep1:running", core.JobRunning, js[3].RunAt, t0.Add(3 * time.Minute)},
		{"ep2:away", core.JobPending, later, t0.Add(5 * time.Minute)},
		{"ep1:other-queue", core.JobPending, later, later},
	} {
		j, ok := jobByKey(t, s, c.key)
		if !ok || j.State != c.state || !j.RunAt.Equal(c.runAt) || !j.DueAt.Equal(c.dueAt) {
			t.Errorf("%s after the wake: %s, run at %v, due at %v; want %s, %v, %v", c.key, j.State, j.RunAt, j.DueAt, c.state, c.runAt, c.dueAt)
		}
	}
	p, err := s.ListJobs(ctx, core.JobQuery{TenantID: "other"}, core.PageRequest{})
	if err != nil || len(p.Items) != 1 || !p.Items[0].RunAt.Equal(later) {
		t.Errorf("the other tenant's job after the wake: %+v, %v", p.Items, err)
	}
	if n, err := s.WakeJobs(ctx, core.DefaultTenantID, "test", "ep1:"); err != nil || n != 0 {
		t.Errorf("WakeJobs again = %d, %v; want 0", n, err)
	}
	if _, err := s.WakeJobs(ctx, "", "test", "ep1:"); core.ErrorCode(err) != core.EINVALID {
		t.Errorf("WakeJobs without a tenant: %v, want invalid", err)
	}

	// The woken jobs are claimed longest-due first: the turned-away job
	// before the one already due, before those due from the wake.
	if got := keys(claim(t, s, 10, time.Hour)); fmt.Sprint(got) != "[ep1:away ep1:due ep1:failed ep1:later]" {
		t.Errorf("claimed %v after the wake, want [ep1:away ep1:due ep1:failed ep1:later]", got)
	}
	// No prefix: every pending job of the queue that waits.
	if n, err := s.WakeJobs(ctx, core.DefaultTenantID, "test", ""); err != nil || n != 1 {
		t.Errorf("WakeJobs without a prefix = %d, %v; want 1 (ep2:away)", n, err)
	}
}

// whileBusy runs fn again while it fails with EUNAVAILABLE (SQLite's
// "database is busy" after its busy timeout, when several stores share one
// file on a loaded machine), as the job runner does by claiming again on
// its next poll. Any other error, or a busy database for more than a
// minute, is returned.
func whileBusy(fn func() error) error {
	deadline := time.Now().Add(time.Minute)
	for {
		err := fn()
		if core.ErrorCode(err) != core.EUNAVAILABLE || time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}
