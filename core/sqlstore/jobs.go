package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/payg-gateway/gateway/core"
)

var (
	_ core.JobQueue   = (*Store)(nil)
	_ core.JobService = (*Store)(nil)
)

const jobCols = `id, tenant_id, queue, job_key, payload, state, attempts, max_attempts, run_at, locked_until, last_error, created_at, updated_at, order_key, order_seq, attempted_at, due_at`

func scanJob(r scanner) (core.Job, error) {
	var j core.Job
	var payload []byte
	err := r.Scan(&j.ID, &j.TenantID, &j.Queue, &j.Key, scanBytes{&payload}, &j.State, &j.Attempts, &j.MaxAttempts,
		scanTime{&j.RunAt}, scanTime{&j.LockedUntil}, &j.LastError, scanTime{&j.CreatedAt}, scanTime{&j.UpdatedAt},
		&j.OrderKey, &j.OrderSeq, scanTime{&j.AttemptedAt}, scanTime{&j.DueAt})
	j.Payload = payload
	return j, err
}

// newJobID returns "job_" + a UUIDv7 in hex, ordered by creation time.
func newJobID() string {
	u, err := uuid.NewV7()
	if err != nil {
		u = uuid.New()
	}
	return "job_" + strings.ReplaceAll(u.String(), "-", "")
}

// EnqueueJob implements payg.Tx: the job commits with the transaction.
// Nothing reads whether the key was taken, so the insert is held to go
// with the transaction's other jobs in one statement (txn.flush).
func (t *txn) EnqueueJob(ctx context.Context, j core.Job) error {
	args, err := t.jobArgs(j)
	if err != nil {
		return err
	}
	t.jobs = append(t.jobs, args)
	return nil
}

// insertJobs is the statement inserting n jobs, each unless its key is
// taken.
func insertJobs(n int) string {
	return `INSERT INTO jobs (` + jobCols + `) VALUES ` +
		strings.TrimSuffix(strings.Repeat("(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?),", n), ",") +
		` ON CONFLICT (job_key) DO NOTHING`
}

