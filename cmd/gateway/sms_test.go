package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/test/fakesms"
)

// TestServeSMS runs `gateway serve` with an Africa's Talking instance
// pointed at the fake SMS provider: a payment's confirmation (with its
// token) is sent by the send queue, and the provider's delivery report
// marks it delivered. It checks serve's wiring of messaging.
func TestServeSMS(t *testing.T) {
	fake := fakesms.New(fakesms.Options{APIKey: "at-key", Username: "gwapp"})
	t.Cleanup(fake.Close)
	gw := serveWith(t, func(string) string {
		return fmt.Sprintf(`instances:
  - name: at-ke
    adapter: sms.africastalking
    currency: KES
    settings:
      username: gwapp
      api_key: at-key
      base_url: %s
      callback_secret: dlr-secret-0123456789
sms:
  instance: at-ke
  instances:
    at-ke: {rate_per_second: 5, burst: 5}
`, fake.URL())
	})
	call, base := gw.call, gw.base
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	call("POST", "/v1/customers", "c", map[string]any{"external_id": "C-1", "name": "Amina Otieno", "phone": "+254700000123", "language": "sw"})
	call("POST", "/v1/devices", "d", map[string]any{"external_id": "D-1", "serial": "SHS-1", "token_scheme": "openpaygo",
		"secret_key": "bc41ec9530f6dac86b1a29ab82edc5fb", "starting_code": 516959010})
	call("POST", "/v1/contracts", "k", map[string]any{"external_id": "L-1", "account_number": "AC100234", "customer_id": "external_id:C-1",
		"device_ids": []string{"external_id:D-1"}, "terms": map[string]any{"kind": "payg_credit", "currency": "KES", "price": 5000,
			"price_period": "day", "grace_days": 3, "default_days": 30}})
	out := call("POST", "/v1/payments", "p", map[string]any{"contract_id": "external_id:L-1",
		"amount": map[string]any{"amount": 15000, "currency": "KES"}, "reference": "RCPT-1"})
	code := out["tokens"].([]any)[0].(map[string]any)["code"].(string)

	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	sent, err := fake.WaitMessages(wctx, 1)
	if err != nil {
		t.Fatalf("no message reached the provider: %v", err)
	}
	if sent[0].To != "+254700000123" || !strings.HasPrefix(sent[0].Body, "Asante Amina, tumepokea 150 KES kwa AC100234.") ||
		!strings.Contains(sent[0].Body, code[:3]+" "+code[3:6]+" "+code[6:]) {
		t.Fatalf("provider got %+v; want the confirmation with code %s", sent[0], code)
	}
	var m map[string]any
	for {
		list := call("GET", "/v1/messages?contract_id=external_id:L-1", "", nil)["data"].([]any)
		if len(list) == 1 {
			m = list[0].(map[string]any)
			if m["state"] == "sent" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("message not sent: %v", m)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if m["provider_id"] != sent[0].ID || m["instance"] != "at-ke" {
		t.Errorf("message = %v, want provider id %s through at-ke", m, sent[0].ID)
	}
	status, err := fake.ReportAT(ctx, base+"/callbacks/at-ke/delivery-report/dlr-secret-0123456789", sent[0].ID, "Success", "")
	if err != nil || status != http.StatusOK {
		t.Fatalf("delivery report: %d, %v", status, err)
	}
	if m = call("GET", "/v1/messages/"+m["id"].(string), "", nil); m["state"] != "delivered" {
		t.Errorf("after the delivery report: %v", m)
	}
	ads := call("GET", "/v1/adapters", "", nil)["data"].([]any)
	if len(ads) != 1 || ads[0].(map[string]any)["breaker_state"] != "closed" {
		t.Errorf("adapters = %v, want at-ke with a closed breaker", ads)
	}
}
