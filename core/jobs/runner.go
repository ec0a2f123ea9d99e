// Package jobs runs durable jobs (core.Job): workers claim due jobs from a
// core.JobQueue, run each queue's Handler, and store the outcome: done, a
// retry at a time the queue's RetryPolicy (or the handler) chooses, or
// dead. A job is enqueued in the business transaction that causes it (see
// payg.Tx.EnqueueJob); the runner only ever sees committed jobs.
//
// Delivery is at least once: a worker that dies mid-job loses its lease and
// the job runs again, so handlers must be idempotent or hand the receiver a
// stable idempotency key.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/payg-gateway/gateway/core"
)

// Handler runs one job. A nil error completes it; an error retries it per
// the queue's RetryPolicy until its attempts run out. Errors made by
// Permanent, RetryAt and NotAttempted steer that. The context ends when the
// job's lease is about to; a handler must return by then.
type Handler interface {
	Handle(ctx context.Context, j core.Job) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, j core.Job) error

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, j core.Job) error { return f(ctx, j) }

// Defaults of Options.
const (
	DefaultWorkers      = 4
	DefaultPollInterval = time.Second
	DefaultLease        = 5 * time.Minute
	DefaultStopTimeout  = 30 * time.Second
	DefaultClaimTimeout = 30 * time.Second
)

// Options configure a Runner.
type Options struct {
	Queue core.JobQueue
	Clock core.Clock
	// Workers is how many handlers run at once, across queues.
	Workers int
	// PollInterval is how often idle workers look for due jobs; Wake
	// makes them look at once.
	PollInterval time.Duration
	// Lease is how long a claimed job belongs to its worker. A handler's
	// context ends a tenth of it earlier; a job still running after it is
	// claimed again by someone else.
	Lease time.Duration
	// StopTimeout is how long Run waits, once its context ends, for
	// in-flight handlers before cancelling their contexts.
	StopTimeout time.Duration
	Logger      *slog.Logger
	// ClaimTimeout bounds one claim: a claim stuck on a dead database
	// connection (a failover, a partition: no reset ever comes) is given
	// up and tried again at the next poll, instead of stopping the runner
	// until the kernel times the connection out.
	ClaimTimeout time.Duration
	// Observe, when set, is called after each job's outcome is stored
	// (metrics, tests).
	Observe func(Result)
}

// Outcome is what became of one run of a job.
type Outcome string

// Outcomes.
const (
	OutcomeDone         Outcome = "done"
	OutcomeRetry        Outcome = "retry"         // failed; pending again at Result.RunAt
	OutcomeNotAttempted Outcome = "not_attempted" // pending again at Result.RunAt, attempt given back
	OutcomeDead         Outcome = "dead"          // failed for good
	OutcomeLost         Outcome = "lost"          // the outcome could not be stored (lease lost, store down); the lease decides
)

// Result reports one run of a job.
type Result struct {
	Job     core.Job // as claimed
	Outcome Outcome
	// Err is the handler's error (nil when done), or the store's when the
	// outcome is lost.
	Err error
	// RunAt is the next attempt's time for OutcomeRetry and
	// OutcomeNotAttempted.
	RunAt time.Time
	// Duration is how long the handler ran.
	Duration time.Duration
}

type queue struct {
	name   string
	h      Handler
	policy RetryPolicy
}

// Runner claims and runs jobs. Register queues, then call Run.
type Runner struct {
	o      Options
	log    *slog.Logger
	queues []queue
	wake   chan struct{}
	freed  chan struct{}
	// ordered is signalled when a job with an OrderKey finishes: the next
	// job of its key may be claimable now (core.Job.OrderKey).
	ordered chan struct{}
}

// New returns a Runner with o's zero fields set to their defaults.
func New(o Options) *Runner {
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = DefaultStopTimeout
	}
	if o.ClaimTimeout <= 0 {
		o.ClaimTimeout = DefaultClaimTimeout
	}
	if o.Clock == nil {
		o.Clock = core.SystemClock{}
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runner{o: o, log: log.With("component", "jobs"), wake: make(chan struct{}, 1), freed: make(chan struct{}, 1), ordered: make(chan struct{}, 1)}
}

// Register makes h run the jobs of queue, retried per policy (nil:
// DefaultRetryPolicy). Call it before Run.
func (r *Runner) Register(name string, h Handler, policy RetryPolicy) {
	if policy == nil {
		policy = DefaultRetryPolicy
	}
	r.queues = append(r.queues, queue{name: name, h: h, policy: policy})
}

