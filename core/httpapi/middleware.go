package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// RequestIDHeader carries the request id in both directions.
const RequestIDHeader = "X-Request-Id"

type requestIDKey struct{}

// RequestID returns the request id stored in ctx by the server, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// A caller's id is kept only if it is short and plain, so it is safe in
// logs and headers.
var callerRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// requestID adopts the caller's X-Request-Id or makes one, and puts it in
// the response header and the request context.
func requestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader(RequestIDHeader)
		if !callerRequestID.MatchString(id) {
			id = newRequestID()
		}
		c.Header(RequestIDHeader, id)
		c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), requestIDKey{}, id))
		c.Next()
	}
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "req_" + hex.EncodeToString(b[:])
}

// routeLabel names the matched route for metrics and logs; unmatched paths
// share one label so probes cannot blow up metric cardinality.
func routeLabel(c *gin.Context) string {
	if r := c.FullPath(); r != "" {
		return r
	}
	return "unmatched"
}

// maskedParams are route parameters that may carry secrets (a secret path
// segment, a callback's own segments); they never reach a log line.
var maskedParams = map[string]bool{"secret": true, "params": true}

// loggedPath is the request path with masked parameters replaced.
func loggedPath(c *gin.Context) string {
	route := c.FullPath()
	if route == "" {
		return c.Request.URL.Path
	}
	segs := strings.Split(route, "/")
	for i, seg := range segs {
		if seg == "" || (seg[0] != ':' && seg[0] != '*') {
			continue
		}
		name := seg[1:]
		if maskedParams[name] {
			segs[i] = "[redacted]"
		} else {
			segs[i] = c.Param(name)
		}
	}
	return strings.Join(segs, "/")
}

// observe logs one JSON line per request and records the HTTP metrics.
func observe(log *slog.Logger, m *metrics) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		m.inFlight.Inc()
		defer m.inFlight.Dec()
		c.Next()

		elapsed := time.Since(start)
		route, status := routeLabel(c), c.Writer.Status()
		m.requests.WithLabelValues(c.Request.Method, route, strconv.Itoa(status)).Inc()
		m.duration.WithLabelValues(c.Request.Method, route).Observe(elapsed.Seconds())

		level := slog.LevelInfo
		switch {
		case status >= 500:
			level = slog.LevelError
		case status >= 400:
			level = slog.LevelWarn
		}
		attrs := []slog.Attr{
			slog.String("request_id", RequestID(c.Request.Context())),
			slog.String("method", c.Request.Method),
			slog.String("path", loggedPath(c)),
			slog.String("route", route),
			slog.Int("status", status),
			slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
			slog.Int("bytes", max(c.Writer.Size(), 0)),
			slog.String("remote_ip", c.ClientIP()),
			slog.String("user_agent", c.Request.UserAgent()),
		}
		if k, ok := APIKeyFrom(c.Request.Context()); ok {
			attrs = append(attrs, slog.String("tenant_id", k.TenantID), slog.String("api_key_id", k.ID))
		}
		if errs := c.Errors.ByType(gin.ErrorTypeAny); len(errs) > 0 {
			attrs = append(attrs, slog.String("error", errs.String()))
		}
		log.LogAttrs(c.Request.Context(), level, "http request", attrs...)
	}
}

// recovery turns a panic in a handler into a logged 500 problem instead of
// a dropped connection. http.ErrAbortHandler keeps its meaning.
func recovery(log *slog.Logger, m *metrics) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			r := recover()
			if r == nil {
				return
			}
			if r == http.ErrAbortHandler {
				panic(r)
			}
			m.panics.Inc()
			log.LogAttrs(c.Request.Context(), slog.LevelError, "panic in handler",
				slog.String("request_id", RequestID(c.Request.Context())),
				slog.String("panic", fmt.Sprint(r)),
				slog.String("stack", string(debug.Stack())))
			_ = c.Error(fmt.Errorf("panic: %v", r))
			if c.Writer.Written() {
				c.Abort() // too late for a problem body; the status is already out
				return
			}
			writeProblem(c, http.StatusInternalServerError, "internal error; quote the request id when reporting it")
		}()
		c.Next()
	}
}

// limitBody caps request bodies: a declared length over the limit is refused
// at once, and a body that grows past it fails the handler's read.
func limitBody(maxBytes int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.ContentLength > maxBytes {
			writeProblem(c, http.StatusRequestEntityTooLarge,
				fmt.Sprintf("request body of %d bytes exceeds the limit of %d", c.Request.ContentLength, maxBytes))
			return
		}
		if c.Request.Body != nil {
			c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxBytes)
		}
		c.Next()
	}
}
