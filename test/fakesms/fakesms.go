// Package fakesms is a fake SMS provider for tests: an httptest server that
// speaks the send wire formats of Africa's Talking (POST
// /version1/messaging, form in, JSON out) and Twilio (POST
// /2010-04-01/Accounts/{sid}/Messages.json), records every message it
// accepts, counts every send attempt, can be told to fail (500, 503…) for
// the next N requests or until told to recover, can answer slowly, and can post delivery
// reports back to a gateway: an Africa's Talking delivery report form, or
// a Twilio status callback signed with the account's auth token.
//
// Point an instance at it with base_url:
//
//	fake := fakesms.New(fakesms.Options{APIKey: "k", TwilioAuthToken: "t"})
//	defer fake.Close()
//	// sms.africastalking settings: base_url: fake.URL(), api_key: k, …
//	fake.FailNext(2, 503)      // the next two sends are answered 503
//	…
//	msgs := fake.Messages()    // what was accepted, in order
//	fake.ReportAT(ctx, gatewayURL+"/callbacks/sms-at/delivery-report/SECRET", msgs[0].ID, "Success", "")
package fakesms

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// Providers, in Message.Provider.
const (
	AfricasTalking = "africastalking"
	Twilio         = "twilio"
)

// Options configure a Server. The zero value accepts every request.
type Options struct {
	// APIKey, when set, is the apiKey header every Africa's Talking request
	// must carry (else 401, as Africa's Talking answers).
	APIKey string
	// Username, when set, is the username every Africa's Talking request
	// must give (else 401).
	Username string
	// TwilioAccountSID and TwilioAuthToken, when set, are the Basic
	// credentials every Twilio request must carry (else 401, code 20003).
	// The token also signs ReportTwilio's callbacks.
	TwilioAccountSID string
	TwilioAuthToken  string
	// Refuse maps a recipient to the Africa's Talking statusCode it gets
	// (403 InvalidPhoneNumber, 405 InsufficientBalance, 406
	// UserInBlacklist…); Twilio answers such a recipient 400 with code
	// 21211. A refused recipient is not recorded as a message.
	Refuse map[string]int
	// Client posts the delivery reports; nil means a client with a 10 s
	// timeout.
	Client *http.Client
	// AnswerDelay is how long an accepted send waits, recorded, before
	// it is answered: a slow provider, whose sender may die or give up
	// after the provider took the message and before it knows. A sender
	// that hangs up does not undo the send.
	AnswerDelay time.Duration
}

// Message is one message the fake accepted, for one recipient.
type Message struct {
	Provider string
	// ID is the provider id the answer carried: Africa's Talking
	// messageId (ATXid_…) or Twilio sid (SM…).
	ID   string
	To   string
	From string
	Body string
	// StatusCallback is the Twilio StatusCallback field, "" for Africa's
	// Talking.
	StatusCallback string
}

// Server is a fake SMS provider. Close it when done. Its methods are safe
// for concurrent use.
type Server struct {
	o   Options
	srv *httptest.Server

	mu        sync.Mutex
	attempts  int
	failNext  int // requests still to fail with failNextStatus
	failNextS int
	failAll   int // status every request fails with; 0: none
	next      int // message counter
	messages  []Message
}

// New starts a fake provider that accepts every valid request.
func New(o Options) *Server {
	s := &Server{o: o}
	if s.o.Client == nil {
		s.o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// URL is the base URL to configure as the instance's base_url.
func (s *Server) URL() string { return s.srv.URL }

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// Attempts is the number of send requests received, failed ones included.
func (s *Server) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// Messages returns the messages accepted so far, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// WaitMessages waits until at least n messages were accepted and returns
// them, or returns the context's error.
func (s *Server) WaitMessages(ctx context.Context, n int) ([]Message, error) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		if m := s.Messages(); len(m) >= n {
			return m, nil
		}
		select {
		case <-ctx.Done():
			return s.Messages(), fmt.Errorf("fakesms: %d messages, waiting for %d: %w", len(s.Messages()), n, ctx.Err())
		case <-t.C:
		}
	}
}

