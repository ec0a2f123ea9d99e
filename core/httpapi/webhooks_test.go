package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/connectors/webhook"
	"github.com/payg-gateway/gateway/connectors/webhook/signature"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/httpapi"
	"github.com/payg-gateway/gateway/core/httpapi/httpapitest"
)

type webhookSecretBody struct {
	ID        string  `json:"id"`
	CreatedAt string  `json:"created_at"`
	ExpiresAt *string `json:"expires_at"`
}

type endpointBody struct {
	ID                 string              `json:"id"`
	URL                string              `json:"url"`
	Description        *string             `json:"description"`
	EventTypes         []string            `json:"event_types"`
	Enabled            bool                `json:"enabled"`
	DisabledReason     *string             `json:"disabled_reason"`
	RateLimitPerSecond int                 `json:"rate_limit_per_second"`
	Secrets            []webhookSecretBody `json:"secrets"`
	Secret             *string             `json:"secret"`
}

type attemptBody struct {
	ID         string  `json:"id"`
	EndpointID string  `json:"endpoint_id"`
	EventID    string  `json:"event_id"`
	DeliveryID string  `json:"delivery_id"`
	Attempt    int     `json:"attempt"`
	At         string  `json:"at"`
	StatusCode *int    `json:"status_code"`
	LatencyMS  int64   `json:"latency_ms"`
	Error      *string `json:"error"`
	Response   *string `json:"response"`
}

type replayBody struct {
	Enqueued int `json:"enqueued"`
}

// fakeDNS resolves the test's host names without the network; other
// names do not resolve.
func fakeDNS(_ context.Context, _, host string) ([]netip.Addr, error) {
	switch host {
	case "crm.example.com":
		return []netip.Addr{netip.MustParseAddr("203.0.113.10")}, nil
	case "intranet.example.com":
		return []netip.Addr{netip.MustParseAddr("203.0.113.11"), netip.MustParseAddr("10.1.2.3")}, nil
	}
	return nil, errors.New("no such host")
}

