package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/sqlite"
	"github.com/payg-gateway/gateway/core/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, storetest.Harness{NewDatabase: newDatabase})
}

func newDatabase(t *testing.T) func(t *testing.T, clock core.Clock) core.Store {
	path := filepath.Join(t.TempDir(), "data", "gateway.db")
	return func(t *testing.T, clock core.Clock) core.Store {
		s, err := sqlite.Open(context.Background(), path, clock)
		if err != nil {
			t.Fatalf("open %s: %v", path, err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
}

func TestPragmas(t *testing.T) {
	ctx := context.Background()
	s := newDatabase(t)(t, core.SystemClock{}).(*sqlite.Store)
	got, err := s.Pragmas(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"journal_mode": "wal",
		"synchronous":  "2", // FULL
		"foreign_keys": "1",
		"busy_timeout": "5000",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("PRAGMA %s = %q, want %q", k, got[k], v)
		}
	}
}

func TestRefusesMemoryDatabase(t *testing.T) {
	if _, err := sqlite.Open(context.Background(), ":memory:", core.SystemClock{}); err == nil {
		t.Fatal("Open(:memory:) succeeded; an in-memory store would lose acknowledged payments")
	}
}