// FailNext answers the next n send requests with status (e.g. 500 or
// 503) and nothing sent; then the fake recovers by itself.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext, s.failNextS = n, status
}

// Fail answers every send request with status until Recover.
func (s *Server) Fail(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failAll = status
}

// Recover ends Fail and FailNext.
func (s *Server) Recover() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failAll, s.failNext = 0, 0
}

// failing counts an attempt and returns the status to fail it with, or 0.
func (s *Server) failing() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts++
	switch {
	case s.failAll != 0:
		return s.failAll
	case s.failNext > 0:
		s.failNext--
		return s.failNextS
	}
	return 0
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/version1/messaging":
		s.serveAT(w, r)
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/2010-04-01/Accounts/") && strings.HasSuffix(r.URL.Path, "/Messages.json"):
		s.serveTwilio(w, r)
	default:
		http.NotFound(w, r)
	}
}

// atStatus names Africa's Talking's per-recipient codes.
var atStatus = map[int]string{
	401: "RiskHold", 402: "InvalidSenderId", 403: "InvalidPhoneNumber", 404: "UnsupportedNumberType",
	405: "InsufficientBalance", 406: "UserInBlacklist", 407: "CouldNotRoute", 409: "DoNotDisturbRejection",
	500: "InternalServerError", 501: "GatewayError", 502: "RejectedByGateway",
}

type atRecipient struct {
	StatusCode int    `json:"statusCode"`
	Number     string `json:"number"`
	Cost       string `json:"cost"`
	Status     string `json:"status"`
	MessageID  string `json:"messageId"`
}

func (s *Server) serveAT(w http.ResponseWriter, r *http.Request) {
	if st := s.failing(); st != 0 {
		http.Error(w, http.StatusText(st), st)
		return
	}
	if s.o.APIKey != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("apiKey")), []byte(s.o.APIKey)) != 1 {
		http.Error(w, "The supplied authentication is invalid", http.StatusUnauthorized)
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		http.Error(w, "want a form", http.StatusBadRequest)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, "unreadable form", http.StatusBadRequest)
		return
	}
	if s.o.Username != "" && r.PostForm.Get("username") != s.o.Username {
		http.Error(w, "The supplied authentication is invalid", http.StatusUnauthorized)
		return
	}
	to, body := r.PostForm.Get("to"), r.PostForm.Get("message")
	if to == "" || body == "" {
		http.Error(w, "Request is missing required form field 'to' or 'message'", http.StatusBadRequest)
		return
	}
	var out []atRecipient
	sent := 0
	s.mu.Lock()
	for _, n := range strings.Split(to, ",") {
		n = strings.TrimSpace(n)
		if code := s.o.Refuse[n]; code != 0 {
			out = append(out, atRecipient{StatusCode: code, Number: n, Cost: "0", Status: atStatus[code], MessageID: "None"})
			continue
		}
		s.next++
		m := Message{Provider: AfricasTalking, ID: fmt.Sprintf("ATXid_%032x", s.next), To: n, From: r.PostForm.Get("from"), Body: body}
		s.messages = append(s.messages, m)
		out = append(out, atRecipient{StatusCode: 101, Number: n, Cost: "KES 0.8000", Status: "Success", MessageID: m.ID})
		sent++
	}
	s.mu.Unlock()
	s.delay(r)
	answer := map[string]any{"SMSMessageData": map[string]any{
		"Message":    fmt.Sprintf("Sent to %d/%d Total Cost: KES %.4f", sent, len(out), 0.8*float64(sent)),
		"Recipients": out,
	}}
	writeJSON(w, http.StatusCreated, answer)
}

