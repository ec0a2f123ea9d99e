package storetest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/coretest"
)

// testAPI covers core.APIService: API keys and idempotency records.
func testAPI(t *testing.T, h Harness) {
	t.Run("CreateAPIKey", func(t *testing.T) { testCreateAPIKey(t, h) })
	t.Run("AuthenticateAPIKey", func(t *testing.T) { testAuthenticateAPIKey(t, h) })
	t.Run("RevokeAPIKey", func(t *testing.T) { testRevokeAPIKey(t, h) })
	t.Run("ListAPIKeys", func(t *testing.T) { testListAPIKeys(t, h) })
	t.Run("Idempotency", func(t *testing.T) { testIdempotency(t, h) })
	t.Run("IdempotencyTimeouts", func(t *testing.T) { testIdempotencyTimeouts(t, h) })
	t.Run("IdempotencyPurge", func(t *testing.T) { testIdempotencyPurge(t, h) })
	t.Run("IdempotencyConcurrentBegin", func(t *testing.T) { testIdempotencyConcurrentBegin(t, h) })
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := core.ErrorCode(err); got != code {
		t.Fatalf("%s: code %q (%v), want %q", what, got, err, code)
	}
}

func newKey(t *testing.T, s core.Store, tenantID, name string, scope core.Scope) (core.APIKey, string) {
	t.Helper()
	k, plaintext, err := s.CreateAPIKey(context.Background(), core.APIKey{TenantID: tenantID, Name: name, Scope: scope})
	if err != nil {
		t.Fatalf("CreateAPIKey(%s, %s): %v", tenantID, name, err)
	}
	return k, plaintext
}

func testCreateAPIKey(t *testing.T, h Harness) {
	ctx := context.Background()
	s, clock := migrated(t, h)
	k, plaintext := newKey(t, s, core.DefaultTenantID, "crm-sync", core.ScopeWrite)

	if !core.WellFormedAPIKey(plaintext) || !strings.HasPrefix(plaintext, core.APIKeyPrefix) {
		t.Errorf("plaintext %q is not a well-formed key", plaintext)
	}
	if len(k.Prefix) != core.APIKeyDisplayLength || !strings.HasPrefix(plaintext, k.Prefix) {
		t.Errorf("prefix %q is not the key's first %d characters", k.Prefix, core.APIKeyDisplayLength)
	}
	if k.ID == "" || k.TenantID != core.DefaultTenantID || k.Name != "crm-sync" || k.Scope != core.ScopeWrite {
		t.Errorf("created key = %+v", k)
	}
	if want := clock.Now().Truncate(time.Microsecond); !k.CreatedAt.Equal(want) {
		t.Errorf("created_at = %v, want the store clock's %v", k.CreatedAt, want)
	}
	if k.LastUsedAt != nil || k.RevokedAt != nil {
		t.Errorf("new key has last_used_at %v, revoked_at %v; want both nil", k.LastUsedAt, k.RevokedAt)
	}
	k2, plaintext2 := newKey(t, s, core.DefaultTenantID, "crm-sync", core.ScopeWrite)
	if k2.ID == k.ID || plaintext2 == plaintext {
		t.Errorf("two keys share an id or a secret: %q/%q", k.ID, k2.ID)
	}

	for _, bad := range []core.APIKey{
		{TenantID: core.DefaultTenantID, Name: "", Scope: core.ScopeRead},
		{TenantID: core.DefaultTenantID, Name: "   ", Scope: core.ScopeRead},
		{TenantID: core.DefaultTenantID, Name: strings.Repeat("n", core.MaxAPIKeyNameLength+1), Scope: core.ScopeRead},
		{TenantID: core.DefaultTenantID, Name: "x", Scope: "root"},
		{TenantID: "", Name: "x", Scope: core.ScopeRead},
	} {
		_, _, err := s.CreateAPIKey(ctx, bad)
		wantCode(t, fmt.Sprintf("CreateAPIKey(%+v)", bad), err, core.EINVALID)
	}
	_, _, err := s.CreateAPIKey(ctx, core.APIKey{TenantID: "nobody", Name: "x", Scope: core.ScopeRead})
	wantCode(t, "CreateAPIKey for a missing tenant", err, core.ENOTFOUND)
}

