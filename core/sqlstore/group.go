package sqlstore

import (
	"context"
	"fmt"
	"sync"

	"github.com/payg-gateway/gateway/core/payg"
)

// Group commit (SingleWriter stores). SQLite has one writer and, with
// synchronous=FULL, pays a WAL write and an fsync per commit, much of it
// for the same few pages (the ends of the time-ordered indexes) whatever
// the transaction wrote. InGroupTx lets callers that queue for the writer
// share one transaction: each runs in its own savepoint, so its writes
// stay all-or-nothing, and every caller returns only after the commit
// that made its writes durable, or with an error if there was none. A
// caller that finds the writer free runs alone, as InTx.

// maxGroup bounds the callers sharing one commit.
const maxGroup = 32

// groupReq is one caller waiting in the group queue.
type groupReq struct {
	ctx  context.Context
	fn   func(*txn) error
	done chan groupResult
}

// groupResult is what a caller is told: its outcome, or lead to run the
// queue (itself first) as the new leader.
type groupResult struct {
	err  error
	lead bool
}

// groupQueue holds the callers waiting for the single writer.
type groupQueue struct {
	mu      sync.Mutex
	waiting []*groupReq
	leading bool // a leader is running groups
}

var _ payg.GroupStore = (*Store)(nil)

// InGroupTx implements payg.GroupStore: it runs fn in a write transaction
// that, on a single-writer store, may be shared with other callers' (see
// above). fn's writes commit together or not at all, and it returns after
// they are durable. Where writers run concurrently (PostgreSQL) it is
// InTx. Either way a panic in fn is returned as an error (in a group it
// must not strand the other callers; elsewhere it behaves the same).
func (s *Store) InGroupTx(ctx context.Context, fn func(payg.Tx) error) error {
	run := safely(func(t *txn) error { return fn(t) })
	if s.group == nil {
		return s.write1(ctx, run)
	}
	req := &groupReq{ctx: ctx, fn: run, done: make(chan groupResult, 1)}
	q := s.group
	q.mu.Lock()
	q.waiting = append(q.waiting, req)
	lead := !q.leading
	q.leading = true
	q.mu.Unlock()
	if !lead {
		// Wait even if ctx ends: the leader may be running fn. It skips
		// callers whose ctx ended before their turn.
		r := <-req.done
		if !r.lead {
			return r.err
		}
	}
	// Lead: run the group at the head of the queue (this caller first),
	// then hand the lead to the next waiter, if any.
	q.mu.Lock()
	n := min(len(q.waiting), maxGroup)
	group := q.waiting[:n:n]
	q.waiting = q.waiting[n:]
	q.mu.Unlock()
	s.runGroup(group)
	q.mu.Lock()
	if len(q.waiting) == 0 {
		q.leading = false
		q.mu.Unlock()
	} else {
		next := q.waiting[0]
		q.mu.Unlock()
		next.done <- groupResult{lead: true}
	}
	return (<-req.done).err
}

// safely runs fn, turning a panic into an error: a panic in one caller's
// fn must not leave the others waiting for ever.
func safely(fn func(*txn) error) func(*txn) error {
	return func(t *txn) (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("sqlstore: transaction panicked: %v", p)
			}
		}()
		return fn(t)
	}
}

// runGroup runs the group's callers in one transaction and tells each its
// outcome (req.done gets exactly one result each).
func (s *Store) runGroup(group []*groupReq) {
	if len(group) == 1 {
		r := group[0]
		r.done <- groupResult{err: s.write1(r.ctx, r.fn)}
		return
	}
	results := make([]error, len(group))
	ok := make([]bool, len(group)) // fn succeeded and its savepoint was released
	err := s.write1(context.Background(), func(t *txn) error {
		t.detached = true // one caller's cancellation must not interrupt the others'
		for i, r := range group {
			if err := r.ctx.Err(); err != nil {
				results[i] = err
				continue
			}
			if _, err := t.exec(r.ctx, `SAVEPOINT member`); err != nil {
				return fmt.Errorf("group commit: savepoint: %w", err)
			}
			if err := r.fn(t); err != nil {
				results[i] = err
				t.discard()
				// Undo this caller's writes only. If that fails the
				// transaction is gone (SQLite rolls back on some errors):
				// fail the whole group, committed by nobody.
				if _, rerr := t.exec(r.ctx, `ROLLBACK TO member`); rerr != nil {
					return fmt.Errorf("group commit: roll back a member: %w", rerr)
				}
				if _, rerr := t.exec(r.ctx, `RELEASE member`); rerr != nil {
					return fmt.Errorf("group commit: release a member: %w", rerr)
				}
				// The member's reads are undone with its writes.
				t.forget()
				continue
			}
			if _, err := t.exec(r.ctx, `RELEASE member`); err != nil {
				return fmt.Errorf("group commit: release a member: %w", err)
			}
			ok[i] = true
		}
		return nil
	})
	for i, r := range group {
		switch {
		case ok[i]:
			r.done <- groupResult{err: err} // nil once committed
		case results[i] != nil:
			r.done <- groupResult{err: results[i]}
		default: // not run: the group failed before its turn
			r.done <- groupResult{err: err}
		}
	}
}
