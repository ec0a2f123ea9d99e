// Package sqlstore implements core.Store (all but migrations), payg.Store
// and the job and webhook stores once, over database/sql, for both SQL
// stores. core/sqlite and core/postgres give it their connections and a
// Dialect for the few places where the two differ (placeholders, row locks,
// how times are written, how driver errors read).
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
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
	// SingleWriter is set where the database has one writer (SQLite): write
	// transactions then take the writer in arrival order, not in the
	// random order database/sql hands a busy pool's connection to its
	// waiters, and the write pool's statements are prepared once and
	// reused instead of parsed anew each time (pgx caches PostgreSQL's
	// itself).
	SingleWriter bool
	// Pipeline, when set, runs write transactions on connections that
	// send several statements per round trip (PostgreSQL): a txn's
	// deferred writes (see txn.later) then travel with its next statement.
	// Nil: write transactions run through database/sql, deferred writes
	// at once.
	Pipeline Pipeliner
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
	// writer is the single writer's FIFO lock (SingleWriter): a channel
	// of capacity one, whose blocked senders the runtime queues in order.
	writer chan struct{}
	// stmts caches the write pool's prepared statements, reads those of
	// the read pool's single statements (Store.conn) (SingleWriter).
	stmts, reads *stmtCache
	// group queues callers of InGroupTx (SingleWriter).
	group *groupQueue
	// statements counts the SQL statements run, trips the times the store
	// waited for the database's answer, for tests and diagnostics.
	statements, trips atomic.Int64
	// numbered holds queries as rewritten for a Numbered dialect.
	numbered *rebindCache
}

var _ payg.Store = (*Store)(nil)

// New returns a Store whose times (job claims, leases) come from clock.
func New(write, read *sql.DB, d Dialect, clock core.Clock) *Store {
	translate := d.Translate
	d.Translate = func(err error) error {
		var c checkFailed
		if errors.As(err, &c) {
			return c.err // the store's own verdict, surfacing at a later statement
		}
		return translate(err)
	}
	s := &Store{write: write, read: read, d: d, clock: clock, numbered: &rebindCache{m: map[string]string{}}}
	if d.SingleWriter {
		s.writer = make(chan struct{}, 1)
		s.group = &groupQueue{}
		s.stmts = &stmtCache{db: write, m: map[string]*sql.Stmt{}}
		s.reads = &stmtCache{db: read, m: map[string]*sql.Stmt{}}
	}
	return s
}

// Statements returns the number of SQL statements the store has run
// (BEGIN and COMMIT not included), for tests and diagnostics.
func (s *Store) Statements() int64 { return s.statements.Load() }

// RoundTrips returns the number of times the store sent the database
// statements and waited for the answer: each statement, and a write
// transaction's BEGIN and COMMIT, except that a Pipeline store sends a
// write transaction's deferred writes and BEGIN with its next statement.
func (s *Store) RoundTrips() int64 { return s.trips.Load() }

// Pipelined reports whether write transactions defer writes (a Pipeline
// store).
func (s *Store) Pipelined() bool { return s.d.Pipeline != nil }

// CloseStatements closes the cached prepared statements; the stores call
// it before closing their pools.
func (s *Store) CloseStatements() error {
	if s.stmts == nil {
		return nil
	}
	return errors.Join(s.stmts.close(), s.reads.close())
}

// analyzedTables are the tables whose planner statistics the payment
// path's plans depend on.
var analyzedTables = []string{"customers", "devices", "plans", "contracts", "contract_devices", "payments", "tokens", "events"}

// Analyze refreshes the planner's statistics of the payment path's tables.
// Call it after a bulk load (a migration from another CRM): until
// PostgreSQL's autovacuum gets to a freshly filled table, its planner has
// no statistics and can join a contract to its devices by scanning every
// device link (867 ms per payment at 200,000 contracts, 0.3 ms after).
func (s *Store) Analyze(ctx context.Context) error {
	return s.write1(ctx, func(t *txn) error {
		for _, table := range analyzedTables {
			if _, err := t.exec(ctx, "ANALYZE "+table); err != nil {
				return fmt.Errorf("analyze %s: %w", table, err)
			}
		}
		return nil
	})
}

// InTx runs fn in a write transaction.
func (s *Store) InTx(ctx context.Context, fn func(payg.Tx) error) error {
	return s.write1(ctx, func(t *txn) error { return fn(t) })
}

// write1 runs fn in a write transaction of the store. With a single
// writer it waits its turn first, in arrival order; statements run there
// for the first time are prepared after the transaction, for the next.
func (s *Store) write1(ctx context.Context, fn func(*txn) error) error {
	if s.d.Pipeline != nil {
		return s.pipelined(ctx, fn)
	}
	if s.writer != nil {
		select {
		case s.writer <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		defer func() { <-s.writer }()
	}
	s.trips.Add(1)
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return s.d.Translate(err)
	}
	t := s.txn(tx)
	t.tx, t.cache = tx, s.stmts
	if err := fn(t); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := t.flush(ctx); err != nil {
		_ = tx.Rollback()
		return err
	}
	s.trips.Add(1)
	err = s.d.Translate(tx.Commit())
	if len(t.missed) > 0 {
		s.stmts.prepare(ctx, t.missed)
	}
	return err
}