func testAuthenticateAPIKey(t *testing.T, h Harness) {
	ctx := context.Background()
	s, clock := migrated(t, h)
	k, plaintext := newKey(t, s, core.DefaultTenantID, "ops", core.ScopeAdmin)

	first := clock.Now().Truncate(time.Microsecond)
	got, err := s.AuthenticateAPIKey(ctx, plaintext)
	if err != nil {
		t.Fatalf("AuthenticateAPIKey: %v", err)
	}
	if got.ID != k.ID || got.TenantID != k.TenantID || got.Scope != core.ScopeAdmin {
		t.Fatalf("authenticated %+v, want key %s", got, k.ID)
	}
	if got.LastUsedAt == nil || !got.LastUsedAt.Equal(first) {
		t.Fatalf("last_used_at = %v, want %v", got.LastUsedAt, first)
	}

	// Within the resolution the use is not written again; after it, it is.
	clock.Advance(core.APIKeyLastUsedResolution / 2)
	if got, err = s.AuthenticateAPIKey(ctx, plaintext); err != nil || !got.LastUsedAt.Equal(first) {
		t.Fatalf("second use: last_used_at %v (%v), want still %v", got.LastUsedAt, err, first)
	}
	clock.Advance(core.APIKeyLastUsedResolution)
	later := clock.Now().Truncate(time.Microsecond)
	if got, err = s.AuthenticateAPIKey(ctx, plaintext); err != nil || !got.LastUsedAt.Equal(later) {
		t.Fatalf("use after the resolution: last_used_at %v (%v), want %v", got.LastUsedAt, err, later)
	}
	page, err := s.APIKeys(ctx, core.DefaultTenantID, core.PageRequest{})
	if err != nil || len(page.Items) != 1 || page.Items[0].LastUsedAt == nil || !page.Items[0].LastUsedAt.Equal(later) {
		t.Fatalf("stored key after use = %+v (%v), want last_used_at %v", page.Items, err, later)
	}

	unknown := core.APIKeyPrefix + strings.Repeat("a", len(plaintext)-len(core.APIKeyPrefix))
	for name, bad := range map[string]string{
		"empty":             "",
		"garbage":           "hunter2",
		"unknown but valid": unknown,
		"changed last char": plaintext[:len(plaintext)-1] + flip(plaintext[len(plaintext)-1]),
		"upper case":        strings.ToUpper(plaintext),
	} {
		_, err := s.AuthenticateAPIKey(ctx, bad)
		wantCode(t, "AuthenticateAPIKey("+name+")", err, core.ENOTFOUND)
	}
}

func flip(c byte) string {
	if c == 'a' {
		return "b"
	}
	return "a"
}

func testRevokeAPIKey(t *testing.T, h Harness) {
	ctx := context.Background()
	s, clock := migrated(t, h)
	if _, err := s.CreateTenant(ctx, tenant("other")); err != nil {
		t.Fatal(err)
	}
	k, plaintext := newKey(t, s, core.DefaultTenantID, "crm", core.ScopeWrite)

	_, err := s.RevokeAPIKey(ctx, "other", k.ID)
	wantCode(t, "RevokeAPIKey from another tenant", err, core.ENOTFOUND)
	if _, err := s.AuthenticateAPIKey(ctx, plaintext); err != nil {
		t.Fatalf("key revoked by another tenant's call: %v", err)
	}
	_, err = s.RevokeAPIKey(ctx, core.DefaultTenantID, "key_nosuchkey")
	wantCode(t, "RevokeAPIKey of a missing key", err, core.ENOTFOUND)

	clock.Advance(time.Hour)
	at := clock.Now().Truncate(time.Microsecond)
	revoked, err := s.RevokeAPIKey(ctx, core.DefaultTenantID, k.ID)
	if err != nil {
		t.Fatalf("RevokeAPIKey: %v", err)
	}
	if revoked.ID != k.ID || revoked.RevokedAt == nil || !revoked.RevokedAt.Equal(at) {
		t.Fatalf("revoked key = %+v, want revoked_at %v", revoked, at)
	}
	_, err = s.AuthenticateAPIKey(ctx, plaintext)
	wantCode(t, "AuthenticateAPIKey after revocation", err, core.ENOTFOUND)

	clock.Advance(time.Hour)
	again, err := s.RevokeAPIKey(ctx, core.DefaultTenantID, k.ID)
	if err != nil || again.RevokedAt == nil || !again.RevokedAt.Equal(at) {
		t.Fatalf("second revocation = %+v (%v), want revoked_at kept at %v", again, err, at)
	}
}

