// Package sqlite implements core.Store on an embedded SQLite database, the
// gateway's zero-configuration default.
//
// The database runs in WAL mode with synchronous=FULL, so a payment that was
// acknowledged survives a power loss. SQLite allows one writer at a time: the
// store keeps one connection for writes (transactions begin IMMEDIATE, so a
// writer never fails half-way on a lock upgrade) and a small pool of
// read-only connections that WAL lets run beside it.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/core/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// BusyTimeout is how long a connection waits for a lock held by another
// connection (another process, or the migrator) before giving up.
const BusyTimeout = 5 * time.Second

// Store is core.Store on SQLite.
type Store struct {
	write           *sql.DB // exactly one connection: SQLite has one writer
	read            *sql.DB // read-only connections
	goose           *goose.Provider
	path            string
	close           sync.Once
	*sqlstore.Store // everything but migrations: tenants, API keys, payg.Store, jobs, webhooks
}

var (
	_ core.Store = (*Store)(nil)
	_ payg.Store = (*Store)(nil)
)

// Open opens (creating if needed) the database file at path and its parent
// directory. It does not migrate; call Migrate.
func Open(ctx context.Context, path string, clock core.Clock) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	if strings.HasPrefix(path, ":memory:") || strings.Contains(path, "mode=memory") {
		return nil, errors.New("sqlite: in-memory databases are not supported: payments must be durable; give a file path")
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("sqlite: create directory for %s: %w", path, err)
		}
	}
	write, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)

	// Create the file and switch it to WAL before any reader opens it.
	if err := write.PingContext(ctx); err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	read, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s for reading: %w", path, err)
	}
	n := max(2, runtime.GOMAXPROCS(0))
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)

	provider, err := newMigrator(write, path+"-migrate.lock")
	if err != nil {
		write.Close()
		read.Close()
		return nil, fmt.Errorf("sqlite: load migrations: %w", err)
	}
	return &Store{
		write: write, read: read, goose: provider, path: path,
		Store: sqlstore.New(write, read, sqlstore.Dialect{
			Time:         func(t time.Time) any { return formatTime(t) },
			Translate:    translate,
			SingleWriter: true,
		}, clock),
	}, nil
}

// dsn builds the driver's connection string. Every connection gets the
// pragmas, since SQLite pragmas are per connection.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", BusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(ON)")
	if readOnly {
		q.Add("_pragma", "query_only(ON)")
	} else {
		q.Set("_txlock", "immediate")
	}
	return "file:" + path + "?" + q.Encode()
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

// Migrate applies pending migrations under a file lock, so processes that
// start together on one file migrate once; goose's version table makes it
// idempotent.
func (s *Store) Migrate(ctx context.Context) error {
	if _, err := s.goose.Up(ctx); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", translate(err))
	}
	return nil
}

// Ready returns nil when the database answers and no migration is pending.
func (s *Store) Ready(ctx context.Context) error {
	if err := s.read.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", translate(err))
	}
	current, target, err := s.goose.GetVersions(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: schema version: %w", translate(err))
	}
	if current < target {
		return core.Errorf(core.EUNAVAILABLE, "schema at version %d, binary needs %d: run `gateway migrate`", current, target)
	}
	return nil
}

// Close closes both pools. It is safe to call more than once.
func (s *Store) Close() error {
	var err error
	s.close.Do(func() { err = errors.Join(s.CloseStatements(), s.read.Close(), s.write.Close()) })
	return err
}

func newMigrator(db *sql.DB, lockPath string) (*goose.Provider, error) {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(goose.DialectSQLite3, db, fsys,
		goose.WithSessionLocker(&fileLocker{path: lockPath}))
}

// translate turns driver errors into domain errors so they never escape the
// store. Errors that are already domain errors pass through.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var de *core.Error
	if errors.As(err, &de) {
		return err
	}
	if errors.Is(err, sql.ErrNoRows) {
		return core.Errorf(core.ENOTFOUND, "not found")
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w (%v)", core.Errorf(core.ECONFLICT, "already exists"), err)
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return fmt.Errorf("%w (%v)", core.Errorf(core.EUNAVAILABLE, "database is busy"), err)
		}
		switch se.Code() & 0xff { // primary result code
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return fmt.Errorf("%w (%v)", core.Errorf(core.EUNAVAILABLE, "database is busy"), err)
		}
	}
	return fmt.Errorf("%w (%v)", core.Errorf(core.EINTERNAL, "database error"), err)
}

const timeLayout = "2006-01-02T15:04:05.000000Z"

// formatTime renders t as fixed-width UTC text, which sorts correctly.
func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// Pragmas reports the durability settings in force on the write connection,
// for tests and the operator's diagnostics.
func (s *Store) Pragmas(ctx context.Context) (map[string]string, error) {
	out := make(map[string]string)
	for _, name := range []string{"journal_mode", "synchronous", "foreign_keys", "busy_timeout"} {
		var v string
		if err := s.write.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v); err != nil {
			return nil, fmt.Errorf("sqlite: pragma %s: %w", name, translate(err))
		}
		out[name] = v
	}
	return out, nil
}