// read1 runs fn in a read-only transaction of the store.
func (s *Store) read1(ctx context.Context, fn func(*txn) error) error {
	tx, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return s.d.Translate(err)
	}
	defer func() { _ = tx.Rollback() }()
	return fn(s.txn(tx))
}

// txn returns a txn running its statements on q.
func (s *Store) txn(q querier) *txn {
	return &txn{q: q, d: s.d, clock: s.clock, count: &s.statements, trips: &s.trips, numbered: s.numbered}
}

// stmtCache holds statements prepared once on a pool. A statement is
// prepared outside any transaction (the single write connection is busy
// during one), after the first transaction that ran it unprepared.
type stmtCache struct {
	db *sql.DB
	mu sync.RWMutex
	m  map[string]*sql.Stmt
}

// get returns q prepared on the pool, preparing it if needed; nil if it
// does not prepare (it then runs unprepared and reports its error there).
// Only for callers that hold none of the pool's connections.
func (c *stmtCache) get(ctx context.Context, q string) *sql.Stmt {
	if st := c.lookup(q); st != nil {
		return st
	}
	c.prepare(ctx, []string{q})
	return c.lookup(q)
}

func (c *stmtCache) lookup(q string) *sql.Stmt {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[q]
}

// prepare prepares the queries not cached yet. A query that fails to
// prepare keeps running unprepared, which reports its error where it runs.
func (c *stmtCache) prepare(ctx context.Context, queries []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, q := range queries {
		if _, ok := c.m[q]; ok || len(c.m) >= maxCachedStatements {
			continue
		}
		if st, err := c.db.PrepareContext(ctx, q); err == nil {
			c.m[q] = st
		}
	}
}

// maxCachedStatements bounds a cache, should a caller build queries with
// unbounded variety; the ones beyond it run unprepared.
const maxCachedStatements = 512

func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for q, st := range c.m {
		if err := st.Close(); err != nil {
			errs = append(errs, err)
		}
		delete(c.m, q)
	}
	return errors.Join(errs...)
}

// View runs fn in a read-only transaction, so its reads see one snapshot.
func (s *Store) View(ctx context.Context, fn func(payg.Reader) error) error {
	tx, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return s.d.Translate(err)
	}
	defer func() { _ = tx.Rollback() }()
	return fn(s.txn(tx))
}

// txn implements payg.Tx on one *sql.Tx. (Store.conn also wraps a pool in
// it, for a single statement that needs no transaction.)
type txn struct {
	q        querier
	d        Dialect
	clock    core.Clock
	count    *atomic.Int64
	trips    *atomic.Int64
	numbered *rebindCache
	// In a write transaction of a SingleWriter store: the transaction,
	// the store's prepared statements, this transaction's handles on them,
	// and the queries that were not prepared yet.
	tx     *sql.Tx
	cache  *stmtCache
	local  map[string]*sql.Stmt
	missed []string
	// direct is the read pool's cache when q is the pool itself (no
	// transaction holds a connection, so preparing there cannot wait on
	// this txn).
	direct *stmtCache
	// Read once per transaction: the last seq given to each contract's
	// ledger lines and events (see nextSeq), and each tenant's enabled
	// webhook endpoints, which no write transaction changes. A statement
	// of this package that writes those rows in a txn by other means must
	// forget them.
	ledgerSeq, eventSeq map[string]int64
	endpoints           map[string][]core.WebhookEndpoint
	// lockedDevices are the devices locked and read with their contract
	// (txn.contract with lock), until this transaction writes them.
	lockedDevices map[string]payg.Device
	// detached runs statements without their caller's cancellation (a
	// group transaction, where interrupting one caller's statement could
	// roll back the others' work).
	detached bool
	// pipe is the write transaction of a Pipeline store; q is then nil.
	pipe Pipe
	// events and jobs (each job's insert arguments) are inserts held back
	// to go as one statement each before the transaction's next statement
	// or its commit (flush); held is the error of those, which then fails
	// every later one.
	events []payg.Event
	jobs   [][]any
	held   error
}

// forget drops what the txn remembered of rows it read, after a savepoint
// rolled back writes it may have counted on.
func (t *txn) forget() {
	t.ledgerSeq, t.eventSeq, t.lockedDevices = nil, nil, nil
}

// querier is what txn runs statements on: a *sql.Tx, or a *sql.DB.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Rows is the result of a query: *sql.Rows, or a Pipe's.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close() error
}

// rebind rewrites '?' placeholders for dialects that number them.
func (t *txn) rebind(q string) string {
	if !t.d.Numbered {
		return q
	}
	return t.numbered.get(q)
}

// rebindCache remembers rewritten queries: the store's statements are
// a bounded set of texts, each rewritten once instead of per statement.
type rebindCache struct {
	mu sync.RWMutex
	m  map[string]string
}

// maxRebound bounds the cache, should some query text be built from data.
const maxRebound = 4096

