package mpesa_test

import (
	"context"
	"encoding/base64"
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
	"github.com/payg-gateway/gateway/adapters/mpesa"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/coretest"
)

// fakeDaraja is a Daraja API double that records every request.
type fakeDaraja struct {
	t      *testing.T
	mu     sync.Mutex
	tokens int      // token fetches
	calls  []record // API calls (not token fetches)
	// expiresIn is the token answer's expires_in, raw JSON.
	expiresIn string
	// reject401 makes the next API call answer 401.
	reject401 bool
	// answer is the status and body of API calls, by path.
	answer map[string]func() (int, string)
}

type record struct {
	path, auth string
	body       map[string]any
}

func newFakeDaraja(t *testing.T) (*fakeDaraja, *httptest.Server) {
	f := &fakeDaraja{t: t, expiresIn: "3599", answer: map[string]func() (int, string){}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeDaraja) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path == "/oauth/v1/generate" {
		if r.Method != http.MethodGet || r.URL.Query().Get("grant_type") != "client_credentials" {
			f.t.Errorf("token request %s %s", r.Method, r.URL)
		}
		if u, p, ok := r.BasicAuth(); !ok || u != "ck" || p != "cs" {
			f.t.Errorf("token request without the consumer credentials")
		}
		f.tokens++
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"tok`+string(rune('0'+f.tokens))+`","expires_in":`+f.expiresIn+`}`)
		return
	}
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		f.t.Errorf("%s: body is not JSON: %v", r.URL.Path, err)
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		f.t.Errorf("%s: %s with content type %q", r.URL.Path, r.Method, r.Header.Get("Content-Type"))
	}
	f.calls = append(f.calls, record{path: r.URL.Path, auth: r.Header.Get("Authorization"), body: body})
	if f.reject401 {
		f.reject401 = false
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"requestId":"r","errorCode":"404.001.03","errorMessage":"Invalid Access Token"}`)
		return
	}
	answer, ok := f.answer[r.URL.Path]
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	status, out := answer()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, out)
}

func (f *fakeDaraja) last() record {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		f.t.Fatalf("no API call recorded")
	}
	return f.calls[len(f.calls)-1]
}

func fixed(status int, body string) func() (int, string) {
	return func() (int, string) { return status, body }
}

// outbound provisions an instance with every outbound feature against srv.
func outbound(t *testing.T, srv *httptest.Server, clock core.Clock) adapters.Adapter {
	t.Helper()
	cfg := config(map[string]any{
		"base_url":            srv.URL,
		"consumer_key":        "ck",
		"consumer_secret":     "env:TEST_MPESA_CONSUMER_SECRET",
		"callback_base_url":   "https://gateway.example.com/callbacks/ke-paybill",
		"stk_short_code":      "174379",
		"stk_party_b":         "174379",
		"stk_passkey":         "passkey",
		"initiator":           "apiop1",
		"security_credential": "b64credential",
	})
	env := map[string]string{"TEST_MPESA_CONSUMER_SECRET": "cs"}
	deps := adapters.Deps{
		HTTPClient: srv.Client(),
		Clock:      clock,
		Secrets:    adapters.EnvFileSecrets(func(k string) (string, bool) { v, ok := env[k]; return v, ok }),
	}
	return adaptertest.Provision(t, cfg, deps)
}

// start is 2025-03-14 09:30:00 in Nairobi.
var start = time.Date(2025, 3, 14, 6, 30, 0, 0, time.UTC)

func payment() adapters.PaymentRequest {
	return adapters.PaymentRequest{RequestID: "GW-1", Amount: kes(1500), MSISDN: "254700000123", AccountRef: "AC100234", Description: "Lease"}
}