// enqueue inserts j unless its key is taken, reporting whether it did.
func (t *txn) enqueue(ctx context.Context, j core.Job) (bool, error) {
	args, err := t.jobArgs(j)
	if err != nil {
		return false, err
	}
	res, err := t.exec(ctx, insertJobs(1), args...)
	if err != nil {
		return false, fmt.Errorf("enqueue job %s: %w", j.Key, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, t.d.Translate(err)
	}
	return n == 1, nil
}

// jobArgs validates j, fills its defaults and returns its row's
// arguments for insertJobs.
func (t *txn) jobArgs(j core.Job) ([]any, error) {
	switch {
	case j.TenantID == "":
		return nil, core.Errorf(core.EINVALID, "job: no tenant")
	case j.Queue == "":
		return nil, core.Errorf(core.EINVALID, "job: no queue")
	case j.Key == "":
		return nil, core.Errorf(core.EINVALID, "job: no key")
	}
	if j.ID == "" {
		j.ID = newJobID()
	}
	if j.CreatedAt.IsZero() {
		j.CreatedAt = t.clock.Now()
	}
	if j.RunAt.IsZero() {
		j.RunAt = j.CreatedAt
	}
	if j.MaxAttempts <= 0 {
		j.MaxAttempts = core.DefaultJobMaxAttempts
	}
	if len(j.Payload) == 0 {
		j.Payload = []byte("null")
	}
	return []any{
		j.ID, j.TenantID, j.Queue, j.Key, string(j.Payload), string(core.JobPending), 0, j.MaxAttempts,
		t.d.Time(j.RunAt), nil, "", t.d.Time(j.CreatedAt), t.d.Time(j.CreatedAt), j.OrderKey, j.OrderSeq, nil, t.d.Time(j.RunAt)}, nil
}

// EnqueueJob stores j in its own transaction (replays, jobs not caused by
// a business transaction).
func (s *Store) EnqueueJob(ctx context.Context, j core.Job) (bool, error) {
	var inserted bool
	err := s.write1(ctx, func(t *txn) error {
		var err error
		inserted, err = t.enqueue(ctx, j)
		return err
	})
	return inserted, err
}

// Claim implements core.JobQueue. One statement picks the due rows,
// longest-due (due_at) first, and marks them running: on PostgreSQL its
// SELECT skips rows other claimers have locked; on SQLite the single writer
// serialises claims. A job with
// an order key is passed over while an earlier job of its key is pending or
// running unattempted; the check reads those rows whether or not another
// claimer holds them, so a claimed but not yet attempted job still holds
// back the jobs after it.
func (s *Store) Claim(ctx context.Context, queue string, limit int, lease time.Duration) ([]core.Job, error) {
	if limit <= 0 {
		return nil, nil
	}
	if lease <= 0 {
		return nil, core.Errorf(core.EINVALID, "claim %s: lease must be positive", queue)
	}
	var out []core.Job
	err := s.write1(ctx, func(t *txn) error {
		now := t.clock.Now()
		until := t.d.Time(now.Add(lease))
		rows, err := t.query(ctx, `UPDATE jobs SET state = 'running', attempts = attempts + 1,
			run_at = ?, locked_until = ?, updated_at = ?
			WHERE id IN (SELECT j.id FROM jobs j WHERE j.queue = ? AND j.state IN ('pending', 'running') AND j.run_at <= ?
				AND (j.order_key = '' OR NOT EXISTS (SELECT 1 FROM jobs e WHERE e.order_key = j.order_key AND e.order_key <> ''
					AND e.order_seq < j.order_seq AND e.attempted_at IS NULL AND e.state IN ('pending', 'running')))
				ORDER BY j.due_at, j.id LIMIT ?`+t.d.SkipLocked+`)
			RETURNING `+jobCols, until, until, t.d.Time(now), queue, t.d.Time(now), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			j, err := scanJob(rows)
			if err != nil {
				return t.d.Translate(err)
			}
			out = append(out, j)
		}
		return t.d.Translate(rows.Err())
	})
	if err != nil {
		return nil, fmt.Errorf("claim %s jobs: %w", queue, err)
	}
	// RETURNING does not keep the subquery's order; hand them out
	// longest-due first, so the runner starts them in that order.
	slices.SortFunc(out, func(a, b core.Job) int {
		if c := a.DueAt.Compare(b.DueAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// finish updates a claimed job, fenced by the claim: the row must still
// be running with the attempts count the claim gave it. Otherwise its lease
// expired and another worker owns it now: ECONFLICT.
func (s *Store) finish(ctx context.Context, j core.Job, what string, attempted bool, set string, args ...any) error {
	err := s.write1(ctx, func(t *txn) error {
		now := t.d.Time(t.clock.Now())
		if attempted {
			set += `, attempted_at = COALESCE(attempted_at, ?)`
			args = append(args, now)
		}
		args = append(args, now, j.ID, j.Attempts)
		res, err := t.exec(ctx, `UPDATE jobs SET `+set+`, locked_until = NULL, updated_at = ?
			WHERE id = ? AND state = 'running' AND attempts = ?`, args...)
		err = t.affected(res, err, "job", j.ID)
		if core.ErrorCode(err) == core.ENOTFOUND {
			return core.Errorf(core.ECONFLICT, "job %s is no longer held by this worker (lease expired)", j.ID)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("%s job %s: %w", what, j.ID, err)
	}
	return nil
}

// Complete implements core.JobQueue.
func (s *Store) Complete(ctx context.Context, j core.Job) error {
	return s.finish(ctx, j, "complete", true, `state = 'done'`)
}

// Retry implements core.JobQueue. A spent attempt makes runAt the job's
// new due time; a retry without an attempt leaves due_at, so the job keeps
// its place among the due jobs.
func (s *Store) Retry(ctx context.Context, j core.Job, runAt time.Time, errText string, spendAttempt bool) error {
	if !spendAttempt {
		return s.finish(ctx, j, "retry", false, `state = 'pending', run_at = ?, last_error = ?, attempts = attempts - 1`,
			s.d.Time(runAt), errText)
	}
	return s.finish(ctx, j, "retry", true, `state = 'pending', run_at = ?, due_at = ?, last_error = ?`,
		s.d.Time(runAt), s.d.Time(runAt), errText)
}

// Kill implements core.JobQueue.
func (s *Store) Kill(ctx context.Context, j core.Job, errText string) error {
	return s.finish(ctx, j, "kill", true, `state = 'dead', last_error = ?`, errText)
}

// Job implements core.JobService.
func (s *Store) Job(ctx context.Context, tenant, id string) (core.Job, error) {
	var j core.Job
	err := s.read1(ctx, func(t *txn) error {
		var err error
		j, err = scanJob(t.queryRow(ctx, `SELECT `+jobCols+` FROM jobs WHERE tenant_id = ? AND id = ?`, tenant, id))
		return t.one(err, "job", id)
	})
	return j, err
}

// ListJobs implements core.JobService.
func (s *Store) ListJobs(ctx context.Context, q core.JobQuery, req core.PageRequest) (core.Page[core.Job], error) {
	if q.TenantID == "" {
		return core.Page[core.Job]{}, core.Errorf(core.EINVALID, "list jobs: no tenant")
	}
	var out core.Page[core.Job]
	err := s.read1(ctx, func(t *txn) error {
		w := tenantQuery(q.TenantID)
		if q.Queue != "" {
			w.and("queue = ?", q.Queue)
		}
		if q.State != "" {
			w.and("state = ?", string(q.State))
		}
		if q.KeyPrefix != "" {
			// Not LIKE (keys may hold '%' or '_'; SQLite's LIKE ignores
			// case), nor a range (collations may ignore punctuation).
			w.and("substr(job_key, 1, ?) = ?", utf8.RuneCountInString(q.KeyPrefix), q.KeyPrefix)
		}
		var err error
		out, err = page(ctx, t, jobCols, "jobs", "created_at", w, req, scanJob,
			func(j core.Job) core.Cursor { return core.Cursor{CreatedAt: j.CreatedAt, ID: j.ID} })
		return err
	})
	if err != nil {
		return out, fmt.Errorf("list jobs: %w", err)
	}
	return out, nil
}

// WakeJobs implements core.JobService. One statement, on the tenant's
// (tenant_id, queue, state) index: every replica's claims see the woken
// jobs.
func (s *Store) WakeJobs(ctx context.Context, tenant, queue, keyPrefix string) (int, error) {
	switch {
	case tenant == "":
		return 0, core.Errorf(core.EINVALID, "wake jobs: no tenant")
	case queue == "":
		return 0, core.Errorf(core.EINVALID, "wake jobs: no queue")
	}
	var n int64
	err := s.write1(ctx, func(t *txn) error {
		now := t.d.Time(t.clock.Now())
		// The key prefix is compared as in ListJobs: not LIKE, not a range.
		res, err := t.exec(ctx, `UPDATE jobs SET run_at = ?,
			due_at = CASE WHEN due_at IS NULL OR due_at > ? THEN ? ELSE due_at END, updated_at = ?
			WHERE tenant_id = ? AND queue = ? AND state = 'pending' AND run_at > ?
				AND substr(job_key, 1, ?) = ?`,
			now, now, now, now, tenant, queue, now, utf8.RuneCountInString(keyPrefix), keyPrefix)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return t.d.Translate(err)
	})
	if err != nil {
		return 0, fmt.Errorf("wake %s jobs %q: %w", queue, keyPrefix, err)
	}
	return int(n), nil
}
