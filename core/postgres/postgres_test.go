package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/postgres"
	"github.com/payg-gateway/gateway/core/postgres/pgtest"
	"github.com/payg-gateway/gateway/core/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, storetest.Harness{NewDatabase: newDatabase})
}

func newDatabase(t *testing.T) func(t *testing.T, clock core.Clock) core.Store {
	dsn := pgtest.Schema(t)
	return func(t *testing.T, clock core.Clock) core.Store {
		s, err := postgres.Open(context.Background(), dsn, clock)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
}

func TestOpenHidesDSNSecrets(t *testing.T) {
	_, err := postgres.Open(context.Background(), "postgres://u:hunter2@%zz/db", core.SystemClock{})
	if err == nil {
		t.Fatal("Open with a malformed DSN succeeded")
	}
	if got := err.Error(); strings.Contains(got, "hunter2") {
		t.Fatalf("error leaks the password: %s", got)
	}
}