func (s *Server) serveTwilio(w http.ResponseWriter, r *http.Request) {
	if st := s.failing(); st != 0 {
		writeJSON(w, st, map[string]any{"code": 20500, "message": http.StatusText(st), "status": st})
		return
	}
	if s.o.TwilioAccountSID != "" || s.o.TwilioAuthToken != "" {
		u, p, ok := r.BasicAuth()
		if !ok || u != s.o.TwilioAccountSID || subtle.ConstantTimeCompare([]byte(p), []byte(s.o.TwilioAuthToken)) != 1 ||
			r.URL.Path != "/2010-04-01/Accounts/"+u+"/Messages.json" {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"code": 20003, "message": "Authenticate", "status": 401})
			return
		}
	}
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 20001, "message": "unreadable form", "status": 400})
		return
	}
	f := r.PostForm
	to, body := f.Get("To"), f.Get("Body")
	switch {
	case to == "":
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 21604, "message": "A 'To' phone number is required.", "status": 400})
		return
	case body == "":
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 21602, "message": "Message body is required.", "status": 400})
		return
	case f.Get("From") == "" && f.Get("MessagingServiceSid") == "":
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 21603, "message": "A 'From' phone number is required.", "status": 400})
		return
	}
	s.mu.Lock()
	if s.o.Refuse[to] != 0 {
		s.mu.Unlock()
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 21211, "message": "The 'To' number " + to + " is not a valid phone number.", "status": 400})
		return
	}
	s.next++
	m := Message{Provider: Twilio, ID: fmt.Sprintf("SM%032x", s.next), To: to, From: f.Get("From"), Body: body, StatusCallback: f.Get("StatusCallback")}
	s.messages = append(s.messages, m)
	s.mu.Unlock()
	s.delay(r)
	writeJSON(w, http.StatusCreated, map[string]any{
		"sid": m.ID, "status": "queued", "to": m.To, "from": m.From, "body": m.Body,
		"error_code": nil, "error_message": nil, "price": nil, "price_unit": "USD",
	})
}

// delay waits AnswerDelay, or until the sender hangs up.
func (s *Server) delay(r *http.Request) {
	if s.o.AnswerDelay <= 0 {
		return
	}
	t := time.NewTimer(s.o.AnswerDelay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

// ReportAT posts an Africa's Talking delivery report for message id to
// target (the gateway's /callbacks/{instance}/delivery-report/{secret}
// URL): status is Sent, Submitted, Buffered, Success, Failed or Rejected;
// failureReason is sent when not empty. It returns the gateway's HTTP
// status.
func (s *Server) ReportAT(ctx context.Context, target, id, status, failureReason string) (int, error) {
	form := url.Values{"id": {id}, "status": {status}, "phoneNumber": {s.recipient(id)}, "networkCode": {"63902"}, "retryCount": {"0"}}
	if failureReason != "" {
		form.Set("failureReason", failureReason)
	}
	return s.post(ctx, target, form.Encode(), nil)
}

// ReportTwilio posts a Twilio status callback for message sid to target,
// signed for signedURL (the instance's status_callback_url, which may
// differ from target behind a proxy; "" means target) with
// TwilioAuthToken. errorCode is sent when not empty. It returns the
// gateway's HTTP status.
func (s *Server) ReportTwilio(ctx context.Context, target, signedURL, sid, status, errorCode string) (int, error) {
	if signedURL == "" {
		signedURL = target
	}
	form := url.Values{"AccountSid": {s.o.TwilioAccountSID}, "ApiVersion": {"2010-04-01"}, "MessageSid": {sid}, "MessageStatus": {status},
		"SmsSid": {sid}, "SmsStatus": {status}, "To": {s.recipient(sid)}}
	if errorCode != "" {
		form.Set("ErrorCode", errorCode)
	}
	return s.post(ctx, target, form.Encode(), http.Header{"X-Twilio-Signature": {TwilioSignature(s.o.TwilioAuthToken, signedURL, form)}})
}

// TwilioSignature is Twilio's X-Twilio-Signature: base64(HMAC-SHA1(token,
// URL + every parameter name and value, sorted by name)).
func TwilioSignature(token, fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.WriteString(fullURL)
	for _, k := range keys {
		vs := append([]string(nil), form[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	m := hmac.New(sha1.New, []byte(token))
	m.Write(b.Bytes())
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// recipient is the number of a recorded message, or "".
func (s *Server) recipient(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.messages {
		if m.ID == id {
			return m.To
		}
	}
	return ""
}

func (s *Server) post(ctx context.Context, target, body string, h http.Header) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("fakesms: report: %w", err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.o.Client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("fakesms: report: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}
