// Package sqlstore implements core.Store (all but migrations), payg.Store
// and the job and webhook stores once, over database/sql, for both SQL
// stores. core/sqlite and core/postgres give it their connections and a
// Dialect for the few places where the two differ (placeholders, row locks,
// how times are written, how driver errors read).
package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/core/secretbox"
)

// Dialect is what differs between the SQL databases.
type Dialect struct {
	// Numbered placeholders ($1, $2) instead of '?'.
	Numbered bool
	// ForUpdate is appended to a SELECT to lock its rows ("" where the
	// transaction already holds the whole database, as in SQLite).
	ForUpdate string
	// SkipLocked is appended to the SELECT that picks jobs to claim, so
	// concurrent claimers pass over each other's rows (" FOR UPDATE SKIP
	// LOCKED" on PostgreSQL; "" in SQLite, whose single writer serialises
	// claims).
	SkipLocked string
	// Time converts a time for a query argument.
	Time func(time.Time) any
	// Translate turns a driver error into a core error.
	Translate func(error) error
}

// Store is core.TenantService, core.APIService, payg.Store,
// core.JobQueue, core.JobService and core.WebhookStore over a write and a
// read connection pool (the same pool for PostgreSQL).
type Store struct {
	write, read *sql.DB
	d           Dialect
	clock       core.Clock
	// box seals webhook signing secrets (UseSecretBox); nil: plain text.
	box atomic.Pointer[secretbox.Box]
}

var _ payg.Store = (*Store)(nil)

// New returns a Store whose times (job claims, leases) come from clock.
func New(write, read *sql.DB, d Dialect, clock core.Clock) *Store {
	return &Store{write: write, read: read, d: d, clock: clock}
}

// InTx runs fn in a write transaction.
func (s *Store) InTx(ctx context.Context, fn func(payg.Tx) error) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return s.d.Translate(err)
	}
	if err := fn(&txn{q: tx, d: s.d, clock: s.clock}); err != nil {
		_ = tx.Rollback()
		return err
	}
	return s.d.Translate(tx.Commit())
}

// View runs fn in a read-only transaction, so its reads see one snapshot.
func (s *Store) View(ctx context.Context, fn func(payg.Reader) error) error {
	tx, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return s.d.Translate(err)
	}
	defer func() { _ = tx.Rollback() }()
	return fn(&txn{q: tx, d: s.d, clock: s.clock})
}

// txn implements payg.Tx on one *sql.Tx. (Store.conn also wraps a pool in
// it, for a single statement that needs no transaction.)
type txn struct {
	q     querier
	d     Dialect
	clock core.Clock
}

// querier is what txn runs statements on: a *sql.Tx, or a *sql.DB.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// rebind rewrites '?' placeholders for dialects that number them.
func (t *txn) rebind(q string) string {
	if !t.d.Numbered {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (t *txn) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	r, err := t.q.ExecContext(ctx, t.rebind(q), args...)
	return r, t.d.Translate(err)
}

func (t *txn) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return t.q.QueryRowContext(ctx, t.rebind(q), args...)
}

func (t *txn) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	rows, err := t.q.QueryContext(ctx, t.rebind(q), args...)
	return rows, t.d.Translate(err)
}

// nullTime is a time argument that is NULL when zero.
func (t *txn) nullTime(v time.Time) any {
	if v.IsZero() {
		return nil
	}
	return t.d.Time(v)
}

// scanTime reads a time column written by either dialect: a time.Time
// (PostgreSQL) or RFC 3339 text (SQLite); NULL reads as the zero time.
type scanTime struct{ t *time.Time }

func (s scanTime) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*s.t = time.Time{}
	case time.Time:
		*s.t = x.UTC()
	case string:
		return s.parse(x)
	case []byte:
		return s.parse(string(x))
	default:
		return fmt.Errorf("sqlstore: cannot read %T as a time", v)
	}
	return nil
}

func (s scanTime) parse(v string) error {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return fmt.Errorf("sqlstore: bad stored time %q", v)
	}
	*s.t = t.UTC()
	return nil
}

// scanBytes reads a JSON or blob column as bytes whatever the driver gives.
type scanBytes struct{ b *[]byte }

func (s scanBytes) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*s.b = nil
	case []byte:
		*s.b = append([]byte(nil), x...)
	case string:
		*s.b = []byte(x)
	default:
		return fmt.Errorf("sqlstore: cannot read %T as bytes", v)
	}
	return nil
}
