package postgres_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/postgres"
	"github.com/payg-gateway/gateway/core/postgres/pgtest"
)

// TestAPIKeyPlaintextNeverStored: the row of a key holds its SHA-256 and
// nothing of its secret part.
func TestAPIKeyPlaintextNeverStored(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	s, err := postgres.Open(ctx, dsn, core.SystemClock{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	k, plaintext, err := s.CreateAPIKey(ctx, core.APIKey{TenantID: core.DefaultTenantID, Name: "x", Scope: core.ScopeRead})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var row string
	var hash []byte
	if err := conn.QueryRow(ctx, `SELECT row_to_json(k)::text, hash FROM api_keys k WHERE id = $1`, k.ID).Scan(&row, &hash); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(row, plaintext[core.APIKeyDisplayLength:]) {
		t.Fatalf("the key's secret part is stored: %s", row)
	}
	if !bytes.Equal(hash, core.HashAPIKey(plaintext)) {
		t.Fatal("the stored hash is not the key's SHA-256")
	}
}
