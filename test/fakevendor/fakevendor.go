// Package fakevendor is a device maker's token cloud for tests: an
// httptest server that mints codes, keeps them per idempotency key (the
// same key always gets the same code, so one key never yields two codes),
// answers in a vendor's shape (Shape), and can be told to fail for a while:
// 500, hang until the client gives up, reset the connection, or mint the
// code and then hang (the ambiguous case).
package fakevendor

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
)

// Mode is how the vendor answers.
type Mode int

// Modes.
const (
	OK            Mode = iota // answer per the Shape
	Fail                      // 500, nothing minted
	Hang                      // no answer until the client gives up; nothing minted
	Reset                     // close the connection without answering; nothing minted
	IssueThenHang             // mint (or find) the code, then no answer
)

// Request is one request received.
type Request struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   []byte
	// Key is the idempotency header's value ("" if absent).
	Key string
	// Status is the answer given; 0 when there was none.
	Status int
}

// Shape is how one vendor speaks.
type Shape struct {
	// Check looks at a request before anything is minted: a non-zero
	// status is answered with body as is (unknown device, bad auth).
	Check func(r Request) (status int, body []byte)
	// Success is the answer carrying code.
	Success func(code string) (status int, body []byte)
}

// Options configure a Vendor.
type Options struct {
	Shape Shape
	// IdempotencyHeader names the header whose value identifies a vend.
	// Requests without it each mint a new code.
	IdempotencyHeader string
	// Codes are minted in this order, then generated.
	Codes []string
	// OAuth, when set, makes the vendor an OAuth2 client-credentials
	// server too: access tokens from OAuth.Path, and every other request
	// needs "Authorization: Bearer" with a token it issued and has not
	// revoked (401 otherwise).
	OAuth *OAuth
	// Login, when set, makes the vendor a login server (see Login).
	Login *Login
}

// Login configures the fake's login endpoint (Steama's shape): a JSON
// POST of username and password answered {"token": …}; every other request
// needs "Authorization: Token …" with a session token it issued.
type Login struct {
	Path, Username, Password string
}

// OAuth configures the fake's token endpoint.
type OAuth struct {
	Path         string // e.g. /auth/token
	ClientID     string
	ClientSecret string
	ExpiresIn    int // seconds, in the answer
}

// Vendor is a fake vendor cloud. Close it when done.
type Vendor struct {
	o   Options
	srv *httptest.Server

	mu       sync.Mutex
	mode     Mode
	minted   []string          // every code minted, in order
	byKey    map[string]string // idempotency key → code
	requests []Request
	seen     chan struct{}
	stop     chan struct{}
	tokens   map[string]bool // access tokens issued and not revoked
	tokenReq int             // token requests received
}

// New starts a vendor answering OK.
func New(o Options) *Vendor {
	v := &Vendor{o: o, byKey: map[string]string{}, seen: make(chan struct{}, 1000), stop: make(chan struct{}), tokens: map[string]bool{}}
	v.srv = httptest.NewServer(http.HandlerFunc(v.serve))
	return v
}

// URL is the server's base URL (http://127.0.0.1:port).
func (v *Vendor) URL() string { return v.srv.URL }

// Close unblocks hanging requests and stops the server.
func (v *Vendor) Close() {
	close(v.stop)
	v.srv.CloseClientConnections()
	v.srv.Close()
}

// Set changes how the vendor answers from now on.
func (v *Vendor) Set(m Mode) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.mode = m
}

// Minted returns every code minted, in order.
func (v *Vendor) Minted() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]string(nil), v.minted...)
}

// Requests returns every request received, in order.
func (v *Vendor) Requests() []Request {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]Request(nil), v.requests...)
}

// Seen is signalled once per request received (before it is answered).
func (v *Vendor) Seen() <-chan struct{} { return v.seen }

// mint returns the code of key, minting one if the key is new (or empty).
func (v *Vendor) mint(key string) string {
	if c, ok := v.byKey[key]; ok && key != "" {
		return c
	}
	n := len(v.minted)
	c := fmt.Sprintf("%012d", 100000000000+int64(n)*7919)
	if n < len(v.o.Codes) {
		c = v.o.Codes[n]
	}
	v.minted = append(v.minted, c)
	if key != "" {
		v.byKey[key] = c
	}
	return c
}