func TestSTKPush(t *testing.T) {
	fake, srv := newFakeDaraja(t)
	fake.answer["/mpesa/stkpush/v1/processrequest"] = fixed(200, `{"MerchantRequestID":"m-1","CheckoutRequestID":"ws_CO_14032025093000000700000123","ResponseCode":"0","ResponseDescription":"Success. Request accepted for processing","CustomerMessage":"Success. Request accepted for processing"}`)
	a := outbound(t, srv, coretest.NewClock(start))

	init, err := a.(adapters.PaymentInitiator).InitiatePayment(context.Background(), payment())
	if err != nil {
		t.Fatalf("InitiatePayment: %v", err)
	}
	if init.Status != core.NoticePending || init.RequestID != "ws_CO_14032025093000000700000123" || init.ProviderRef != init.RequestID {
		t.Errorf("initiation %+v", init)
	}
	call := fake.last()
	if call.auth != "Bearer tok1" {
		t.Errorf("Authorization %q", call.auth)
	}
	want := map[string]any{
		"BusinessShortCode": "174379",
		"Password":          base64.StdEncoding.EncodeToString([]byte("174379" + "passkey" + "20250314093000")),
		"Timestamp":         "20250314093000",
		"TransactionType":   "CustomerPayBillOnline",
		"Amount":            "1500",
		"PartyA":            "254700000123",
		"PartyB":            "174379",
		"PhoneNumber":       "254700000123",
		"CallBackURL":       "https://gateway.example.com/callbacks/ke-paybill/stk/" + secret,
		"AccountReference":  "AC100234",
		"TransactionDesc":   "Lease",
	}
	for k, v := range want {
		if call.body[k] != v {
			t.Errorf("%s = %v, want %v", k, call.body[k], v)
		}
	}
	if len(call.body) != len(want) {
		t.Errorf("body has %d keys, want %d: %v", len(call.body), len(want), call.body)
	}
}

func TestSTKPushRefusedInBody(t *testing.T) {
	fake, srv := newFakeDaraja(t)
	fake.answer["/mpesa/stkpush/v1/processrequest"] = fixed(200, `{"MerchantRequestID":"m-1","CheckoutRequestID":"ws_CO_x","ResponseCode":"1","ResponseDescription":"Rejected"}`)
	a := outbound(t, srv, coretest.NewClock(start))
	init, err := a.(adapters.PaymentInitiator).InitiatePayment(context.Background(), payment())
	if err != nil || init.Status != core.NoticeFailed || init.Reason != "1: Rejected" {
		t.Fatalf("got %+v, %v; want a failed initiation", init, err)
	}
}

func TestSTKPushProviderErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		status    int
		body      string
		code      string
		retryable bool
	}{
		{"locked subscriber", 500, `{"requestId":"r","errorCode":"500.001.1001","errorMessage":"Unable to lock subscriber, a transaction is already in process for the current subscriber"}`, "500.001.1001", true},
		{"wrong credentials", 500, `{"requestId":"r","errorCode":"500.001.1001","errorMessage":"Wrong credentials"}`, "500.001.1001", false},
		{"spike arrest", 500, `{"requestId":"r","errorCode":"500.003.02","errorMessage":"Spike Arrest Violation"}`, "500.003.02", true},
		{"bad request", 400, `{"requestId":"r","errorCode":"400.002.02","errorMessage":"Bad Request - Invalid PhoneNumber"}`, "400.002.02", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake, srv := newFakeDaraja(t)
			fake.answer["/mpesa/stkpush/v1/processrequest"] = fixed(tc.status, tc.body)
			a := outbound(t, srv, coretest.NewClock(start))
			_, err := a.(adapters.PaymentInitiator).InitiatePayment(context.Background(), payment())
			var pe *adapters.ProviderError
			if !errors.As(err, &pe) {
				t.Fatalf("got %v, want a ProviderError", err)
			}
			if pe.Code != tc.code || pe.Retryable != tc.retryable || pe.HTTPStatus != tc.status {
				t.Errorf("got %+v", pe)
			}
		})
	}
}

func TestSTKPushRejectsBadRequests(t *testing.T) {
	_, srv := newFakeDaraja(t)
	a := outbound(t, srv, coretest.NewClock(start)).(adapters.PaymentInitiator)
	for name, mutate := range map[string]func(*adapters.PaymentRequest){
		"cents":            func(r *adapters.PaymentRequest) { r.Amount = core.NewMoney(150050, "KES") },
		"zero":             func(r *adapters.PaymentRequest) { r.Amount = kes(0) },
		"currency":         func(r *adapters.PaymentRequest) { r.Amount = core.NewMoney(1500, "UGX") },
		"msisdn":           func(r *adapters.PaymentRequest) { r.MSISDN = "0700000123" },
		"long account":     func(r *adapters.PaymentRequest) { r.AccountRef = "AC1002345678901" },
		"no account":       func(r *adapters.PaymentRequest) { r.AccountRef = "" },
		"long description": func(r *adapters.PaymentRequest) { r.Description = "Solar lease payment" },
	} {
		req := payment()
		mutate(&req)
		if _, err := a.InitiatePayment(context.Background(), req); core.ErrorCode(err) != core.EINVALID {
			t.Errorf("%s: got %v, want EINVALID", name, err)
		}
	}
}

