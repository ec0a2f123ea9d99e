// Package fakecrm is a CRM webhook receiver for tests: an httptest server
// that checks every request's Standard Webhooks signature, answers as told
// (200, 500, 429 with Retry-After, 410, slowly, or by resetting the
// connection) and records what it received.
package fakecrm

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"

	"github.com/payg-gateway/gateway/connectors/webhook/signature"
)

// Mode is how the CRM answers.
type Mode int

// Modes.
const (
	OK          Mode = iota // 200 for a valid signature, 401 otherwise
	Fail                    // 500
	TooMany                 // 429 with Retry-After (SetRetryAfter)
	Unavailable             // 503 with Retry-After (SetRetryAfter)
	Gone                    // 410
	Slow                    // wait for the delay (SetDelay) or the client to give up, then 200
	Reset                   // close the connection without answering (TCP RST)
)

// Request is one request received.
type Request struct {
	At       time.Time
	ID       string // webhook-id
	Type     string // the envelope's type
	Header   http.Header
	Body     []byte
	Verified bool
	// VerifyErr is why the signature did not verify.
	VerifyErr error
	// Status is the answer given; 0 when the connection was reset.
	Status int
	// Arrival numbers requests 1, 2, 3, … in the order they arrived
	// (Received lists them in the order they were answered).
	Arrival int
}

// Options configure a CRM.
type Options struct {
	// Secrets are the endpoint's secrets, as the CRM team configured them.
	Secrets []string
	// Now is the CRM's clock for the timestamp check (the gateway's
	// injected clock in tests); nil is time.Now.
	Now func() time.Time
	// Tolerance of the timestamp check; 0 is signature.DefaultTolerance.
	Tolerance time.Duration
}

// CRM is a fake CRM webhook receiver. Close it when done.
type CRM struct {
	srv  *httptest.Server
	o    Options
	reqs chan Request

	mu         sync.Mutex
	mode       Mode
	retryAfter string
	delay      time.Duration
	received   []Request
	delivered  map[string]int
	arrivals   int
}

// New starts a CRM answering OK.
func New(o Options) *CRM {
	if o.Now == nil {
		o.Now = time.Now
	}
	c := &CRM{o: o, reqs: make(chan Request, 10000), delivered: map[string]int{}, retryAfter: "1"}
	c.srv = httptest.NewServer(http.HandlerFunc(c.serve))
	return c
}

// URL is where the CRM listens (http://127.0.0.1:port).
func (c *CRM) URL() string { return c.srv.URL }

// Close stops the server.
func (c *CRM) Close() { c.srv.Close() }

// Set changes how the CRM answers from the next request on.
func (c *CRM) Set(m Mode) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mode = m
}

// SetSecrets replaces the secrets signatures are checked with (a CRM team
// rotating its secret).
func (c *CRM) SetSecrets(secrets ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.o.Secrets = secrets
}

// SetRetryAfter sets the Retry-After value of TooMany and Unavailable
// answers (seconds or an HTTP date).
func (c *CRM) SetRetryAfter(v string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.retryAfter = v
}

// SetDelay sets how long Slow answers wait.
func (c *CRM) SetDelay(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.delay = d
}

// Requests delivers every request as it is answered (buffered; tests read
// it to wait for deliveries instead of sleeping).
func (c *CRM) Requests() <-chan Request { return c.reqs }

// Received returns every request so far.
func (c *CRM) Received() []Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Request(nil), c.received...)
}

// Delivered counts 2xx answers per webhook-id.
func (c *CRM) Delivered() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.delivered))
	for k, v := range c.delivered {
		out[k] = v
	}
	return out
}

func (c *CRM) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := Request{At: c.o.Now(), ID: r.Header.Get(signature.HeaderID), Header: r.Header.Clone(), Body: body}
	var env struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	}
	if err := json.Unmarshal(body, &env); err == nil {
		req.Type = env.Type
	}
	c.mu.Lock()
	mode, retryAfter, delay, secrets := c.mode, c.retryAfter, c.delay, c.o.Secrets
	c.arrivals++
	req.Arrival = c.arrivals
	c.mu.Unlock()

	req.VerifyErr = signature.Verify(secrets, r.Header, body, c.o.Tolerance, c.o.Now())
	if req.VerifyErr == nil && env.ID != req.ID {
		req.VerifyErr = errIDMismatch
	}
	req.Verified = req.VerifyErr == nil

	switch {
	case mode == Reset:
		reset(w)
	case !req.Verified:
		req.Status = http.StatusUnauthorized
	case mode == Fail:
		req.Status = http.StatusInternalServerError
	case mode == TooMany:
		w.Header().Set("Retry-After", retryAfter)
		req.Status = http.StatusTooManyRequests
	case mode == Unavailable:
		w.Header().Set("Retry-After", retryAfter)
		req.Status = http.StatusServiceUnavailable
	case mode == Gone:
		req.Status = http.StatusGone
	case mode == Slow:
		select {
		case <-time.After(delay):
			req.Status = http.StatusOK
		case <-r.Context().Done():
			req.Status = 0 // the client gave up
		}
	default:
		req.Status = http.StatusOK
	}
	if req.Status != 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(req.Status)
		_, _ = w.Write([]byte(`{"status":` + strconv.Itoa(req.Status) + `}`))
	}
	c.mu.Lock()
	c.received = append(c.received, req)
	if req.Status >= 200 && req.Status < 300 {
		c.delivered[req.ID]++
	}
	c.mu.Unlock()
	c.reqs <- req
}

var errIDMismatch = errors.New("fakecrm: envelope id differs from webhook-id")

// reset closes the connection with a TCP RST.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	conn.Close()
}
