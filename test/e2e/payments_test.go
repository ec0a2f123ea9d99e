package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/test/sim"
)

// ackFixture is Safaricom's expected acknowledgement of a confirmation.
func ackFixture(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../../../shared/testdata/providers/mpesa/response_callback_ack.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type tokenBody struct {
	ID        string `json:"id"`
	PaymentID string `json:"payment_id"`
	Code      string `json:"code"`
	Status    string `json:"status"`
}

// tokens lists a contract's tokens through the API.
func (g *gateway) tokens(t *testing.T, contractID string) []tokenBody {
	t.Helper()
	r := g.api.Get("/v1/contracts/" + contractID + "/tokens")
	want(t, "contract tokens", r, http.StatusOK)
	var page struct {
		Data []tokenBody `json:"data"`
	}
	r.Decode(t, &page)
	return page.Data
}

type paymentBody struct {
	ID           string `json:"id"`
	Instance     string `json:"instance"`
	ProviderTxID string `json:"provider_tx_id"`
	Status       string `json:"status"`
	ContractID   string `json:"contract_id"`
	Amount       struct {
		Amount   int64  `json:"amount"`
		Currency string `json:"currency"`
	} `json:"amount"`
}

func (g *gateway) payment(t *testing.T, id string) paymentBody {
	t.Helper()
	r := g.api.Get("/v1/payments/" + id)
	want(t, "get payment", r, http.StatusOK)
	var p paymentBody
	r.Decode(t, &p)
	return p
}

// TestSTKPushEndToEnd: a CRM asks for a payment; the gateway pushes it to
// the payer through (fake) Daraja, which calls back; the payment is
// applied to the contract, a token issued and the CRM told by webhooks.
func TestSTKPushEndToEnd(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t *testing.T) store) {
		g := start(t, open(t), options{daraja: sim.DarajaOptions{CallbackDelay: 50 * time.Millisecond}})
		s := g.sell(t, 1, "KES", 5000, "+254700000123")

		r := g.api.Post("/v1/payment-requests", map[string]any{
			"contract_id": "external_id:L-1", "amount": map[string]any{"amount": 150000, "currency": "KES"},
		}, "stk-1")
		want(t, "create payment request", r, http.StatusAccepted)
		var pr paymentRequest
		r.Decode(t, &pr)
		if pr.Status != "created" || pr.Instance != mpesaInstance || pr.Phone != "+254700000123" || pr.ContractID != s.contractID ||
			r.Header.Get("Location") != "/v1/payment-requests/"+pr.ID {
			t.Fatalf("created %s (Location %q)", r.Body, r.Header.Get("Location"))
		}
		// A retry with the same Idempotency-Key gets the same request.
		again := g.api.Post("/v1/payment-requests", map[string]any{
			"contract_id": "external_id:L-1", "amount": map[string]any{"amount": 150000, "currency": "KES"},
		}, "stk-1")
		if again.Status != http.StatusAccepted || !bytes.Equal(again.Body, r.Body) || again.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("replay: %d %s", again.Status, again.Body)
		}

		pr = g.await(t, pr.ID, 10*time.Second, final)
		if pr.Status != "succeeded" || pr.PaymentID == nil || !strings.HasPrefix(pr.RequestID, "ws_CO_") {
			t.Fatalf("request ended %+v", pr)
		}
		pushes := g.daraja.Pushes()
		if len(pushes) != 1 || pushes[0].PhoneNumber != "254700000123" || pushes[0].AccountReference != s.account ||
			pushes[0].Amount != "1500" || pushes[0].CheckoutRequestID != pr.RequestID {
			t.Fatalf("Daraja received %+v", pushes)
		}
		p := g.payment(t, *pr.PaymentID)
		if p.Status != "applied" || p.ContractID != s.contractID || p.Instance != mpesaInstance || p.ProviderTxID != pushes[0].Receipt ||
			p.Amount.Amount != 150000 {
			t.Errorf("payment %+v", p)
		}
		toks := g.tokens(t, s.contractID)
		if len(toks) != 1 || toks[0].PaymentID != p.ID || toks[0].Status != "issued" || toks[0].Code == "" {
			t.Errorf("tokens %+v", toks)
		}
		got := g.awaitEvents(t, 10*time.Second, payg.EventPaymentApplied, payg.EventTokenIssued, payg.EventPaymentRequestSucceeded)
		if got[payg.EventPaymentRequestSucceeded][0] != s.contractID {
			t.Errorf("payment_request.succeeded for %v", got[payg.EventPaymentRequestSucceeded])
		}
		if n := g.smsJobs(t); n == 0 {
			t.Error("no SMS job enqueued for the payment")
		}
		// The paybill's C2B confirmation of the same receipt is not a
		// second payment.
		c := sim.C2BConfirmation{TransactionType: "Pay Bill", TransID: pushes[0].Receipt, TransTime: "20260314093045",
			TransAmount: "1500.00", BusinessShortCode: "600123", BillRefNumber: s.account, MSISDN: "254700000123"}
		if status, body := g.confirm(t, c.JSON()); status != http.StatusOK || !sameJSON(body, ackFixture(t)) {
			t.Errorf("confirmation of the STK receipt answered %d %s", status, body)
		}
		if toks := g.tokens(t, s.contractID); len(toks) != 1 {
			t.Errorf("%d tokens after the C2B copy of the STK receipt, want 1", len(toks))
		}
	})
}