func TestTokenIsCachedUntilNearExpiry(t *testing.T) {
	fake, srv := newFakeDaraja(t)
	fake.expiresIn = `"3599"` // a string, as some answers have it
	fake.answer["/mpesa/stkpush/v1/processrequest"] = fixed(200, `{"CheckoutRequestID":"ws_CO_1","ResponseCode":"0"}`)
	clock := coretest.NewClock(start)
	a := outbound(t, srv, clock).(adapters.PaymentInitiator)
	push := func() {
		t.Helper()
		if _, err := a.InitiatePayment(context.Background(), payment()); err != nil {
			t.Fatalf("InitiatePayment: %v", err)
		}
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() { defer wg.Done(); push() }()
	}
	wg.Wait()
	if fake.tokens != 1 {
		t.Fatalf("%d token fetches for 8 concurrent calls, want 1", fake.tokens)
	}
	clock.Advance(3599*time.Second - 5*time.Minute - time.Second)
	push()
	if fake.tokens != 1 {
		t.Fatalf("token refetched before its refresh time")
	}
	clock.Advance(2 * time.Second)
	push()
	if fake.tokens != 2 || fake.last().auth != "Bearer tok2" {
		t.Fatalf("tokens %d, auth %q: want a new token 5 minutes before expiry", fake.tokens, fake.last().auth)
	}
	fake.reject401 = true
	push()
	if fake.tokens != 3 || fake.last().auth != "Bearer tok3" {
		t.Fatalf("after a 401: tokens %d, auth %q; want one refetch and a retry", fake.tokens, fake.last().auth)
	}
}

func TestRegisterURLs(t *testing.T) {
	fake, srv := newFakeDaraja(t)
	fake.answer["/mpesa/c2b/v2/registerurl"] = fixed(200, `{"OriginatorCoversationID":"6e86-45dd-91ac-fd5d4178ab523408729","ResponseCode":"0","ResponseDescription":"Success"}`)
	a := outbound(t, srv, coretest.NewClock(start))
	reg, err := a.(adapters.URLRegistrar).RegisterURLs(context.Background())
	if err != nil {
		t.Fatalf("RegisterURLs: %v", err)
	}
	base := "https://gateway.example.com/callbacks/ke-paybill/"
	want := map[string]any{
		"ShortCode":       "600123",
		"ResponseType":    "Completed",
		"ConfirmationURL": base + "c2b-confirmation/" + secret,
		"ValidationURL":   base + "c2b-validation/" + secret,
	}
	got := fake.last().body
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if reg.ProviderRef != "6e86-45dd-91ac-fd5d4178ab523408729" || reg.URLs["confirmation"] != want["ConfirmationURL"] {
		t.Errorf("registration %+v", reg)
	}
}

func TestRegisterURLsAlreadyRegistered(t *testing.T) {
	fake, srv := newFakeDaraja(t)
	fake.answer["/mpesa/c2b/v2/registerurl"] = fixed(500, `{"requestId":"r","errorCode":"500.003.1001","errorMessage":"Urls are already registered"}`)
	a := outbound(t, srv, coretest.NewClock(start))
	_, err := a.(adapters.URLRegistrar).RegisterURLs(context.Background())
	var pe *adapters.ProviderError
	if !errors.As(err, &pe) || pe.Code != "500.003.1001" || pe.Retryable {
		t.Fatalf("got %v, want a permanent 500.003.1001", err)
	}
}

