package core

import (
	"context"
	"encoding/json"
	"strings"
	"time"
)

// JobState is where a durable job stands.
type JobState string

// Job states. A job is pending until a worker claims it (running), then
// done, pending again (to be retried at RunAt) or dead (given up, kept for
// inspection and replay).
const (
	JobPending JobState = "pending"
	JobRunning JobState = "running"
	JobDone    JobState = "done"
	JobDead    JobState = "dead"
)

// DefaultJobMaxAttempts is the MaxAttempts of a job enqueued without one.
const DefaultJobMaxAttempts = 25

// Job is a durable unit of work that talks to the outside (a webhook
// delivery, an SMS, a vendor-token call). It is enqueued in the business
// transaction that causes it, so it exists if and only if that transaction
// commits, and it is retried with a persisted next-attempt time until it
// succeeds or runs out of attempts.
type Job struct {
	ID       string // assigned by the store when empty
	TenantID string
	// Queue selects the handler that runs the job.
	Queue string
	// Key is unique across all jobs: enqueueing a second job with a key
	// already taken is a no-op, so a cause never enqueues its job twice.
	Key     string
	Payload json.RawMessage
	State   JobState
	// Attempts counts the times a worker claimed the job. Claiming spends
	// an attempt (so a job that crashes its worker still runs out of
	// them); a retry that did not attempt the work gives it back.
	Attempts    int
	MaxAttempts int
	// RunAt is when the job is next due. While the job runs, RunAt is the
	// end of its lease (LockedUntil): if the worker dies, the job is due
	// again then.
	RunAt       time.Time
	LockedUntil time.Time
	// LastError is the error of the latest failed attempt.
	LastError string
	// OrderKey and OrderSeq order first attempts: a job with an OrderKey
	// is not claimed while a job of the same key with a lower OrderSeq is
	// pending or running without having been attempted, so the jobs of one
	// key get their first attempts in OrderSeq order however many workers
	// and replicas run (webhook deliveries: one key per endpoint and
	// contract, the event's per-contract sequence). Empty: no order.
	OrderKey string
	OrderSeq int64
	// DueAt is when the job became due: RunAt as enqueued, or as set by a
	// retry that spent an attempt. A retry without an attempt
	// (NotAttempted: an open circuit breaker, a rate limit) moves RunAt
	// but not DueAt, so the job keeps its place: Claim takes due jobs in
	// DueAt order, and a job turned away is not overtaken by jobs that
	// became due after it. Zero for jobs done or dead before it existed.
	DueAt time.Time
	// AttemptedAt is when the job's work was first attempted: set when a
	// claim ends done, dead or retried with its attempt spent, not when it
	// was retried without attempting (NotAttempted). Zero until then.
	AttemptedAt time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// replaySep separates a job key from its replay suffix.
const replaySep = "#replay:"

// ReplayKey is the key of a replay of j: its original key (without any
// earlier replay suffix) plus "#replay:" and suffix. With the dead job's
// id as the suffix, replaying the same dead job twice enqueues once.
func (j Job) ReplayKey(suffix string) string {
	base, _, _ := strings.Cut(j.Key, replaySep)
	return base + replaySep + suffix
}

// JobQueue is what a job runner needs from the store. Every method that
// finishes a claimed job takes the job as Claim returned it: if its lease
// expired and another worker claimed it meanwhile, the method fails with
// ECONFLICT and changes nothing.
type JobQueue interface {
	// Claim marks up to limit due jobs of queue running for lease and
	// returns them longest-due first (DueAt, then ID), the order they are
	// picked in. Due jobs are pending jobs whose
	// RunAt has come and running jobs whose lease expired (their worker
	// died), less jobs waiting for the first attempt of an earlier job of
	// their OrderKey. Each claim spends an attempt. Concurrent claimers, in
	// this process or another replica, never get the same job.
	Claim(ctx context.Context, queue string, limit int, lease time.Duration) ([]Job, error)
	// Complete marks a claimed job done. Complete, Kill and Retry with
	// spendAttempt set AttemptedAt if it is not set yet.
	Complete(ctx context.Context, j Job) error
	// Retry makes a claimed job pending again at runAt with errText as its
	// last error; runAt is its new DueAt. When spendAttempt is false the
	// claim's attempt is given back and DueAt is kept: the work was not
	// attempted (an open circuit breaker, a rate limit).
	Retry(ctx context.Context, j Job, runAt time.Time, errText string, spendAttempt bool) error
	// Kill marks a claimed job dead with errText as its last error.
	Kill(ctx context.Context, j Job, errText string) error
}

// JobQuery filters a job list; zero fields do not filter (TenantID is
// required).
type JobQuery struct {
	TenantID string
	Queue    string
	State    JobState
	// KeyPrefix keeps jobs whose key starts with it.
	KeyPrefix string
}

// JobService is the operator's side of the queue: enqueue outside a
// business transaction (replays), read and list jobs.
type JobService interface {
	// EnqueueJob stores j as a pending job. A zero CreatedAt is the store
	// clock's now, a zero RunAt is CreatedAt, a zero MaxAttempts is
	// DefaultJobMaxAttempts. It reports whether the job was inserted: false
	// when its Key was taken (not an error).
	EnqueueJob(ctx context.Context, j Job) (bool, error)
	// Job returns one job of the tenant; ENOTFOUND if there is none.
	Job(ctx context.Context, tenant, id string) (Job, error)
	// ListJobs lists jobs in (created_at, id) order.
	ListJobs(ctx context.Context, q JobQuery, page PageRequest) (Page[Job], error)
	// WakeJobs makes the tenant's pending jobs of queue whose key starts
	// with keyPrefix ("" for all) and whose RunAt is later than now (the
	// store clock's) due now, and reports how many it woke. A job put back
	// without an attempt keeps its DueAt, so its place among the due jobs;
	// one waiting to retry a failed attempt (DueAt later than now) is due
	// from now. Running, done and dead jobs are left alone. A webhook
	// endpoint whose circuit breaker closes wakes its deliveries.
	WakeJobs(ctx context.Context, tenant, queue, keyPrefix string) (int, error)
}