func (c *rebindCache) get(q string) string {
	c.mu.RLock()
	r, ok := c.m[q]
	c.mu.RUnlock()
	if ok {
		return r
	}
	r = numberPlaceholders(q)
	c.mu.Lock()
	if len(c.m) < maxRebound {
		c.m[q] = r
	}
	c.mu.Unlock()
	return r
}

// numberPlaceholders rewrites each '?' of q as $1, $2, ….
func numberPlaceholders(q string) string {
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
	if err := t.flush(ctx); err != nil {
		return nil, err
	}
	ctx, q = t.prep(ctx, q)
	if t.pipe != nil {
		t.counted(false)
		r, err := t.pipe.Exec(ctx, q, args...)
		return r, t.d.Translate(err)
	}
	if st := t.stmt(ctx, q); st != nil {
		r, err := st.ExecContext(ctx, args...)
		return r, t.d.Translate(err)
	}
	r, err := t.q.ExecContext(ctx, q, args...)
	return r, t.d.Translate(err)
}

// later runs a write whose only result is success: on a Pipeline store it
// is queued and sent with the transaction's next statement or its commit,
// elsewhere it runs at once. check, if not nil, judges its result (rows
// affected); a failure of the write or of check then fails that next
// statement and every one after it, and the transaction does not commit.
// Writes whose outcome the caller acts on (a duplicate key it handles,
// RETURNING) must use exec.
func (t *txn) later(ctx context.Context, check func(sql.Result) error, q string, args ...any) error {
	if t.pipe == nil {
		r, err := t.exec(ctx, q, args...)
		if err == nil && check != nil {
			err = check(r)
		}
		return err
	}
	if err := t.flush(ctx); err != nil {
		return err
	}
	_, q = t.prep(ctx, q)
	t.counted(true)
	if check != nil {
		judge := check
		check = func(r sql.Result) error {
			if err := judge(r); err != nil {
				return checkFailed{err}
			}
			return nil
		}
	}
	t.pipe.Queue(q, args, check)
	return nil
}

// checkFailed is the error of a deferred write's check (later). It
// surfaces with the transaction's next statement, whose error the store
// translates (Dialect.Translate); it is not the database's, so it comes
// out as the check returned it (payg.ErrConcurrentWrite, a not-found).
type checkFailed struct{ err error }

func (c checkFailed) Error() string { return c.err.Error() }
func (c checkFailed) Unwrap() error { return c.err }

func (t *txn) queryRow(ctx context.Context, q string, args ...any) scanner {
	if err := t.flush(ctx); err != nil {
		return errRow{err}
	}
	ctx, q = t.prep(ctx, q)
	if t.pipe != nil {
		t.counted(false)
		return t.pipe.QueryRow(ctx, q, args...)
	}
	if st := t.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.q.QueryRowContext(ctx, q, args...)
}

func (t *txn) query(ctx context.Context, q string, args ...any) (Rows, error) {
	if err := t.flush(ctx); err != nil {
		return nil, err
	}
	return t.queryKeepHeld(ctx, q, args...)
}

// queryKeepHeld is query for a read of tables the held inserts (events,
// jobs) do not touch: they stay held, to go in one statement with the
// rows held after it. An earlier failure of theirs still fails it.
func (t *txn) queryKeepHeld(ctx context.Context, q string, args ...any) (Rows, error) {
	if t.held != nil {
		return nil, t.held
	}
	ctx, q = t.prep(ctx, q)
	if t.pipe != nil {
		t.counted(false)
		rows, err := t.pipe.Query(ctx, q, args...)
		return rows, t.d.Translate(err)
	}
	if st := t.stmt(ctx, q); st != nil {
		rows, err := st.QueryContext(ctx, args...)
		return rows, t.d.Translate(err)
	}
	rows, err := t.q.QueryContext(ctx, q, args...)
	return rows, t.d.Translate(err)
}

// prep returns the context and dialect's text a statement runs with.
func (t *txn) prep(ctx context.Context, q string) (context.Context, string) {
	if t.detached {
		ctx = context.WithoutCancel(ctx)
	}
	return ctx, t.rebind(q)
}

// stmt counts a statement about to run and returns its prepared handle in
// this transaction, or nil to run it unprepared.
func (t *txn) stmt(ctx context.Context, q string) *sql.Stmt {
	t.counted(false)
	if t.direct != nil {
		return t.direct.get(ctx, q)
	}
	if t.cache == nil {
		return nil
	}
	if st, ok := t.local[q]; ok {
		return st
	}
	shared := t.cache.lookup(q)
	if shared == nil {
		t.missed = append(t.missed, q)
		return nil
	}
	st := t.tx.StmtContext(ctx, shared)
	if t.local == nil {
		t.local = map[string]*sql.Stmt{}
	}
	t.local[q] = st
	return st
}

// counted counts a statement about to run, and its round trip unless it
// is queued for a later one.
func (t *txn) counted(queued bool) {
	if t.count != nil {
		t.count.Add(1)
	}
	if t.trips != nil && !queued {
		t.trips.Add(1)
	}
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
