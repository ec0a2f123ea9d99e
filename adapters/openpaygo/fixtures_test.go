package openpaygo

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// fixtureDir holds the shared OpenPAYGO test vectors.
const fixtureDir = "../../../shared/testdata/openpaygo"

// Row counts stated in the fixtures' README.
const (
	encodeVectorRows   = 308
	decodeVectorRows   = 171
	upstreamVectorRows = 80
)

// fixturePath returns the path of a fixture file.
func fixturePath(name string) string {
	return filepath.Join(fixtureDir, name)
}

// readCSVFixture reads a fixture CSV into one map per data row, keyed by
// column name. Every value is kept as a string.
func readCSVFixture(t testing.TB, name string) []map[string]string {
	t.Helper()
	f, err := os.Open(fixturePath(name))
	if err != nil {
		t.Fatalf("open fixture: %v", err)
	}
	defer f.Close()
	records, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	if len(records) < 1 {
		t.Fatalf("%s: no header", name)
	}
	header := records[0]
	rows := make([]map[string]string, 0, len(records)-1)
	for _, rec := range records[1:] {
		m := make(map[string]string, len(header))
		for i, h := range header {
			m[h] = rec[i]
		}
		rows = append(rows, m)
	}
	return rows
}

// atoi parses an integer field of a fixture row.
func atoi(t testing.TB, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("bad integer %q: %v", s, err)
	}
	return n
}

// parseBool parses a true/false field of a fixture row.
func parseBool(t testing.TB, s string) bool {
	t.Helper()
	switch s {
	case "true":
		return true
	case "false":
		return false
	}
	t.Fatalf("bad boolean %q", s)
	return false
}

// mustKey parses a hex key or fails the test.
func mustKey(t testing.TB, s string) Key {
	t.Helper()
	k, err := ParseKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
