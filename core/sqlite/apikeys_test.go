package sqlite_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/sqlite"
)

// TestAPIKeyPlaintextNeverStored: nothing of a key's secret part reaches
// the database files, only its SHA-256.
func TestAPIKeyPlaintextNeverStored(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "gw.db")
	s, err := sqlite.Open(ctx, path, core.SystemClock{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	_, plaintext, err := s.CreateAPIKey(ctx, core.APIKey{TenantID: core.DefaultTenantID, Name: "x", Scope: core.ScopeRead})
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte(plaintext[core.APIKeyDisplayLength:])
	var files []byte
	for _, f := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		files = append(files, b...)
	}
	if bytes.Contains(files, secret) {
		t.Fatal("the key's secret part is in the database files")
	}
	if !bytes.Contains(files, core.HashAPIKey(plaintext)) {
		t.Fatal("the key's SHA-256 is not in the database files: the test does not see the data")
	}
}