// TokenRequests counts the requests to the OAuth token or login endpoint.
func (v *Vendor) TokenRequests() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.tokenReq
}

// RevokeTokens makes every access token issued so far invalid, as an
// authorisation server does when they expire or are revoked.
func (v *Vendor) RevokeTokens() {
	v.mu.Lock()
	defer v.mu.Unlock()
	clear(v.tokens)
}

// serveToken answers the OAuth token endpoint.
func (v *Vendor) serveToken(w http.ResponseWriter, r *http.Request, body []byte) {
	params := map[string]string{}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		_ = json.Unmarshal(body, &params)
	} else if form, err := url.ParseQuery(string(body)); err == nil {
		for k := range form {
			params[k] = form.Get(k)
		}
	}
	v.mu.Lock()
	v.tokenReq++
	n := v.tokenReq
	ok := params["grant_type"] == "client_credentials" && params["client_id"] == v.o.OAuth.ClientID && params["client_secret"] == v.o.OAuth.ClientSecret
	tok := fmt.Sprintf("access-token-%d", n)
	if ok {
		v.tokens[tok] = true
	}
	v.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
		return
	}
	b, _ := json.Marshal(map[string]any{"access_token": tok, "expires_in": v.o.OAuth.ExpiresIn, "token_type": "Bearer"})
	_, _ = w.Write(b)
}

// serveLogin answers the login endpoint.
func (v *Vendor) serveLogin(w http.ResponseWriter, body []byte) {
	var creds struct{ Username, Password string }
	_ = json.Unmarshal(body, &creds)
	v.mu.Lock()
	v.tokenReq++
	tok := fmt.Sprintf("session-%d", v.tokenReq)
	ok := creds.Username == v.o.Login.Username && creds.Password == v.o.Login.Password
	if ok {
		v.tokens[tok] = true
	}
	v.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"non_field_errors":["Unable to log in with provided credentials."]}`))
		return
	}
	b, _ := json.Marshal(map[string]string{"token": tok})
	_, _ = w.Write(b)
}

func (v *Vendor) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if v.o.OAuth != nil || v.o.Login != nil {
		prefix := "Bearer "
		switch {
		case v.o.OAuth != nil && r.URL.Path == v.o.OAuth.Path:
			v.serveToken(w, r, body)
			return
		case v.o.Login != nil && r.URL.Path == v.o.Login.Path:
			v.serveLogin(w, body)
			return
		case v.o.Login != nil:
			prefix = "Token "
		}
		auth := r.Header.Get("Authorization")
		v.mu.Lock()
		valid := strings.HasPrefix(auth, prefix) && v.tokens[strings.TrimPrefix(auth, prefix)]
		v.mu.Unlock()
		if !valid {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"message":"invalid or expired access token"}`))
			return
		}
	}
	req := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body}
	if v.o.IdempotencyHeader != "" {
		req.Key = r.Header.Get(v.o.IdempotencyHeader)
	}
	v.mu.Lock()
	mode := v.mode
	i := len(v.requests)
	v.requests = append(v.requests, req)
	var status int
	var out []byte
	switch mode {
	case OK:
		if v.o.Shape.Check != nil {
			status, out = v.o.Shape.Check(req)
		}
		if status == 0 {
			status, out = v.o.Shape.Success(v.mint(req.Key))
		}
		v.requests[i].Status = status
	case Fail:
		status, out = http.StatusInternalServerError, []byte(`{"message":"internal error"}`)
		v.requests[i].Status = status
	case IssueThenHang:
		v.mint(req.Key)
	}
	v.mu.Unlock()
	select {
	case v.seen <- struct{}{}:
	default:
	}

	switch mode {
	case Hang, IssueThenHang:
		select {
		case <-r.Context().Done():
		case <-v.stop:
		}
		return
	case Reset:
		reset(w)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

// reset closes the connection with a TCP RST.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("fakevendor: cannot hijack")
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}
