package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/coretest"
	"github.com/payg-gateway/gateway/core/httpapi"
	"github.com/payg-gateway/gateway/core/httpapi/httpapitest"
	"github.com/payg-gateway/gateway/core/postgres"
	"github.com/payg-gateway/gateway/core/postgres/pgtest"
	"github.com/payg-gateway/gateway/core/sqlite"
	"github.com/payg-gateway/gateway/openapi"
)

// openStore opens a migrated store for one test.
type openStore func(t *testing.T) core.Store

// forEachStore runs fn against SQLite, and against PostgreSQL when
// GATEWAY_TEST_POSTGRES_DSN is set.
func forEachStore(t *testing.T, fn func(t *testing.T, open openStore)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, openSQLite) })
	t.Run("postgres", func(t *testing.T) {
		dsn := pgtest.Schema(t)
		fn(t, func(t *testing.T) core.Store {
			s, err := postgres.Open(context.Background(), dsn, core.SystemClock{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			if err := s.Migrate(context.Background()); err != nil {
				t.Fatal(err)
			}
			return s
		})
	})
}

func openSQLite(t *testing.T) core.Store {
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "gw.db"), core.SystemClock{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// api is a real gateway server on a real listener.
type api struct {
	store core.Store
	srv   *httpapi.Server
	url   string
	logs  *syncBuffer
}

func newAPI(t *testing.T, store core.Store, configure ...func(*httpapi.Options)) *api {
	t.Helper()
	logs := &syncBuffer{}
	svc, ps := newPAYG(t, store, core.SystemClock{})
	opts := httpapi.Options{
		Store:           store,
		PAYG:            svc,
		PAYGStore:       ps,
		Logger:          slog.New(slog.NewJSONHandler(logs, nil)),
		Registry:        prometheus.NewRegistry(),
		MaxBodyBytes:    1 << 20,
		ShutdownTimeout: 10 * time.Second,
	}
	for _, f := range configure {
		f(&opts)
	}
	fixtureDefaults(t, &opts)
	srv, err := httpapi.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &api{store: store, srv: srv, url: ts.URL, logs: logs}
}

// key creates an API key directly in the store, as `gateway apikey create` does.
func (a *api) key(t *testing.T, tenant string, scope core.Scope) string {
	t.Helper()
	_, plaintext, err := a.store.CreateAPIKey(context.Background(), core.APIKey{TenantID: tenant, Name: "test-" + string(scope), Scope: scope})
	if err != nil {
		t.Fatal(err)
	}
	return plaintext
}

func (a *api) client(t *testing.T, key string) *httpapitest.Client {
	return httpapitest.New(t, a.url, key)
}

func wantStatus(t *testing.T, what string, r *httpapitest.Response, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.Status, status, r.Body)
	}
}

type apiKeyBody struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	Scope      string  `json:"scope"`
	Prefix     string  `json:"prefix"`
	CreatedAt  string  `json:"created_at"`
	LastUsedAt *string `json:"last_used_at"`
	RevokedAt  *string `json:"revoked_at"`
	Key        *string `json:"key"`
}

type apiKeyList struct {
	Data       []apiKeyBody `json:"data"`
	NextCursor *string      `json:"next_cursor"`
}

// listAll follows next_cursor through every page of GET /v1/api-keys.
func listAll(t *testing.T, c *httpapitest.Client, limit int) []apiKeyBody {
	t.Helper()
	var out []apiKeyBody
	path := fmt.Sprintf("/v1/api-keys?limit=%d", limit)
	for range 100 {
		r := c.Get(path)
		wantStatus(t, "list api keys", r, 200)
		var page apiKeyList
		r.Decode(t, &page)
		if len(page.Data) > limit {
			t.Fatalf("page of %d keys, limit %d", len(page.Data), limit)
		}
		out = append(out, page.Data...)
		if page.NextCursor == nil {
			return out
		}
		path = fmt.Sprintf("/v1/api-keys?limit=%d&cursor=%s", limit, *page.NextCursor)
	}
	t.Fatal("pagination does not end")
	return nil
}

func ids(keys []apiKeyBody) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k.ID)
	}
	return out
}

