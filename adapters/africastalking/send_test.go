package africastalking_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"sync"
	"testing"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/adapters/adaptertest"
	"github.com/payg-gateway/gateway/core"
)

// fakeAT records send requests and answers with a fixed status and body.
type fakeAT struct {
	mu       sync.Mutex
	requests []*http.Request
	bodies   [][]byte
	status   int
	answer   []byte
}

func (f *fakeAT) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r)
	f.bodies = append(f.bodies, body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(f.status)
	w.Write(f.answer)
}

func newSender(t *testing.T, status int, answer []byte, extra map[string]any) (*fakeAT, adapters.SMSSender) {
	t.Helper()
	f := &fakeAT{status: status, answer: answer}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	if extra == nil {
		extra = map[string]any{}
	}
	extra["base_url"] = srv.URL
	a := adaptertest.Provision(t, config(extra), adapters.Deps{HTTPClient: srv.Client()})
	return f, a.(adapters.SMSSender)
}

func fixture(t *testing.T, name string) []byte { return adaptertest.ReadFixture(t, fixtureDir, name) }

const tokenMessage = "Payment KES 1500 received for AC100234. Token: 1234-5678-9012-3456-7890"

// TestSendRequestContract checks the request against send_sms_request.txt
// byte for byte (field order included) and the headers of §6.1.
func TestSendRequestContract(t *testing.T) {
	f, s := newSender(t, http.StatusCreated, fixture(t, "send_sms_response_success.json"), nil)
	_, err := s.SendSMS(context.Background(), adapters.SMS{To: []string{"+254700000123", "+254700000124"}, Body: tokenMessage})
	if err != nil {
		t.Fatalf("SendSMS: %v", err)
	}
	if len(f.requests) != 1 {
		t.Fatalf("%d requests, want 1", len(f.requests))
	}
	r := f.requests[0]
	if r.Method != http.MethodPost || r.URL.Path != "/version1/messaging" {
		t.Errorf("%s %s", r.Method, r.URL.Path)
	}
	for h, v := range map[string]string{
		"apiKey":       "test-at-api-key",
		"Accept":       "application/json",
		"Content-Type": "application/x-www-form-urlencoded",
	} {
		if got := r.Header.Get(h); got != v {
			t.Errorf("%s = %q, want %q", h, got, v)
		}
	}
	if want := fixture(t, "send_sms_request.txt"); string(f.bodies[0]) != string(want) {
		t.Errorf("body\n got %s\nwant %s", f.bodies[0], want)
	}
}

