package mtnmomo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/adapters/adaptertest"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/coretest"
)

// fakeMoMo is a MoMo collection API double.
type fakeMoMo struct {
	t        *testing.T
	mu       sync.Mutex
	tokens   int
	token    []byte // token answer
	requests []*http.Request
	bodies   [][]byte
	// answer gives the status and body for API calls (not token fetches).
	answer func(r *http.Request) (int, []byte)
}

func newFakeMoMo(t *testing.T) (*fakeMoMo, *httptest.Server) {
	f := &fakeMoMo{t: t, token: adaptertest.ReadFixture(t, fixtureDir, "token_response.json")}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeMoMo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path == "/collection/token/" {
		if r.Method != http.MethodPost {
			f.t.Errorf("token: method %s", r.Method)
		}
		if u, p, ok := r.BasicAuth(); !ok || u != apiUser || p != "test-api-key" {
			f.t.Errorf("token: wrong Basic credentials")
		}
		if r.Header.Get("Ocp-Apim-Subscription-Key") != "test-subscription-key" {
			f.t.Errorf("token: no subscription key")
		}
		f.tokens++
		w.Header().Set("Content-Type", "application/json")
		w.Write(f.token)
		return
	}
	body, _ := io.ReadAll(r.Body)
	f.requests = append(f.requests, r)
	f.bodies = append(f.bodies, body)
	status, out := f.answer(r)
	w.WriteHeader(status)
	w.Write(out)
}

func provision(t *testing.T, srv *httptest.Server, clock core.Clock) adapters.Adapter {
	t.Helper()
	return adaptertest.Provision(t, config(map[string]any{"base_url": srv.URL}), adapters.Deps{HTTPClient: srv.Client(), Clock: clock})
}

var start = time.Date(2025, 3, 14, 6, 30, 0, 0, time.UTC)

func payment() adapters.PaymentRequest {
	return adapters.PaymentRequest{
		RequestID:   "PAY-000123",
		ReferenceID: reference,
		Amount:      ugx(50000),
		MSISDN:      "256770000101",
		AccountRef:  "AC100234",
		Description: "Solar lease AC100234",
	}
}

// TestRequestToPayContract checks the outbound request against
// requesttopay_request_body.json and the headers of §2.2.
func TestRequestToPayContract(t *testing.T) {
	fake, srv := newFakeMoMo(t)
	fake.answer = func(*http.Request) (int, []byte) { return http.StatusAccepted, nil }
	a := provision(t, srv, coretest.NewClock(start))

	init, err := a.(adapters.PaymentInitiator).InitiatePayment(context.Background(), payment())
	if err != nil {
		t.Fatalf("InitiatePayment: %v", err)
	}
	want := adapters.PaymentInitiation{RequestID: "PAY-000123", ProviderRef: reference, Status: core.NoticePending, Raw: []byte{}}
	if init.RequestID != want.RequestID || init.ProviderRef != want.ProviderRef || init.Status != want.Status || init.Duplicate {
		t.Errorf("initiation %+v", init)
	}
	r := fake.requests[0]
	if r.Method != http.MethodPost || r.URL.Path != "/collection/v1_0/requesttopay" {
		t.Errorf("%s %s", r.Method, r.URL.Path)
	}
	for h, v := range map[string]string{
		"Authorization":             "Bearer eyJ0eXAiOiJKV1QiLCJhbGciOiJSMjU2In0.TEST-NOT-A-REAL-TOKEN.sig",
		"X-Reference-Id":            reference,
		"X-Target-Environment":      "mtnuganda",
		"Ocp-Apim-Subscription-Key": "test-subscription-key",
		"Content-Type":              "application/json",
		"X-Callback-Url":            "https://gateway.example.com/callbacks/mtn-ug/requesttopay/" + reference + "/" + adapters.PathToken(callbackKey, reference, 32),
	} {
		if got := r.Header.Get(h); got != v {
			t.Errorf("%s = %q, want %q", h, got, v)
		}
	}
	if wantBody := adaptertest.ReadFixture(t, fixtureDir, "requesttopay_request_body.json"); !adaptertest.SameBody(fake.bodies[0], wantBody) {
		t.Errorf("body %s\nwant %s", fake.bodies[0], wantBody)
	}
}

func TestRequestToPayDuplicateReference(t *testing.T) {
	fake, srv := newFakeMoMo(t)
	fake.answer = func(*http.Request) (int, []byte) {
		return http.StatusConflict, []byte(`{"code":"RESOURCE_ALREADY_EXIST","message":"Duplicated reference id. Creation of resource failed."}`)
	}
	a := provision(t, srv, coretest.NewClock(start))
	init, err := a.(adapters.PaymentInitiator).InitiatePayment(context.Background(), payment())
	if err != nil || !init.Duplicate || init.Status != core.NoticePending {
		t.Fatalf("got %+v, %v; want a pending duplicate", init, err)
	}
}

