package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/payg-gateway/gateway/adapters/nexus"
	"github.com/payg-gateway/gateway/adapters/openpaygo"
	"github.com/payg-gateway/gateway/adapters/tokenhttp"
	"github.com/payg-gateway/gateway/config"
	"github.com/payg-gateway/gateway/connectors/webhook"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/coretest"
	"github.com/payg-gateway/gateway/core/httpapi"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/core/secretbox"
)

// newVendorWorld is a paygWorld whose gateway also has the token vendor
// "sunking" configured, as serve wires token_vendors.
func newVendorWorld(t *testing.T, store core.Store) *paygWorld {
	t.Helper()
	clock := coretest.NewClock(paygEpoch)
	v, err := tokenhttp.New(config.TokenVendor{
		Name: "sunking", URLTemplate: "https://tokens.vendor.example/v1/devices/{serial}/tokens",
		Response: config.TokenVendorResponse{TokenPath: "$.token"},
	}, tokenhttp.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	box, err := secretbox.New(secretbox.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	svc := payg.NewService(payg.Options{
		Store: paygStoreOf(t, store), Tenants: store, Clock: clock, Box: box,
		Engines: map[payg.TokenScheme]payg.TokenEngine{
			payg.SchemeOpenPAYGO: openpaygo.Engine{}, payg.SchemeNexus: nexus.Engine{}, "sunking": v,
		},
		Subscribers: []payg.EventSubscriber{webhook.Subscriber{}},
	})
	a := newAPI(t, store, func(o *httpapi.Options) { o.Clock, o.PAYG = clock, svc })
	w := &paygWorld{api: a, svc: svc, clock: clock, tenant: "sunbright-ke"}
	w.addTenant(t, w.tenant)
	w.crm = a.client(t, a.key(t, w.tenant, core.ScopeWrite))
	return w
}

// TestPAYGVendorSchemes: the API takes a configured token vendor's name
// as a device's token_scheme, and refuses names this gateway does not have
// with a 422 problem at /token_scheme.
func TestPAYGVendorSchemes(t *testing.T) {
	forEachStore(t, func(t *testing.T, open openStore) {
		w := newVendorWorld(t, open(t))
		crm := w.crm

		r := crm.Post("/v1/devices", map[string]any{"external_id": "D-SK-1", "serial": "SK-0001", "token_scheme": "sunking"}, "dev-sk-1")
		wantStatus(t, "vendor device", r, http.StatusCreated)
		var dev struct {
			ID          string `json:"id"`
			TokenScheme string `json:"token_scheme"`
		}
		r.Decode(t, &dev)
		if dev.TokenScheme != "sunking" {
			t.Errorf("vendor device %s", r.Body)
		}
		r = crm.Get("/v1/devices/" + dev.ID)
		wantStatus(t, "get vendor device", r, http.StatusOK)

		r = crm.Post("/v1/devices", map[string]any{"serial": "AC-0001", "token_scheme": "acme"}, "dev-acme")
		wantPointers(t, "unconfigured vendor", r, http.StatusUnprocessableEntity, "/token_scheme")
		if p := r.Problem(t); !strings.Contains(p.Detail, "sunking") || !strings.Contains(p.Detail, "openpaygo") {
			t.Errorf("the problem does not list the gateway's schemes: %s", r.Body)
		}
		r = crm.Post("/v1/devices", map[string]any{"serial": "AC-0002", "token_scheme": "Sun King!"}, "dev-badname")
		wantPointers(t, "malformed scheme", r, http.StatusUnprocessableEntity, "/token_scheme")
		r = crm.Post("/v1/devices", map[string]any{"serial": "SK-0002", "token_scheme": "sunking", "secret_key": deviceKeyHex}, "dev-sk-key")
		wantPointers(t, "vendor device with a key", r, http.StatusUnprocessableEntity, "/secret_key")
		r = crm.Post("/v1/devices", map[string]any{"serial": "SK-0003", "token_scheme": "sunking", "value_divider": 2}, "dev-sk-div")
		wantPointers(t, "vendor device with a divider", r, http.StatusUnprocessableEntity, "/value_divider")

		// A vendor device in a contract: its payment's token is pending,
		// waiting for the vendor.
		r = crm.Post("/v1/customers", map[string]any{"external_id": "C-1", "name": "Amina Otieno", "phone": "0700000123"}, "cust-1")
		wantStatus(t, "customer", r, http.StatusCreated)
		r = crm.Post("/v1/contracts", map[string]any{
			"external_id": "L-SK", "account_number": "SK1", "customer_id": "external_id:C-1", "device_ids": []string{"external_id:D-SK-1"},
			"terms": dailyPlan["terms"],
		}, "contract-sk")
		wantStatus(t, "vendor contract", r, http.StatusCreated)
		r = crm.Post("/v1/payments", map[string]any{
			"contract_id": "external_id:L-SK", "amount": map[string]any{"amount": 10000, "currency": "KES"}, "reference": "RCPT-SK-1",
		}, "pay-sk")
		wantStatus(t, "vendor payment", r, http.StatusCreated)
		var out struct {
			Tokens []struct {
				Status string `json:"status"`
				Type   string `json:"type"`
				Value  int64  `json:"value"`
			} `json:"tokens"`
		}
		r.Decode(t, &out)
		if len(out.Tokens) != 1 || out.Tokens[0].Status != "pending" || out.Tokens[0].Value != 2 {
			t.Errorf("vendor token %s, want one pending token of 2 days", r.Body)
		}
	})
}

// TestPAYGSetTimePlan: token_mode set_time in a plan's terms sends
// SET_TIME tokens the device accepts, and is refused for a vendor's device.
func TestPAYGSetTimePlan(t *testing.T) {
	forEachStore(t, func(t *testing.T, open openStore) {
		w := newVendorWorld(t, open(t))
		crm := w.crm
		terms := map[string]any{
			"kind": "payg_credit", "currency": "KES", "price": 5000, "price_period": "day",
			"grace_days": 3, "default_days": 30, "token_mode": "set_time",
		}
		r := crm.Post("/v1/plans", map[string]any{"name": "set", "terms": terms}, "plan-set")
		wantStatus(t, "set_time plan", r, http.StatusCreated)
		var plan struct {
			ID    string `json:"id"`
			Terms struct {
				TokenMode string `json:"token_mode"`
			} `json:"terms"`
		}
		r.Decode(t, &plan)
		if plan.Terms.TokenMode != "set_time" {
			t.Fatalf("plan terms %s", r.Body)
		}
		bad := map[string]any{}
		for k, v := range terms {
			bad[k] = v
		}
		bad["token_mode"] = "set"
		r = crm.Post("/v1/plans", map[string]any{"name": "bad", "terms": bad}, "plan-bad")
		wantPointers(t, "unknown token mode", r, http.StatusUnprocessableEntity, "/terms/token_mode")
		bad["kind"], bad["price_per_kwh"], bad["token_mode"] = "energy", 30, "set_time"
		delete(bad, "price")
		delete(bad, "price_period")
		r = crm.Post("/v1/plans", map[string]any{"name": "bad", "terms": bad}, "plan-bad-energy")
		wantPointers(t, "set_time on energy", r, http.StatusUnprocessableEntity, "/terms/token_mode")

		r = crm.Post("/v1/customers", map[string]any{"external_id": "C-1", "name": "Amina Otieno", "phone": "0700000123"}, "cust-1")
		wantStatus(t, "customer", r, http.StatusCreated)
		r = crm.Post("/v1/devices", map[string]any{"external_id": "D-SK", "serial": "SK-0001", "token_scheme": "sunking"}, "dev-sk")
		wantStatus(t, "vendor device", r, http.StatusCreated)
		r = crm.Post("/v1/contracts", map[string]any{
			"account_number": "SK1", "customer_id": "external_id:C-1", "device_ids": []string{"external_id:D-SK"}, "plan_id": plan.ID,
		}, "contract-sk")
		wantStatus(t, "set_time contract on a vendor device", r, http.StatusUnprocessableEntity)

		r = crm.Post("/v1/devices", map[string]any{
			"external_id": "D-1", "serial": "SHS-0001", "token_scheme": "openpaygo",
			"secret_key": deviceKeyHex, "starting_code": deviceStartingCode, "value_divider": 1, "counter": 1,
		}, "dev-1")
		wantStatus(t, "openpaygo device", r, http.StatusCreated)
		r = crm.Post("/v1/contracts", map[string]any{
			"external_id": "L-1", "account_number": "AC1", "customer_id": "external_id:C-1", "device_ids": []string{"external_id:D-1"}, "plan_id": plan.ID,
		}, "contract-1")
		wantStatus(t, "set_time contract", r, http.StatusCreated)

		key, err := openpaygo.ParseKey(deviceKeyHex)
		if err != nil {
			t.Fatal(err)
		}
		sim := openpaygo.Device{Key: key, StartingCode: deviceStartingCode, ValueDivider: 1}
		state := openpaygo.InitialState(1)
		for i, want := range []int{3, 5} { // 3 days, then 2 more the same day: set to 5
			r = crm.Post("/v1/payments", map[string]any{
				"contract_id": "external_id:L-1", "amount": map[string]any{"amount": []int64{15000, 10000}[i], "currency": "KES"},
				"reference": []string{"RCPT-1", "RCPT-2"}[i],
			}, []string{"pay-1", "pay-2"}[i])
			wantStatus(t, "payment", r, http.StatusCreated)
			out := decode[outcomeBody](t, r)
			if len(out.Tokens) != 1 || out.Tokens[0].Type != "SET_TIME" || out.Tokens[0].Value != int64(want) {
				t.Fatalf("payment %d tokens %s, want SET_TIME %d", i+1, r.Body, want)
			}
			res, err := sim.Decode(out.Tokens[0].Code, state)
			if err != nil || res.Type != openpaygo.SetTime || res.Value != want {
				t.Fatalf("the device reads %s as %+v (%v), want SET_TIME %d", out.Tokens[0].Code, res, err, want)
			}
			state = state.Apply(res)
		}
	})
}

// TestSettleTokenAPI: an admin settles a vendor's pending token by hand.
func TestSettleTokenAPI(t *testing.T) {
	forEachStore(t, func(t *testing.T, open openStore) {
		w := newVendorWorld(t, open(t))
		crm := w.crm
		admin := w.client(t, w.key(t, w.tenant, core.ScopeAdmin))
		wantStatus(t, "device", crm.Post("/v1/devices", map[string]any{"external_id": "D-SK", "serial": "SK-0001", "token_scheme": "sunking"}, "dev"), http.StatusCreated)
		wantStatus(t, "customer", crm.Post("/v1/customers", map[string]any{"external_id": "C-1", "name": "Amina", "phone": "0700000123"}, "cust"), http.StatusCreated)
		wantStatus(t, "contract", crm.Post("/v1/contracts", map[string]any{
			"external_id": "L-1", "account_number": "SK1", "customer_id": "external_id:C-1", "device_ids": []string{"external_id:D-SK"},
			"terms": dailyPlan["terms"],
		}, "con"), http.StatusCreated)
		r := crm.Post("/v1/payments", map[string]any{"contract_id": "external_id:L-1", "amount": map[string]any{"amount": 10000, "currency": "KES"}, "reference": "R-1"}, "pay")
		wantStatus(t, "payment", r, http.StatusCreated)
		out := decode[outcomeBody](t, r)
		if len(out.Tokens) != 1 {
			t.Fatalf("tokens %s", r.Body)
		}
		path := "/v1/tokens/" + out.Tokens[0].ID + "/settle"
		issued := map[string]any{"status": "issued", "code": "483920175364", "reason": "vendor portal, ticket 4411"}

		wantStatus(t, "a write key settles", crm.Post(path, issued, "s-w"), http.StatusForbidden)
		wantStatus(t, "issued without a code", admin.Post(path, map[string]any{"status": "issued", "reason": "x"}, "s-0"), http.StatusUnprocessableEntity)
		wantStatus(t, "unknown token", admin.Post("/v1/tokens/tok_nope/settle", issued, "s-1"), http.StatusNotFound)
		r = admin.Post(path, issued, "s-2")
		wantStatus(t, "settle", r, http.StatusOK)
		got := decode[tokenBody](t, r)
		if got.Code != "483920175364" || got.ID != out.Tokens[0].ID {
			t.Errorf("settled token %s", r.Body)
		}
		var status struct {
			Status string `json:"status"`
		}
		r.Decode(t, &status)
		if status.Status != "issued" {
			t.Errorf("status %s", r.Body)
		}
		wantStatus(t, "settle again the same way", admin.Post(path, issued, "s-3"), http.StatusOK)
		wantStatus(t, "fail an issued token", admin.Post(path, map[string]any{"status": "failed", "reason": "oops"}, "s-4"), http.StatusConflict)
		if evs := all[eventBody](t, crm, "/v1/events?type=token.issued", 10); len(evs) != 1 {
			t.Errorf("%d token.issued events, want 1", len(evs))
		}
	})
}
