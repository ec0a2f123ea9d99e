package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/payg-gateway/gateway/adapters"
	_ "github.com/payg-gateway/gateway/adapters/mpesa" // registers payments.mpesa
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/callbacks"
	"github.com/payg-gateway/gateway/core/payg"
)

const (
	providerFixtures = "../../../shared/testdata/providers"
	mpesaSecret      = "test-path-secret-0123456789"
)

func newMpesaHost(t *testing.T, w *world) *callbacks.Host {
	t.Helper()
	return newMpesaHostWith(t, w, nil, prometheus.NewRegistry())
}

// newMpesaHostWith is newMpesaHost with more instance settings (the
// Daraja API's) and the registry of its metrics.
func newMpesaHostWith(t *testing.T, w *world, settings map[string]any, reg prometheus.Registerer) *callbacks.Host {
	t.Helper()
	inst := adapters.InstanceConfig{Name: "ke-paybill", Adapter: "payments.mpesa", Tenant: w.tenant, Currency: "KES",
		Settings: map[string]any{"short_code": "600123", "callback_secret": mpesaSecret, "allowed_cidrs": []any{"127.0.0.0/8"}}}
	maps.Copy(inst.Settings, settings)
	a, err := adapters.Provision(context.Background(), inst, adapters.Deps{Clock: w.clock}.WithDefaults())
	if err != nil {
		t.Fatalf("provision: %v", err)
	}
	inst, _ = inst.Check()
	h, err := callbacks.New(w.svc, []callbacks.Instance{{Config: inst, Adapter: a}}, w.clock, discardLogger(), reg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func fixture(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(providerFixtures, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameJSON compares JSON documents ignoring whitespace and key order.
func sameJSON(t *testing.T, got, want []byte) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		return false
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("fixture is not JSON: %v", err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	return bytes.Equal(gb, wb)
}

func (w *world) post(h *callbacks.Host, kind string, body []byte, from string) adapters.Response {
	req := &adapters.Request{
		Method: http.MethodPost, Path: "/callbacks/ke-paybill/" + kind + "/" + mpesaSecret,
		Header: http.Header{"Content-Type": {"application/json"}}, Body: body,
		RemoteAddr: netip.MustParseAddr(from), ReceivedAt: w.clock.Now(),
	}
	return h.Handle(context.Background(), "ke-paybill", []string{kind, mpesaSecret}, req)
}

// testMpesaCallbacks replays the M-Pesa C2B fixtures through the callback
// host and checks each answer and state change the fixtures README asks for.
func testMpesaCallbacks(t *testing.T, h Harness) {
	ctx := context.Background()
	w := newWorld(t, h)
	host := newMpesaHost(t, w)
	ack := fixture(t, "mpesa/response_callback_ack.json")

	cases := []struct {
		file, kind string
		want       []byte
		check      func(t *testing.T)
	}{
		{"c2b_validation_paybill_ok.json", "c2b-validation", fixture(t, "mpesa/response_validation_accept.json"), nil},
		{"c2b_validation_unknown_account.json", "c2b-validation", fixture(t, "mpesa/response_validation_reject_invalid_account.json"), nil},
		{"c2b_confirmation_v2_masked_msisdn.json", "c2b-confirmation", ack, func(t *testing.T) {
			p := w.paymentByKey(t, "ke-paybill", "TEST0A1B2C")
			if p.Status != payg.PaymentApplied || p.Amount != (core.Money{Amount: 150000, Currency: "KES"}) || p.PayerMSISDN != "2547 ***** 123" {
				t.Errorf("payment %+v", p)
			}
		}},
		{"c2b_confirmation_duplicate_transid.json", "c2b-confirmation", ack, nil},
		{"c2b_confirmation_v1_hashed_msisdn.json", "c2b-confirmation", ack, func(t *testing.T) {
			if p := w.paymentByKey(t, "ke-paybill", "TEST0A1B2D"); p.Status != payg.PaymentApplied || p.Amount.Amount != 300000 {
				t.Errorf("payment %+v", p)
			}
		}},
		{"c2b_confirmation_messy_billref_full_msisdn.json", "c2b-confirmation", ack, func(t *testing.T) {
			if p := w.paymentByKey(t, "ke-paybill", "TEST0A1B2E"); p.Status != payg.PaymentApplied || p.ContractID != w.contract.ID || p.Amount.Amount != 50000 {
				t.Errorf("payment %+v", p)
			}
		}},
		{"c2b_confirmation_till_no_billref.json", "c2b-confirmation", ack, func(t *testing.T) {
			// A masked MSISDN cannot be matched: suspense, kept.
			if p := w.paymentByKey(t, "ke-paybill", "TEST0A1B2F"); p.Status != payg.PaymentSuspense {
				t.Errorf("payment %+v", p)
			}
		}},
		{"c2b_confirmation_unknown_account.json", "c2b-confirmation", ack, func(t *testing.T) {
			if p := w.paymentByKey(t, "ke-paybill", "TEST0A1B2G"); p.Status != payg.PaymentSuspense || p.Amount.Amount != 150000 {
				t.Errorf("payment %+v", p)
			}
		}},
		{"c2b_confirmation_malformed_amount_nonnumeric.json", "c2b-confirmation", ack, nil},
		{"c2b_confirmation_malformed_missing_amount.json", "c2b-confirmation", ack, nil},
		{"c2b_confirmation_malformed_missing_transid.json", "c2b-confirmation", ack, nil},
		{"stk_callback_cancelled_1032.json", "stk", ack, nil},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			resp := w.post(host, tc.kind, fixture(t, "mpesa/"+tc.file), "127.0.0.1")
			if resp.Status != http.StatusOK || !sameJSON(t, resp.Body, tc.want) {
				t.Fatalf("answer %d %s, want 200 %s", resp.Status, resp.Body, tc.want)
			}
			if tc.check != nil {
				tc.check(t)
			}
		})
	}

	// Exactly the applied payments moved money: 1500 + 3000 + 500 KES.
	c := w.checkLedger(t, w.contract.ID, 150000+300000+50000)
	if c.State.TotalPaid != 500000 {
		t.Errorf("total paid %d", c.State.TotalPaid)
	}
	var quarantined core.Page[payg.Quarantined]
	var suspense core.Page[payg.SuspenseItem]
	w.view(t, func(r payg.Reader) error {
		var err error
		if quarantined, err = r.ListQuarantine(ctx, w.tenant, core.PageRequest{}); err != nil {
			return err
		}
		suspense, err = r.ListSuspense(ctx, w.tenant, payg.SuspenseOpen, core.PageRequest{})
		return err
	})
	if len(quarantined.Items) != 3 {
		t.Fatalf("%d quarantined callbacks, want the 3 malformed confirmations", len(quarantined.Items))
	}
	for _, q := range quarantined.Items {
		if len(q.Body) == 0 || q.Reason == "" || q.Instance != "ke-paybill" {
			t.Errorf("quarantined callback lost its body or reason: %+v", q)
		}
	}
	if len(suspense.Items) != 2 {
		t.Errorf("%d open suspense items, want the till and unknown-account payments", len(suspense.Items))
	}
	checkHostHealth(t, host)
	// The cancelled STK push is recorded as failed, by its request id.
	if p := w.paymentByKey(t, "ke-paybill", "request:ws_CO_14032025093500000700000123"); p.Status != payg.PaymentFailed {
		t.Errorf("cancelled STK attempt: %+v", p)
	}

	// Protection: a wrong secret segment is 404, a foreign address 403;
	// nothing is applied either way.
	if resp := host.Handle(ctx, "ke-paybill", []string{"c2b-confirmation", "wrong-secret-0123456789"}, &adapters.Request{
		Method: http.MethodPost, Body: fixture(t, "mpesa/c2b_confirmation_v2_masked_msisdn.json"),
		RemoteAddr: netip.MustParseAddr("127.0.0.1"), Header: http.Header{},
	}); resp.Status != http.StatusNotFound {
		t.Errorf("wrong path secret: %d", resp.Status)
	}
	if resp := w.post(host, "c2b-confirmation", fixture(t, "mpesa/c2b_confirmation_v2_masked_msisdn.json"), "203.0.113.9"); resp.Status != http.StatusForbidden {
		t.Errorf("foreign address: %d", resp.Status)
	}
	if resp := host.Handle(ctx, "nope", []string{"c2b-confirmation", mpesaSecret}, &adapters.Request{Method: http.MethodPost}); resp.Status != http.StatusNotFound {
		t.Errorf("unknown instance: %d", resp.Status)
	}
}

func (w *world) paymentByKey(t *testing.T, instance, txID string) payg.Payment {
	t.Helper()
	var p payg.Payment
	w.view(t, func(r payg.Reader) error {
		var err error
		p, err = r.PaymentByKey(context.Background(), instance, txID)
		return err
	})
	return p
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func checkHostHealth(t *testing.T, host *callbacks.Host) {
	t.Helper()
	sts := host.Statuses()
	if len(sts) != 1 || sts[0].Name != "ke-paybill" || sts[0].LastCallbackAt.IsZero() ||
		!strings.Contains(sts[0].LastError, "quarantined") || !slices.Contains(sts[0].Capabilities, "validation") {
		t.Errorf("instance health %+v", sts)
	}
}
