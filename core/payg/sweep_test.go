package payg_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/core/coretest"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/core/sqlite"
)

// stallingStore answers nothing while stalled: each read waits for its
// caller's context, as a database that has gone silent does.
type stallingStore struct {
	payg.Store
	stalled atomic.Bool
}

func (s *stallingStore) View(ctx context.Context, fn func(payg.Reader) error) error {
	if s.stalled.Load() {
		<-ctx.Done()
		return ctx.Err()
	}
	return s.Store.View(ctx, fn)
}

// A sweep on a silent store ends with an error after SweepTimeout (the
// caller logs it and sweeps again on its next tick) instead of hanging
// for ever on a context that never ends; once the store answers, the
// next sweep succeeds.
func TestSweepStatusesStalledStore(t *testing.T) {
	ctx := context.Background()
	clock := coretest.NewClock(time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC))
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gateway.db"), clock)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	store := &stallingStore{Store: st}
	const timeout = 200 * time.Millisecond
	svc := payg.NewService(payg.Options{Store: store, Tenants: st, Clock: clock, SweepTimeout: timeout})

	sweep := func() error {
		t.Helper()
		done := make(chan error, 1)
		go func() {
			_, err := svc.SweepStatuses(ctx)
			done <- err
		}()
		select {
		case err := <-done:
			return err
		case <-time.After(timeout + 5*time.Second):
			t.Fatalf("SweepStatuses still running after %v on a silent store", timeout+5*time.Second)
			return nil
		}
	}
	store.stalled.Store(true)
	if err := sweep(); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("sweep on a silent store: %v, want a deadline error", err)
	}
	store.stalled.Store(false)
	if err := sweep(); err != nil {
		t.Fatalf("sweep after the store came back: %v", err)
	}
}
