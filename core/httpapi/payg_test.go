package httpapi_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/adapters/nexus"
	"github.com/payg-gateway/gateway/adapters/openpaygo"
	"github.com/payg-gateway/gateway/connectors/webhook"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/coretest"
	"github.com/payg-gateway/gateway/core/httpapi"
	"github.com/payg-gateway/gateway/core/httpapi/httpapitest"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/core/secretbox"
)

// newPAYG builds the lease and token engine over store, as serve does,
// with a fresh master key.
func newPAYG(t *testing.T, store core.Store, clock core.Clock) (*payg.Service, payg.Store) {
	t.Helper()
	ps := paygStoreOf(t, store)
	box, err := secretbox.New(secretbox.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	svc := payg.NewService(payg.Options{
		Store: ps, Tenants: store, Clock: clock, Box: box,
		Engines:     map[payg.TokenScheme]payg.TokenEngine{payg.SchemeOpenPAYGO: openpaygo.Engine{}, payg.SchemeNexus: nexus.Engine{}},
		Subscribers: []payg.EventSubscriber{webhook.Subscriber{}}, // as serve wires it
	})
	return svc, ps
}

// paygStoreOf finds the payg.Store behind store, looking through the
// wrappers the tests put around a core.Store.
func paygStoreOf(t *testing.T, store core.Store) payg.Store {
	t.Helper()
	ps, ok := innerStore(store).(payg.Store)
	if !ok {
		t.Fatalf("%T is not a payg.Store", store)
	}
	return ps
}

// innerStore is the store behind the wrappers the tests put around a
// core.Store.
func innerStore(store core.Store) core.Store {
	for {
		switch s := store.(type) {
		case *gatedStore:
			store = s.Store
		case *purgeCounter:
			store = s.Store
		case *stallingPurge:
			store = s.Store
		default:
			return store
		}
	}
}

// The OpenPAYGO device of the tests (the storetest fixtures' key).
const (
	deviceKeyHex       = "bc41ec9530f6dac86b1a29ab82edc5fb"
	deviceStartingCode = 516959010
)

// paygWorld is a gateway with a PAYG engine on a controlled clock, a
// tenant in Nairobi and a write key for it.
type paygWorld struct {
	*api
	svc    *payg.Service
	clock  *coretest.Clock
	tenant string
	crm    *httpapitest.Client
}

var paygEpoch = time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)

func newPAYGWorld(t *testing.T, store core.Store, configure ...func(*httpapi.Options)) *paygWorld {
	t.Helper()
	return newPAYGWorldAt(t, store, coretest.NewClock(paygEpoch), configure...)
}

// newPAYGWorldAt is newPAYGWorld on a given clock (the store's, when the
// test runs jobs, which the store makes due by its own clock).
func newPAYGWorldAt(t *testing.T, store core.Store, clock *coretest.Clock, configure ...func(*httpapi.Options)) *paygWorld {
	t.Helper()
	svc, _ := newPAYG(t, store, clock)
	a := newAPI(t, store, append([]func(*httpapi.Options){func(o *httpapi.Options) { o.Clock, o.PAYG = clock, svc }}, configure...)...)
	w := &paygWorld{api: a, svc: svc, clock: clock, tenant: "sunbright-ke"}
	w.addTenant(t, w.tenant)
	w.crm = a.client(t, a.key(t, w.tenant, core.ScopeWrite))
	return w
}

func (w *paygWorld) addTenant(t *testing.T, id string) {
	t.Helper()
	if _, err := w.store.CreateTenant(context.Background(), core.Tenant{ID: id, Name: id, TimeZone: "Africa/Nairobi", DefaultCountry: "KE"}); err != nil {
		t.Fatal(err)
	}
}

// ---- answers, as a CRM would decode them

type moneyBody struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

type idBody struct {
	ID         string  `json:"id"`
	ExternalID *string `json:"external_id"`
}

type contractBody struct {
	ID            string   `json:"id"`
	AccountNumber string   `json:"account_number"`
	CustomerID    string   `json:"customer_id"`
	DeviceIDs     []string `json:"device_ids"`
	PlanID        *string  `json:"plan_id"`
	Status        string   `json:"status"`
	DaysInArrears int      `json:"days_in_arrears"`
	CreditExpiry  *string  `json:"credit_expiry"`
	PaidThrough   *string  `json:"paid_through"`
	Balances      struct {
		TotalPaid   moneyBody `json:"total_paid"`
		Outstanding moneyBody `json:"outstanding"`
	} `json:"balances"`
	UpdatedAt string `json:"updated_at"`
}

type tokenBody struct {
	ID        string  `json:"id"`
	DeviceID  string  `json:"device_id"`
	PaymentID *string `json:"payment_id"`
	Type      string  `json:"type"`
	Value     int64   `json:"value"`
	Seconds   int64   `json:"seconds"`
	Count     int64   `json:"count"`
	Code      string  `json:"code"`
}

type paymentBody struct {
	ID           string    `json:"id"`
	Instance     string    `json:"instance"`
	ProviderTxID string    `json:"provider_tx_id"`
	Status       string    `json:"status"`
	Amount       moneyBody `json:"amount"`
	ContractID   *string   `json:"contract_id"`
	Reason       *string   `json:"reason"`
}

type suspenseBody struct {
	ID         string      `json:"id"`
	Payment    paymentBody `json:"payment"`
	Reason     string      `json:"reason"`
	Detail     string      `json:"detail"`
	Status     string      `json:"status"`
	ContractID *string     `json:"contract_id"`
}