// Wake makes idle workers look for due jobs now rather than at the next
// poll (after a commit that enqueued jobs, after moving a test clock). It
// never blocks.
func (r *Runner) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run claims and runs jobs until ctx ends, then stops claiming, waits for
// in-flight handlers (cancelling them after StopTimeout), stores their
// outcomes and returns nil.
func (r *Runner) Run(ctx context.Context) error {
	if len(r.queues) == 0 {
		return errors.New("jobs: no queue registered")
	}
	// Handlers outlive ctx: a stop lets them finish.
	hctx, hardStop := context.WithCancel(context.WithoutCancel(ctx))
	defer hardStop()
	slots := make(chan struct{}, r.o.Workers)
	var wg sync.WaitGroup
	ticker := time.NewTicker(r.o.PollInterval)
	defer ticker.Stop()
	next := 0 // queue polled first, rotated for fairness
	for {
		more := r.poll(ctx, hctx, &wg, slots, next)
		next = (next + 1) % len(r.queues)
		if ctx.Err() != nil {
			break
		}
		if more && len(slots) < cap(slots) {
			continue // a full batch: there may be more due now
		}
		var freed <-chan struct{}
		if more {
			freed = r.freed // wait for a worker to come free
		}
		select {
		case <-ctx.Done():
		case <-r.wake:
		case <-ticker.C:
		case <-freed:
		case <-r.ordered:
		}
		if ctx.Err() != nil {
			break
		}
	}

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(r.o.StopTimeout):
		r.log.Warn("jobs: stop timeout; cancelling in-flight handlers", "timeout", r.o.StopTimeout)
		hardStop()
		<-done
	}
	return nil
}

// poll claims due jobs for free workers and starts them. It reports
// whether it may have left due jobs behind (a batch filled the workers).
func (r *Runner) poll(ctx, hctx context.Context, wg *sync.WaitGroup, slots chan struct{}, first int) bool {
	more := false
	for i := range r.queues {
		q := &r.queues[(first+i)%len(r.queues)]
		free := cap(slots) - len(slots)
		if free == 0 {
			return true
		}
		cctx, cancel := context.WithTimeout(ctx, r.o.ClaimTimeout)
		jobs, err := r.o.Queue.Claim(cctx, q.name, free, r.o.Lease)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				r.log.Error("jobs: claim", "queue", q.name, "err", err)
			}
			continue
		}
		if len(jobs) == free {
			more = true
		}
		for _, j := range jobs {
			slots <- struct{}{}
			wg.Go(func() {
				defer func() {
					<-slots
					select {
					case r.freed <- struct{}{}:
					default:
					}
					if j.OrderKey != "" {
						select {
						case r.ordered <- struct{}{}:
						default:
						}
					}
				}()
				r.run(hctx, q, j)
			})
		}
	}
	return more
}

// run runs one claimed job and stores its outcome.
func (r *Runner) run(hctx context.Context, q *queue, j core.Job) {
	ctx, cancel := context.WithTimeout(hctx, r.o.Lease-r.o.Lease/10)
	start := time.Now()
	err := safeHandle(ctx, q.h, j)
	took := time.Since(start)
	cancel()

	res := r.settle(hctx, q, j, err)
	res.Duration = took
	log := r.log.With("queue", j.Queue, "job", j.ID, "key", j.Key, "attempt", j.Attempts, "outcome", res.Outcome)
	switch res.Outcome {
	case OutcomeDone:
		log.Debug("jobs: done", "took", took)
	case OutcomeRetry, OutcomeNotAttempted:
		log.Info("jobs: will retry", "run_at", res.RunAt, "err", res.Err)
	case OutcomeDead:
		log.Warn("jobs: dead", "err", res.Err)
	case OutcomeLost:
		log.Error("jobs: outcome not stored", "err", res.Err)
	}
	if r.o.Observe != nil {
		r.o.Observe(res)
	}
}

func safeHandle(ctx context.Context, h Handler, j core.Job) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("jobs: handler panicked: %v\n%s", p, debug.Stack())
		}
	}()
	return h.Handle(ctx, j)
}

// maxErrorText bounds the stored last error.
const maxErrorText = 2000

func errText(err error) string {
	s := err.Error()
	if len(s) > maxErrorText {
		s = s[:maxErrorText] + "…"
	}
	return s
}

// settle stores the outcome of a run: done, retry, dead.
func (r *Runner) settle(hctx context.Context, q *queue, j core.Job, herr error) Result {
	// The outcome is stored even while stopping; a store that does not
	// answer in time leaves the job to its lease.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(hctx), 30*time.Second)
	defer cancel()
	now := r.o.Clock.Now()
	res := Result{Job: j, Err: herr}
	var err error
	if at, ok := WasNotAttempted(herr); ok {
		if at.IsZero() {
			at = now.Add(r.o.PollInterval)
		}
		res.Outcome, res.RunAt = OutcomeNotAttempted, at
		err = r.o.Queue.Retry(ctx, j, at, errText(herr), false)
	} else {
		switch {
		case herr == nil:
			res.Outcome = OutcomeDone
			err = r.o.Queue.Complete(ctx, j)
		case IsPermanent(herr) || j.Attempts >= j.MaxAttempts:
			res.Outcome = OutcomeDead
			err = r.o.Queue.Kill(ctx, j, errText(herr))
		default:
			at := now.Add(q.policy.Delay(j.Attempts))
			if ra, ok := RetryAfter(herr); ok && ra.After(at) {
				at = ra
			}
			res.Outcome, res.RunAt = OutcomeRetry, at
			err = r.o.Queue.Retry(ctx, j, at, errText(herr), true)
		}
	}
	if err != nil {
		res.Outcome, res.Err = OutcomeLost, err
	}
	return res
}
