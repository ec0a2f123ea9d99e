package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/httpapi"
	"github.com/payg-gateway/gateway/core/httpapi/httpapitest"
	"github.com/payg-gateway/gateway/core/postgres"
	"github.com/payg-gateway/gateway/core/postgres/pgtest"
	"github.com/payg-gateway/gateway/core/secretbox"
)

// TestWebhookEditsAcrossReplicas: two gateway services on one PostgreSQL
// database rotate an endpoint's secret and change it at the same time.
// Every secret shown to the CRM is kept, sealed at rest, and every change
// lands: the edits are compare-and-set on the endpoint's version, not
// serialised in one process.
func TestWebhookEditsAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	box, err := secretbox.New(secretbox.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	var stores []*postgres.Store
	var apis []*api
	for i := range 2 {
		s, err := postgres.Open(ctx, dsn, core.SystemClock{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if i == 0 {
			if err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := s.CreateTenant(ctx, core.Tenant{ID: "sunbright-ke", Name: "SunBright", TimeZone: "Africa/Nairobi"}); err != nil {
				t.Fatal(err)
			}
		}
		s.UseSecretBox(box)
		stores = append(stores, s)
		// Reads that take a while widen each edit's read-modify-write
		// window, so the two replicas' edits overlap.
		apis = append(apis, newAPI(t, s, func(o *httpapi.Options) {
			o.LookupIP = fakeDNS
			o.Webhooks, o.Jobs, o.Events = slowEndpointReads{s}, s, s
		}))
	}
	key := apis[0].key(t, "sunbright-ke", core.ScopeAdmin)
	c0, c1 := apis[0].client(t, key), apis[1].client(t, key)

	r := c0.Post("/v1/webhook-endpoints", map[string]any{"url": "https://crm.example.com/hooks", "event_types": []string{"*"}}, "ep")
	wantStatus(t, "create", r, http.StatusCreated)
	ep := decode[endpointBody](t, r)
	shown := []string{*ep.Secret}
	path := "/v1/webhook-endpoints/" + ep.ID

	const each = 6
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, c := range []*httpapitest.Client{c0, c1} {
		for j := range each {
			wg.Go(func() {
				r := c.Post(path+"/secrets", map[string]any{"overlap_seconds": 86400}, fmt.Sprintf("rot-%d-%d", i, j))
				if r.Status != http.StatusOK {
					t.Errorf("rotation on replica %d: %d %s", i, r.Status, r.Body)
					return
				}
				got := decode[endpointBody](t, r)
				mu.Lock()
				shown = append(shown, *got.Secret)
				mu.Unlock()
			})
			wg.Go(func() {
				r := c.Patch(path, map[string]any{"rate_limit_per_second": 100*i + j + 1})
				if r.Status != http.StatusOK {
					t.Errorf("change on replica %d: %d %s", i, r.Status, r.Body)
				}
			})
		}
	}
	wg.Wait()

	got, err := stores[1].WebhookEndpoint(ctx, "sunbright-ke", ep.ID)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, s := range got.Secrets {
		kept = append(kept, s.Value)
	}
	for _, s := range shown {
		if !slices.Contains(kept, s) {
			t.Errorf("a secret shown to the CRM was lost: %d shown, %d kept", len(shown), len(kept))
			break
		}
	}
	if len(shown) != 1+2*each || len(kept) != len(shown) {
		t.Errorf("%d secrets shown, %d kept; want %d", len(shown), len(kept), 1+2*each)
	}
	if want := int64(1 + 4*each); got.Version != want {
		t.Errorf("version %d after %d edits, want %d", got.Version, 4*each, want)
	}
	// Sealed at rest: a replica without the master key cannot read them.
	bare, err := postgres.Open(ctx, dsn, core.SystemClock{})
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	if _, err := bare.WebhookEndpoint(ctx, "sunbright-ke", ep.ID); err == nil {
		t.Error("a store without the master key reads the endpoint's secrets")
	}
}

// slowEndpointReads is a store whose endpoint reads take 20 ms.
type slowEndpointReads struct{ *postgres.Store }

func (s slowEndpointReads) WebhookEndpoint(ctx context.Context, tenant, id string) (core.WebhookEndpoint, error) {
	e, err := s.Store.WebhookEndpoint(ctx, tenant, id)
	time.Sleep(20 * time.Millisecond)
	return e, err
}