type outcomeBody struct {
	Payment  paymentBody   `json:"payment"`
	Contract *contractBody `json:"contract"`
	Suspense *suspenseBody `json:"suspense"`
	Tokens   []tokenBody   `json:"tokens"`
}

type ledgerLineBody struct {
	Seq       int64     `json:"seq"`
	PaymentID *string   `json:"payment_id"`
	Kind      string    `json:"kind"`
	Amount    moneyBody `json:"amount"`
	Reversal  bool      `json:"reversal"`
}

type eventBody struct {
	ID         string  `json:"id"`
	Type       string  `json:"type"`
	ContractID *string `json:"contract_id"`
	Sequence   *int64  `json:"sequence"`
	Data       struct {
		Payment struct {
			ID string `json:"id"`
		} `json:"payment"`
	} `json:"data"`
}

type page[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"next_cursor"`
}

func decode[T any](t *testing.T, r *httpapitest.Response) T {
	t.Helper()
	var v T
	r.Decode(t, &v)
	return v
}

// all follows next_cursor through every page of a list.
func all[T any](t *testing.T, c *httpapitest.Client, path string, limit int) []T {
	t.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	var out []T
	next := fmt.Sprintf("%s%slimit=%d", path, sep, limit)
	for range 100 {
		r := c.Get(next)
		wantStatus(t, "GET "+next, r, http.StatusOK)
		p := decode[page[T]](t, r)
		if len(p.Data) > limit {
			t.Fatalf("GET %s: %d items, limit %d", next, len(p.Data), limit)
		}
		out = append(out, p.Data...)
		if p.NextCursor == nil {
			return out
		}
		next = fmt.Sprintf("%s%slimit=%d&cursor=%s", path, sep, limit, url.QueryEscape(*p.NextCursor))
	}
	t.Fatalf("GET %s: pagination does not end", path)
	return nil
}

func wantPointers(t *testing.T, what string, r *httpapitest.Response, status int, pointers ...string) {
	t.Helper()
	wantStatus(t, what, r, status)
	if got := r.Problem(t).Pointers(); !slices.Equal(got, pointers) {
		t.Errorf("%s: pointers %q, want %q; body %s", what, got, pointers, r.Body)
	}
}

var dailyPlan = map[string]any{
	"external_id": "SHS-80W-DAILY", "name": "SHS 80 W, KES 50 a day",
	"terms": map[string]any{
		"kind": "payg_credit", "currency": "KES", "price": 5000, "price_period": "day",
		"total_price": 1825000, "minimum_payment": 5000, "grace_days": 3, "default_days": 30,
	},
}

// sale is what a CRM creates for one customer: a plan, a customer, an
// OpenPAYGO device and a contract.
type sale struct {
	plan, customer, device idBody
	contract               contractBody
}

func (w *paygWorld) sell(t *testing.T, c *httpapitest.Client, n int) sale {
	t.Helper()
	var s sale
	r := c.Post("/v1/plans", dailyPlan, fmt.Sprintf("plan-%d", n))
	if r.Status == http.StatusConflict { // the catalogue plan exists
		plans := all[idBody](t, c, "/v1/plans", 50)
		s.plan = plans[0]
	} else {
		wantStatus(t, "create plan", r, http.StatusCreated)
		s.plan = decode[idBody](t, r)
		if r.Header.Get("Location") != "/v1/plans/"+s.plan.ID {
			t.Errorf("plan Location %q", r.Header.Get("Location"))
		}
	}
	r = c.Post("/v1/customers", map[string]any{
		"external_id": fmt.Sprintf("C-%d", n), "name": "Amina Otieno", "phone": "0700000123", "language": "sw",
	}, fmt.Sprintf("customer-%d", n))
	wantStatus(t, "create customer", r, http.StatusCreated)
	s.customer = decode[idBody](t, r)
	if !bytes.Contains(r.Body, []byte(`"phone":"+254700000123"`)) {
		t.Errorf("customer phone not in E.164 of the tenant's country: %s", r.Body)
	}
	r = c.Post("/v1/devices", map[string]any{
		"external_id": fmt.Sprintf("D-%d", n), "serial": fmt.Sprintf("SHS-%04d", n), "token_scheme": "openpaygo",
		"secret_key": deviceKeyHex, "starting_code": deviceStartingCode, "value_divider": 1, "counter": 1,
	}, fmt.Sprintf("device-%d", n))
	wantStatus(t, "create device", r, http.StatusCreated)
	s.device = decode[idBody](t, r)
	for _, secret := range []string{deviceKeyHex, strings.ToUpper(deviceKeyHex), strconv.Itoa(deviceStartingCode)} {
		if bytes.Contains(r.Body, []byte(secret)) {
			t.Errorf("the device answer shows a secret (%s): %s", secret, r.Body)
		}
	}
	r = c.Post("/v1/contracts", map[string]any{
		"external_id": fmt.Sprintf("L-%d", n), "account_number": fmt.Sprintf("ac%d", 100000+n),
		"customer_id": fmt.Sprintf("external_id:C-%d", n), "device_ids": []string{fmt.Sprintf("external_id:D-%d", n)},
		"plan_id": s.plan.ID,
	}, fmt.Sprintf("contract-%d", n))
	wantStatus(t, "create contract", r, http.StatusCreated)
	s.contract = decode[contractBody](t, r)
	k := s.contract
	if k.AccountNumber != fmt.Sprintf("AC%d", 100000+n) || k.CustomerID != s.customer.ID ||
		!slices.Equal(k.DeviceIDs, []string{s.device.ID}) || k.PlanID == nil || *k.PlanID != s.plan.ID ||
		k.Status != "pending_deposit" || k.CreditExpiry != nil || k.Balances.Outstanding != (moneyBody{1825000, "KES"}) {
		t.Errorf("new contract %+v", k)
	}
	return s
}

// TestPAYGCRMFlow walks what a CRM does: a plan, a customer, a device
// with an OpenPAYGO key and a contract; a manual payment; then the
// contract, its ledger and its tokens, and a token the device accepts.
func TestPAYGCRMFlow(t *testing.T) {
	forEachStore(t, func(t *testing.T, open openStore) {
		w := newPAYGWorld(t, open(t))
		crm := w.crm
		s := w.sell(t, crm, 1)

		pay := map[string]any{
			"contract_id": "external_id:L-1", "amount": map[string]any{"amount": 15000, "currency": "KES"},
			"reference": "RCPT-000123", "payer_name": "Amina Otieno",
		}
		r := crm.Post("/v1/payments", pay, "pay-1")
		wantStatus(t, "manual payment", r, http.StatusCreated)
		out := decode[outcomeBody](t, r)
		if out.Payment.Status != "applied" || out.Payment.Instance != "manual" || out.Payment.ProviderTxID != "RCPT-000123" ||
			out.Payment.ContractID == nil || *out.Payment.ContractID != s.contract.ID || out.Suspense != nil {
			t.Fatalf("payment outcome %s", r.Body)
		}
		if r.Header.Get("Location") != "/v1/payments/"+out.Payment.ID {
			t.Errorf("payment Location %q", r.Header.Get("Location"))
		}
		expiry := paygEpoch.Add(72 * time.Hour).Format(time.RFC3339)
		if out.Contract == nil || out.Contract.Status != "active" || out.Contract.CreditExpiry == nil || *out.Contract.CreditExpiry != expiry {
			t.Errorf("contract after the payment: %+v, want active until %s", out.Contract, expiry)
		}

		// The token is the code the device expects: KES 150.00 at 50.00 a
		// day is ADD_TIME 3, after the device's count of 1.
		if len(out.Tokens) != 1 {
			t.Fatalf("%d tokens, want 1: %s", len(out.Tokens), r.Body)
		}
		tok := out.Tokens[0]
		key, err := openpaygo.ParseKey(deviceKeyHex)
		if err != nil {
			t.Fatal(err)
		}
		dev := openpaygo.Device{Key: key, StartingCode: deviceStartingCode, ValueDivider: 1}
		res, err := dev.Decode(tok.Code, openpaygo.InitialState(1))
		if err != nil || res.Type != openpaygo.AddTime || res.Value != 3 || int64(res.Count) != tok.Count {
			t.Fatalf("the device reads token %s as %+v (%v); want ADD_TIME 3 at count %d", tok.Code, res, err, tok.Count)
		}
		if tok.Type != "ADD_TIME" || tok.Value != 3 || tok.Seconds != 3*86400 || tok.DeviceID != s.device.ID ||
			tok.PaymentID == nil || *tok.PaymentID != out.Payment.ID {
			t.Errorf("token %+v", tok)
		}

		// A retry with the same Idempotency-Key gets the first answer; the
		// same reference under another key is a second entry: 409.
		r = crm.Post("/v1/payments", pay, "pay-1")
		wantStatus(t, "retried payment", r, http.StatusCreated)
		if r.Header.Get(httpapi.IdempotentReplayedHeader) != "true" || decode[outcomeBody](t, r).Payment.ID != out.Payment.ID {
			t.Errorf("retry is not the first answer: %s", r.Body)
		}
		r = crm.Post("/v1/payments", pay, "pay-1-again")
		wantStatus(t, "same reference, new key", r, http.StatusConflict)
		if p := r.Problem(t); !strings.Contains(p.Detail, out.Payment.ID) || r.Header.Get("Location") != "/v1/payments/"+out.Payment.ID {
			t.Errorf("409 should name the existing payment: %q, Location %q", p.Detail, r.Header.Get("Location"))
		}
		wantPointers(t, "no Idempotency-Key", crm.Post("/v1/payments", pay, ""), http.StatusUnprocessableEntity, "Idempotency-Key")
		usd := map[string]any{"contract_id": s.contract.ID, "amount": map[string]any{"amount": 100, "currency": "USD"}, "reference": "R-USD"}
		wantPointers(t, "another currency", crm.Post("/v1/payments", usd, "pay-usd"), http.StatusUnprocessableEntity, "/amount/currency")
		zero := map[string]any{"contract_id": s.contract.ID, "amount": map[string]any{"amount": 0, "currency": "KES"}, "reference": "R-0"}
		wantPointers(t, "zero amount", crm.Post("/v1/payments", zero, "pay-0"), http.StatusUnprocessableEntity, "/amount/amount")
		wantStatus(t, "unknown contract", crm.Post("/v1/payments", map[string]any{
			"contract_id": "external_id:L-404", "amount": map[string]any{"amount": 100, "currency": "KES"}, "reference": "R-404",
		}, "pay-404"), http.StatusNotFound)

		// The contract, by the CRM's id and by the gateway's.
		for _, ref := range []string{"external_id:L-1", s.contract.ID} {
			k := decode[contractBody](t, crm.Get("/v1/contracts/"+url.PathEscape(ref)))
			if k.ID != s.contract.ID || k.Status != "active" || k.DaysInArrears != 0 || k.CreditExpiry == nil || *k.CreditExpiry != expiry ||
				k.Balances.TotalPaid != (moneyBody{15000, "KES"}) || k.Balances.Outstanding != (moneyBody{1810000, "KES"}) {
				t.Errorf("GET /v1/contracts/%s = %+v", ref, k)
			}
		}
		var cash int64
		for _, l := range all[ledgerLineBody](t, crm, "/v1/contracts/"+s.contract.ID+"/ledger", 1) {
			if l.Amount.Currency != "KES" || l.PaymentID == nil || *l.PaymentID != out.Payment.ID {
				t.Errorf("ledger line %+v", l)
			}
			cash += l.Amount.Amount
		}
		if cash != 15000 {
			t.Errorf("ledger lines add up to %d, want 15000", cash)
		}
		tokens := all[tokenBody](t, crm, "/v1/contracts/external_id:L-1/tokens", 10)
		if len(tokens) != 1 || tokens[0].Code != tok.Code {
			t.Errorf("contract tokens %+v, want the one issued", tokens)
		}
		for path, want := range map[string]string{
			"/v1/customers/external_id:C-1": s.customer.ID, "/v1/customers/" + s.customer.ID: s.customer.ID,
			"/v1/devices/external_id:D-1": s.device.ID, "/v1/devices/" + s.device.ID: s.device.ID,
			"/v1/plans/" + s.plan.ID: s.plan.ID, "/v1/payments/" + out.Payment.ID: out.Payment.ID,
		} {
			r := crm.Get(path)
			wantStatus(t, path, r, http.StatusOK)
			if got := decode[idBody](t, r); got.ID != want {
				t.Errorf("GET %s = %s, want %s", path, got.ID, want)
			}
		}
		r = crm.Get("/v1/devices/" + s.device.ID)
		if bytes.Contains(r.Body, []byte(deviceKeyHex)) || bytes.Contains(r.Body, []byte(strconv.Itoa(deviceStartingCode))) {
			t.Errorf("device shows its secrets: %s", r.Body)
		}
		wantStatus(t, "unknown external id", crm.Get("/v1/customers/external_id:C-404"), http.StatusNotFound)
		wantStatus(t, "a read key cannot pay", w.client(t, w.key(t, w.tenant, core.ScopeRead)).Post("/v1/payments", pay, "pay-read"), http.StatusForbidden)
	})
}

// TestPAYGSuspenseReversalAndStatus: a payment for an unknown account is
// in suspense with its reason; matching it applies it and emits
// payment.applied; a reversal takes a payment back once; a refund closes
// an item; late and defaulted follow the clock.
func TestPAYGSuspenseReversalAndStatus(t *testing.T) {
	forEachStore(t, func(t *testing.T, open openStore) {
		ctx := context.Background()
		w := newPAYGWorld(t, open(t))
		crm := w.crm
		s := w.sell(t, crm, 1)
		other := w.sell(t, crm, 2) // pending deposit: never in arrears
		w.clock.Advance(time.Minute)
		paid := w.clock.Now()
		r := crm.Post("/v1/payments", map[string]any{
			"contract_id": s.contract.ID, "amount": map[string]any{"amount": 15000, "currency": "KES"}, "reference": "RCPT-1",
		}, "pay-1")
		wantStatus(t, "manual payment", r, http.StatusCreated)
		manual := decode[outcomeBody](t, r).Payment

		notice := func(txID, account string, amount int64) core.PaymentNotice {
			return core.PaymentNotice{Instance: "mpesa-ke", ProviderTxID: txID, Status: core.NoticeSucceeded,
				Amount: core.Money{Amount: amount, Currency: "KES"}, AccountRef: account, PayerMSISDN: "2547 ***** 999",
				PayerName: "AMINA OTIENO", Raw: []byte(`{}`)}
		}
		o, err := w.svc.ApplyNotice(ctx, w.tenant, notice("TEST0A1B2C", "AC99999", 20000))
		if err != nil || o.Suspense == nil {
			t.Fatalf("ApplyNotice to an unknown account: %+v, %v", o, err)
		}
		items := all[suspenseBody](t, crm, "/v1/suspense?status=open", 10)
		if len(items) != 1 || items[0].ID != o.Suspense.ID || items[0].Reason != "unknown_account" || !strings.Contains(items[0].Detail, "AC99999") ||
			items[0].Payment.ID != o.Payment.ID || items[0].Payment.Amount != (moneyBody{20000, "KES"}) || items[0].Payment.Status != "suspense" {
			t.Fatalf("open suspense items %+v", items)
		}
		r = crm.Get("/v1/suspense/" + o.Suspense.ID)
		wantStatus(t, "get suspense item", r, http.StatusOK)

		// Matching it to the contract applies it: KES 200.00 is 4 more days.
		r = crm.Post("/v1/suspense/"+o.Suspense.ID+"/match", map[string]any{"contract_id": "external_id:L-1"}, "match-1")
		wantStatus(t, "match", r, http.StatusOK)
		matched := decode[outcomeBody](t, r)
		if matched.Payment.Status != "applied" || matched.Suspense == nil || matched.Suspense.Status != "matched" ||
			matched.Suspense.ContractID == nil || *matched.Suspense.ContractID != s.contract.ID || len(matched.Tokens) != 1 ||
			matched.Contract == nil || *matched.Contract.CreditExpiry != paid.Add(7*24*time.Hour).Format(time.RFC3339) {
			t.Fatalf("match outcome %s", r.Body)
		}
		events := all[eventBody](t, crm, "/v1/events?type=payment.applied&contract_id=external_id:L-1", 50)
		if len(events) != 2 || events[1].Data.Payment.ID != o.Payment.ID || events[1].ContractID == nil || *events[1].ContractID != s.contract.ID {
			t.Errorf("payment.applied events %+v: want the manual payment's, then the matched one's", events)
		}
		if evs := all[eventBody](t, crm, "/v1/events?type=payment.unmatched", 50); len(evs) != 1 || evs[0].ContractID != nil || evs[0].Sequence != nil {
			t.Errorf("payment.unmatched events %+v: want one, of no contract", evs)
		}
		since := url.QueryEscape(paid.Add(time.Second).Format(time.RFC3339))
		if evs := all[eventBody](t, crm, "/v1/events?since="+since, 50); len(evs) != 0 {
			t.Errorf("%d events since a time after all of them", len(evs))
		}
		if items := all[suspenseBody](t, crm, "/v1/suspense?status=open", 10); len(items) != 0 {
			t.Errorf("open items after the match: %+v", items)
		}
		r = crm.Post("/v1/suspense/"+o.Suspense.ID+"/match", map[string]any{"contract_id": s.contract.ID}, "match-2")
		wantStatus(t, "match again", r, http.StatusConflict)
		r.Problem(t)

		// A refund closes an item; the payment is kept, refunded.
		o2, err := w.svc.ApplyNotice(ctx, w.tenant, notice("TEST0A1B2D", "nobody", 5000))
		if err != nil || o2.Suspense == nil {
			t.Fatalf("second unknown payment: %+v, %v", o2, err)
		}
		r = crm.Post("/v1/suspense/"+o2.Suspense.ID+"/refund", map[string]any{"note": "sent back, receipt SFH3Q2XJ9K"}, "refund-1")
		wantStatus(t, "refund", r, http.StatusOK)
		if it := decode[suspenseBody](t, r); it.Status != "refunded" || it.Payment.Status != "refunded" || !strings.Contains(it.Detail, "SFH3Q2XJ9K") {
			t.Errorf("refunded item %s", r.Body)
		}
		wantStatus(t, "refund again", crm.Post("/v1/suspense/"+o2.Suspense.ID+"/refund", map[string]any{"note": "again"}, "refund-2"), http.StatusConflict)
		wantPointers(t, "refund without a note", crm.Post("/v1/suspense/"+o2.Suspense.ID+"/refund", map[string]any{}, ""), http.StatusUnprocessableEntity, "/note")
		if items := all[suspenseBody](t, crm, "/v1/suspense", 1); len(items) != 2 || items[0].Status != "matched" || items[1].Status != "refunded" {
			t.Errorf("all suspense items %+v", items)
		}

		// A reversal takes the manual payment back, once.
		r = crm.Post("/v1/payments/"+manual.ID+"/reversal", map[string]any{"reason": "cheque bounced"}, "reverse-1")
		wantStatus(t, "reversal", r, http.StatusOK)
		rev := decode[outcomeBody](t, r)
		if rev.Payment.Status != "reversed" || rev.Payment.Reason == nil || *rev.Payment.Reason != "cheque bounced" ||
			rev.Contract == nil || rev.Contract.Balances.TotalPaid != (moneyBody{20000, "KES"}) {
			t.Errorf("reversal outcome %s", r.Body)
		}
		wantStatus(t, "reverse again", crm.Post("/v1/payments/"+manual.ID+"/reversal", map[string]any{"reason": "again"}, "reverse-2"), http.StatusConflict)
		wantStatus(t, "reverse a refunded payment", crm.Post("/v1/payments/"+o2.Payment.ID+"/reversal", map[string]any{"reason": "x"}, "reverse-3"), http.StatusConflict)
		wantStatus(t, "reverse an unknown payment", crm.Post("/v1/payments/pay_nosuchpayment/reversal", map[string]any{"reason": "x"}, "reverse-4"), http.StatusNotFound)
		if evs := all[eventBody](t, crm, "/v1/events?type=payment.reversed&contract_id="+s.contract.ID, 10); len(evs) != 1 {
			t.Errorf("payment.reversed events %+v", evs)
		}

		// Payments by contract and status.
		for query, want := range map[string][]string{
			"contract_id=" + s.contract.ID:               {manual.ID, o.Payment.ID},
			"status=reversed":                            {manual.ID},
			"status=refunded":                            {o2.Payment.ID},
			"contract_id=external_id:L-1&status=applied": {o.Payment.ID},
			"":                {manual.ID, o.Payment.ID, o2.Payment.ID},
			"status=suspense": nil,
			"contract_id=external_id:L-1&status=refunded": nil,
		} {
			var got []string
			for _, p := range all[paymentBody](t, crm, "/v1/payments?"+query, 1) {
				got = append(got, p.ID)
			}
			if !slices.Equal(got, want) {
				t.Errorf("payments?%s = %v, want %v", query, got, want)
			}
		}
		wantStatus(t, "payments of an unknown contract", crm.Get("/v1/payments?contract_id=con_nosuchcontract"), http.StatusNotFound)
		wantPointers(t, "bad payment status", crm.Get("/v1/payments?status=lost"), http.StatusUnprocessableEntity, "status")

		// Status follows the clock: paid through day 4 (the reversed days
		// were already on the device, so they are negative credit).
		k := decode[contractBody](t, crm.Get("/v1/contracts/"+s.contract.ID))
		if k.Status != "active" || k.PaidThrough == nil || *k.PaidThrough != paid.Add(4*24*time.Hour).Format(time.RFC3339) {
			t.Fatalf("contract after the reversal %+v", k)
		}
		contracts := func(query string) []string {
			var ids []string
			for _, k := range all[contractBody](t, crm, "/v1/contracts?"+query, 2) {
				ids = append(ids, k.ID)
			}
			return ids
		}
		w.clock.Advance(10 * 24 * time.Hour)
		k = decode[contractBody](t, crm.Get("/v1/contracts/"+s.contract.ID))
		if k.Status != "late" || k.DaysInArrears != 6 {
			t.Errorf("10 days on: %s, %d days in arrears; want late, 6", k.Status, k.DaysInArrears)
		}
		for query, want := range map[string][]string{
			"status=late":                       {s.contract.ID},
			"status=active":                     nil,
			"status=pending_deposit":            {other.contract.ID},
			"days_in_arrears_gte=6":             {s.contract.ID},
			"days_in_arrears_gte=7":             nil,
			"days_in_arrears_gte=0":             {s.contract.ID, other.contract.ID},
			"status=late&days_in_arrears_gte=1": {s.contract.ID},
		} {
			if got := contracts(query); !slices.Equal(got, want) {
				t.Errorf("contracts?%s = %v, want %v", query, got, want)
			}
		}
		w.clock.Advance(30 * 24 * time.Hour)
		if got := contracts("status=defaulted"); !slices.Equal(got, []string{s.contract.ID}) {
			t.Errorf("contracts?status=defaulted = %v", got)
		}
		wantPointers(t, "bad status filter", crm.Get("/v1/contracts?status=sleepy"), http.StatusUnprocessableEntity, "status")
		wantPointers(t, "negative days", crm.Get("/v1/contracts?days_in_arrears_gte=-1"), http.StatusUnprocessableEntity, "days_in_arrears_gte")
		wantPointers(t, "bad time", crm.Get("/v1/contracts?updated_since=yesterday"), http.StatusUnprocessableEntity, "updated_since")

		// updated_since lists changes in the order they happened.
		if got := contracts("updated_since=" + url.QueryEscape(paygEpoch.Format(time.RFC3339))); !slices.Equal(got, []string{other.contract.ID, s.contract.ID}) {
			t.Errorf("contracts changed since the start = %v, want the other (created) before the first (paid later)", got)
		}
		if got := contracts("updated_since=" + url.QueryEscape(w.clock.Now().Format(time.RFC3339))); len(got) != 0 {
			t.Errorf("contracts changed since now = %v", got)
		}
	})
}

// TestPAYGPagination: every list pages through all its items exactly once
// in a stable order, and refuses a cursor it did not make.
func TestPAYGPagination(t *testing.T) {
	w := newPAYGWorld(t, openSQLite(t))
	var want []string
	for i := range 5 {
		w.clock.Advance(time.Minute)
		want = append(want, w.sell(t, w.crm, i+1).customer.ID)
	}
	for _, limit := range []int{1, 2, 5, 50} {
		var got []string
		for _, c := range all[idBody](t, w.crm, "/v1/customers", limit) {
			got = append(got, c.ID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("customers by %d: %v, want %v", limit, got, want)
		}
		for _, path := range []string{"/v1/devices", "/v1/contracts"} {
			if n := len(all[idBody](t, w.crm, path, limit)); n != 5 {
				t.Errorf("%s by %d: %d items, want 5", path, limit, n)
			}
		}
	}
	wantPointers(t, "forged cursor", w.crm.Get("/v1/contracts/external_id:L-1/ledger?cursor=bm90LWEtY3Vyc29y"), http.StatusUnprocessableEntity, "cursor")
	other := core.Cursor{CreatedAt: paygEpoch, ID: "99"}.Encode()
	wantPointers(t, "cursor of another list", w.crm.Get("/v1/contracts/external_id:L-1/tokens?cursor="+other), http.StatusUnprocessableEntity, "cursor")
	wantPointers(t, "limit too big", w.crm.Get("/v1/suspense?limit=201"), http.StatusUnprocessableEntity, "limit")
}

// TestPAYGRequestValidation: refused requests name each bad field.
func TestPAYGRequestValidation(t *testing.T) {
	w := newPAYGWorld(t, openSQLite(t))
	crm := w.crm
	s := w.sell(t, crm, 1)
	terms := func(kv ...any) map[string]any {
		m := map[string]any{"kind": "payg_credit", "currency": "KES", "price": 5000, "price_period": "day", "default_days": 30}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
		return map[string]any{"name": "p", "terms": m}
	}
	cases := []struct {
		name, path string
		body       any
		pointers   []string
	}{
		{"payg plan without a price", "/v1/plans", terms("price", nil, "price_period", nil), []string{"/terms/price", "/terms/price_period"}},
		{"instalments without their fields", "/v1/plans", terms("kind", "instalments_by_count", "price", nil, "price_period", nil),
			[]string{"/terms/frequency", "/terms/instalment_count", "/terms/total_price"}},
		{"energy without a price per kWh", "/v1/plans", terms("kind", "energy", "price", nil, "price_period", nil), []string{"/terms/price_per_kwh"}},
		{"rules of the kind", "/v1/plans", terms("grace_days", 30, "instalment_count", 3, "waterfall", []string{"credit", "fees"}),
			[]string{"/terms/default_days", "/terms/instalment_count", "/terms/waterfall"}},
		{"unknown step", "/v1/plans", terms("waterfall", []string{"credit", "tips"}), []string{"/terms/waterfall/1"}},
		{"unknown field in terms", "/v1/plans", terms("colour", "red"), []string{"/terms/colour"}},
		{"blank customer name", "/v1/customers", map[string]any{"name": " ", "phone": "0700000123"}, []string{"/name"}},
		{"bad phone", "/v1/customers", map[string]any{"name": "A", "phone": "12"}, []string{"/phone"}},
		{"external id with a slash", "/v1/customers", map[string]any{"name": "A", "phone": "0700000124", "external_id": "a/b"}, []string{"/external_id"}},
		{"openpaygo without a key", "/v1/devices", map[string]any{"serial": "S-2", "token_scheme": "openpaygo"}, []string{"/secret_key"}},
		{"short key", "/v1/devices", map[string]any{"serial": "S-2", "token_scheme": "nexus", "secret_key": "abcd"}, []string{"/secret_key"}},
		{"a key on a none device", "/v1/devices", map[string]any{"serial": "S-2", "token_scheme": "none", "secret_key": deviceKeyHex}, []string{"/secret_key"}},
		{"openpaygo fields on nexus", "/v1/devices", map[string]any{"serial": "S-2", "token_scheme": "nexus", "secret_key": deviceKeyHex, "value_divider": 2, "starting_code": 5},
			[]string{"/starting_code", "/value_divider"}},
		{"contract with plan and terms", "/v1/contracts", map[string]any{"account_number": "A2", "customer_id": s.customer.ID,
			"device_ids": []string{s.device.ID}, "plan_id": s.plan.ID, "terms": terms()["terms"]}, []string{"/terms"}},
		{"contract with neither", "/v1/contracts", map[string]any{"account_number": "A2", "customer_id": s.customer.ID, "device_ids": []string{s.device.ID}}, []string{"/terms"}},
		{"contract with bad terms", "/v1/contracts", map[string]any{"account_number": "A2", "customer_id": s.customer.ID,
			"device_ids": []string{s.device.ID}, "terms": terms("default_days", 1, "grace_days", 2)["terms"]}, []string{"/terms/default_days"}},
		{"bad account number", "/v1/contracts", map[string]any{"account_number": "A 2", "customer_id": s.customer.ID, "device_ids": []string{}, "plan_id": s.plan.ID},
			[]string{"/account_number", "/device_ids"}},
		{"match without a contract", "/v1/suspense/sus_x/match", map[string]any{}, []string{"/contract_id"}},
		{"reversal without a reason", "/v1/payments/pay_x/reversal", map[string]any{"reason": ""}, []string{"/reason"}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantPointers(t, tc.name, crm.Post(tc.path, tc.body, fmt.Sprintf("v-%d", i)), http.StatusUnprocessableEntity, tc.pointers...)
		})
	}

	// Conflicts on the tenant's unique keys.
	r := crm.Post("/v1/contracts", map[string]any{"account_number": "AC100001", "customer_id": s.customer.ID,
		"device_ids": []string{s.device.ID}, "plan_id": s.plan.ID}, "dup-account")
	wantStatus(t, "duplicate account number", r, http.StatusConflict)
	r = crm.Post("/v1/customers", map[string]any{"external_id": "C-1", "name": "B", "phone": "0700000125"}, "dup-customer")
	wantStatus(t, "duplicate customer external_id", r, http.StatusConflict)
	r = crm.Post("/v1/devices", map[string]any{"serial": "SHS-0001", "token_scheme": "none"}, "dup-serial")
	wantStatus(t, "duplicate serial", r, http.StatusConflict)
	r = crm.Post("/v1/contracts", map[string]any{"account_number": "AC2", "customer_id": "cus_nosuchcustomer",
		"device_ids": []string{s.device.ID}, "plan_id": s.plan.ID}, "no-customer")
	wantStatus(t, "unknown customer", r, http.StatusNotFound)
	r = crm.Post("/v1/contracts", map[string]any{"account_number": "AC2", "customer_id": s.customer.ID,
		"device_ids": []string{s.device.ID}, "plan_id": "pln_nosuchplan"}, "no-plan")
	wantStatus(t, "unknown plan", r, http.StatusNotFound)

	// A device of no token scheme, and one with its own contract terms.
	r = crm.Post("/v1/devices", map[string]any{"serial": "PUMP-7", "token_scheme": "none"}, "none-device")
	wantStatus(t, "device without tokens", r, http.StatusCreated)
	pump := decode[idBody](t, r)
	r = crm.Post("/v1/contracts", map[string]any{"account_number": "PUMP7", "customer_id": s.customer.ID, "device_ids": []string{pump.ID},
		"terms": map[string]any{"kind": "instalments_by_cost", "currency": "KES", "deposit": 100000, "total_price": 1300000,
			"frequency": "week", "instalment_amount": 25000, "grace_days": 7, "default_days": 60}}, "pump-contract")
	wantStatus(t, "contract with its own terms", r, http.StatusCreated)
	if k := decode[contractBody](t, r); k.PlanID != nil || k.Balances.Outstanding.Amount != 1300000 {
		t.Errorf("contract with its own terms: %+v", k)
	}
}

// TestPAYGTenantIsolation: tenant A's key reads, lists and writes tenant
// B's ids and gets 404 each time; B's rows are untouched.
func TestPAYGTenantIsolation(t *testing.T) {
	forEachStore(t, func(t *testing.T, open openStore) {
		ctx := context.Background()
		w := newPAYGWorld(t, open(t))
		alice := w.crm // tenant A: sunbright-ke
		w.addTenant(t, "acme-ke")
		bob := w.client(t, w.key(t, "acme-ke", core.ScopeWrite))

		mine := w.sell(t, alice, 1)
		theirs := w.sell(t, bob, 2)
		r := bob.Post("/v1/payments", map[string]any{"contract_id": theirs.contract.ID,
			"amount": map[string]any{"amount": 15000, "currency": "KES"}, "reference": "RCPT-1"}, "bob-pay")
		wantStatus(t, "bob's payment", r, http.StatusCreated)
		bobPay := decode[outcomeBody](t, r).Payment
		o, err := w.svc.ApplyNotice(ctx, "acme-ke", core.PaymentNotice{Instance: "mpesa-ke", ProviderTxID: "BOB0SUSP", Status: core.NoticeSucceeded,
			Amount: core.Money{Amount: 5000, Currency: "KES"}, AccountRef: "nobody"})
		if err != nil || o.Suspense == nil {
			t.Fatalf("bob's suspense payment: %+v, %v", o, err)
		}
		bobItem := o.Suspense.ID

		// Alice reuses Bob's receipt number: her own first payment.
		r = alice.Post("/v1/payments", map[string]any{"contract_id": mine.contract.ID,
			"amount": map[string]any{"amount": 15000, "currency": "KES"}, "reference": "RCPT-1"}, "alice-pay")
		wantStatus(t, "alice's payment with bob's reference", r, http.StatusCreated)

		reads := []string{
			"/v1/customers/" + theirs.customer.ID, "/v1/customers/external_id:C-2",
			"/v1/devices/" + theirs.device.ID, "/v1/devices/external_id:D-2",
			"/v1/plans/" + theirs.plan.ID,
			"/v1/contracts/" + theirs.contract.ID, "/v1/contracts/external_id:L-2",
			"/v1/contracts/" + theirs.contract.ID + "/ledger", "/v1/contracts/external_id:L-2/tokens",
			"/v1/payments/" + bobPay.ID, "/v1/suspense/" + bobItem,
			"/v1/payments?contract_id=" + theirs.contract.ID, "/v1/events?contract_id=" + theirs.contract.ID,
		}
		for _, path := range reads {
			r := alice.Get(path)
			wantStatus(t, "alice reads "+path, r, http.StatusNotFound)
			r.Problem(t)
		}
		writes := []struct {
			path string
			body any
		}{
			{"/v1/contracts", map[string]any{"account_number": "X1", "customer_id": theirs.customer.ID, "device_ids": []string{mine.device.ID}, "plan_id": mine.plan.ID}},
			{"/v1/contracts", map[string]any{"account_number": "X2", "customer_id": mine.customer.ID, "device_ids": []string{theirs.device.ID}, "plan_id": mine.plan.ID}},
			{"/v1/contracts", map[string]any{"account_number": "X3", "customer_id": mine.customer.ID, "device_ids": []string{mine.device.ID}, "plan_id": theirs.plan.ID}},
			{"/v1/payments", map[string]any{"contract_id": theirs.contract.ID, "amount": map[string]any{"amount": 100, "currency": "KES"}, "reference": "X4"}},
			{"/v1/payments/" + bobPay.ID + "/reversal", map[string]any{"reason": "mine now"}},
			{"/v1/suspense/" + bobItem + "/match", map[string]any{"contract_id": mine.contract.ID}},
			{"/v1/suspense/" + bobItem + "/refund", map[string]any{"note": "mine now"}},
		}
		for i, wr := range writes {
			r := alice.Post(wr.path, wr.body, fmt.Sprintf("alice-write-%d", i))
			wantStatus(t, "alice writes "+wr.path, r, http.StatusNotFound)
			r.Problem(t)
		}
		// Bob cannot move his suspense money onto Alice's contract either.
		wantStatus(t, "bob matches to alice's contract",
			bob.Post("/v1/suspense/"+bobItem+"/match", map[string]any{"contract_id": mine.contract.ID}, "bob-match"), http.StatusNotFound)

		// Lists show only one's own rows.
		for _, path := range []string{"/v1/customers", "/v1/devices", "/v1/plans", "/v1/contracts", "/v1/payments", "/v1/suspense", "/v1/events"} {
			for _, it := range all[idBody](t, alice, path, 50) {
				for _, b := range []string{theirs.customer.ID, theirs.device.ID, theirs.plan.ID, theirs.contract.ID, bobPay.ID, bobItem} {
					if it.ID == b {
						t.Errorf("alice lists bob's %s in %s", b, path)
					}
				}
			}
		}
		// Bob's rows are as he left them.
		if p := decode[paymentBody](t, bob.Get("/v1/payments/"+bobPay.ID)); p.Status != "applied" {
			t.Errorf("bob's payment is %s", p.Status)
		}
		if it := decode[suspenseBody](t, bob.Get("/v1/suspense/"+bobItem)); it.Status != "open" {
			t.Errorf("bob's suspense item is %s", it.Status)
		}
		if k := decode[contractBody](t, bob.Get("/v1/contracts/external_id:L-2")); k.Balances.TotalPaid.Amount != 15000 {
			t.Errorf("bob's contract has %d paid", k.Balances.TotalPaid.Amount)
		}
	})
}
