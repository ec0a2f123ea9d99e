package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/core/postgres/pgtest"
)

func openMigrated(t *testing.T, dsn string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn, core.SystemClock{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// A deferred write that fails (here an update of a device that does not
// exist, which changes no row) fails the transaction even when the
// statement that carried it reports a not-found the caller takes as an
// answer: nothing the transaction wrote is committed, and the connection
// goes back to the pool usable.
func TestDeferredWriteFailureFailsTheCommit(t *testing.T) {
	s := openMigrated(t, pgtest.Schema(t))
	ctx := context.Background()
	if _, err := s.CreateTenant(ctx, core.Tenant{ID: "ten_pipe", Name: "Pipe", TimeZone: "UTC", DefaultCountry: "KE"}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	cus := payg.Customer{ID: "cus_pipe", TenantID: "ten_pipe", Name: "P", Phone: "+254700000001", PhoneHash: "h", Language: "en", CreatedAt: now, UpdatedAt: now}
	err := s.InTx(ctx, func(tx payg.Tx) error {
		if err := tx.InsertCustomer(ctx, cus); err != nil {
			return err
		}
		if err := tx.UpdateDevice(ctx, payg.Device{ID: "dev_none", TenantID: "ten_pipe", UpdatedAt: now}); err != nil {
			return err // SQLite would stop here; PostgreSQL defers the update
		}
		if _, err := tx.Customer(ctx, "ten_pipe", "cus_other"); core.ErrorCode(err) != core.ENOTFOUND {
			t.Errorf("read after the failed update: %v, want ENOTFOUND", err)
		}
		return nil // the caller took the not-found as an answer
	})
	if core.ErrorCode(err) != core.ENOTFOUND {
		t.Fatalf("InTx = %v, want the deferred update's ENOTFOUND", err)
	}
	err = s.View(ctx, func(r payg.Reader) error {
		_, err := r.Customer(ctx, "ten_pipe", "cus_pipe")
		return err
	})
	if core.ErrorCode(err) != core.ENOTFOUND {
		t.Fatalf("customer of the failed transaction reads %v, want ENOTFOUND", err)
	}
	// The pool's connections are usable: a transaction commits after.
	if err := s.InTx(ctx, func(tx payg.Tx) error { return tx.InsertCustomer(ctx, cus) }); err != nil {
		t.Fatalf("InTx after the failed one: %v", err)
	}
	if got := s.pool.Stat().AcquiredConns(); got != 0 {
		t.Errorf("%d connections still acquired after the transactions", got)
	}
}

// A database error in a deferred write (a duplicate key) fails the
// transaction and rolls back its other writes.
func TestDeferredWriteErrorRollsBack(t *testing.T) {
	s := openMigrated(t, pgtest.Schema(t))
	ctx := context.Background()
	if _, err := s.CreateTenant(ctx, core.Tenant{ID: "ten_pipe", Name: "Pipe", TimeZone: "UTC", DefaultCountry: "KE"}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	ev := payg.Event{ID: "evt_dup", TenantID: "ten_pipe", Type: "test", Data: []byte(`{}`), CreatedAt: now}
	if err := s.InTx(ctx, func(tx payg.Tx) error { _, err := tx.InsertEvent(ctx, ev); return err }); err != nil {
		t.Fatal(err)
	}
	cus := payg.Customer{ID: "cus_pipe", TenantID: "ten_pipe", Name: "P", Phone: "+254700000001", PhoneHash: "h", Language: "en", CreatedAt: now, UpdatedAt: now}
	err := s.InTx(ctx, func(tx payg.Tx) error {
		if err := tx.InsertCustomer(ctx, cus); err != nil {
			return err
		}
		_, err := tx.InsertEvent(ctx, ev) // deferred: fails at commit
		return err
	})
	if core.ErrorCode(err) != core.ECONFLICT {
		t.Fatalf("InTx = %v, want ECONFLICT from the deferred insert", err)
	}
	err = s.View(ctx, func(r payg.Reader) error {
		_, err := r.Customer(ctx, "ten_pipe", "cus_pipe")
		return err
	})
	if core.ErrorCode(err) != core.ENOTFOUND {
		t.Fatalf("customer of the failed transaction reads %v, want ENOTFOUND", err)
	}
}

// The pool has DefaultMaxConns connections unless the DSN says otherwise.
func TestPoolSize(t *testing.T) {
	dsn := pgtest.Schema(t)
	for _, tc := range []struct {
		dsn  string
		want int32
	}{
		{dsn, DefaultMaxConns},
		{dsn + "&pool_max_conns=3", 3},
	} {
		s, err := Open(context.Background(), tc.dsn, core.SystemClock{})
		if err != nil {
			t.Fatal(err)
		}
		got := s.pool.Config().MaxConns
		s.Close()
		if got != tc.want {
			t.Errorf("pool max conns = %d, want %d", got, tc.want)
		}
	}
}
