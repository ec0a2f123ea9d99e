package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/openapi"
)

// apiRoute is what the /v1 middleware needs to know of a route: its
// operation in the OpenAPI document and the key scope it requires.
type apiRoute struct {
	op    *openapi.Operation
	scope core.Scope
}

// routeKey names a gin route: "GET /v1/api-keys/:id".
func routeKey(method, ginPath string) string { return method + " " + ginPath }

// route returns the matched route's entry. New makes sure every /v1 route
// has one, so the middleware never sees nil.
func (s *Server) route(c *gin.Context) *apiRoute {
	return s.routes[routeKey(c.Request.Method, c.FullPath())]
}

// openAPIPath turns a gin path (/v1/api-keys/:id) into an OpenAPI path
// template (/v1/api-keys/{id}).
func openAPIPath(ginPath string) string {
	segs := strings.Split(ginPath, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, ":") || strings.HasPrefix(s, "*") {
			segs[i] = "{" + s[1:] + "}"
		}
	}
	return strings.Join(segs, "/")
}

// mapRoutes finds the OpenAPI operation of every /v1 route and the scope it
// documents, and fails if one is missing: the document is the contract,
// so nothing is served under /v1 that it does not describe.
func (s *Server) mapRoutes() error {
	s.routes = make(map[string]*apiRoute)
	for _, r := range s.engine.Routes() {
		if !strings.HasPrefix(r.Path, "/v1/") {
			continue
		}
		op := s.spec.Operation(r.Method, openAPIPath(r.Path))
		if op == nil {
			return fmt.Errorf("route %s %s is not in the OpenAPI document", r.Method, r.Path)
		}
		if !op.Secured || len(op.Roles) != 1 || !core.Scope(op.Roles[0]).Valid() {
			return fmt.Errorf("operation %s %s: want a security requirement with exactly one role: read, write or admin; got %v",
				op.Method, op.Path, op.Roles)
		}
		s.routes[routeKey(r.Method, r.Path)] = &apiRoute{op: op, scope: core.Scope(op.Roles[0])}
	}
	return nil
}

// bodyKey holds the request body read by validateRequest.
const bodyKey = "httpapi.body"

// validateRequest checks the request against its operation in the OpenAPI
// document: 415 for a body that is not JSON, 400 for JSON that does not
// parse, 422 listing every bad parameter and field. The body is kept for
// the handler (and the idempotency fingerprint).
func (s *Server) validateRequest(c *gin.Context) {
	op := s.route(c).op
	var body []byte
	if c.Request.Body != nil {
		var err error
		if body, err = io.ReadAll(c.Request.Body); err != nil {
			WriteError(c, fmt.Errorf("read request body: %w", err))
			return
		}
		c.Request.Body = io.NopCloser(bytes.NewReader(body))
	}
	c.Set(bodyKey, body)

	params := make(map[string]string, len(c.Params))
	for _, p := range c.Params {
		params[p.Key] = p.Value
	}
	fields := op.ValidateParams(params, c.Request.URL.Query(), c.Request.Header)
	bodyFields, err := op.ValidateBody(c.ContentType(), body)
	switch {
	case errors.Is(err, openapi.ErrUnsupportedMediaType):
		writeProblem(c, http.StatusUnsupportedMediaType, "send the body as Content-Type: application/json")
		return
	case errors.Is(err, openapi.ErrMalformedJSON):
		writeProblem(c, http.StatusBadRequest, "request body is not valid JSON: "+strings.TrimPrefix(err.Error(), openapi.ErrMalformedJSON.Error()+": "))
		return
	case err != nil:
		WriteError(c, err)
		return
	}
	fields = append(fields, bodyFields...)
	if len(fields) > 0 {
		problems := make([]FieldProblem, len(fields))
		for i, f := range fields {
			problems[i] = FieldProblem{Pointer: f.Pointer, Detail: f.Detail}
		}
		writeProblem(c, http.StatusUnprocessableEntity, "the request does not match the API's schema", problems...)
		return
	}
	c.Next()
}

// requestBody returns the body validateRequest read.
func requestBody(c *gin.Context) []byte {
	b, _ := c.Get(bodyKey)
	body, _ := b.([]byte)
	return body
}