func testListAPIKeys(t *testing.T, h Harness) {
	ctx := context.Background()
	s, clock := migrated(t, h)
	if _, err := s.CreateTenant(ctx, tenant("other")); err != nil {
		t.Fatal(err)
	}
	// Three keys share one instant, so the id alone must break the tie.
	var want []string
	for i := range 3 {
		k, _ := newKey(t, s, core.DefaultTenantID, fmt.Sprintf("same-instant-%d", i), core.ScopeRead)
		want = append(want, k.ID)
	}
	slices.Sort(want)
	newKey(t, s, "other", "theirs", core.ScopeAdmin)
	for i := range 2 {
		clock.Advance(time.Second)
		k, _ := newKey(t, s, core.DefaultTenantID, fmt.Sprintf("later-%d", i), core.ScopeRead)
		want = append(want, k.ID)
	}

	var got []string
	var cursor string
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
		page, err := s.APIKeys(ctx, core.DefaultTenantID, core.PageRequest{Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatalf("APIKeys page %d: %v", pages, err)
		}
		if len(page.Items) > 2 {
			t.Fatalf("page of %d items, limit 2", len(page.Items))
		}
		for _, k := range page.Items {
			if k.TenantID != core.DefaultTenantID {
				t.Fatalf("list of tenant default returned %+v", k)
			}
			got = append(got, k.ID)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("paged ids = %v, want %v (created_at, then id)", got, want)
	}

	all, err := s.APIKeys(ctx, core.DefaultTenantID, core.PageRequest{})
	if err != nil || len(all.Items) != len(want) || all.NextCursor != "" {
		t.Fatalf("default page: %d items, next %q (%v); want %d and no next", len(all.Items), all.NextCursor, err, len(want))
	}
	theirs, err := s.APIKeys(ctx, "other", core.PageRequest{})
	if err != nil || len(theirs.Items) != 1 || theirs.Items[0].Name != "theirs" {
		t.Fatalf("other tenant's list = %+v (%v)", theirs.Items, err)
	}
	none, err := s.APIKeys(ctx, "nobody", core.PageRequest{})
	if err != nil || len(none.Items) != 0 {
		t.Fatalf("list of a tenant without keys = %+v (%v)", none.Items, err)
	}
	_, err = s.APIKeys(ctx, core.DefaultTenantID, core.PageRequest{Limit: core.MaxPageLimit + 1})
	wantCode(t, "limit over the maximum", err, core.EINVALID)
	_, err = s.APIKeys(ctx, core.DefaultTenantID, core.PageRequest{Cursor: "not a cursor!"})
	wantCode(t, "garbage cursor", err, core.EINVALID)
}

func begin(t *testing.T, s core.Store, tenantID, key, fp string) (*core.StoredResponse, error) {
	t.Helper()
	return s.BeginIdempotency(context.Background(), tenantID, key, fp)
}

func mustHold(t *testing.T, s core.Store, tenantID, key, fp string) {
	t.Helper()
	stored, err := begin(t, s, tenantID, key, fp)
	if err != nil || stored != nil {
		t.Fatalf("BeginIdempotency(%s, %s) = %+v, %v; want the key held (nil, nil)", tenantID, key, stored, err)
	}
}

func testIdempotency(t *testing.T, h Harness) {
	ctx := context.Background()
	s, _ := migrated(t, h)
	if _, err := s.CreateTenant(ctx, tenant("other")); err != nil {
		t.Fatal(err)
	}
	const key, fpA, fpB = "order-42", "fingerprint-a", "fingerprint-b"
	mustHold(t, s, core.DefaultTenantID, key, fpA)

	t.Run("in flight: same request is a conflict", func(t *testing.T) {
		_, err := begin(t, s, core.DefaultTenantID, key, fpA)
		wantCode(t, "Begin while in flight", err, core.ECONFLICT)
	})
	t.Run("in flight: another request is invalid", func(t *testing.T) {
		_, err := begin(t, s, core.DefaultTenantID, key, fpB)
		wantCode(t, "Begin with another fingerprint", err, core.EINVALID)
	})
	t.Run("keys are per tenant", func(t *testing.T) {
		mustHold(t, s, "other", key, fpB)
	})

	resp := core.StoredResponse{
		Status: 201,
		Header: map[string][]string{"Content-Type": {"application/json"}, "Location": {"/v1/things/1"}},
		Body:   []byte("{\"id\":\"1\"}\n\x00\xff"),
	}
	if err := s.CompleteIdempotency(ctx, core.DefaultTenantID, key, fpA, resp); err != nil {
		t.Fatalf("CompleteIdempotency: %v", err)
	}
	t.Run("completed: same request replays", func(t *testing.T) {
		for range 2 {
			stored, err := begin(t, s, core.DefaultTenantID, key, fpA)
			if err != nil || stored == nil {
				t.Fatalf("Begin after Complete = %v, %v; want the stored response", stored, err)
			}
			if !reflect.DeepEqual(*stored, resp) {
				t.Fatalf("replayed %+v, want %+v", *stored, resp)
			}
		}
	})
	t.Run("completed: another request is invalid", func(t *testing.T) {
		_, err := begin(t, s, core.DefaultTenantID, key, fpB)
		wantCode(t, "Begin with another fingerprint after Complete", err, core.EINVALID)
	})
	t.Run("complete needs the key held", func(t *testing.T) {
		err := s.CompleteIdempotency(ctx, core.DefaultTenantID, key, fpA, resp)
		wantCode(t, "second Complete", err, core.ENOTFOUND)
		err = s.CompleteIdempotency(ctx, core.DefaultTenantID, "never-begun", fpA, resp)
		wantCode(t, "Complete of an unknown key", err, core.ENOTFOUND)
	})
	t.Run("release lets a retry run", func(t *testing.T) {
		mustHold(t, s, core.DefaultTenantID, "released", fpA)
		if err := s.ReleaseIdempotency(ctx, core.DefaultTenantID, "released", fpB); err != nil {
			t.Fatalf("Release with another fingerprint: %v", err)
		}
		_, err := begin(t, s, core.DefaultTenantID, "released", fpA)
		wantCode(t, "Begin after a Release by another request", err, core.ECONFLICT)
		if err := s.ReleaseIdempotency(ctx, core.DefaultTenantID, "released", fpA); err != nil {
			t.Fatalf("Release: %v", err)
		}
		mustHold(t, s, core.DefaultTenantID, "released", fpA)
		// A completed record is not released.
		if err := s.ReleaseIdempotency(ctx, core.DefaultTenantID, key, fpA); err != nil {
			t.Fatalf("Release of a completed key: %v", err)
		}
		if stored, err := begin(t, s, core.DefaultTenantID, key, fpA); err != nil || stored == nil {
			t.Fatalf("completed record lost by a Release: %v, %v", stored, err)
		}
	})
	t.Run("empty body and no headers", func(t *testing.T) {
		mustHold(t, s, core.DefaultTenantID, "empty", fpA)
		if err := s.CompleteIdempotency(ctx, core.DefaultTenantID, "empty", fpA, core.StoredResponse{Status: 204}); err != nil {
			t.Fatal(err)
		}
		stored, err := begin(t, s, core.DefaultTenantID, "empty", fpA)
		if err != nil || stored == nil || stored.Status != 204 || len(stored.Body) != 0 || len(stored.Header) != 0 {
			t.Fatalf("replayed %+v (%v), want a bare 204", stored, err)
		}
	})
}

func testIdempotencyTimeouts(t *testing.T, h Harness) {
	ctx := context.Background()
	s, clock := migrated(t, h)
	const fp = "fp"

	t.Run("a stale in-flight key is taken over", func(t *testing.T) {
		mustHold(t, s, core.DefaultTenantID, "crashed", fp)
		clock.Advance(core.IdempotencyInFlightTimeout - time.Second)
		_, err := begin(t, s, core.DefaultTenantID, "crashed", fp)
		wantCode(t, "Begin just before the in-flight timeout", err, core.ECONFLICT)
		clock.Advance(time.Second)
		mustHold(t, s, core.DefaultTenantID, "crashed", fp)
		// The new holder is fresh: a third request is refused again.
		_, err = begin(t, s, core.DefaultTenantID, "crashed", fp)
		wantCode(t, "Begin after a take-over", err, core.ECONFLICT)
		if err := s.CompleteIdempotency(ctx, core.DefaultTenantID, "crashed", fp, core.StoredResponse{Status: 200}); err != nil {
			t.Fatalf("Complete after a take-over: %v", err)
		}
	})
	t.Run("a stale key still refuses another request", func(t *testing.T) {
		mustHold(t, s, core.DefaultTenantID, "crashed-2", fp)
		clock.Advance(core.IdempotencyInFlightTimeout * 2)
		_, err := begin(t, s, core.DefaultTenantID, "crashed-2", "other-fp")
		wantCode(t, "Begin with another fingerprint on a stale key", err, core.EINVALID)
	})
	t.Run("an answer is kept for the TTL, then the key is free", func(t *testing.T) {
		mustHold(t, s, core.DefaultTenantID, "day-old", fp)
		if err := s.CompleteIdempotency(ctx, core.DefaultTenantID, "day-old", fp, core.StoredResponse{Status: 201}); err != nil {
			t.Fatal(err)
		}
		clock.Advance(core.IdempotencyTTL - time.Second)
		if stored, err := begin(t, s, core.DefaultTenantID, "day-old", fp); err != nil || stored == nil || stored.Status != 201 {
			t.Fatalf("Begin within the TTL = %+v, %v; want the replay", stored, err)
		}
		clock.Advance(time.Second)
		mustHold(t, s, core.DefaultTenantID, "day-old", "a-new-request")
	})
}

func testIdempotencyPurge(t *testing.T, h Harness) {
	ctx := context.Background()
	s, clock := migrated(t, h)
	mustHold(t, s, core.DefaultTenantID, "old-1", "fp")
	mustHold(t, s, core.DefaultTenantID, "old-2", "fp")
	if err := s.CompleteIdempotency(ctx, core.DefaultTenantID, "old-2", "fp", core.StoredResponse{Status: 200}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	mustHold(t, s, core.DefaultTenantID, "young", "fp")
	if err := s.CompleteIdempotency(ctx, core.DefaultTenantID, "young", "fp", core.StoredResponse{Status: 201}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(core.IdempotencyTTL - time.Hour)

	n, err := s.PurgeIdempotency(ctx)
	if err != nil || n != 2 {
		t.Fatalf("PurgeIdempotency = %d, %v; want the 2 records of a day ago", n, err)
	}
	if stored, err := begin(t, s, core.DefaultTenantID, "young", "fp"); err != nil || stored == nil || stored.Status != 201 {
		t.Fatalf("young record after purge: %+v, %v; want its replay", stored, err)
	}
	if n, err := s.PurgeIdempotency(ctx); err != nil || n != 0 {
		t.Fatalf("second PurgeIdempotency = %d, %v; want 0", n, err)
	}
}

// testIdempotencyConcurrentBegin races replicas for one key: exactly one
// may hold it.
func testIdempotencyConcurrentBegin(t *testing.T, h Harness) {
	open := h.NewDatabase(t)
	clock := coretest.NewClock(Epoch)
	first := open(t, clock)
	if err := first.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	stores := []core.Store{first, open(t, clock), open(t, clock)}
	const racers = 9
	var wg sync.WaitGroup
	errs := make([]error, racers)
	for i := range racers {
		wg.Go(func() {
			_, errs[i] = stores[i%len(stores)].BeginIdempotency(context.Background(), core.DefaultTenantID, "race", "fp")
		})
	}
	wg.Wait()
	held := 0
	for _, err := range errs {
		switch core.ErrorCode(err) {
		case "":
			held++
		case core.ECONFLICT:
		default:
			t.Errorf("racing Begin: %v", err)
		}
	}
	if held != 1 {
		t.Fatalf("%d racers hold the key, want exactly 1", held)
	}
}