// TestSTKPushFailures: refusals and cancellations end failed with the
// reason; a push nobody answers ends unknown, never failed.
func TestSTKPushFailures(t *testing.T) {
	g := start(t, openSQLite(t), options{policy: fastPolicy, daraja: sim.DarajaOptions{STKResult: func(p sim.STKPush) (int, string) {
		switch p.Amount {
		case "10":
			return 1032, "Request cancelled by user"
		case "20":
			return -1, "" // the payer never answers
		}
		return 0, "The service request is processed successfully."
	}}})
	s := g.sell(t, 1, "KES", 500, "+254700000123")
	ask := func(amount int64) paymentRequest {
		r := g.api.Post("/v1/payment-requests", map[string]any{"contract_id": s.contractID,
			"amount": map[string]any{"amount": amount, "currency": "KES"}}, newKey())
		want(t, "create payment request", r, http.StatusAccepted)
		var pr paymentRequest
		r.Decode(t, &pr)
		return pr
	}
	cancelled := ask(1000)
	silent := ask(2000)
	pr := g.await(t, cancelled.ID, 10*time.Second, final)
	if pr.Status != "failed" || pr.Reason == nil || *pr.Reason != "1032: Request cancelled by user" || pr.PaymentID != nil {
		t.Errorf("cancelled push ended %+v", pr)
	}
	// The janitor asks (STK query: "being processed") until the window
	// and grace are over, then leaves it unknown.
	pr = g.await(t, silent.ID, 10*time.Second, func(pr paymentRequest) bool {
		return pr.Status == "unknown" && pr.Reason != nil && strings.HasPrefix(*pr.Reason, "expired")
	})
	if len(g.tokens(t, s.contractID)) != 0 {
		t.Error("a token was issued without a payment")
	}
	g.awaitEvents(t, 10*time.Second, payg.EventPaymentRequestFailed)

	// Refusals before the call: another currency, an unknown instance.
	r := g.api.Post("/v1/payment-requests", map[string]any{"contract_id": s.contractID,
		"amount": map[string]any{"amount": 1000, "currency": "UGX"}}, newKey())
	if r.Status != http.StatusUnprocessableEntity {
		t.Errorf("request in another currency: %d %s", r.Status, r.Body)
	}
	r = g.api.Post("/v1/payment-requests", map[string]any{"contract_id": s.contractID, "instance": "nope",
		"amount": map[string]any{"amount": 1000, "currency": "KES"}}, newKey())
	if r.Status != http.StatusUnprocessableEntity || r.Problem(t).Pointers()[0] != "/instance" {
		t.Errorf("unknown instance: %d %s", r.Status, r.Body)
	}
	r = g.api.Post("/v1/payment-requests", map[string]any{"contract_id": "external_id:nope",
		"amount": map[string]any{"amount": 1000, "currency": "KES"}}, newKey())
	if r.Status != http.StatusNotFound {
		t.Errorf("unknown contract: %d %s", r.Status, r.Body)
	}
	// The Idempotency-Key is required: a retry without it would prompt
	// the payer twice.
	r = g.api.Post("/v1/payment-requests", map[string]any{"contract_id": s.contractID,
		"amount": map[string]any{"amount": 1000, "currency": "KES"}}, "")
	if r.Status != http.StatusUnprocessableEntity || r.Problem(t).Pointers()[0] != "Idempotency-Key" {
		t.Errorf("no Idempotency-Key: %d %s", r.Status, r.Body)
	}
	// Lists by status.
	r = g.api.Get("/v1/payment-requests?status=failed&contract_id=external_id:L-1")
	want(t, "list payment requests", r, http.StatusOK)
	var page struct {
		Data []paymentRequest `json:"data"`
	}
	r.Decode(t, &page)
	if len(page.Data) != 1 || page.Data[0].ID != cancelled.ID {
		t.Errorf("failed requests %+v", page.Data)
	}
}