// TestWebhookEndpoints: create (the secret shown once), list, get,
// change, rotate the secret, delete; every refused request names its
// field.
func TestWebhookEndpoints(t *testing.T) {
	forEachStore(t, func(t *testing.T, open openStore) {
		w := newPAYGWorld(t, open(t), func(o *httpapi.Options) { o.LookupIP = fakeDNS })
		admin := w.client(t, w.key(t, w.tenant, core.ScopeAdmin))
		reader := w.client(t, w.key(t, w.tenant, core.ScopeRead))

		create := map[string]any{"url": "https://crm.example.com/hooks/gateway?token=abc", "description": "CRM production",
			"event_types": []string{"payment.*", "token.issued"}, "rate_limit_per_second": 20}
		r := admin.Post("/v1/webhook-endpoints", create, "ep-1")
		wantStatus(t, "create", r, http.StatusCreated)
		ep := decode[endpointBody](t, r)
		if ep.Secret == nil || !strings.HasPrefix(*ep.Secret, signature.SecretPrefix) {
			t.Fatalf("created endpoint without its secret: %s", r.Body)
		}
		if _, err := signature.ParseSecret(*ep.Secret); err != nil {
			t.Errorf("secret: %v", err)
		}
		if r.Header.Get("Location") != "/v1/webhook-endpoints/"+ep.ID || !strings.HasPrefix(ep.ID, "whe_") || ep.URL != create["url"] ||
			!ep.Enabled || ep.DisabledReason != nil || ep.Description == nil || *ep.Description != "CRM production" ||
			ep.RateLimitPerSecond != 20 || !slices.Equal(ep.EventTypes, []string{"payment.*", "token.issued"}) ||
			len(ep.Secrets) != 1 || ep.Secrets[0].ExpiresAt != nil {
			t.Errorf("created endpoint %s (Location %q)", r.Body, r.Header.Get("Location"))
		}
		secret := *ep.Secret
		r = admin.Post("/v1/webhook-endpoints", create, "ep-1")
		if r.Header.Get(httpapi.IdempotentReplayedHeader) != "true" || decode[endpointBody](t, r).ID != ep.ID || strings.Contains(string(r.Body), secret) {
			t.Errorf("replayed creation: %s; want the first answer without the secret", r.Body)
		}
		for _, path := range []string{"/v1/webhook-endpoints", "/v1/webhook-endpoints/" + ep.ID} {
			r := reader.Get(path)
			wantStatus(t, path, r, http.StatusOK)
			if strings.Contains(string(r.Body), secret) || strings.Contains(string(r.Body), `"secret"`) {
				t.Errorf("GET %s shows the secret: %s", path, r.Body)
			}
		}
		wantStatus(t, "a write key creates", w.crm.Post("/v1/webhook-endpoints", create, "ep-w"), http.StatusForbidden)
		wantStatus(t, "a write key changes", w.crm.Patch("/v1/webhook-endpoints/"+ep.ID, map[string]any{"enabled": false}), http.StatusForbidden)

		// A name that does not resolve (yet) is accepted: deliveries are
		// checked when they connect.
		r = admin.Post("/v1/webhook-endpoints", map[string]any{"url": "http://later.example.com/", "event_types": []string{"*"}, "enabled": false}, "ep-2")
		wantStatus(t, "create an unresolvable, disabled endpoint", r, http.StatusCreated)
		later := decode[endpointBody](t, r)
		if later.Enabled || later.Description != nil {
			t.Errorf("second endpoint %s", r.Body)
		}
		var listed []string
		for _, e := range all[endpointBody](t, reader, "/v1/webhook-endpoints", 1) {
			listed = append(listed, e.ID)
		}
		if !slices.Equal(listed, []string{ep.ID, later.ID}) {
			t.Errorf("listed %v, want %s then %s", listed, ep.ID, later.ID)
		}

		for i, tc := range []struct {
			name     string
			body     map[string]any
			pointers []string
		}{
			{"not http", map[string]any{"url": "ftp://crm.example.com/", "event_types": []string{"*"}}, []string{"/url"}},
			{"credentials", map[string]any{"url": "https://me:pw@crm.example.com/", "event_types": []string{"*"}}, []string{"/url"}},
			{"loopback", map[string]any{"url": "http://127.0.0.1:9/", "event_types": []string{"*"}}, []string{"/url"}},
			{"localhost", map[string]any{"url": "http://localhost:8080/hooks", "event_types": []string{"*"}}, []string{"/url"}},
			{"resolves to a private address", map[string]any{"url": "https://intranet.example.com/", "event_types": []string{"*"}}, []string{"/url"}},
			{"cloud metadata", map[string]any{"url": "http://169.254.169.254/latest", "event_types": []string{"*"}}, []string{"/url"}},
			{"no event types", map[string]any{"url": "https://crm.example.com/", "event_types": []string{}}, []string{"/event_types"}},
			{"a misspelt type", map[string]any{"url": "https://crm.example.com/", "event_types": []string{"token.*", "payment.aplied"}}, []string{"/event_types/1"}},
			{"not a pattern", map[string]any{"url": "https://crm.example.com/", "event_types": []string{"Payment"}}, []string{"/event_types/0"}},
			{"negative rate", map[string]any{"url": "https://crm.example.com/", "event_types": []string{"*"}, "rate_limit_per_second": -1}, []string{"/rate_limit_per_second"}},
			{"a secret of one's own", map[string]any{"url": "https://crm.example.com/", "event_types": []string{"*"}, "secret": secret}, []string{"/secret"}},
		} {
			r := admin.Post("/v1/webhook-endpoints", tc.body, fmt.Sprintf("bad-%d", i))
			wantPointers(t, tc.name, r, http.StatusUnprocessableEntity, tc.pointers...)
		}

		// Changes.
		path := "/v1/webhook-endpoints/" + ep.ID
		r = admin.Patch(path, map[string]any{"enabled": false, "description": "", "rate_limit_per_second": 5})
		wantStatus(t, "disable", r, http.StatusOK)
		if got := decode[endpointBody](t, r); got.Enabled || got.Description != nil || got.RateLimitPerSecond != 5 || got.URL != ep.URL ||
			!slices.Equal(got.EventTypes, ep.EventTypes) {
			t.Errorf("after the change %s", r.Body)
		}
		r = admin.Patch(path, map[string]any{"enabled": true, "url": "https://crm.example.com/v2", "event_types": []string{"*"}})
		wantStatus(t, "enable", r, http.StatusOK)
		if got := decode[endpointBody](t, reader.Get(path)); !got.Enabled || got.URL != "https://crm.example.com/v2" || !slices.Equal(got.EventTypes, []string{"*"}) {
			t.Errorf("after enabling %+v", got)
		}
		wantPointers(t, "change to loopback", admin.Patch(path, map[string]any{"url": "http://[::1]/"}), http.StatusUnprocessableEntity, "/url")
		wantPointers(t, "change to an unknown type", admin.Patch(path, map[string]any{"event_types": []string{"invoice.*"}}), http.StatusUnprocessableEntity, "/event_types/0")
		wantPointers(t, "change nothing", admin.Patch(path, map[string]any{}), http.StatusUnprocessableEntity, "")
		wantPointers(t, "change the secret", admin.Patch(path, map[string]any{"secrets": []string{}}), http.StatusUnprocessableEntity, "/secrets")
		wantStatus(t, "change an unknown endpoint", admin.Patch("/v1/webhook-endpoints/whe_nosuch", map[string]any{"enabled": true}), http.StatusNotFound)

		// Rotation: the new secret shown once, the old one expiring after
		// the overlap; expired secrets are dropped at the next rotation.
		now := w.clock.Now()
		r = admin.Post(path+"/secrets", nil, "rot-1")
		wantStatus(t, "rotate", r, http.StatusOK)
		rot := decode[endpointBody](t, r)
		if rot.Secret == nil || *rot.Secret == secret || len(rot.Secrets) != 2 || rot.Secrets[0].ExpiresAt == nil ||
			*rot.Secrets[0].ExpiresAt != now.Add(24*time.Hour).Format(time.RFC3339) || rot.Secrets[1].ExpiresAt != nil {
			t.Fatalf("after a rotation with the default overlap: %s", r.Body)
		}
		r = admin.Post(path+"/secrets", nil, "rot-1")
		if r.Header.Get(httpapi.IdempotentReplayedHeader) != "true" || strings.Contains(string(r.Body), *rot.Secret) {
			t.Errorf("replayed rotation shows the secret: %s", r.Body)
		}
		r = admin.Post(path+"/secrets", map[string]any{"overlap_seconds": 0}, "rot-2")
		wantStatus(t, "rotate at once", r, http.StatusOK)
		if got := decode[endpointBody](t, r); len(got.Secrets) != 3 || *got.Secrets[0].ExpiresAt != now.Format(time.RFC3339) ||
			*got.Secrets[1].ExpiresAt != now.Format(time.RFC3339) || got.Secrets[2].ExpiresAt != nil {
			t.Errorf("after a rotation without overlap: %s", r.Body)
		}
		r = admin.Post(path+"/secrets", map[string]any{"overlap_seconds": 60}, "rot-3")
		if got := decode[endpointBody](t, r); len(got.Secrets) != 2 {
			t.Errorf("expired secrets kept: %s", r.Body)
		}
		wantPointers(t, "negative overlap", admin.Post(path+"/secrets", map[string]any{"overlap_seconds": -1}, "rot-4"),
			http.StatusUnprocessableEntity, "/overlap_seconds")

		// Attempts and replays of an endpoint with nothing delivered yet.
		if got := all[attemptBody](t, reader, path+"/attempts", 10); len(got) != 0 {
			t.Errorf("attempts %+v", got)
		}
		r = w.crm.Post(path+"/replay-dead", nil, "dead-1")
		wantStatus(t, "replay no dead deliveries", r, http.StatusAccepted)
		if decode[replayBody](t, r).Enqueued != 0 {
			t.Errorf("replay-dead: %s", r.Body)
		}
		wantPointers(t, "an empty range", w.crm.Post(path+"/replay", map[string]any{"since": "2026-03-14T10:00:00Z", "until": "2026-03-14T10:00:00Z"}, "rng-1"),
			http.StatusUnprocessableEntity, "/until")
		wantPointers(t, "a range without until", w.crm.Post(path+"/replay", map[string]any{"since": "2026-03-14T10:00:00Z"}, "rng-2"),
			http.StatusUnprocessableEntity, "/until")
		wantStatus(t, "replay an unknown event", w.crm.Post("/v1/events/evt_nosuch/replay", nil, "evt-1"), http.StatusNotFound)
		wantStatus(t, "replay to a disabled endpoint", w.crm.Post("/v1/webhook-endpoints/"+later.ID+"/replay-dead", nil, "dead-2"), http.StatusConflict)

		r = admin.Delete(path)
		wantStatus(t, "delete", r, http.StatusNoContent)
		if len(r.Body) != 0 {
			t.Errorf("204 with a body: %s", r.Body)
		}
		wantStatus(t, "get deleted", reader.Get(path), http.StatusNotFound)
		wantStatus(t, "delete again", admin.Delete(path), http.StatusNotFound)
		wantStatus(t, "attempts of a deleted endpoint", reader.Get(path+"/attempts"), http.StatusNotFound)
	})
}

