package core

import (
	"testing"
	"time"
)

func TestCursorRoundTrip(t *testing.T) {
	c := Cursor{CreatedAt: time.Date(2026, 3, 14, 9, 26, 53, 589793000, time.FixedZone("EAT", 3*3600)), ID: "key_a|b"}
	got, err := ParseCursor(c.Encode())
	if err != nil || !got.CreatedAt.Equal(c.CreatedAt) || got.ID != c.ID || got.CreatedAt.Location() != time.UTC {
		t.Fatalf("round trip = %+v, %v; want %+v in UTC", got, err, c)
	}
	for _, bad := range []string{"", "!!", "bm8tYmFy", "MjAyNnx4"} { // "", not base64, "no-bar", "2026|x"
		if _, err := ParseCursor(bad); ErrorCode(err) != EINVALID {
			t.Errorf("ParseCursor(%q) = %v, want EINVALID", bad, err)
		}
	}
}

func TestPageRequestResolve(t *testing.T) {
	for _, tc := range []struct {
		limit, want int
		ok          bool
	}{{0, DefaultPageLimit, true}, {1, 1, true}, {MaxPageLimit, MaxPageLimit, true}, {MaxPageLimit + 1, 0, false}, {-1, 0, false}} {
		got, after, err := PageRequest{Limit: tc.limit}.Resolve()
		if (err == nil) != tc.ok || got != tc.want || after != nil {
			t.Errorf("Resolve(limit %d) = %d, %v, %v", tc.limit, got, after, err)
		}
	}
}

func TestScopes(t *testing.T) {
	for _, tc := range []struct {
		have, need Scope
		ok         bool
	}{
		{ScopeRead, ScopeRead, true}, {ScopeRead, ScopeWrite, false}, {ScopeWrite, ScopeRead, true},
		{ScopeWrite, ScopeAdmin, false}, {ScopeAdmin, ScopeWrite, true}, {"root", ScopeRead, false}, {ScopeAdmin, "", false},
	} {
		if got := tc.have.Allows(tc.need); got != tc.ok {
			t.Errorf("%q.Allows(%q) = %v", tc.have, tc.need, got)
		}
	}
	plaintext, prefix, hash := NewAPIKeySecret()
	if !WellFormedAPIKey(plaintext) || prefix != plaintext[:APIKeyDisplayLength] || len(hash) != 32 {
		t.Errorf("NewAPIKeySecret = %q, %q, %d-byte hash", plaintext, prefix, len(hash))
	}
}
