package httpapi_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/payg-gateway/gateway/adapters"
	_ "github.com/payg-gateway/gateway/adapters/africastalking" // registers sms.africastalking
	_ "github.com/payg-gateway/gateway/adapters/mpesa"          // registers payments.mpesa
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/callbacks"
	"github.com/payg-gateway/gateway/core/coretest"
	"github.com/payg-gateway/gateway/core/httpapi"
	"github.com/payg-gateway/gateway/core/payg"
)

const mpesaPathSecret = "test-path-secret-0123456789"

// mpesaInstance provisions an M-Pesa C2B instance of tenant, taking
// callbacks from 127.0.0.0/8 at /callbacks/{name}/…/{mpesaPathSecret}.
func mpesaInstance(t *testing.T, name, tenant string, clock core.Clock) callbacks.Instance {
	t.Helper()
	ic := adapters.InstanceConfig{Name: name, Adapter: "payments.mpesa", Tenant: tenant, Currency: "KES",
		Settings: map[string]any{"short_code": "600123", "callback_secret": mpesaPathSecret, "allowed_cidrs": []any{"127.0.0.0/8"}}}
	a, err := adapters.Provision(context.Background(), ic, adapters.Deps{Clock: clock}.WithDefaults())
	if err != nil {
		t.Fatalf("provision %s: %v", name, err)
	}
	checked, err := ic.Check()
	if err != nil {
		t.Fatal(err)
	}
	return callbacks.Instance{Config: checked, Adapter: a}
}

// smsInstance provisions an Africa's Talking instance of tenant, without
// a currency (SMS moves no money).
func smsInstance(t *testing.T, name, tenant string, clock core.Clock) callbacks.Instance {
	t.Helper()
	ic := adapters.InstanceConfig{Name: name, Adapter: "sms.africastalking", Tenant: tenant,
		Settings: map[string]any{"username": "sandbox", "sandbox": true, "api_key": "test-at-api-key",
			"callback_secret": mpesaPathSecret, "allowed_cidrs": []any{"127.0.0.0/8"}}}
	a, err := adapters.Provision(context.Background(), ic, adapters.Deps{Clock: clock}.WithDefaults())
	if err != nil {
		t.Fatalf("provision %s: %v", name, err)
	}
	checked, err := ic.Check()
	if err != nil {
		t.Fatal(err)
	}
	return callbacks.Instance{Config: checked, Adapter: a}
}

type adapterBody struct {
	Name           string   `json:"name"`
	Adapter        string   `json:"adapter"`
	Tenant         string   `json:"tenant"`
	Currency       *string  `json:"currency"`
	Capabilities   []string `json:"capabilities"`
	LastCallbackAt *string  `json:"last_callback_at"`
	LastError      *string  `json:"last_error"`
	LastErrorAt    *string  `json:"last_error_at"`
	BreakerState   string   `json:"breaker_state"`
}

// TestAdapters: a tenant sees its own adapter instances and how their
// callbacks went, never another tenant's.
func TestAdapters(t *testing.T) {
	forEachStore(t, func(t *testing.T, open openStore) {
		store := open(t)
		clock := coretest.NewClock(paygEpoch)
		svc, _ := newPAYG(t, store, clock)
		host, err := callbacks.New(svc, []callbacks.Instance{
			mpesaInstance(t, "ke-paybill", "sunbright-ke", clock),
			mpesaInstance(t, "ke-till", "sunbright-ke", clock),
			mpesaInstance(t, "acme-paybill", "acme-ke", clock),
			smsInstance(t, "acme-sms", "acme-ke", clock),
		}, clock, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		a := newAPI(t, store, func(o *httpapi.Options) { o.Clock, o.PAYG, o.Callbacks = clock, svc, host })
		for _, id := range []string{"sunbright-ke", "acme-ke"} {
			if _, err := store.CreateTenant(context.Background(), core.Tenant{ID: id, Name: id, TimeZone: "Africa/Nairobi", DefaultCountry: "KE"}); err != nil {
				t.Fatal(err)
			}
		}
		alice := a.client(t, a.key(t, "sunbright-ke", core.ScopeRead))
		bob := a.client(t, a.key(t, "acme-ke", core.ScopeRead))
		nobody := a.client(t, a.key(t, core.DefaultTenantID, core.ScopeRead))

		got := all[adapterBody](t, alice, "/v1/adapters", 1)
		if len(got) != 2 || got[0].Name != "ke-paybill" || got[1].Name != "ke-till" {
			t.Fatalf("alice's adapters %+v, want ke-paybill and ke-till", got)
		}
		for _, ad := range got {
			if ad.Adapter != "payments.mpesa" || ad.Tenant != "sunbright-ke" || ad.Currency == nil || *ad.Currency != "KES" || ad.BreakerState != "none" ||
				!slices.Contains(ad.Capabilities, "callbacks") || ad.LastCallbackAt != nil || ad.LastError != nil || ad.LastErrorAt != nil {
				t.Errorf("adapter before any callback %+v", ad)
			}
		}
		if got := all[adapterBody](t, bob, "/v1/adapters", 50); len(got) != 2 || got[0].Name != "acme-paybill" || got[1].Name != "acme-sms" {
			t.Errorf("bob's adapters %+v, want acme-paybill and acme-sms", got)
		} else if got[1].Currency != nil || got[0].Currency == nil {
			t.Errorf("currencies %v and %v, want KES and null for the SMS instance", got[0].Currency, got[1].Currency)
		}
		if got := all[adapterBody](t, nobody, "/v1/adapters", 50); len(got) != 0 {
			t.Errorf("a tenant without instances sees %+v", got)
		}

		// A confirmation the adapter cannot read is quarantined: a
		// callback, and an error.
		body, err := os.ReadFile(filepath.Join("../../../shared/testdata/providers/mpesa", "c2b_confirmation_malformed_missing_amount.json"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Post(a.url+"/callbacks/ke-paybill/c2b-confirmation/"+mpesaPathSecret, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("callback answered %d", resp.StatusCode)
		}
		got = all[adapterBody](t, alice, "/v1/adapters", 50)
		at := clock.Now().Format(time.RFC3339)
		if pb := got[0]; pb.LastCallbackAt == nil || *pb.LastCallbackAt != at || pb.LastError == nil || pb.LastErrorAt == nil || *pb.LastErrorAt != at {
			t.Errorf("ke-paybill after a quarantined callback %+v, want its callback and error at %s", pb, at)
		}
		if till := got[1]; till.LastCallbackAt != nil || till.LastError != nil {
			t.Errorf("ke-till changed by ke-paybill's callback: %+v", till)
		}
		var q core.Page[payg.Quarantined]
		if err := paygStoreOf(t, store).View(context.Background(), func(r payg.Reader) error {
			q, err = r.ListQuarantine(context.Background(), "sunbright-ke", core.PageRequest{})
			return err
		}); err != nil || len(q.Items) != 1 {
			t.Errorf("quarantine %+v, %v: want the unreadable callback", q.Items, err)
		}
		wantPointers(t, "forged cursor", alice.Get("/v1/adapters?cursor=bm90LWEtY3Vyc29y"), http.StatusUnprocessableEntity, "cursor")
	})
}
