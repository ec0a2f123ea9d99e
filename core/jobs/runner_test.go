package jobs_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/coretest"
	"github.com/payg-gateway/gateway/core/jobs"
	"github.com/payg-gateway/gateway/core/sqlite"
)

var epoch = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

// rig is a migrated SQLite store, a stopped clock and a runner whose
// outcomes arrive on results.
type rig struct {
	store   *sqlite.Store
	clock   *coretest.Clock
	runner  *jobs.Runner
	results chan jobs.Result
}

func newRig(t *testing.T, h jobs.Handler, policy jobs.RetryPolicy) *rig {
	t.Helper()
	clock := coretest.NewClock(epoch)
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "g.db"), clock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := &rig{store: s, clock: clock, results: make(chan jobs.Result, 100)}
	r.runner = jobs.New(jobs.Options{
		Queue: s, Clock: clock, Workers: 2, PollInterval: time.Hour, Lease: time.Minute,
		Observe: func(res jobs.Result) { r.results <- res },
	})
	r.runner.Register("q", h, policy)
	return r
}

// start runs the runner until the test ends.
func (r *rig) start(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.runner.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func (r *rig) enqueue(t *testing.T, key string, maxAttempts int) {
	t.Helper()
	if _, err := r.store.EnqueueJob(context.Background(), core.Job{TenantID: core.DefaultTenantID, Queue: "q", Key: key, MaxAttempts: maxAttempts}); err != nil {
		t.Fatal(err)
	}
	r.runner.Wake()
}

func (r *rig) next(t *testing.T) jobs.Result {
	t.Helper()
	select {
	case res := <-r.results:
		return res
	case <-time.After(10 * time.Second):
		t.Fatal("no job outcome within 10s")
		return jobs.Result{}
	}
}

func (r *rig) job(t *testing.T, id string) core.Job {
	t.Helper()
	j, err := r.store.Job(context.Background(), core.DefaultTenantID, id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestRunnerOutcomes(t *testing.T) {
	errFlaky := errors.New("flaky")
	var breakerCalls atomic.Int32
	// Per key: what the handler does on each call.
	h := jobs.HandlerFunc(func(ctx context.Context, j core.Job) error {
		switch j.Key {
		case "ok":
			return nil
		case "permanent":
			return jobs.Permanent(errors.New("410 gone"))
		case "retry-after":
			return jobs.RetryAt(errFlaky, epoch.Add(time.Hour))
		case "breaker":
			if breakerCalls.Add(1) == 1 {
				return jobs.NotAttempted(errors.New("breaker open"), epoch.Add(24*time.Hour))
			}
			return nil
		case "panics":
			panic("handler bug")
		}
		return errFlaky
	})
	// Each case gets its own store, so due jobs of one never mix with another's.
	rigFor := func(t *testing.T) *rig {
		r := newRig(t, h, jobs.Schedule{Delays: []time.Duration{10 * time.Second, time.Minute}})
		r.start(t)
		return r
	}

	t.Run("done", func(t *testing.T) {
		r := rigFor(t)
		r.enqueue(t, "ok", 3)
		res := r.next(t)
		if res.Outcome != jobs.OutcomeDone || r.job(t, res.Job.ID).State != core.JobDone {
			t.Fatalf("result %+v", res)
		}
	})
	t.Run("permanent is dead at once", func(t *testing.T) {
		r := rigFor(t)
		r.enqueue(t, "permanent", 3)
		res := r.next(t)
		j := r.job(t, res.Job.ID)
		if res.Outcome != jobs.OutcomeDead || j.State != core.JobDead || j.Attempts != 1 || j.LastError != "410 gone" {
			t.Fatalf("result %+v, job %+v", res, j)
		}
	})
	t.Run("retries follow the schedule, then dead", func(t *testing.T) {
		r := rigFor(t)
		r.enqueue(t, "fails", 3)
		for i, delay := range []time.Duration{10 * time.Second, time.Minute} {
			res := r.next(t)
			if want := r.clock.Now().Add(delay); res.Outcome != jobs.OutcomeRetry || !res.RunAt.Equal(want) {
				t.Fatalf("attempt %d: %+v, want a retry at %v", i+1, res, want)
			}
			r.clock.Advance(delay)
			r.runner.Wake()
		}
		res := r.next(t)
		j := r.job(t, res.Job.ID)
		if res.Outcome != jobs.OutcomeDead || j.State != core.JobDead || j.Attempts != 3 || j.LastError != "flaky" {
			t.Fatalf("after the last attempt: %+v, job %+v", res, j)
		}
	})
	t.Run("retry-after later than the schedule wins", func(t *testing.T) {
		r := rigFor(t)
		r.enqueue(t, "retry-after", 3)
		res := r.next(t)
		if j := r.job(t, res.Job.ID); res.Outcome != jobs.OutcomeRetry || !j.RunAt.Equal(epoch.Add(time.Hour)) {
			t.Fatalf("result %+v, job run_at %v; want the Retry-After time", res, j.RunAt)
		}
	})
	t.Run("not attempted gives the attempt back", func(t *testing.T) {
		r := rigFor(t)
		r.enqueue(t, "breaker", 1)
		res := r.next(t)
		j := r.job(t, res.Job.ID)
		if res.Outcome != jobs.OutcomeNotAttempted || j.State != core.JobPending || j.Attempts != 0 || !j.RunAt.Equal(epoch.Add(24*time.Hour)) {
			t.Fatalf("result %+v, job %+v", res, j)
		}
		r.clock.Set(epoch.Add(24 * time.Hour))
		r.runner.Wake()
		// MaxAttempts is 1: the job still has its one attempt.
		if res := r.next(t); res.Outcome != jobs.OutcomeDone {
			t.Fatalf("after the breaker: %+v", res)
		}
	})
	t.Run("a panic is a failed attempt", func(t *testing.T) {
		r := rigFor(t)
		r.enqueue(t, "panics", 2)
		res := r.next(t)
		if res.Outcome != jobs.OutcomeRetry || res.Err == nil {
			t.Fatalf("result %+v", res)
		}
	})
}

func TestRunnerStopFinishesInFlight(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	h := jobs.HandlerFunc(func(ctx context.Context, j core.Job) error {
		close(started)
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	r := newRig(t, h, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.runner.Run(ctx) }()
	r.enqueue(t, "slow", 3)
	<-started
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Run returned (%v) while a handler was in flight", err)
	default:
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	res := r.next(t)
	if res.Outcome != jobs.OutcomeDone || r.job(t, res.Job.ID).State != core.JobDone {
		t.Fatalf("in-flight job after stop: %+v", res)
	}
}

func TestRunnerStopTimeoutCancelsHandlers(t *testing.T) {
	started := make(chan struct{})
	h := jobs.HandlerFunc(func(ctx context.Context, j core.Job) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	})
	clock := coretest.NewClock(epoch)
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "g.db"), clock)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	results := make(chan jobs.Result, 1)
	r := jobs.New(jobs.Options{Queue: s, Clock: clock, StopTimeout: time.Millisecond, Observe: func(res jobs.Result) { results <- res }})
	r.Register("q", h, jobs.Schedule{Delays: []time.Duration{time.Second}})
	if _, err := s.EnqueueJob(context.Background(), core.Job{TenantID: core.DefaultTenantID, Queue: "q", Key: "stuck"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	<-started
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The cancelled handler's attempt is stored as a retry, not lost.
	if res := <-results; res.Outcome != jobs.OutcomeRetry || !errors.Is(res.Err, context.Canceled) {
		t.Fatalf("result %+v", res)
	}
}

func TestRunnerNeedsAQueue(t *testing.T) {
	if err := jobs.New(jobs.Options{}).Run(context.Background()); err == nil {
		t.Fatal("Run with no queue registered = nil")
	}
}

// stuckQueue's first claim hangs until its context ends, as a claim on a
// database connection that silently died does.
type stuckQueue struct {
	core.JobQueue
	claims atomic.Int32
}

func (q *stuckQueue) Claim(ctx context.Context, queue string, limit int, lease time.Duration) ([]core.Job, error) {
	if q.claims.Add(1) == 1 {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return q.JobQueue.Claim(ctx, queue, limit, lease)
}

func TestRunnerGivesUpAStuckClaim(t *testing.T) {
	clock := coretest.NewClock(epoch)
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "g.db"), clock)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.EnqueueJob(context.Background(), core.Job{TenantID: core.DefaultTenantID, Queue: "q", Key: "after-the-stuck-claim"}); err != nil {
		t.Fatal(err)
	}
	q := &stuckQueue{JobQueue: s}
	results := make(chan jobs.Result, 1)
	r := jobs.New(jobs.Options{Queue: q, Clock: clock, PollInterval: 10 * time.Millisecond, ClaimTimeout: 50 * time.Millisecond,
		Observe: func(res jobs.Result) { results <- res }})
	r.Register("q", jobs.HandlerFunc(func(context.Context, core.Job) error { return nil }), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	select {
	case res := <-results:
		if res.Outcome != jobs.OutcomeDone || q.claims.Load() < 2 {
			t.Fatalf("result %+v after %d claims", res, q.claims.Load())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the runner is stuck on its first claim: no job ran within 10s")
	}
}
