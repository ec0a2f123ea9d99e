package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/payg-gateway/gateway/core/sqlstore"
)

// pipeliner runs sqlstore's write transactions on connections of the pgx
// pool itself, not through database/sql, so a transaction's queued writes
// and its BEGIN go in one batch (one round trip) with the next statement.
type pipeliner struct{ pool *pgxpool.Pool }

var _ sqlstore.Pipeliner = pipeliner{}

// Begin takes a connection from the pool; BEGIN is sent with the first
// statement.
func (p pipeliner) Begin(ctx context.Context) (sqlstore.Pipe, error) {
	c, err := p.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	pp := &pipe{conn: c}
	pp.batch.Queue("BEGIN")
	pp.checks = append(pp.checks, nil)
	return pp, nil
}

// pipe is one write transaction: the statements queued since the last
// round trip, each with its check, and the first failure.
type pipe struct {
	conn   *pgxpool.Conn // nil once committed or rolled back
	batch  pgx.Batch
	checks []func(sql.Result) error
	err    error
}

var _ sqlstore.Pipe = (*pipe)(nil)

func (p *pipe) Queue(q string, args []any, check func(sql.Result) error) {
	p.batch.Queue(q, args...)
	p.checks = append(p.checks, check)
}

// send sends the queued statements and q (unless empty) in one batch and
// reads the queued ones' results. The caller reads q's result from the
// returned BatchResults and closes them.
func (p *pipe) send(ctx context.Context, q string, args []any) (pgx.BatchResults, error) {
	if p.err != nil {
		return nil, p.err
	}
	if p.conn == nil {
		return nil, errors.New("postgres: transaction already ended")
	}
	if q != "" {
		p.batch.Queue(q, args...)
	}
	b, checks := p.batch, p.checks
	p.batch, p.checks = pgx.Batch{}, nil
	if b.Len() == 0 {
		return nil, nil
	}
	br := p.conn.Conn().SendBatch(ctx, &b)
	for _, check := range checks {
		tag, err := br.Exec()
		if err == nil && check != nil {
			err = check(result(tag))
		}
		if err != nil {
			_ = br.Close()
			p.err = err
			return nil, err
		}
	}
	return br, nil
}

func (p *pipe) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	br, err := p.send(ctx, q, args)
	if err != nil {
		return nil, err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return result(tag), nil
}

func (p *pipe) Query(ctx context.Context, q string, args ...any) (sqlstore.Rows, error) {
	br, err := p.send(ctx, q, args)
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return nil, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

func (p *pipe) QueryRow(ctx context.Context, q string, args ...any) interface{ Scan(...any) error } {
	rows, err := p.Query(ctx, q, args...)
	return batchRow{rows: rows, err: err}
}

// Commit sends the queued statements and COMMIT in one batch.
func (p *pipe) Commit(ctx context.Context) error {
	if p.err == nil && p.batch.Len() == 1 && p.checks[0] == nil && p.batch.QueuedQueries[0].SQL == "BEGIN" {
		// Nothing ran: nothing to commit.
		p.release()
		return nil
	}
	tag, err := p.Exec(ctx, "COMMIT")
	if err == nil {
		if t, ok := tag.(result); ok && pgconn.CommandTag(t).String() == "ROLLBACK" {
			err = errors.New("postgres: the transaction was rolled back at commit")
		}
	}
	if err != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
		defer cancel()
		_ = p.rollback(rctx)
		return err
	}
	p.release()
	return nil
}

func (p *pipe) Rollback(ctx context.Context) error {
	return p.rollback(ctx)
}

func (p *pipe) rollback(ctx context.Context) error {
	if p.conn == nil {
		return nil
	}
	p.batch, p.checks = pgx.Batch{}, nil
	var err error
	if p.conn.Conn().PgConn().TxStatus() != 'I' {
		_, err = p.conn.Conn().Exec(ctx, "ROLLBACK")
	}
	if err != nil {
		// The connection's state is unknown: do not give it back.
		_ = p.conn.Conn().Close(ctx)
	}
	p.release()
	if err != nil {
		return fmt.Errorf("postgres: rollback: %w", err)
	}
	return nil
}

// release returns the connection to the pool (which destroys it if it is
// closed, busy or still in a transaction).
func (p *pipe) release() {
	if p.conn != nil {
		p.conn.Release()
		p.conn = nil
	}
	if p.err == nil {
		p.err = errors.New("postgres: transaction already ended")
	}
}

// rollbackTimeout bounds a rollback run after the caller's context ended.
const rollbackTimeout = 5 * time.Second

// result is a command tag as a sql.Result.
type result pgconn.CommandTag

func (r result) LastInsertId() (int64, error) {
	return 0, errors.New("postgres: LastInsertId is not supported")
}

func (r result) RowsAffected() (int64, error) { return pgconn.CommandTag(r).RowsAffected(), nil }

// batchRows are a query's rows read from a batch, which they close with
// them.
type batchRows struct {
	pgx.Rows
	br     pgx.BatchResults
	closed bool
}

func (r *batchRows) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	r.Rows.Close()
	err := r.Rows.Err()
	if cerr := r.br.Close(); err == nil {
		err = cerr
	}
	return err
}

func (r *batchRows) Err() error { return r.Rows.Err() }

// batchRow is the first row of a query, for Scan.
type batchRow struct {
	rows sqlstore.Rows
	err  error
}

func (r batchRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Close(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	return r.rows.Close()
}