// TestAccountTooLongForSTK: M-Pesa shows at most 12 characters of account
// reference; a request the adapter refuses before calling ends failed.
func TestAccountTooLongForSTK(t *testing.T) {
	g := start(t, openSQLite(t), options{policy: fastPolicy})
	g.sell(t, 1, "KES", 500, "+254700000123")
	r := g.api.Post("/v1/contracts", map[string]any{"account_number": "ACCOUNT-TOO-LONG-1", "customer_id": "external_id:C-1",
		"device_ids": []string{"external_id:D-1"}, "terms": map[string]any{"kind": "payg_credit", "currency": "KES", "price": 500, "price_period": "day", "grace_days": 3, "default_days": 30}}, "")
	want(t, "create contract", r, http.StatusCreated)
	contract := id(t, r)
	r = g.api.Post("/v1/payment-requests", map[string]any{"contract_id": contract, "amount": map[string]any{"amount": 1000, "currency": "KES"}}, newKey())
	want(t, "create payment request", r, http.StatusAccepted)
	pr := g.await(t, id(t, r), 10*time.Second, final)
	if pr.Status != "failed" || pr.Reason == nil || !strings.Contains(*pr.Reason, "account reference") || len(g.daraja.Pushes()) != 0 {
		t.Errorf("request ended %+v; Daraja got %d pushes", pr, len(g.daraja.Pushes()))
	}
}

// TestC2BPaybillEndToEnd: a customer pays the paybill; Safaricom's
// confirmation is applied, a token issued and the CRM told.
func TestC2BPaybillEndToEnd(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t *testing.T) store) {
		g := start(t, open(t), options{})
		s := g.sell(t, 1, "KES", 5000, "+254700000123")
		c, err := sim.NewC2BConfirmation("600123", strings.ToLower(s.account), "500", "254700000123", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		status, body := g.confirm(t, c.JSON())
		if status != http.StatusOK || !sameJSON(body, ackFixture(t)) {
			t.Fatalf("confirmation answered %d %s", status, body)
		}
		toks := g.tokens(t, s.contractID)
		if len(toks) != 1 || toks[0].Status != "issued" {
			t.Fatalf("tokens %+v", toks)
		}
		if p := g.payment(t, toks[0].PaymentID); p.ProviderTxID != c.TransID || p.Status != "applied" || p.Amount.Amount != 50000 {
			t.Errorf("payment %+v", p)
		}
		g.awaitEvents(t, 10*time.Second, payg.EventPaymentReceived, payg.EventPaymentApplied, payg.EventTokenIssued)
		if n := g.smsJobs(t); n == 0 {
			t.Error("no SMS job enqueued for the payment")
		}
	})
}