// TestSendFormOptions: the per-message sender id, bulk mode off, no
// enqueue, and production's username.
func TestSendFormOptions(t *testing.T) {
	f, s := newSender(t, http.StatusCreated, fixture(t, "send_sms_response_success.json"),
		map[string]any{"sandbox": false, "username": "solarco", "bulk_sms_mode": false, "enqueue": false})
	if _, err := s.SendSMS(context.Background(), adapters.SMS{To: []string{"+254700000123"}, Body: "a&b=c", From: "OTHER"}); err != nil {
		t.Fatalf("SendSMS: %v", err)
	}
	got, err := url.ParseQuery(string(f.bodies[0]))
	if err != nil {
		t.Fatal(err)
	}
	want := url.Values{"username": {"solarco"}, "to": {"+254700000123"}, "message": {"a&b=c"}, "from": {"OTHER"}, "bulkSMSMode": {"0"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("form %v, want %v", got, want)
	}
}

func TestSendSuccess(t *testing.T) {
	_, s := newSender(t, http.StatusCreated, fixture(t, "send_sms_response_success.json"), nil)
	got, err := s.SendSMS(context.Background(), adapters.SMS{To: []string{"+254700000123"}, Body: tokenMessage})
	if err != nil {
		t.Fatalf("SendSMS: %v", err)
	}
	want := []adapters.SMSReceipt{{To: "+254700000123", ProviderID: id1, State: adapters.SMSSent, Code: "101", Reason: "Success", Cost: "KES 0.8000"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("receipts\n got %+v\nwant %+v", got, want)
	}
}

// TestSendMixed: 101 sent with its id; 403 and 406 rejected, no retry,
// and "None" is no id.
func TestSendMixed(t *testing.T) {
	_, s := newSender(t, http.StatusCreated, fixture(t, "send_sms_response_mixed.json"), nil)
	got, err := s.SendSMS(context.Background(), adapters.SMS{To: []string{"+254700000125", "+254700000123", "+25470000"}, Body: tokenMessage})
	if err != nil {
		t.Fatalf("SendSMS: %v", err)
	}
	want := []adapters.SMSReceipt{
		{To: "+254700000125", State: adapters.SMSRejected, Code: "406", Reason: "UserInBlacklist", Cost: "0"},
		{To: "+254700000123", ProviderID: id2, State: adapters.SMSSent, Code: "101", Reason: "Success", Cost: "KES 0.8000"},
		{To: "+25470000", State: adapters.SMSRejected, Code: "403", Reason: "InvalidPhoneNumber", Cost: "0"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("receipts\n got %+v\nwant %+v", got, want)
	}
}

// TestSendInsufficientBalance: 405 is retry with an alert.
func TestSendInsufficientBalance(t *testing.T) {
	_, s := newSender(t, http.StatusCreated, fixture(t, "send_sms_response_insufficient_balance.json"), nil)
	got, err := s.SendSMS(context.Background(), adapters.SMS{To: []string{"+254700000123"}, Body: tokenMessage})
	if err != nil {
		t.Fatalf("SendSMS: %v", err)
	}
	want := []adapters.SMSReceipt{{To: "+254700000123", State: adapters.SMSRetry, Code: "405", Reason: "InsufficientBalance", Cost: "0", Alert: true}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("receipts\n got %+v\nwant %+v", got, want)
	}
}

// TestSendPerRecipientCodes covers the code table beyond the fixtures, a
// recipient missing from the answer and one refused locally.
func TestSendPerRecipientCodes(t *testing.T) {
	answer := []byte(`{"SMSMessageData":{"Message":"Sent to 2/6","Recipients":[
		{"statusCode":100,"number":"+254700000001","cost":"KES 0.8000","status":"Processed","messageId":"ATXid_a"},
		{"statusCode":"102","number":"+254700000002","cost":"KES 0.8000","status":"Queued","messageId":"ATXid_b"},
		{"statusCode":402,"number":"+254700000003","cost":"0","status":"InvalidSenderId","messageId":"None"},
		{"statusCode":500,"number":"+254700000004","cost":"0","status":"InternalServerError","messageId":"None"},
		{"statusCode":409,"number":"+254700000005","cost":"0","status":"DoNotDisturbRejection","messageId":"None"},
		{"statusCode":"x","number":"+254700000006","cost":"0","status":"Odd","messageId":"None"}]}}`)
	f, s := newSender(t, http.StatusCreated, answer, nil)
	to := []string{"+254700000001", "+254700000002", "+254700000003", "+254700000004", "+254700000005", "+254700000006", "+254700000007", "0700000008"}
	got, err := s.SendSMS(context.Background(), adapters.SMS{To: to, Body: "hi"})
	if err != nil {
		t.Fatalf("SendSMS: %v", err)
	}
	want := []adapters.SMSReceipt{
		{To: to[0], ProviderID: "ATXid_a", State: adapters.SMSAccepted, Code: "100", Reason: "Processed", Cost: "KES 0.8000"},
		{To: to[1], ProviderID: "ATXid_b", State: adapters.SMSAccepted, Code: "102", Reason: "Queued", Cost: "KES 0.8000"},
		{To: to[2], State: adapters.SMSRejected, Code: "402", Reason: "InvalidSenderId", Cost: "0", Alert: true},
		{To: to[3], State: adapters.SMSRetry, Code: "500", Reason: "InternalServerError", Cost: "0"},
		{To: to[4], State: adapters.SMSRejected, Code: "409", Reason: "DoNotDisturbRejection", Cost: "0"},
		{To: to[5], State: adapters.SMSRetry, Code: "x", Reason: "Odd", Cost: "0", Alert: true},
		{To: to[6], State: adapters.SMSRetry, Reason: "missing from the provider's answer"},
		{To: to[7], State: adapters.SMSRejected, Reason: "not an E.164 number with a leading +"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("receipts\n got %+v\nwant %+v", got, want)
	}
	form, _ := url.ParseQuery(string(f.bodies[0]))
	if form.Get("to") != "+254700000001,+254700000002,+254700000003,+254700000004,+254700000005,+254700000006,+254700000007" {
		t.Errorf("to = %q: the invalid number must not be sent", form.Get("to"))
	}
}

// TestSendRequestErrors: whole-request failures.
func TestSendRequestErrors(t *testing.T) {
	for _, c := range []struct {
		name      string
		status    int
		body      string
		retryable bool
		provider  bool // want a *ProviderError
	}{
		{"bad credentials", 401, "The supplied authentication is invalid", false, true},
		{"rate limited", 429, "Too many requests", true, true},
		{"internal error", 500, "Internal Server Error", true, true},
		{"unavailable", 503, "", true, true},
		{"refused sender id", 201, `{"SMSMessageData":{"Message":"InvalidSenderId","Recipients":[]}}`, false, true},
		{"unreadable answer", 201, `<AfricasTalkingResponse/>`, false, false},
		{"no SMSMessageData", 200, `{}`, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, s := newSender(t, c.status, []byte(c.body), nil)
			got, err := s.SendSMS(context.Background(), adapters.SMS{To: []string{"+254700000123"}, Body: "hi"})
			if err == nil {
				t.Fatalf("SendSMS: no error, receipts %+v", got)
			}
			var pe *adapters.ProviderError
			if errors.As(err, &pe) != c.provider {
				t.Fatalf("error %v (%T): want a ProviderError: %v", err, err, c.provider)
			}
			if pe != nil && (pe.Retryable != c.retryable || pe.HTTPStatus != c.status) {
				t.Errorf("ProviderError %+v, want retryable %v", pe, c.retryable)
			}
			if c.name == "refused sender id" && pe.Message != "InvalidSenderId" {
				t.Errorf("message %q", pe.Message)
			}
		})
	}
}

func TestSendNetworkError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	a := adaptertest.Provision(t, config(map[string]any{"base_url": base}), adapters.Deps{})
	_, err := a.(adapters.SMSSender).SendSMS(context.Background(), adapters.SMS{To: []string{"+254700000123"}, Body: "hi"})
	var pe *adapters.ProviderError
	if err == nil || errors.As(err, &pe) {
		t.Errorf("SendSMS: %v, want a network error (outcome unknown)", err)
	}
}

func TestSendInvalid(t *testing.T) {
	f, s := newSender(t, http.StatusCreated, fixture(t, "send_sms_response_success.json"), nil)
	for _, msg := range []adapters.SMS{
		{Body: "hi"},
		{To: []string{"+254700000123"}, Body: " "},
		{To: []string{"+254700000123", "+254700000123"}, Body: "hi"},
		{To: []string{"+254700000123"}, Body: "hi", From: "A,B"},
	} {
		if _, err := s.SendSMS(context.Background(), msg); core.ErrorCode(err) != core.EINVALID {
			t.Errorf("SendSMS(%+v): %v, want EINVALID", msg, err)
		}
	}
	got, err := s.SendSMS(context.Background(), adapters.SMS{To: []string{"+2547 0000 0123"}, Body: "hi"})
	if err != nil || len(got) != 1 || got[0].State != adapters.SMSRejected {
		t.Errorf("SendSMS: %+v %v", got, err)
	}
	if len(f.requests) != 0 {
		t.Errorf("%d requests sent, want none", len(f.requests))
	}
}

// TestSendAnswerWithoutPlus: a recipient written without its "+" in the
// answer is still matched, and the receipt keeps the number as sent.
func TestSendAnswerWithoutPlus(t *testing.T) {
	answer := []byte(`{"SMSMessageData":{"Message":"Sent to 1/1","Recipients":[{"statusCode":101,"number":"254700000123","cost":"KES 0.8000","status":"Success","messageId":"ATXid_x"}]}}`)
	_, s := newSender(t, http.StatusCreated, answer, nil)
	got, err := s.SendSMS(context.Background(), adapters.SMS{To: []string{"+254700000123"}, Body: "hi"})
	if err != nil {
		t.Fatalf("SendSMS: %v", err)
	}
	want := []adapters.SMSReceipt{{To: "+254700000123", ProviderID: "ATXid_x", State: adapters.SMSSent, Code: "101", Reason: "Success", Cost: "KES 0.8000"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("receipts\n got %+v\nwant %+v", got, want)
	}
}
