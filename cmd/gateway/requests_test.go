package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/test/sim"
)

// serveMpesa runs `gateway serve` (serveWith) with one M-Pesa instance,
// ke-paybill, whose Daraja is at darajaURL; settings are more of its
// settings (YAML lines indented for the settings map).
func serveMpesa(t *testing.T, darajaURL, settings string) *served {
	t.Helper()
	return serveWith(t, func(addr string) string {
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
%s`, darajaURL, addr, settings)
	})
}

// TestServePaymentRequest runs `gateway serve` as configured by a file,
// against the fake Daraja: a payment request made through the API is
// pushed by the durable initiation job, Daraja calls back, and the payment
// buys a token. It checks serve's wiring of the payment request jobs.
func TestServePaymentRequest(t *testing.T) {
	d := sim.NewDaraja(sim.DarajaOptions{ConsumerKey: "ck", ConsumerSecret: "cs", Passkey: "pk", CallbackDelay: 100 * time.Millisecond})
	fake := httptest.NewServer(d.Handler())
	t.Cleanup(func() { d.Close(); fake.Close() })
	g := serveMpesa(t, fake.URL, "      stk_passkey: pk\n")
	call, deadline := g.call, time.Now().Add(20*time.Second)
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

// TestServeStatusQuery: an operator asks through the API what became of a
// receipt; serve's job runner sends the Transaction Status query to the
// fake Daraja at once, and Daraja's result callback settles the query and
// applies the receipt. It checks serve's wiring of the asynchronous
// request jobs.
func TestServeStatusQuery(t *testing.T) {
	d := sim.NewDaraja(sim.DarajaOptions{ConsumerKey: "ck", ConsumerSecret: "cs",
		StatusIDs: func(sim.StatusQuery) (string, string) {
			return "1234-5678901-1", "AG_20250314_0000aaaabbbbccccdddd" // transaction_status_result_completed.json's
		}})
	fake := httptest.NewServer(d.Handler())
	t.Cleanup(func() { d.Close(); fake.Close() })
	g := serveMpesa(t, fake.URL, "      initiator: apiop\n      security_credential: c2VjcmV0Y3JlZGVudGlhbA==\n")
	deadline := time.Now().Add(20 * time.Second)
	q := g.call("POST", "/v1/status-queries", "q", map[string]any{"instance": "ke-paybill", "receipt": "TEST0A1B2C"})
	for len(d.StatusQueries()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("Daraja received no status query")
		}
		time.Sleep(20 * time.Millisecond)
	}
	sent := d.StatusQueries()[0]
	if sent.TransactionID != "TEST0A1B2C" || !strings.HasPrefix(sent.ResultURL, g.base+"/callbacks/ke-paybill/status-result/") {
		t.Fatalf("Daraja received %+v", sent)
	}
	body, err := os.ReadFile(filepath.Join("../../../shared/testdata/providers/mpesa", "transaction_status_result_completed.json"))
	if err != nil {
		t.Fatal(err)
	}
	for {
		// The query may be sent before its ids are stored: until then
		// the result is acknowledged unmatched, as Daraja would see it.
		resp, err := http.Post(sent.ResultURL, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("result callback answered %d", resp.StatusCode)
		}
		q = g.call("GET", "/v1/status-queries/"+q["id"].(string), "", nil)
		if q["state"] != "pending" && q["state"] != "created" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status query %v", q)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if q["state"] != "succeeded" || q["attempts"] != float64(1) {
		t.Errorf("status query %v, want succeeded after one send", q)
	}
	pays := g.call("GET", "/v1/payments", "", nil)["data"].([]any)
	if len(pays) != 1 || pays[0].(map[string]any)["provider_tx_id"] != "TEST0A1B2C" {
		t.Errorf("payments %v, want the receipt the query found", pays)
	}
}