// TestMoMoRequestToPayEndToEnd: a request-to-pay through (fake) MTN MoMo,
// whose unsigned callback is confirmed by a status query before the
// payment is applied.
func TestMoMoRequestToPayEndToEnd(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t *testing.T) store) {
		g := start(t, open(t), options{momo: sim.MoMoOptions{CallbackDelay: 50 * time.Millisecond}})
		s := g.sell(t, 2, "UGX", 5000, "+256770000101")
		r := g.api.Post("/v1/payment-requests", map[string]any{"contract_id": "external_id:L-2",
			"amount": map[string]any{"amount": 50000, "currency": "UGX"}, "instance": momoInstance}, "momo-1")
		want(t, "create payment request", r, http.StatusAccepted)
		pr := g.await(t, id(t, r), 10*time.Second, final)
		if pr.Status != "succeeded" || pr.PaymentID == nil || pr.Phone != "+256770000101" {
			t.Fatalf("request ended %+v", pr)
		}
		reqs := g.momo.Requests()
		if len(reqs) != 1 || reqs[0].ExternalID != pr.ID || reqs[0].Amount != "50000" || reqs[0].Currency != "UGX" ||
			reqs[0].Payer.PartyID != "256770000101" || reqs[0].Status != "SUCCESSFUL" {
			t.Fatalf("MoMo received %+v", reqs)
		}
		p := g.payment(t, *pr.PaymentID)
		if p.Status != "applied" || p.ContractID != s.contractID || p.ProviderTxID != reqs[0].FinancialTransactionID || p.Instance != momoInstance {
			t.Errorf("payment %+v", p)
		}
		if toks := g.tokens(t, s.contractID); len(toks) != 1 || toks[0].PaymentID != p.ID {
			t.Errorf("tokens %+v", toks)
		}
		g.awaitEvents(t, 10*time.Second, payg.EventPaymentApplied, payg.EventTokenIssued, payg.EventPaymentRequestSucceeded)
		if n := g.smsJobs(t); n == 0 {
			t.Error("no SMS job enqueued for the payment")
		}
	})
}

// TestMoMoLostAnswer: the request-to-pay lands but its answer is lost.
// The request is unknown, never failed; the janitor asks MTN, finds it
// and follows it to its end. Nothing is requested twice.
func TestMoMoLostAnswer(t *testing.T) {
	g := start(t, openSQLite(t), options{policy: fastPolicy, momo: sim.MoMoOptions{
		LoseResponses: 1, NoCallbacks: true, CallbackDelay: 300 * time.Millisecond}})
	s := g.sell(t, 2, "UGX", 5000, "+256770000101")
	r := g.api.Post("/v1/payment-requests", map[string]any{"contract_id": s.contractID,
		"amount": map[string]any{"amount": 50000, "currency": "UGX"}}, newKey())
	want(t, "create payment request", r, http.StatusAccepted)
	prID := id(t, r)
	pr := g.await(t, prID, 10*time.Second, func(pr paymentRequest) bool { return pr.Status != "created" })
	if pr.Status == "failed" {
		t.Fatalf("a lost answer failed the request: %+v", pr)
	}
	pr = g.await(t, prID, 10*time.Second, final)
	if pr.Status != "succeeded" || pr.PaymentID == nil {
		t.Fatalf("request ended %+v", pr)
	}
	if n := len(g.momo.Requests()); n != 1 {
		t.Errorf("MoMo received %d requests, want 1", n)
	}
	// The step is counted just after the settling transaction commits,
	// so the request can be seen settled a moment before the count.
	g.awaitMetrics(t, 5*time.Second,
		`gateway_payment_requests_total{instance="ug-momo",step="unknown"} 1`,
		`gateway_payment_requests_total{instance="ug-momo",step="settled_by_check"} 1`)
	var rq payg.PaymentRequest
	rq, err := g.svc.PaymentRequest(context.Background(), tenantID, prID)
	if err != nil || rq.Initiations != 1 {
		t.Errorf("stored request %+v, %v", rq, err)
	}
}

// TestMoMoFailed: MTN's FAILED (reason as a string) fails the request.
func TestMoMoFailed(t *testing.T) {
	g := start(t, openSQLite(t), options{policy: fastPolicy, momo: sim.MoMoOptions{CallbackMethod: http.MethodPost,
		Result: func(sim.RequestToPay) (string, string) { return "FAILED", "NOT_ENOUGH_FUNDS" }}})
	s := g.sell(t, 2, "UGX", 5000, "+256770000101")
	r := g.api.Post("/v1/payment-requests", map[string]any{"contract_id": s.contractID,
		"amount": map[string]any{"amount": 50000, "currency": "UGX"}}, newKey())
	want(t, "create payment request", r, http.StatusAccepted)
	pr := g.await(t, id(t, r), 10*time.Second, final)
	if pr.Status != "failed" || pr.Reason == nil || *pr.Reason != "NOT_ENOUGH_FUNDS" {
		t.Errorf("request ended %+v", pr)
	}
}