func TestV1Authentication(t *testing.T) {
	forEachStore(t, func(t *testing.T, open openStore) {
		a := newAPI(t, open(t))
		anon := a.client(t, "")
		revoked := a.key(t, core.DefaultTenantID, core.ScopeAdmin)
		keys, _ := a.store.APIKeys(context.Background(), core.DefaultTenantID, core.PageRequest{})
		if _, err := a.store.RevokeAPIKey(context.Background(), core.DefaultTenantID, keys.Items[0].ID); err != nil {
			t.Fatal(err)
		}
		for name, header := range map[string]string{
			"no header":       "",
			"basic auth":      "Basic dXNlcjpwYXNz",
			"empty bearer":    "Bearer ",
			"not a key":       "Bearer hunter2",
			"unknown key":     "Bearer " + core.APIKeyPrefix + strings.Repeat("a", 52),
			"revoked key":     "Bearer " + revoked,
			"key, no scheme":  revoked,
			"bearer, no key ": "Bearer",
		} {
			h := http.Header{}
			if header != "" {
				h.Set("Authorization", header)
			}
			r := anon.Do("GET", "/v1/tenant", nil, h)
			wantStatus(t, name, r, http.StatusUnauthorized)
			if p := r.Problem(t); p.Type != "urn:payg-gateway:problem:unauthorized" {
				t.Errorf("%s: problem type %q", name, p.Type)
			}
			if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s: WWW-Authenticate %q, want Bearer", name, r.Header.Get("WWW-Authenticate"))
			}
		}

		key := a.key(t, core.DefaultTenantID, core.ScopeRead)
		r := a.client(t, key).Get("/v1/tenant")
		wantStatus(t, "GET /v1/tenant with a read key", r, 200)
		var tenant struct {
			ID, Name, TimeZone string
			DefaultCountry     *string `json:"default_country"`
		}
		r.Decode(t, &tenant)
		if tenant.ID != core.DefaultTenantID || tenant.DefaultCountry != nil {
			t.Errorf("tenant = %+v, want the default tenant with no default country", tenant)
		}
		// The access log names the key and its tenant, never the secret.
		if logs := a.logs.String(); !strings.Contains(logs, `"tenant_id":"default","api_key_id":"key_`) || strings.Contains(logs, key) {
			t.Errorf("access log should name the key id and never the key:\n%s", logs)
		}
	})
}