func TestRequestToPayErrors(t *testing.T) {
	for _, tc := range []struct {
		status    int
		body      string
		code      string
		retryable bool
	}{
		{400, `{"code":"INVALID_CALLBACK_URL_HOST","message":"Callback URL with different host"}`, "INVALID_CALLBACK_URL_HOST", false},
		{500, `{"code":"INTERNAL_PROCESSING_ERROR","message":"An internal error occurred"}`, "INTERNAL_PROCESSING_ERROR", true},
		{503, `{"code":"SERVICE_UNAVAILABLE","message":"Service unavailable"}`, "SERVICE_UNAVAILABLE", true},
	} {
		fake, srv := newFakeMoMo(t)
		fake.answer = func(*http.Request) (int, []byte) { return tc.status, []byte(tc.body) }
		a := provision(t, srv, coretest.NewClock(start))
		_, err := a.(adapters.PaymentInitiator).InitiatePayment(context.Background(), payment())
		var pe *adapters.ProviderError
		if !errors.As(err, &pe) || pe.Code != tc.code || pe.Retryable != tc.retryable || pe.HTTPStatus != tc.status {
			t.Errorf("%d: got %v", tc.status, err)
		}
	}
}

func TestRequestToPayRejectsBadRequests(t *testing.T) {
	_, srv := newFakeMoMo(t)
	a := provision(t, srv, coretest.NewClock(start)).(adapters.PaymentInitiator)
	for name, mutate := range map[string]func(*adapters.PaymentRequest){
		"no reference":    func(r *adapters.PaymentRequest) { r.ReferenceID = "" },
		"not a uuid v4":   func(r *adapters.PaymentRequest) { r.ReferenceID = "0f7b0a3e-8e3c-1b8a-9d3a-2b1f4c5d6e7f" },
		"no external id":  func(r *adapters.PaymentRequest) { r.RequestID = "" },
		"currency":        func(r *adapters.PaymentRequest) { r.Amount = core.NewMoney(50000, "KES") },
		"zero":            func(r *adapters.PaymentRequest) { r.Amount = ugx(0) },
		"msisdn with +":   func(r *adapters.PaymentRequest) { r.MSISDN = "+256770000101" },
		"msisdn too long": func(r *adapters.PaymentRequest) { r.MSISDN = "2567700001019999" },
	} {
		req := payment()
		mutate(&req)
		if _, err := a.InitiatePayment(context.Background(), req); core.ErrorCode(err) != core.EINVALID {
			t.Errorf("%s: got %v, want EINVALID", name, err)
		}
	}
}

func TestRequestToPayCleansTexts(t *testing.T) {
	fake, srv := newFakeMoMo(t)
	fake.answer = func(*http.Request) (int, []byte) { return http.StatusAccepted, nil }
	a := provision(t, srv, coretest.NewClock(start))
	req := payment()
	req.Description = "Solar & lease: AC-100234!"
	req.AccountRef = ""
	if _, err := a.(adapters.PaymentInitiator).InitiatePayment(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	if err := json.Unmarshal(fake.bodies[0], &body); err != nil {
		t.Fatal(err)
	}
	if body["payerMessage"] != "Solar lease AC 100234" || body["payeeNote"] != "PAY 000123" {
		t.Errorf("payerMessage %q, payeeNote %q", body["payerMessage"], body["payeeNote"])
	}
}

// TestTokenCache uses token_response.json (expires_in 3600): one fetch
// for many calls, a new one 5 minutes before expiry, and one after a 401.
func TestTokenCache(t *testing.T) {
	fake, srv := newFakeMoMo(t)
	reject := false
	fake.answer = func(*http.Request) (int, []byte) {
		if reject {
			reject = false
			return http.StatusUnauthorized, []byte(`{"statusCode":401,"message":"Access token is missing or invalid."}`)
		}
		return http.StatusAccepted, nil
	}
	clock := coretest.NewClock(start)
	a := provision(t, srv, clock).(adapters.PaymentInitiator)
	call := func() {
		t.Helper()
		if _, err := a.InitiatePayment(context.Background(), payment()); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() { defer wg.Done(); call() }()
	}
	wg.Wait()
	if fake.tokens != 1 {
		t.Fatalf("%d token fetches, want 1", fake.tokens)
	}
	clock.Advance(55*time.Minute - time.Second)
	call()
	if fake.tokens != 1 {
		t.Fatalf("token refetched early")
	}
	clock.Advance(2 * time.Second)
	call()
	if fake.tokens != 2 {
		t.Fatalf("%d token fetches after 55 minutes, want 2", fake.tokens)
	}
	reject = true
	call()
	if fake.tokens != 3 {
		t.Fatalf("%d token fetches after a 401, want 3", fake.tokens)
	}
}

// TestQueryStatus uses getstatus_response_pending.json.
func TestQueryStatus(t *testing.T) {
	fake, srv := newFakeMoMo(t)
	pending := adaptertest.ReadFixture(t, fixtureDir, "getstatus_response_pending.json")
	successful := adaptertest.ReadFixture(t, fixtureDir, "requesttopay_callback_successful.json")
	fake.answer = func(r *http.Request) (int, []byte) {
		switch r.URL.Path {
		case "/collection/v1_0/requesttopay/" + reference:
			return 200, pending
		case "/collection/v1_0/requesttopay/1b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b":
			return 200, successful
		case "/collection/v1_0/requesttopay/3c2b1a0f-9e8d-4c7b-8a69-584736251403":
			return 200, []byte(`{"externalId":"PAY-1","amount":"lots","currency":"UGX","status":"SUCCESSFUL"}`)
		}
		return 404, []byte(`{"code":"RESOURCE_NOT_FOUND","message":"Requested resource was not found."}`)
	}
	a := provision(t, srv, coretest.NewClock(start)).(adapters.StatusQuerier)
	ctx := context.Background()

	st, err := a.QueryStatus(ctx, adapters.PaymentRef{RequestID: "PAY-000130", ProviderRef: reference})
	if err != nil {
		t.Fatalf("QueryStatus: %v", err)
	}
	want := core.PaymentNotice{Instance: instance, RequestID: "PAY-000130", Status: core.NoticePending, Amount: ugx(50000), PayerMSISDN: "256770000101", Raw: pending}
	if d := adaptertest.DiffNotice(st.Notice, want); d != "" || st.Async != nil {
		t.Errorf("pending: %s", d)
	}
	r := fake.requests[0]
	if r.Method != http.MethodGet || r.Header.Get("X-Target-Environment") != "mtnuganda" || r.Header.Get("Ocp-Apim-Subscription-Key") == "" ||
		!strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		t.Errorf("request %s %v", r.Method, r.Header)
	}

	st, err = a.QueryStatus(ctx, adapters.PaymentRef{ProviderRef: "1b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b"})
	if err != nil || st.Notice.Status != core.NoticeSucceeded || st.Notice.ProviderTxID != "1000000001" || st.Notice.Amount != ugx(50000) {
		t.Errorf("successful: %+v, %v", st, err)
	}
	if _, err := a.QueryStatus(ctx, adapters.PaymentRef{ProviderRef: "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"}); !errors.Is(err, adapters.ErrPaymentNotFound) {
		t.Errorf("unknown reference: %v, want ErrPaymentNotFound", err)
	}
	if _, err := a.QueryStatus(ctx, adapters.PaymentRef{ProviderRef: "3c2b1a0f-9e8d-4c7b-8a69-584736251403"}); err == nil {
		t.Errorf("unreadable answer: no error")
	}
	if _, err := a.QueryStatus(ctx, adapters.PaymentRef{RequestID: "PAY-1"}); core.ErrorCode(err) != core.EINVALID {
		t.Errorf("no reference: %v", err)
	}
}

func TestSettingsErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		settings map[string]any
		want     string
	}{
		{"no callback key", map[string]any{"callback_key": nil}, "settings.callback_key: required"},
		{"short callback key", map[string]any{"callback_key": "short"}, "settings.callback_key: too short"},
		{"production without target", map[string]any{"environment": "production", "target_environment": nil}, "settings.target_environment: required in production"},
		{"half credentials", map[string]any{"api_key": nil}, "settings.api_user: api_user, api_key and subscription_key go together"},
		{"confirm without credentials", map[string]any{"api_key": nil, "api_user": nil, "subscription_key": nil}, "settings.confirm_by_status_query: confirming callbacks needs"},
		{"api user", map[string]any{"api_user": "bob"}, `settings.api_user: "bob": want the API user's UUID`},
		{"confirm type", map[string]any{"confirm_by_status_query": "yes"}, "settings.confirm_by_status_query: want boolean, got string"},
		{"http callback in production", map[string]any{"environment": "production", "callback_base_url": "http://gw.example.com/cb"}, "settings.callback_base_url:"},
		{"unknown key", map[string]any{"callback_secret": "x"}, "settings.callback_secret: unknown setting"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config(tc.settings)
			for k, v := range tc.settings {
				if v == nil {
					delete(cfg.Settings, k)
				}
			}
			_, err := adapters.Provision(context.Background(), cfg, adapters.Deps{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestCallbackOverPlainHTTPInSandbox(t *testing.T) {
	cfg := config(map[string]any{"callback_base_url": "http://gateway.example.com/callbacks/mtn-ug"})
	if _, err := adapters.Provision(context.Background(), cfg, adapters.Deps{}); err != nil {
		t.Fatalf("sandbox callbacks are plain HTTP: %v", err)
	}
}

func TestAmountsAreNotFloats(t *testing.T) {
	// A large amount must survive exactly.
	body := []byte(`{"financialTransactionId":"1","externalId":"PAY-1","amount":"9007199254740993","currency":"UGX","status":"SUCCESSFUL"}`)
	a := adaptertest.Provision(t, config(nil), adapters.Deps{}).(adapters.CallbackParser)
	res := adaptertest.CheckCallback(t, a, instance, &adapters.Request{Method: "PUT", Kind: "requesttopay", Body: body, PathParams: params(reference)})
	if res == nil || len(res.Notices) != 1 || res.Notices[0].Amount != ugx(9007199254740993) {
		t.Fatalf("got %+v", res)
	}
	if !bytes.Equal(res.Notices[0].Raw, body) {
		t.Errorf("Raw changed")
	}
}
