// Package loadtest is the gateway's benchmark harness: it seeds a store with
// contracts, serves the real gateway on loopback, fires M-Pesa C2B
// confirmations at it over HTTP, measures a minimal baseline handler on the
// same store, and verifies through the store that every acknowledged
// payment was applied exactly once. The command test/load runs it at full
// size; this package's tests run it reduced, with the duplicate storm.
package loadtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/payg-gateway/gateway/cmd/gateway/app"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/postgres"
	"github.com/payg-gateway/gateway/core/postgres/pgtest"
	"github.com/payg-gateway/gateway/core/sqlite"
)

// Store is what the gateway needs of a store (app.Store): both SQL
// stores are one.
type Store interface {
	app.Store
}

// Target is one migrated store under test, on its own database.
type Target struct {
	// Name is "sqlite" or "postgres".
	Name  string
	Store Store
	// Where says where the data lives: a file, or a schema.
	Where string
	close func() error
}

// Close closes the store and removes its database (the SQLite directory,
// the PostgreSQL schema).
func (t *Target) Close() error { return t.close() }

// OpenSQLite opens a migrated SQLite store in a new directory under dir
// (the system's temporary directory when dir is ""), configured as the
// gateway runs it (WAL, synchronous=FULL, one writer).
func OpenSQLite(ctx context.Context, dir string) (*Target, error) {
	d, err := os.MkdirTemp(dir, "gateway-load-*")
	if err != nil {
		return nil, fmt.Errorf("loadtest: sqlite directory: %w", err)
	}
	path := filepath.Join(d, "gateway.db")
	s, err := sqlite.Open(ctx, path, core.SystemClock{})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("loadtest: %w", err), os.RemoveAll(d))
	}
	if err := s.Migrate(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("loadtest: %w", err), s.Close(), os.RemoveAll(d))
	}
	return &Target{Name: "sqlite", Store: s, Where: path, close: func() error {
		return errors.Join(s.Close(), os.RemoveAll(d))
	}}, nil
}

// OpenPostgres creates a fresh schema in the database dsn names and opens a
// migrated store on it; Close drops the schema. Pool parameters in dsn
// (pool_max_conns) are honoured, as by the gateway.
func OpenPostgres(ctx context.Context, dsn string) (*Target, error) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "load_" + hex.EncodeToString(b[:])
	if err := execAdmin(ctx, dsn, "CREATE SCHEMA "+schema); err != nil {
		return nil, fmt.Errorf("loadtest: create schema: %w", err)
	}
	drop := func() error {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := execAdmin(ctx, dsn, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			return fmt.Errorf("loadtest: drop schema %s: %w", schema, err)
		}
		return nil
	}
	s, err := postgres.Open(ctx, pgtest.WithSearchPath(dsn, schema), core.SystemClock{})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("loadtest: %w", err), drop())
	}
	if err := s.Migrate(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("loadtest: %w", err), s.Close(), drop())
	}
	return &Target{Name: "postgres", Store: s, Where: "schema " + schema, close: func() error {
		return errors.Join(s.Close(), drop())
	}}, nil
}

// execAdmin runs one statement on its own connection.
func execAdmin(ctx context.Context, dsn, stmt string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cfg, err := pgxpool.ParseConfig(dsn) // takes the pool's own parameters out
	if err != nil {
		return errors.New("cannot parse the PostgreSQL DSN") // the error may quote the password
	}
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	if err != nil {
		return fmt.Errorf("connect: %w", err) // pgx names host, user and database, never the password
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, stmt)
	return err
}