// TestConcurrentC2BCopies (acceptance 3): 50 copies of one confirmation at
// once make one payment and one token, and all 50 get the same bytes.
func TestConcurrentC2BCopies(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t *testing.T) store) {
		g := start(t, open(t), options{})
		s := g.sell(t, 1, "KES", 5000, "+254700000123")
		c, err := sim.NewC2BConfirmation("600123", s.account, "1500.00", "254700000123", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		body := c.JSON()
		const copies = 50
		answers := make([][]byte, copies)
		statuses := make([]int, copies)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range copies {
			wg.Go(func() {
				<-start
				statuses[i], answers[i] = g.confirm(t, body)
			})
		}
		close(start)
		wg.Wait()
		for i := range copies {
			if statuses[i] != http.StatusOK || !bytes.Equal(answers[i], answers[0]) {
				t.Errorf("copy %d: %d %q, want 200 %q", i, statuses[i], answers[i], answers[0])
			}
		}
		if !sameJSON(answers[0], ackFixture(t)) {
			t.Errorf("acknowledgement %s", answers[0])
		}
		var payments core.Page[payg.Payment]
		if err := g.store.View(context.Background(), func(r payg.Reader) error {
			var err error
			payments, err = r.ListPayments(context.Background(), tenantID, payg.PaymentQuery{}, core.PageRequest{Limit: core.MaxPageLimit})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if len(payments.Items) != 1 || payments.Items[0].ProviderTxID != c.TransID {
			t.Errorf("%d payments, want 1", len(payments.Items))
		}
		if toks := g.tokens(t, s.contractID); len(toks) != 1 {
			t.Errorf("%d tokens, want 1", len(toks))
		}
	})
}

// confirm POSTs a C2B confirmation to the gateway as Safaricom does.
func (g *gateway) confirm(t *testing.T, body []byte) (int, []byte) {
	t.Helper()
	resp, err := http.Post(g.url+"/callbacks/"+mpesaInstance+"/c2b-confirmation/"+mpesaSecret, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Error(err)
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestMoMoNeverLanded: the first request-to-pay never reaches MTN (the
// connection drops). The janitor asks, MTN has no such request, and it is
// initiated again with the same X-Reference-Id, once.
func TestMoMoNeverLanded(t *testing.T) {
	g := start(t, openSQLite(t), options{policy: fastPolicy, momo: sim.MoMoOptions{DropRequests: 1, CallbackDelay: 50 * time.Millisecond}})
	s := g.sell(t, 2, "UGX", 5000, "+256770000101")
	r := g.api.Post("/v1/payment-requests", map[string]any{"contract_id": s.contractID,
		"amount": map[string]any{"amount": 50000, "currency": "UGX"}}, newKey())
	want(t, "create payment request", r, http.StatusAccepted)
	prID := id(t, r)
	pr := g.await(t, prID, 10*time.Second, final)
	if pr.Status != "succeeded" {
		t.Fatalf("request ended %+v", pr)
	}
	rq, err := g.svc.PaymentRequest(context.Background(), tenantID, prID)
	if err != nil {
		t.Fatal(err)
	}
	reqs := g.momo.Requests()
	if len(reqs) != 1 || reqs[0].ReferenceID != rq.ReferenceID || rq.Initiations != 2 {
		t.Errorf("MoMo got %+v; request %+v", reqs, rq)
	}
}

// TestMoMoUnavailable: a 503 at initiation did not land; the request is
// initiated again later and succeeds.
func TestMoMoUnavailable(t *testing.T) {
	g := start(t, openSQLite(t), options{policy: fastPolicy, momo: sim.MoMoOptions{Unavailable: 2, CallbackDelay: 50 * time.Millisecond}})
	s := g.sell(t, 2, "UGX", 5000, "+256770000101")
	r := g.api.Post("/v1/payment-requests", map[string]any{"contract_id": s.contractID,
		"amount": map[string]any{"amount": 50000, "currency": "UGX"}}, newKey())
	want(t, "create payment request", r, http.StatusAccepted)
	prID := id(t, r)
	pr := g.await(t, prID, 10*time.Second, final)
	rq, err := g.svc.PaymentRequest(context.Background(), tenantID, prID)
	if err != nil {
		t.Fatal(err)
	}
	if pr.Status != "succeeded" || rq.Initiations != 3 || len(g.momo.Requests()) != 1 {
		t.Errorf("request ended %+v after %d initiations; MoMo has %d requests", pr, rq.Initiations, len(g.momo.Requests()))
	}
}

// TestSTKCallbackBeforeAnswer: Daraja's callback arrives before the push's
// own answer, so no request has its CheckoutRequestID yet. The callback is
// acknowledged and quarantined; once the answer is stored it is replayed
// and applied, and the quarantine resolved.
func TestSTKCallbackBeforeAnswer(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t *testing.T) store) {
		g := start(t, open(t), options{policy: fastPolicy, daraja: sim.DarajaOptions{CallbackFirst: true}})
		s := g.sell(t, 1, "KES", 5000, "+254700000123")
		r := g.api.Post("/v1/payment-requests", map[string]any{"contract_id": s.contractID,
			"amount": map[string]any{"amount": 150000, "currency": "KES"}}, newKey())
		want(t, "create payment request", r, http.StatusAccepted)
		pr := g.await(t, id(t, r), 10*time.Second, final)
		if pr.Status != "succeeded" || pr.PaymentID == nil {
			t.Fatalf("request ended %+v", pr)
		}
		if toks := g.tokens(t, s.contractID); len(toks) != 1 || toks[0].PaymentID != *pr.PaymentID {
			t.Errorf("tokens %+v", toks)
		}
		// The payment is applied first, then the quarantine resolved.
		deadline := time.Now().Add(10 * time.Second)
		for {
			var q core.Page[payg.Quarantined]
			if err := g.store.View(context.Background(), func(r payg.Reader) error {
				var err error
				q, err = r.ListQuarantine(context.Background(), tenantID, core.PageRequest{})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if len(q.Items) != 1 || q.Items[0].RequestID != pr.RequestID {
				t.Fatalf("quarantine %+v", q.Items)
			}
			if q.Items[0].Status == "resolved" && !q.Items[0].ResolvedAt.IsZero() {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("quarantine not resolved: %+v", q.Items[0])
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// TestMoMoMalformedCallbackResolved: MTN's callback loses its externalId,
// so it is quarantined; the janitor asks MTN by the reference in the
// callback's path, applies the answer and resolves the quarantine.
func TestMoMoMalformedCallbackResolved(t *testing.T) {
	g := start(t, openSQLite(t), options{momo: sim.MoMoOptions{CallbackDelay: 50 * time.Millisecond,
		MangleCallback: func(b []byte) []byte {
			var m map[string]any
			_ = json.Unmarshal(b, &m)
			delete(m, "externalId")
			out, _ := json.Marshal(m)
			return out
		}}})
	s := g.sell(t, 2, "UGX", 5000, "+256770000101")
	r := g.api.Post("/v1/payment-requests", map[string]any{"contract_id": s.contractID,
		"amount": map[string]any{"amount": 50000, "currency": "UGX"}}, newKey())
	want(t, "create payment request", r, http.StatusAccepted)
	// The request's own checks start after 15 s: within this test only
	// the quarantine's check can settle it.
	pr := g.await(t, id(t, r), 10*time.Second, final)
	if pr.Status != "succeeded" || pr.PaymentID == nil {
		t.Fatalf("request ended %+v", pr)
	}
	// The payment is applied first, then the quarantine resolved.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var q core.Page[payg.Quarantined]
		if err := g.store.View(context.Background(), func(r payg.Reader) error {
			var err error
			q, err = r.ListQuarantine(context.Background(), tenantID, core.PageRequest{})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if len(q.Items) != 1 || !strings.Contains(q.Items[0].Reason, "externalId missing") {
			t.Fatalf("quarantine %+v", q.Items)
		}
		if q.Items[0].Status == "resolved" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("quarantine not resolved: %+v", q.Items[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// newKey is a fresh Idempotency-Key.
func newKey() string { return "k-" + randomHex() }

// metrics reads the gateway's /metrics.
// awaitMetrics waits until /metrics holds every line, and reports the
// lines still missing when the time is up.
func (g *gateway) awaitMetrics(t *testing.T, timeout time.Duration, lines ...string) {
	t.Helper()
	var missing []string
	for deadline := time.Now().Add(timeout); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(g.url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		missing = missing[:0]
		for _, line := range lines {
			if !strings.Contains(string(b), line) {
				missing = append(missing, line)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			break
		}
	}
	for _, line := range missing {
		t.Errorf("/metrics lacks %s", line)
	}
}