// TestV1ScopesFollowTheDocument: every /v1 operation's documented role is
// what the server enforces: a key with less scope gets 403, a key with as
// much or more does not.
func TestV1ScopesFollowTheDocument(t *testing.T) {
	spec, err := openapi.Load()
	if err != nil {
		t.Fatal(err)
	}
	a := newAPI(t, openSQLite(t))
	keys := map[core.Scope]string{}
	for _, s := range []core.Scope{core.ScopeRead, core.ScopeWrite, core.ScopeAdmin} {
		keys[s] = a.key(t, core.DefaultTenantID, s)
	}
	param := regexp.MustCompile(`\{[^}]+\}`)
	checked := 0
	for _, op := range spec.Operations() {
		if !strings.HasPrefix(op.Path, "/v1/") {
			continue
		}
		if len(op.Roles) != 1 {
			t.Errorf("%s %s: roles %v, want exactly one", op.Method, op.Path, op.Roles)
			continue
		}
		need := core.Scope(op.Roles[0])
		switch {
		case strings.HasPrefix(op.Path, "/v1/api-keys") && need != core.ScopeAdmin:
			t.Errorf("%s %s: key management must need admin, documents %s", op.Method, op.Path, need)
		case strings.HasPrefix(op.Path, "/v1/webhook-endpoints") && op.Method != "GET" && !strings.Contains(op.Path, "/replay") && need != core.ScopeAdmin:
			t.Errorf("%s %s: webhook endpoint management must need admin, documents %s", op.Method, op.Path, need)
		case op.Method == "GET" && !need.Allows(core.ScopeRead):
			t.Errorf("%s %s: documents %s", op.Method, op.Path, need)
		case op.Method != "GET" && !need.Allows(core.ScopeWrite):
			t.Errorf("%s %s: a write needs at least write, documents %s", op.Method, op.Path, need)
		}
		path := param.ReplaceAllString(op.Path, "key_nosuchkey")
		for have, key := range keys {
			var body any
			if op.HasJSONBody() {
				body = "{}"
			}
			r := a.client(t, key).Do(op.Method, path, body, http.Header{"Content-Type": {"application/json"}})
			switch {
			case !have.Allows(need) && r.Status != http.StatusForbidden:
				t.Errorf("%s %s with a %s key: %d, want 403 (needs %s)", op.Method, path, have, r.Status, need)
			case have.Allows(need) && (r.Status == http.StatusForbidden || r.Status == http.StatusUnauthorized):
				t.Errorf("%s %s with a %s key: %d, want it allowed (needs %s)", op.Method, path, have, r.Status, need)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no /v1 operation in the document")
	}
}

func TestAPIKeyLifecycle(t *testing.T) {
	forEachStore(t, func(t *testing.T, open openStore) {
		a := newAPI(t, open(t))
		admin := a.client(t, a.key(t, core.DefaultTenantID, core.ScopeAdmin))

		r := admin.Post("/v1/api-keys", map[string]string{"name": "crm-sync", "scope": "write"}, "")
		wantStatus(t, "create", r, http.StatusCreated)
		var created apiKeyBody
		r.Decode(t, &created)
		if created.Key == nil || !core.WellFormedAPIKey(*created.Key) || !strings.HasPrefix(*created.Key, created.Prefix) {
			t.Fatalf("created key %+v: want the whole key, starting with its prefix", created)
		}
		if created.Name != "crm-sync" || created.Scope != "write" || created.LastUsedAt != nil || created.RevokedAt != nil {
			t.Errorf("created = %+v", created)
		}
		if loc := r.Header.Get("Location"); loc != "/v1/api-keys/"+created.ID {
			t.Errorf("Location %q, want /v1/api-keys/%s", loc, created.ID)
		}
		if _, err := time.Parse(time.RFC3339, created.CreatedAt); err != nil || !strings.HasSuffix(created.CreatedAt, "Z") {
			t.Errorf("created_at %q: want RFC 3339 in UTC", created.CreatedAt)
		}

		crm := admin.As(*created.Key)
		wantStatus(t, "new key reads", crm.Get("/v1/tenant"), 200)
		wantStatus(t, "write key lists keys", crm.Get("/v1/api-keys"), http.StatusForbidden)

		listed := listAll(t, admin, 1)
		if len(listed) != 2 || !slices.Contains(ids(listed), created.ID) {
			t.Fatalf("listed %v, want the admin key and %s", ids(listed), created.ID)
		}
		for _, k := range listed {
			if k.LastUsedAt == nil {
				t.Errorf("key %s was used but has no last_used_at", k.ID)
			}
			if k.Key != nil {
				t.Errorf("list shows the secret of %s", k.ID)
			}
		}

		r = admin.Delete("/v1/api-keys/" + created.ID)
		wantStatus(t, "revoke", r, 200)
		var revoked apiKeyBody
		r.Decode(t, &revoked)
		if revoked.ID != created.ID || revoked.RevokedAt == nil {
			t.Fatalf("revoked = %+v", revoked)
		}
		wantStatus(t, "revoked key", crm.Get("/v1/tenant"), http.StatusUnauthorized)
		r = admin.Delete("/v1/api-keys/" + created.ID)
		wantStatus(t, "revoke again", r, 200)
		var again apiKeyBody
		r.Decode(t, &again)
		if again.RevokedAt == nil || *again.RevokedAt != *revoked.RevokedAt {
			t.Errorf("second revoke changed revoked_at: %v then %v", *revoked.RevokedAt, again.RevokedAt)
		}
		r = admin.Delete("/v1/api-keys/key_nosuchkey")
		wantStatus(t, "revoke unknown", r, http.StatusNotFound)
		r.Problem(t)
	})
}

// TestTenantIsolation: one tenant's key never sees or touches another
// tenant's keys.
func TestTenantIsolation(t *testing.T) {
	forEachStore(t, func(t *testing.T, open openStore) {
		a := newAPI(t, open(t))
		if _, err := a.store.CreateTenant(context.Background(), core.Tenant{ID: "acme-ug", Name: "Acme Uganda", TimeZone: "Africa/Kampala", DefaultCountry: "UG"}); err != nil {
			t.Fatal(err)
		}
		alice := a.client(t, a.key(t, core.DefaultTenantID, core.ScopeAdmin))
		bob := a.client(t, a.key(t, "acme-ug", core.ScopeAdmin))

		r := bob.Post("/v1/api-keys", map[string]string{"name": "acme-crm", "scope": "read"}, "shared-key-1")
		wantStatus(t, "bob creates", r, http.StatusCreated)
		var bobs apiKeyBody
		r.Decode(t, &bobs)
		bobsKey := bob.As(*bobs.Key)

		var tenant struct {
			ID             string  `json:"id"`
			DefaultCountry *string `json:"default_country"`
		}
		bobsKey.Get("/v1/tenant").Decode(t, &tenant)
		if tenant.ID != "acme-ug" || tenant.DefaultCountry == nil || *tenant.DefaultCountry != "UG" {
			t.Errorf("bob's tenant = %+v", tenant)
		}
		alice.Get("/v1/tenant").Decode(t, &tenant)
		if tenant.ID != core.DefaultTenantID {
			t.Errorf("alice's tenant = %+v", tenant)
		}

		if got := ids(listAll(t, alice, 50)); len(got) != 1 || slices.Contains(got, bobs.ID) {
			t.Errorf("alice lists %v: want only her own key", got)
		}
		if got := ids(listAll(t, bob, 50)); len(got) != 2 || !slices.Contains(got, bobs.ID) {
			t.Errorf("bob lists %v: want his two keys", got)
		}
		r = alice.Delete("/v1/api-keys/" + bobs.ID)
		wantStatus(t, "alice revokes bob's key", r, http.StatusNotFound)
		wantStatus(t, "bob's key after alice's attempt", bobsKey.Get("/v1/tenant"), 200)

		// Idempotency keys are per tenant too: alice's use of the same
		// Idempotency-Key with another body is her own first request.
		r = alice.Post("/v1/api-keys", map[string]string{"name": "other", "scope": "write"}, "shared-key-1")
		wantStatus(t, "alice reuses bob's Idempotency-Key", r, http.StatusCreated)
		if r.Header.Get(httpapi.IdempotentReplayedHeader) != "" {
			t.Error("alice got bob's stored answer")
		}
	})
}

func TestRequestValidation(t *testing.T) {
	a := newAPI(t, openSQLite(t))
	admin := a.client(t, a.key(t, core.DefaultTenantID, core.ScopeAdmin))
	type pointers = []string
	cases := []struct {
		name   string
		do     func() *httpapitest.Response
		status int
		want   pointers
	}{
		{"unknown and missing fields", func() *httpapitest.Response {
			return admin.Post("/v1/api-keys", `{"nme": "x", "scope": "root"}`, "")
		}, 422, pointers{"/name", "/nme", "/scope"}},
		{"wrong types", func() *httpapitest.Response {
			return admin.Post("/v1/api-keys", `{"name": 7, "scope": null}`, "")
		}, 422, pointers{"/name", "/scope"}},
		{"blank name", func() *httpapitest.Response {
			return admin.Post("/v1/api-keys", `{"name": "   ", "scope": "read"}`, "")
		}, 422, pointers{"/name"}},
		{"not an object", func() *httpapitest.Response { return admin.Post("/v1/api-keys", `[1]`, "") }, 422, pointers{""}},
		{"no body", func() *httpapitest.Response { return admin.Post("/v1/api-keys", "", "") }, 422, pointers{""}},
		{"malformed JSON", func() *httpapitest.Response {
			return admin.Post("/v1/api-keys", `{"name": "x", "scope": "read"`, "")
		}, 400, nil},
		{"two JSON values", func() *httpapitest.Response {
			return admin.Post("/v1/api-keys", `{"name": "x", "scope": "read"} {}`, "")
		}, 400, nil},
		{"not JSON content type", func() *httpapitest.Response {
			return admin.Do("POST", "/v1/api-keys", `name=x&scope=read`, http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
		}, 415, nil},
		{"limit zero", func() *httpapitest.Response { return admin.Get("/v1/api-keys?limit=0") }, 422, pointers{"limit"}},
		{"limit too big", func() *httpapitest.Response { return admin.Get("/v1/api-keys?limit=201") }, 422, pointers{"limit"}},
		{"limit not a number", func() *httpapitest.Response { return admin.Get("/v1/api-keys?limit=ten") }, 422, pointers{"limit"}},
		{"limit twice", func() *httpapitest.Response { return admin.Get("/v1/api-keys?limit=1&limit=2") }, 422, pointers{"limit"}},
		{"forged cursor", func() *httpapitest.Response { return admin.Get("/v1/api-keys?cursor=bm90LWEtY3Vyc29y") }, 422, pointers{"cursor"}},
		{"idempotency key too long", func() *httpapitest.Response {
			return admin.Post("/v1/api-keys", `{"name": "x", "scope": "read"}`, strings.Repeat("k", 256))
		}, 422, pointers{"Idempotency-Key"}},
		{"idempotency key with a space", func() *httpapitest.Response {
			return admin.Post("/v1/api-keys", `{"name": "x", "scope": "read"}`, "two words")
		}, 422, pointers{"Idempotency-Key"}},
		{"body on a DELETE", func() *httpapitest.Response {
			return admin.Do("DELETE", "/v1/api-keys/key_x", `{"why": "because"}`, http.Header{"Content-Type": {"application/json"}})
		}, 422, pointers{""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.do()
			wantStatus(t, tc.name, r, tc.status)
			p := r.Problem(t)
			if got := p.Pointers(); !slices.Equal(got, tc.want) {
				t.Errorf("pointers %q, want %q; problem %+v", got, tc.want, p)
			}
		})
	}
	// None of the rejected requests created a key.
	if n := len(listAll(t, admin, 50)); n != 1 {
		t.Errorf("%d keys after rejected requests, want 1", n)
	}
}

// gatedStore lets a test hold CreateAPIKey open or make it fail.
type gatedStore struct {
	core.Store
	gates chan gate  // the next CreateAPIKey takes a gate, if one is ready
	fail  chan error // the next CreateAPIKey returns an error, if one is ready
}

type gate struct{ entered, release chan struct{} }

func (g *gatedStore) CreateAPIKey(ctx context.Context, k core.APIKey) (core.APIKey, string, error) {
	select {
	case gt := <-g.gates:
		close(gt.entered)
		<-gt.release
	default:
	}
	select {
	case err := <-g.fail:
		return core.APIKey{}, "", err
	default:
	}
	return g.Store.CreateAPIKey(ctx, k)
}

func TestIdempotencyKey(t *testing.T) {
	forEachStore(t, func(t *testing.T, open openStore) {
		store := open(t)
		a := newAPI(t, store)
		admin := a.client(t, a.key(t, core.DefaultTenantID, core.ScopeAdmin))
		body := map[string]string{"name": "crm", "scope": "write"}

		first := admin.Post("/v1/api-keys", body, "create-crm-1")
		wantStatus(t, "first", first, http.StatusCreated)
		var k1 apiKeyBody
		first.Decode(t, &k1)
		if first.Header.Get(httpapi.IdempotentReplayedHeader) != "" {
			t.Error("first answer marked as replayed")
		}

		retry := admin.Post("/v1/api-keys", body, "create-crm-1")
		wantStatus(t, "retry", retry, http.StatusCreated)
		var k2 apiKeyBody
		retry.Decode(t, &k2)
		if retry.Header.Get(httpapi.IdempotentReplayedHeader) != "true" {
			t.Error("replay lacks Idempotent-Replayed: true")
		}
		if k2.ID != k1.ID || k2.CreatedAt != k1.CreatedAt || retry.Header.Get("Location") != first.Header.Get("Location") {
			t.Errorf("replay %+v (Location %q) differs from the first answer %+v", k2, retry.Header.Get("Location"), k1)
		}
		if k2.Key != nil {
			t.Error("the replay carries the key's secret: it must never be stored")
		}
		if retry.Header.Get(httpapi.RequestIDHeader) == first.Header.Get(httpapi.RequestIDHeader) {
			t.Error("the replay reuses the first request's X-Request-Id header")
		}
		if n := len(listAll(t, admin, 50)); n != 2 {
			t.Fatalf("%d keys after a retried create, want 2", n)
		}

		r := admin.Post("/v1/api-keys", map[string]string{"name": "crm", "scope": "read"}, "create-crm-1")
		wantStatus(t, "same key, other body", r, http.StatusUnprocessableEntity)
		if p := r.Problem(t); !strings.Contains(p.Detail, "Idempotency-Key") {
			t.Errorf("detail %q should name the Idempotency-Key", p.Detail)
		}

		wantStatus(t, "no key, first", admin.Post("/v1/api-keys", body, ""), http.StatusCreated)
		wantStatus(t, "no key, second", admin.Post("/v1/api-keys", body, ""), http.StatusCreated)
		if n := len(listAll(t, admin, 50)); n != 4 {
			t.Fatalf("%d keys, want 4: without an Idempotency-Key every POST runs", n)
		}
	})
}

func TestIdempotencyKeyInFlightAndFailures(t *testing.T) {
	forEachStore(t, func(t *testing.T, open openStore) {
		gated := &gatedStore{Store: open(t), gates: make(chan gate, 1), fail: make(chan error, 1)}
		a := newAPI(t, gated)
		admin := a.client(t, a.key(t, core.DefaultTenantID, core.ScopeAdmin))
		body := map[string]string{"name": "slow", "scope": "read"}

		// A retry while the first request runs is refused with 409.
		gt := gate{entered: make(chan struct{}), release: make(chan struct{})}
		gated.gates <- gt
		done := make(chan *httpapitest.Response)
		go func() { done <- admin.Post("/v1/api-keys", body, "slow-1") }()
		<-gt.entered
		r := admin.Post("/v1/api-keys", body, "slow-1")
		wantStatus(t, "retry while in flight", r, http.StatusConflict)
		r.Problem(t)
		close(gt.release)
		wantStatus(t, "first, released", <-done, http.StatusCreated)
		if r := admin.Post("/v1/api-keys", body, "slow-1"); r.Header.Get(httpapi.IdempotentReplayedHeader) != "true" {
			t.Errorf("retry after completion: %d, not a replay", r.Status)
		}

		// A 5xx answer is not kept: the retry runs again.
		gated.fail <- core.Errorf(core.EUNAVAILABLE, "database is busy")
		wantStatus(t, "failing first try", admin.Post("/v1/api-keys", body, "flaky-1"), http.StatusServiceUnavailable)
		r = admin.Post("/v1/api-keys", body, "flaky-1")
		wantStatus(t, "retry after a 503", r, http.StatusCreated)
		if r.Header.Get(httpapi.IdempotentReplayedHeader) != "" {
			t.Error("retry after a 503 was a replay; 5xx answers must not be kept")
		}
	})
}

func TestRateLimitPerKey(t *testing.T) {
	clock := coretest.NewClock(time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC))
	a := newAPI(t, openSQLite(t), func(o *httpapi.Options) {
		o.Clock, o.RateLimit, o.RateBurst = clock, 1, 2
	})
	busy := a.client(t, a.key(t, core.DefaultTenantID, core.ScopeRead))
	calm := a.client(t, a.key(t, core.DefaultTenantID, core.ScopeRead))

	wantStatus(t, "1st", busy.Get("/v1/tenant"), 200)
	wantStatus(t, "2nd (burst)", busy.Get("/v1/tenant"), 200)
	r := busy.Get("/v1/tenant")
	wantStatus(t, "3rd", r, http.StatusTooManyRequests)
	if got := r.Header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After %q, want 1", got)
	}
	if p := r.Problem(t); p.Type != "urn:payg-gateway:problem:rate_limited" {
		t.Errorf("problem type %q", p.Type)
	}
	wantStatus(t, "another key is not limited", calm.Get("/v1/tenant"), 200)
	wantStatus(t, "still limited", busy.Get("/v1/tenant"), http.StatusTooManyRequests)
	clock.Advance(time.Second)
	wantStatus(t, "a second later", busy.Get("/v1/tenant"), 200)
	wantStatus(t, "and no more", busy.Get("/v1/tenant"), http.StatusTooManyRequests)

	slow := newAPI(t, openSQLite(t), func(o *httpapi.Options) { o.Clock, o.RateLimit, o.RateBurst = clock, 0.1, 1 })
	c := slow.client(t, slow.key(t, core.DefaultTenantID, core.ScopeRead))
	wantStatus(t, "slow 1st", c.Get("/v1/tenant"), 200)
	if r := c.Get("/v1/tenant"); r.Status != 429 || r.Header.Get("Retry-After") != "10" {
		t.Errorf("at 0.1/s: %d, Retry-After %q; want 429 and 10", r.Status, r.Header.Get("Retry-After"))
	}
	clock.Advance(300 * time.Millisecond) // 9.7 s to go: Retry-After rounds up
	if r := c.Get("/v1/tenant"); r.Header.Get("Retry-After") != "10" {
		t.Errorf("Retry-After %q, want 10 (whole seconds, rounded up)", r.Header.Get("Retry-After"))
	}
}

// TestRoutesMatchTheDocument: every route the server has is documented,
// and every documented operation is served.
func TestRoutesMatchTheDocument(t *testing.T) {
	spec, err := openapi.Load()
	if err != nil {
		t.Fatal(err)
	}
	a := newAPI(t, openSQLite(t))
	param := regexp.MustCompile(`[:*]([A-Za-z0-9_]+)`)
	routed := map[string]bool{}
	for _, r := range a.srv.Engine().Routes() {
		path := param.ReplaceAllString(r.Path, "{$1}")
		routed[r.Method+" "+path] = true
		if spec.Operation(r.Method, path) == nil {
			t.Errorf("route %s %s is not documented in openapi/gateway.yaml", r.Method, r.Path)
		}
	}
	for _, op := range spec.Operations() {
		if !routed[op.Method+" "+op.Path] {
			t.Errorf("documented operation %s %s (%s) has no route", op.Method, op.Path, op.ID)
		}
	}
	if len(routed) < 9 {
		t.Errorf("only %d routes: the walk is broken", len(routed))
	}
}

func TestDocsAndDocument(t *testing.T) {
	a := newAPI(t, openSQLite(t))
	c := a.client(t, "")
	r := c.Get("/openapi.yaml")
	wantStatus(t, "/openapi.yaml", r, 200)
	if string(r.Body) != string(openapi.Document()) {
		t.Error("/openapi.yaml is not the embedded document")
	}
	r = c.Get("/docs")
	wantStatus(t, "/docs", r, 200)
	page := string(r.Body)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type %q", ct)
	}
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q should forbid loading anything", csp)
	}
	spec, _ := openapi.Load()
	for _, op := range spec.Operations() {
		if !strings.Contains(page, `id="op-`+op.ID+`"`) || !strings.Contains(page, op.Path) {
			t.Errorf("/docs lacks %s %s", op.Method, op.Path)
		}
	}
	for _, banned := range []string{"<script", "src=", `href="http`, "@import", "url("} {
		if strings.Contains(page, banned) {
			t.Errorf("/docs contains %q: it must be self-contained", banned)
		}
	}
}

