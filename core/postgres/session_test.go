package postgres

import (
	"context"
	"testing"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/postgres/pgtest"
)

// A session left idle in a transaction is ended by the server, so that a
// gateway gone silent mid-transaction cannot hold row locks for hours; a
// DSN may choose another timeout.
func TestIdleInTransactionTimeout(t *testing.T) {
	dsn := pgtest.Schema(t)
	for _, tc := range []struct {
		dsn, want string
	}{
		{dsn, "30s"},
		{dsn + "&idle_in_transaction_session_timeout=5min", "5min"},
	} {
		s, err := Open(context.Background(), tc.dsn, core.SystemClock{})
		if err != nil {
			t.Fatal(err)
		}
		var got string
		err = s.pool.QueryRow(context.Background(), "SHOW idle_in_transaction_session_timeout").Scan(&got)
		s.Close()
		if err != nil || got != tc.want {
			t.Errorf("idle_in_transaction_session_timeout = %q (%v), want %q", got, err, tc.want)
		}
	}
}
