package main

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/test/sim"
)

// TestServePaymentRequest runs `gateway serve` as configured by a file,
// against the fake Daraja: a payment request made through the API is
// pushed by the durable initiation job, Daraja calls back, and the payment
// buys a token. It checks serve's wiring of the payment request jobs.
func TestServePaymentRequest(t *testing.T) {
	d := sim.NewDaraja(sim.DarajaOptions{ConsumerKey: "ck", ConsumerSecret: "cs", Passkey: "pk", CallbackDelay: 100 * time.Millisecond})
	fake := httptest.NewServer(d.Handler())
	t.Cleanup(func() { d.Close(); fake.Close() })
	gw := serveWith(t, func(addr string) string {
		return fmt.Sprintf(`instances:
  - name: ke-paybill
    adapter: payments.mpesa
    currency: KES
    settings:
      short_code: "600123"
      callback_secret: serve-secret-0123456789
      allowed_cidrs: ["127.0.0.0/8"]
      base_url: %s
      callback_base_url: http://%s/callbacks/ke-paybill
      consumer_key: ck
      consumer_secret: cs
      stk_passkey: pk
`, fake.URL, addr)
	})
	call := gw.call
	deadline := time.Now().Add(20 * time.Second)
	call("POST", "/v1/customers", "c", map[string]any{"external_id": "C-1", "name": "Amina", "phone": "+254700000123"})
	call("POST", "/v1/devices", "d", map[string]any{"external_id": "D-1", "serial": "SHS-1", "token_scheme": "openpaygo",
		"secret_key": "bc41ec9530f6dac86b1a29ab82edc5fb", "starting_code": 516959010})
	call("POST", "/v1/contracts", "k", map[string]any{"external_id": "L-1", "account_number": "AC100234", "customer_id": "external_id:C-1",
		"device_ids": []string{"external_id:D-1"}, "terms": map[string]any{"kind": "payg_credit", "currency": "KES", "price": 5000,
			"price_period": "day", "grace_days": 3, "default_days": 30}})
	pr := call("POST", "/v1/payment-requests", "p", map[string]any{"contract_id": "external_id:L-1",
		"amount": map[string]any{"amount": 150000, "currency": "KES"}})
	for {
		pr = call("GET", "/v1/payment-requests/"+pr["id"].(string), "", nil)
		if pr["status"] == "succeeded" || pr["status"] == "failed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("payment request %v", pr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	toks := call("GET", "/v1/contracts/external_id:L-1/tokens", "", nil)["data"].([]any)
	if pr["status"] != "succeeded" || len(toks) != 1 || len(d.Pushes()) != 1 {
		t.Errorf("request %v; %d tokens; %d pushes", pr, len(toks), len(d.Pushes()))
	}
}
