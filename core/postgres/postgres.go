// Package postgres implements core.Store on PostgreSQL through a pgx/v5
// pool, for distributors that run several gateway replicas on one database.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/core/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is core.Store on PostgreSQL.
type Store struct {
	pool            *pgxpool.Pool
	sqldb           *sql.DB // the pool seen through database/sql, for the migrator
	goose           *goose.Provider
	close           sync.Once
	*sqlstore.Store // everything but migrations: tenants, API keys, payg.Store, jobs, webhooks
}

var (
	_ core.Store = (*Store)(nil)
	_ payg.Store = (*Store)(nil)
)

// DefaultIdleInTransactionTimeout is the gateway sessions'
// idle_in_transaction_session_timeout unless the DSN sets one. A gateway
// that vanishes mid-transaction without a word (a network partition, a
// NAT that forgot the flow) leaves the server waiting with the
// transaction's row locks held, by default until its TCP keepalive gives
// up two hours later, and every payment to those contracts waits with it.
// The gateway's transactions never sit idle (no network call inside one),
// so the server ends one idle this long and releases its locks.
const DefaultIdleInTransactionTimeout = "30s"

const idleInTxParam = "idle_in_transaction_session_timeout"

// DefaultMaxConns is the pool's size unless the DSN sets pool_max_conns.
// pgx's own default (the number of CPUs, at least 4) leaves most of a busy
// gateway's concurrent payments waiting for a connection while the ones
// holding them wait on round trips to the server; 16 keeps the server's
// backends busy without crowding a small database server.
const DefaultMaxConns = 16

// Open connects to the database named by dsn (a postgres:// URL or a
// key=value string; pgx pool parameters such as pool_max_conns are
// honoured, the pool's size being DefaultMaxConns unless pool_max_conns
// sets it). It does not migrate; call Migrate.
func Open(ctx context.Context, dsn string, clock core.Clock) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The error may quote the DSN, password included: keep it out.
		return nil, errors.New("postgres: cannot parse the store DSN")
	}
	if _, ok := cfg.ConnConfig.RuntimeParams[idleInTxParam]; !ok {
		cfg.ConnConfig.RuntimeParams[idleInTxParam] = DefaultIdleInTransactionTimeout
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = DefaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	sqldb := stdlib.OpenDBFromPool(pool)
	// Replicas starting together wait for the first one to migrate: poll the
	// advisory lock every second for up to five minutes.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: migration lock: %w", err)
	}
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: load migrations: %w", err)
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, sqldb, fsys, goose.WithSessionLocker(locker))
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: load migrations: %w", err)
	}
	return &Store{
		pool: pool, sqldb: sqldb, goose: provider,
		Store: sqlstore.New(sqldb, sqldb, sqlstore.Dialect{
			Numbered:   true,
			ForUpdate:  " FOR UPDATE",
			SkipLocked: " FOR UPDATE SKIP LOCKED",
			Time:       func(t time.Time) any { return t.UTC() },
			Translate:  translate,
			Pipeline:   pipeliner{pool},
		}, clock),
	}, nil
}

// Migrate applies pending migrations under a PostgreSQL advisory lock, so
// replicas that start together migrate once.
func (s *Store) Migrate(ctx context.Context) error {
	if _, err := s.goose.Up(ctx); err != nil {
		return fmt.Errorf("postgres: migrate: %w", translate(err))
	}
	return nil
}

// Ready returns nil when the database answers and no migration is pending.
func (s *Store) Ready(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", translate(err))
	}
	current, target, err := s.goose.GetVersions(ctx)
	if err != nil {
		return fmt.Errorf("postgres: schema version: %w", translate(err))
	}
	if current < target {
		return core.Errorf(core.EUNAVAILABLE, "schema at version %d, binary needs %d: run `gateway migrate`", current, target)
	}
	return nil
}

// Close closes the pool. It is safe to call more than once.
func (s *Store) Close() error {
	s.close.Do(func() {
		_ = s.sqldb.Close()
		s.pool.Close()
	})
	return nil
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
	if errors.Is(err, pgx.ErrNoRows) || errors.Is(err, sql.ErrNoRows) {
		return core.Errorf(core.ENOTFOUND, "not found")
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505": // unique_violation
			return fmt.Errorf("%w (%v)", core.Errorf(core.ECONFLICT, "already exists"), err)
		case pe.Code == "40001" || pe.Code == "40P01": // serialization_failure, deadlock_detected
			return fmt.Errorf("%w (%v)", core.Errorf(core.EUNAVAILABLE, "transaction conflict, retry"), err)
		case len(pe.Code) == 2+3 && (pe.Code[:2] == "08" || pe.Code[:2] == "57" || pe.Code[:2] == "53"):
			// connection exception, operator intervention (shutdown), insufficient resources
			return fmt.Errorf("%w (%v)", core.Errorf(core.EUNAVAILABLE, "database unavailable"), err)
		}
		return fmt.Errorf("%w (%v)", core.Errorf(core.EINTERNAL, "database error"), err)
	}
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) || isConnectError(err) {
		return fmt.Errorf("%w (%v)", core.Errorf(core.EUNAVAILABLE, "database unavailable"), err)
	}
	return fmt.Errorf("%w (%v)", core.Errorf(core.EINTERNAL, "database error"), err)
}

func isConnectError(err error) bool {
	var ce *pgconn.ConnectError
	return errors.As(err, &ce)
}
