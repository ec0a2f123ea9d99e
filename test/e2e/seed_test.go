package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/httpapi/httpapitest"
	"github.com/payg-gateway/gateway/core/messaging"
	"github.com/payg-gateway/gateway/core/sqlite"
)

const (
	deviceKeyHex       = "bc41ec9530f6dac86b1a29ab82edc5fb"
	deviceStartingCode = 516959010
)

// sale is a customer, device and contract created through the API.
type sale struct {
	contractID, customerID, deviceID, account string
}

// sell creates customer C-n, device D-n and contract L-n (account ACn)
// on a daily plan in currency, paying price minor units a day.
func (g *gateway) sell(t *testing.T, n int, currency string, price int64, phone string) sale {
	t.Helper()
	c := g.api
	r := c.Post("/v1/customers", map[string]any{"external_id": fmt.Sprintf("C-%d", n), "name": "Amina Otieno", "phone": phone}, "")
	want(t, "create customer", r, http.StatusCreated)
	var s sale
	s.customerID = id(t, r)
	r = c.Post("/v1/devices", map[string]any{
		"external_id": fmt.Sprintf("D-%d", n), "serial": fmt.Sprintf("SHS-%04d", n), "token_scheme": "openpaygo",
		"secret_key": deviceKeyHex, "starting_code": deviceStartingCode, "value_divider": 1, "counter": 1,
	}, "")
	want(t, "create device", r, http.StatusCreated)
	s.deviceID = id(t, r)
	s.account = fmt.Sprintf("AC%d", 100000+n)
	r = c.Post("/v1/contracts", map[string]any{
		"external_id": fmt.Sprintf("L-%d", n), "account_number": s.account,
		"customer_id": fmt.Sprintf("external_id:C-%d", n), "device_ids": []string{fmt.Sprintf("external_id:D-%d", n)},
		"terms": map[string]any{"kind": "payg_credit", "currency": currency, "price": price, "price_period": "day",
			"minimum_payment": price, "grace_days": 3, "default_days": 30},
	}, "")
	want(t, "create contract", r, http.StatusCreated)
	s.contractID = id(t, r)
	return s
}

func want(t *testing.T, what string, r *httpapitest.Response, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: %d %s, want %d", what, r.Status, r.Body, status)
	}
}

func id(t *testing.T, r *httpapitest.Response) string {
	t.Helper()
	var b struct {
		ID string `json:"id"`
	}
	r.Decode(t, &b)
	return b.ID
}

// paymentRequest is a payment request as the API shows it.
type paymentRequest struct {
	ID         string  `json:"id"`
	Instance   string  `json:"instance"`
	ContractID string  `json:"contract_id"`
	Phone      string  `json:"phone"`
	Status     string  `json:"status"`
	RequestID  string  `json:"request_id"`
	Reason     *string `json:"reason"`
	PaymentID  *string `json:"payment_id"`
	Amount     struct {
		Amount   int64  `json:"amount"`
		Currency string `json:"currency"`
	} `json:"amount"`
}

// await polls a payment request until done says it is where the test
// wants it, or fails after timeout.
func (g *gateway) await(t *testing.T, id string, timeout time.Duration, done func(paymentRequest) bool) paymentRequest {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r := g.api.Get("/v1/payment-requests/" + id)
		want(t, "get payment request", r, http.StatusOK)
		var pr paymentRequest
		r.Decode(t, &pr)
		if done(pr) {
			return pr
		}
		if time.Now().After(deadline) {
			t.Fatalf("payment request %s after %s: %s", id, timeout, r.Body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// final reports a request that ended.
func final(pr paymentRequest) bool { return pr.Status == "succeeded" || pr.Status == "failed" }

// awaitEvents waits until the fake CRM has received a delivery of each type.
func (g *gateway) awaitEvents(t *testing.T, timeout time.Duration, types ...string) map[string][]string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := map[string][]string{} // type -> contract ids
		for _, req := range g.crm.Received() {
			var env struct {
				Type       string `json:"type"`
				ContractID string `json:"contract_id"`
			}
			if err := jsonUnmarshal(req.Body, &env); err == nil && req.Verified {
				got[env.Type] = append(got[env.Type], env.ContractID)
			}
		}
		missing := ""
		for _, typ := range types {
			if len(got[typ]) == 0 {
				missing = typ
			}
		}
		if missing == "" {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("the CRM received no %s webhook within %s (got %v)", missing, timeout, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// sameJSON compares JSON documents ignoring whitespace and key order.
func sameJSON(got, want []byte) bool {
	var g, w any
	if json.Unmarshal(got, &g) != nil || json.Unmarshal(want, &w) != nil {
		return false
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	return string(gb) == string(wb)
}

// openSQLite is a migrated SQLite store for tests that need one store only.
func openSQLite(t *testing.T) store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "gw.db"), core.SystemClock{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return migrate(t, s)
}

func randomHex() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// smsJobs counts the text message jobs enqueued for the tenant (no sender
// runs them here).
func (g *gateway) smsJobs(t *testing.T) int {
	t.Helper()
	p, err := g.store.ListJobs(context.Background(), core.JobQuery{TenantID: tenantID, Queue: messaging.Queue}, core.PageRequest{Limit: core.MaxPageLimit})
	if err != nil {
		t.Fatal(err)
	}
	return len(p.Items)
}