// purgeCounter signals each PurgeIdempotency call.
type purgeCounter struct {
	core.Store
	calls chan struct{}
}

func (p *purgeCounter) PurgeIdempotency(ctx context.Context) (int, error) {
	select {
	case p.calls <- struct{}{}:
	case <-ctx.Done():
	}
	return p.Store.PurgeIdempotency(ctx)
}

// stallingPurge answers no purge: each waits for its context, as on a
// database that has gone silent, and reports how it ended.
type stallingPurge struct {
	core.Store
	ended chan error
}

func (p *stallingPurge) PurgeIdempotency(ctx context.Context) (int, error) {
	<-ctx.Done()
	select {
	case p.ended <- ctx.Err():
	default:
	}
	return 0, ctx.Err()
}

// A purge on a silent store gives up after IdempotencyPurgeTimeout and
// the next interval purges again; it used to wait for the serve context,
// which ends only at shutdown, so no purge ever ran again.
func TestServeBoundsIdempotencyPurge(t *testing.T) {
	store := &stallingPurge{Store: openSQLite(t), ended: make(chan error, 16)}
	a := newAPI(t, store, func(o *httpapi.Options) {
		o.IdempotencyPurgeInterval = 10 * time.Millisecond
		o.IdempotencyPurgeTimeout = 100 * time.Millisecond
	})
	ln, err := newListener()
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.srv.Serve(ctx, ln) }()
	for i := range 2 {
		select {
		case err := <-store.ended:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("purge %d ended with %v, want its deadline", i+1, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("purge %d still waiting on a silent store after 5s", i+1)
		}
	}
	stop()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}

func newListener() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

func TestServePurgesIdempotencyRecords(t *testing.T) {
	store := &purgeCounter{Store: openSQLite(t), calls: make(chan struct{})}
	a := newAPI(t, store, func(o *httpapi.Options) { o.IdempotencyPurgeInterval = time.Millisecond })
	ln, err := newListener()
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.srv.Serve(ctx, ln) }()
	<-store.calls // at start
	<-store.calls // and again after the interval
	stop()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}