// TestWebhookEgressOptions: the server's options decide which internal
// addresses an endpoint may name; link-local never.
func TestWebhookEgressOptions(t *testing.T) {
	w := newPAYGWorld(t, openSQLite(t), func(o *httpapi.Options) {
		o.LookupIP, o.WebhookEgress = fakeDNS, webhook.Egress{AllowPrivate: true, AllowLoopback: true}
	})
	admin := w.client(t, w.key(t, w.tenant, core.ScopeAdmin))
	for i, u := range []string{"http://127.0.0.1:9/", "http://localhost/", "https://intranet.example.com/", "http://10.0.0.7/", "http://[fd00::1]/"} {
		wantStatus(t, u, admin.Post("/v1/webhook-endpoints", map[string]any{"url": u, "event_types": []string{"*"}}, fmt.Sprintf("ok-%d", i)), http.StatusCreated)
	}
	wantPointers(t, "link-local", admin.Post("/v1/webhook-endpoints", map[string]any{"url": "http://169.254.169.254/", "event_types": []string{"*"}}, "ll"),
		http.StatusUnprocessableEntity, "/url")
}

// TestWebhookTenantIsolation: another tenant's endpoints and events are
// not found, whatever the operation.
func TestWebhookTenantIsolation(t *testing.T) {
	forEachStore(t, func(t *testing.T, open openStore) {
		w := newPAYGWorld(t, open(t), func(o *httpapi.Options) { o.LookupIP = fakeDNS })
		alice := w.client(t, w.key(t, w.tenant, core.ScopeAdmin))
		w.addTenant(t, "acme-ke")
		bob := w.client(t, w.key(t, "acme-ke", core.ScopeAdmin))
		body := map[string]any{"url": "https://crm.example.com/", "event_types": []string{"*"}}
		r := bob.Post("/v1/webhook-endpoints", body, "ep")
		wantStatus(t, "bob's endpoint", r, http.StatusCreated)
		bobs := decode[endpointBody](t, r)
		wantStatus(t, "alice's endpoint", alice.Post("/v1/webhook-endpoints", body, "ep"), http.StatusCreated)

		theirs := w.sell(t, bob, 2)
		wantStatus(t, "bob pays", bob.Post("/v1/payments", map[string]any{"contract_id": theirs.contract.ID,
			"amount": map[string]any{"amount": 15000, "currency": "KES"}, "reference": "R-1"}, "pay"), http.StatusCreated)
		bobEvent := all[idBody](t, bob, "/v1/events", 50)[0].ID
		mine := w.sell(t, alice, 1)
		wantStatus(t, "alice pays", alice.Post("/v1/payments", map[string]any{"contract_id": mine.contract.ID,
			"amount": map[string]any{"amount": 15000, "currency": "KES"}, "reference": "R-1"}, "pay"), http.StatusCreated)
		aliceEvent := all[idBody](t, alice, "/v1/events", 50)[0].ID

		path := "/v1/webhook-endpoints/" + bobs.ID
		for name, r := range map[string]*httpapitest.Response{
			"get":                       alice.Get(path),
			"attempts":                  alice.Get(path + "/attempts"),
			"change":                    alice.Patch(path, map[string]any{"url": "https://crm.example.com/alice"}),
			"rotate":                    alice.Post(path+"/secrets", nil, "rot"),
			"replay a range":            alice.Post(path+"/replay", map[string]any{"since": "2026-01-01T00:00:00Z", "until": "2027-01-01T00:00:00Z"}, "rng"),
			"replay dead":               alice.Post(path+"/replay-dead", nil, "dead"),
			"replay bob's event":        alice.Post("/v1/events/"+bobEvent+"/replay", nil, "evt-1"),
			"replay to bob's endpoint":  alice.Post("/v1/events/"+aliceEvent+"/replay", map[string]any{"endpoint_id": bobs.ID}, "evt-2"),
			"delete":                    alice.Delete(path),
			"bob replays alice's event": bob.Post("/v1/events/"+aliceEvent+"/replay", nil, "evt-3"),
		} {
			wantStatus(t, name, r, http.StatusNotFound)
			r.Problem(t)
		}
		for _, e := range all[endpointBody](t, alice, "/v1/webhook-endpoints", 50) {
			if e.ID == bobs.ID {
				t.Error("alice lists bob's endpoint")
			}
		}
		got := decode[endpointBody](t, bob.Get(path))
		if got.URL != "https://crm.example.com/" || len(got.Secrets) != 1 {
			t.Errorf("bob's endpoint changed: %+v", got)
		}
		// Alice's replay reaches her own endpoint only.
		r = alice.Post("/v1/events/"+aliceEvent+"/replay", nil, "evt-4")
		wantStatus(t, "alice replays her event", r, http.StatusAccepted)
		if n := decode[replayBody](t, r).Enqueued; n != 1 {
			t.Errorf("alice's replay enqueued %d, want 1 (her endpoint)", n)
		}
	})
}

// TestWithoutWebhooksOrCallbacks: a server given no webhook stores
// answers the webhook operations 503, and one without a callback host
// has no adapter instances.
func TestWithoutWebhooksOrCallbacks(t *testing.T) {
	f := newFixture(t, true) // httpapi.New without Webhooks nor Callbacks
	_, key, err := f.store.CreateAPIKey(context.Background(), core.APIKey{TenantID: core.DefaultTenantID, Name: "t", Scope: core.ScopeAdmin})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		w := f.do(t, req)
		return w.Code, w.Body.String()
	}
	if code, body := get("/v1/webhook-endpoints"); code != http.StatusServiceUnavailable || !strings.Contains(body, "not configured") {
		t.Errorf("webhook endpoints without a store: %d %s", code, body)
	}
	if code, body := get("/v1/adapters"); code != http.StatusOK || !strings.Contains(body, `"data":[]`) {
		t.Errorf("adapters without a callback host: %d %s", code, body)
	}
}
