package httpapi

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/payg-gateway/gateway/core"
)

// Problem is an RFC 9457 problem details object, the body of every error
// answer of the API.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	// RequestID repeats the X-Request-Id header, so a CRM engineer can
	// quote it from a logged body alone.
	RequestID string `json:"request_id,omitempty"`
	// Errors lists each bad field of a rejected request.
	Errors []FieldProblem `json:"errors,omitempty"`
}

// FieldProblem is one invalid part of a request.
type FieldProblem struct {
	// Pointer is a JSON Pointer (RFC 6901) into the request body, or the
	// name of a query parameter or header.
	Pointer string `json:"pointer"`
	Detail  string `json:"detail"`
}

// ProblemContentType is the media type of problem bodies.
const ProblemContentType = "application/problem+json"

// problemTypeBase prefixes problem type URIs; the code follows it.
const problemTypeBase = "urn:payg-gateway:problem:"

// statusCodes maps HTTP statuses to the stable problem code in the type URI.
var statusCodes = map[int]string{
	http.StatusBadRequest:            "bad_request",
	http.StatusUnauthorized:          "unauthorized",
	http.StatusForbidden:             "forbidden",
	http.StatusNotFound:              core.ENOTFOUND,
	http.StatusMethodNotAllowed:      "method_not_allowed",
	http.StatusConflict:              core.ECONFLICT,
	http.StatusRequestEntityTooLarge: "body_too_large",
	http.StatusUnsupportedMediaType:  "unsupported_media_type",
	http.StatusUnprocessableEntity:   core.EINVALID,
	http.StatusTooManyRequests:       "rate_limited",
	http.StatusInternalServerError:   core.EINTERNAL,
	http.StatusServiceUnavailable:    core.EUNAVAILABLE,
}

// writeProblem aborts the request with a problem+json answer.
func writeProblem(c *gin.Context, status int, detail string, fields ...FieldProblem) {
	code, ok := statusCodes[status]
	if !ok {
		code = "error"
	}
	p := Problem{
		Type:      problemTypeBase + code,
		Title:     http.StatusText(status),
		Status:    status,
		Detail:    detail,
		Instance:  c.Request.URL.Path,
		RequestID: RequestID(c.Request.Context()),
		Errors:    fields,
	}
	c.Abort()
	c.Render(status, problemRender{p})
}

// WriteError answers a domain error: its code picks the status, once, here.
func WriteError(c *gin.Context, err error) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		writeProblem(c, http.StatusRequestEntityTooLarge, "request body too large")
		return
	}
	status := StatusOf(err)
	if status >= 500 {
		_ = c.Error(err) // the access log records the cause; the caller sees no internals
	}
	writeProblem(c, status, core.ErrorMessage(err))
}

// StatusOf maps a domain error code to its HTTP status.
func StatusOf(err error) int {
	switch core.ErrorCode(err) {
	case core.EINVALID:
		return http.StatusUnprocessableEntity
	case core.ENOTFOUND:
		return http.StatusNotFound
	case core.ECONFLICT:
		return http.StatusConflict
	case core.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	case "":
		return http.StatusOK
	}
	return http.StatusInternalServerError
}
