package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Pipelined write transactions. On PostgreSQL each statement is a round
// trip to the server, and a payment's transaction is mostly writes whose
// only result is success (ledger lines, token, events, jobs, status
// updates). A Pipeline store's txn queues those (txn.later) and the Pipe
// sends them in one round trip with the next statement whose result the
// code needs, or with the COMMIT.

// Pipe is one write transaction on a connection that takes several
// statements per round trip. Queued statements are sent, in order, ahead
// of the next Exec, Query, QueryRow or Commit. Once a queued statement
// fails (or its check does) every later call returns that error and Commit
// rolls back: the error may reach a caller that reads it as its own
// statement's (a not-found it handles), but never a commit.
type Pipe interface {
	// Queue appends q to the statements sent with the next call; check, if
	// not nil, judges its result when it comes back.
	Queue(q string, args []any, check func(sql.Result) error)
	Exec(ctx context.Context, q string, args ...any) (sql.Result, error)
	Query(ctx context.Context, q string, args ...any) (Rows, error)
	// QueryRow returns a row whose Scan reports sql.ErrNoRows (errors.Is)
	// when there is none.
	QueryRow(ctx context.Context, q string, args ...any) interface{ Scan(...any) error }
	// Commit sends the queued statements and commits; on any error it
	// rolls back and returns it.
	Commit(ctx context.Context) error
	// Rollback drops the queued statements and rolls back.
	Rollback(ctx context.Context) error
}

// Pipeliner begins pipelined write transactions (core/postgres's pgx pool).
type Pipeliner interface {
	Begin(ctx context.Context) (Pipe, error)
}

// rollbackTimeout bounds a rollback run after the caller's context ended.
const rollbackTimeout = 5 * time.Second

// pipelined runs fn in a write transaction of the store's Pipeline.
func (s *Store) pipelined(ctx context.Context, fn func(*txn) error) error {
	p, err := s.d.Pipeline.Begin(ctx)
	if err != nil {
		return s.d.Translate(err)
	}
	t := s.txn(nil)
	t.pipe = p
	err = fn(t)
	if err == nil {
		err = t.flush(ctx)
	}
	if err != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
		defer cancel()
		_ = p.Rollback(rctx)
		return err
	}
	s.trips.Add(1)
	if err := p.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", s.d.Translate(err))
	}
	return nil
}
