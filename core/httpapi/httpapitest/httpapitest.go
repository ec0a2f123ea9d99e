// Package httpapitest is a test client for the gateway's HTTP API that
// checks every answer against the OpenAPI document: the status must be
// documented for the operation, the Content-Type too, and a JSON body must
// match its schema. End-to-end tests of every endpoint use it, so the
// document and the server cannot drift apart unnoticed.
package httpapitest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/payg-gateway/gateway/openapi"
)

// Client calls one gateway as one API key.
type Client struct {
	t       testing.TB
	baseURL string
	spec    *openapi.Spec
	http    *http.Client
	// Key is sent as "Authorization: Bearer Key"; empty sends none.
	Key string
}

// New returns a client of the gateway at baseURL (such as an
// httptest.Server's URL) checking answers against the embedded document.
func New(t testing.TB, baseURL, key string) *Client {
	t.Helper()
	spec, err := openapi.Load()
	if err != nil {
		t.Fatalf("httpapitest: %v", err)
	}
	return &Client{t: t, baseURL: baseURL, spec: spec, http: &http.Client{}, Key: key}
}

// As returns a copy of the client that sends another key.
func (c *Client) As(key string) *Client {
	cp := *c
	cp.Key = key
	return &cp
}

// Response is an answer already checked against the document.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Decode unmarshals the body into v, failing the test if it cannot.
func (r *Response) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %d answer: %v; body %s", r.Status, err, r.Body)
	}
}

// Problem is the body of an error answer.
type Problem struct {
	Type      string `json:"type"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	RequestID string `json:"request_id"`
	Errors    []struct {
		Pointer string `json:"pointer"`
		Detail  string `json:"detail"`
	} `json:"errors"`
}

// Problem decodes a problem+json body.
func (r *Response) Problem(t testing.TB) Problem {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q of a %d answer, want application/problem+json; body %s", ct, r.Status, r.Body)
	}
	var p Problem
	r.Decode(t, &p)
	return p
}

// Pointers lists the JSON pointers of a problem's field errors.
func (p Problem) Pointers() []string {
	var out []string
	for _, e := range p.Errors {
		out = append(out, e.Pointer)
	}
	return out
}

// Get sends a GET.
func (c *Client) Get(path string) *Response { return c.Do(http.MethodGet, path, nil, nil) }

// Delete sends a DELETE.
func (c *Client) Delete(path string) *Response { return c.Do(http.MethodDelete, path, nil, nil) }

// Patch sends a PATCH of body as JSON (a []byte or string is sent as is).
func (c *Client) Patch(path string, body any) *Response {
	return c.Do(http.MethodPatch, path, body, http.Header{"Content-Type": {"application/json"}})
}

// Post sends a POST of body as JSON (a []byte or string is sent as is),
// with an Idempotency-Key unless idempotencyKey is empty.
func (c *Client) Post(path string, body any, idempotencyKey string) *Response {
	h := http.Header{"Content-Type": {"application/json"}}
	if idempotencyKey != "" {
		h.Set("Idempotency-Key", idempotencyKey)
	}
	return c.Do(http.MethodPost, path, body, h)
}

// Do sends a request and checks the answer against the document.
func (c *Client) Do(method, path string, body any, header http.Header) *Response {
	c.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	case string:
		r = bytes.NewReader([]byte(b))
	default:
		js, err := json.Marshal(b)
		if err != nil {
			c.t.Fatalf("httpapitest: encode body: %v", err)
		}
		r = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, c.baseURL+path, r)
	if err != nil {
		c.t.Fatalf("httpapitest: %v", err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if c.Key != "" {
		req.Header.Set("Authorization", "Bearer "+c.Key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read answer: %v", method, path, err)
	}
	out := &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	Check(c.t, c.spec, method, req.URL, out)
	return out
}

// Check fails the test unless the answer to method on u is documented:
// an operation matching the path, the status, the media type and, for
// JSON, the body's schema; and the X-Request-Id header every answer has.
// An answer for a path the document does not have must be a 404 or 405
// problem.
func Check(t testing.TB, spec *openapi.Spec, method string, u *url.URL, r *Response) {
	t.Helper()
	if r.Header.Get("X-Request-Id") == "" {
		t.Errorf("%s %s: %d answer without X-Request-Id", method, u.Path, r.Status)
	}
	op, _ := spec.Match(method, u.Path)
	if op == nil {
		if (r.Status != http.StatusNotFound && r.Status != http.StatusMethodNotAllowed) ||
			r.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s %s is not in the document, yet answered %d %s", method, u.Path, r.Status, r.Header.Get("Content-Type"))
		}
		return
	}
	if err := op.ValidateResponse(r.Status, r.Header.Get("Content-Type"), r.Body); err != nil {
		t.Errorf("answer breaks the OpenAPI document: %v\nbody: %s", err, r.Body)
	}
}