func TestQueryStatusByReceipt(t *testing.T) {
	fake, srv := newFakeDaraja(t)
	fake.answer["/mpesa/transactionstatus/v1/query"] = fixed(200, `{"OriginatorConversationID":"1234-5678901-1","ConversationID":"AG_20250314_0000aaaabbbbccccdddd","ResponseCode":"0","ResponseDescription":"Accept the service request successfully."}`)
	a := outbound(t, srv, coretest.NewClock(start))
	st, err := a.(adapters.StatusQuerier).QueryStatus(context.Background(), adapters.PaymentRef{ProviderTxID: "TEST0A1B2H"})
	if err != nil {
		t.Fatalf("QueryStatus: %v", err)
	}
	want := adapters.AsyncRequest{Operation: adapters.OperationStatusQuery, RequestRef: "1234-5678901-1", ProviderRef: "AG_20250314_0000aaaabbbbccccdddd"}
	if st.Async == nil || *st.Async != want || st.Notice.Status != "" {
		t.Errorf("status %+v", st)
	}
	body := fake.last().body
	base := "https://gateway.example.com/callbacks/ke-paybill/"
	for k, v := range map[string]any{
		"Initiator": "apiop1", "SecurityCredential": "b64credential", "CommandID": "TransactionStatusQuery",
		"TransactionID": "TEST0A1B2H", "PartyA": "600123", "IdentifierType": "4",
		"ResultURL": base + "status-result/" + secret, "QueueTimeOutURL": base + "status-timeout/" + secret,
	} {
		if body[k] != v {
			t.Errorf("%s = %v, want %v", k, body[k], v)
		}
	}
}

func TestQueryStatusBySTK(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		answer     string
		want       core.NoticeStatus
		wantReason string
	}{
		{"cancelled", 200, `{"ResponseCode":"0","CheckoutRequestID":"ws_CO_1","ResultCode":"1032","ResultDesc":"Request cancelled by user"}`, core.NoticeFailed, "1032: Request cancelled by user"},
		{"completed", 200, `{"ResponseCode":"0","CheckoutRequestID":"ws_CO_1","ResultCode":"0","ResultDesc":"The service request is processed successfully."}`, core.NoticePending, ""},
		{"unknown code", 200, `{"ResponseCode":"0","CheckoutRequestID":"ws_CO_1","ResultCode":"9999","ResultDesc":"?"}`, core.NoticePending, "unknown ResultCode 9999: ?"},
		{"processing", 500, `{"requestId":"r","errorCode":"500.001.1001","errorMessage":"The transaction is being processed"}`, core.NoticePending, "still being processed: The transaction is being processed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake, srv := newFakeDaraja(t)
			fake.answer["/mpesa/stkpushquery/v1/query"] = fixed(tc.status, tc.answer)
			a := outbound(t, srv, coretest.NewClock(start))
			st, err := a.(adapters.StatusQuerier).QueryStatus(context.Background(), adapters.PaymentRef{RequestID: "ws_CO_1", ProviderRef: "ws_CO_1"})
			if err != nil {
				t.Fatalf("QueryStatus: %v", err)
			}
			n := st.Notice
			if n.Status != tc.want || n.RequestID != "ws_CO_1" || n.Instance != instance || (tc.wantReason != "" && n.Reason != tc.wantReason) {
				t.Errorf("notice %+v", n)
			}
			body := fake.last().body
			if body["CheckoutRequestID"] != "ws_CO_1" || body["Timestamp"] != "20250314093000" || body["BusinessShortCode"] != "174379" {
				t.Errorf("query body %v", body)
			}
		})
	}
}

func TestOutboundNotConfigured(t *testing.T) {
	a := adaptertest.Provision(t, config(nil), adapters.Deps{})
	ctx := context.Background()
	if _, err := a.(adapters.PaymentInitiator).InitiatePayment(ctx, payment()); !errors.Is(err, adapters.ErrNotConfigured) {
		t.Errorf("InitiatePayment: %v", err)
	}
	if _, err := a.(adapters.URLRegistrar).RegisterURLs(ctx); !errors.Is(err, adapters.ErrNotConfigured) {
		t.Errorf("RegisterURLs: %v", err)
	}
	if _, err := a.(adapters.StatusQuerier).QueryStatus(ctx, adapters.PaymentRef{ProviderTxID: "X"}); !errors.Is(err, adapters.ErrNotConfigured) {
		t.Errorf("QueryStatus: %v", err)
	}
}

func TestSettingsErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		settings map[string]any
		currency core.Currency
		want     string
	}{
		{"missing short code", map[string]any{"short_code": nil}, "", "settings.short_code: required"},
		{"numeric short code", map[string]any{"short_code": 600123}, "", "settings.short_code: want string, got number"},
		{"unknown key", map[string]any{"shortcode": "600123"}, "", `settings.shortcode: unknown setting`},
		{"no secret", map[string]any{"callback_secret": ""}, "", "settings.callback_secret: required"},
		{"short secret", map[string]any{"callback_secret": "abc"}, "", "settings.callback_secret: want 16-128"},
		{"blocked word in secret", map[string]any{"callback_secret": "aaaaSQLbbbbccccdddd"}, "", `settings.callback_secret: contains "sql"`},
		{"unresolved secret", map[string]any{"callback_secret": "env:NO_SUCH_VARIABLE_FOR_TEST"}, "", "settings.callback_secret: environment variable NO_SUCH_VARIABLE_FOR_TEST is not set"},
		{"mpesa in callback url", map[string]any{"callback_base_url": "https://gw.example.com/callbacks/mpesa-ke"}, "", `settings.callback_base_url: "https://gw.example.com/callbacks/mpesa-ke" contains "mpesa"`},
		{"http callback in production", map[string]any{"environment": "production", "callback_base_url": "http://gw.example.com/cb"}, "", "settings.callback_base_url: \"http://gw.example.com/cb\": want https"},
		{"bad cidr", map[string]any{"allowed_cidrs": []any{"10.0.0.0/8", "nope"}}, "", `settings.allowed_cidrs[1]: "nope" is not a CIDR`},
		{"bad min", map[string]any{"validation_min_amount": "ten"}, "", "settings.validation_min_amount:"},
		{"half credentials", map[string]any{"consumer_key": "ck"}, "", "settings.consumer_secret: consumer_key and consumer_secret go together"},
		{"stk without callback url", map[string]any{"consumer_key": "a", "consumer_secret": "b", "stk_passkey": "p"}, "", "settings.stk_passkey: STK push needs callback_base_url"},
		{"response type case", map[string]any{"response_type": "completed"}, "", "settings.response_type:"},
		{"currency", nil, "UGX", "currency: Daraja payments are in KES"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config(tc.settings)
			for k, v := range tc.settings {
				if v == nil {
					delete(cfg.Settings, k)
				}
			}
			if tc.currency != "" {
				cfg.Currency = tc.currency
			}
			_, err := adapters.Provision(context.Background(), cfg, adapters.Deps{Secrets: adapters.EnvFileSecrets(func(string) (string, bool) { return "", false })})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), `adapters: instance "ke-paybill" (payments.mpesa): `) {
				t.Errorf("error %q does not name the instance", err)
			}
		})
	}
}

func TestSecretsAreNotPrinted(t *testing.T) {
	var s mpesa.Settings
	err := adapters.DecodeSettings(map[string]any{"consumer_secret": "hunter2hunter2", "callback_secret": "env:X"}, &s,
		adapters.EnvFileSecrets(func(string) (string, bool) { return "resolved-value", true }))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(s)
	if strings.Contains(string(b), "hunter2") || strings.Contains(string(b), "resolved-value") {
		t.Errorf("settings JSON leaks a secret: %s", b)
	}
	if s.CallbackSecret.Value() != "resolved-value" || s.CallbackSecret.String() != "[secret from env:X]" {
		t.Errorf("secret %q / %s", s.CallbackSecret.Value(), s.CallbackSecret)
	}
}

func TestRoutesAvoidBlockedWords(t *testing.T) {
	a := adaptertest.Provision(t, config(nil), adapters.Deps{})
	for _, r := range a.(adapters.CallbackRouter).CallbackRoutes() {
		for _, w := range []string{"mpesa", "m-pesa", "safaricom", "exe", "cmd", "sql", "query"} {
			if strings.Contains(strings.ToLower(r.Kind), w) {
				t.Errorf("route %q contains %q, which Daraja refuses", r.Kind, w)
			}
		}
	}
}
