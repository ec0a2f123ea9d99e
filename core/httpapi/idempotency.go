package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/payg-gateway/gateway/core"
)

// Idempotency headers.
const (
	IdempotencyKeyHeader      = "Idempotency-Key"
	IdempotentReplayedHeader  = "Idempotent-Replayed"
	replayBodyKey             = "httpapi.replay_body"
	idempotencyCompleteBudget = 10 * time.Second
)

// unreplayedHeaders are response headers that belong to one answer only.
var unreplayedHeaders = map[string]bool{
	RequestIDHeader:          true,
	IdempotentReplayedHeader: true,
	"Date":                   true,
	"Content-Length":         true,
	"Set-Cookie":             true,
}

// idempotency gives a POST with an Idempotency-Key Stripe's semantics (see
// core.IdempotencyService): the first answer is stored and replayed to a
// retry with the same key and request; the same key with another request
// is 422, and a retry while the first runs is 409. Keys are per tenant.
// Answers with a 5xx status are not stored: the key is released and a retry
// runs the request again.
func (s *Server) idempotency(c *gin.Context) {
	key := c.GetHeader(IdempotencyKeyHeader)
	if c.Request.Method != http.MethodPost || key == "" {
		c.Next()
		return
	}
	ctx, store := c.Request.Context(), s.opts.Store
	tenant := TenantID(ctx)
	fp := fingerprint(c.Request.Method, c.Request.URL.RequestURI(), requestBody(c))
	stored, err := store.BeginIdempotency(ctx, tenant, key, fp)
	if err != nil {
		WriteError(c, err)
		return
	}
	if stored != nil {
		replay(c, stored)
		return
	}

	// The answer is written to the caller and recorded at once; storing it
	// must not depend on the caller still listening.
	bg := context.WithoutCancel(ctx)
	rec := &recorder{ResponseWriter: c.Writer}
	c.Writer = rec
	finished := false
	defer func() {
		if finished {
			return
		}
		// A panic or a 5xx: give the key up so a retry runs again.
		rctx, cancel := context.WithTimeout(bg, idempotencyCompleteBudget)
		defer cancel()
		if err := store.ReleaseIdempotency(rctx, tenant, key, fp); err != nil {
			s.log.LogAttrs(ctx, slog.LevelError, "release idempotency key",
				slog.String("request_id", RequestID(ctx)), slog.String("error", err.Error()))
		}
	}()
	c.Next()
	if rec.Status() >= 500 {
		return
	}
	finished = true
	body := rec.body.Bytes()
	if b, ok := c.Get(replayBodyKey); ok {
		body, _ = b.([]byte)
	}
	header := make(map[string][]string)
	for k, v := range rec.Header() {
		if !unreplayedHeaders[http.CanonicalHeaderKey(k)] {
			header[http.CanonicalHeaderKey(k)] = v
		}
	}
	cctx, cancel := context.WithTimeout(bg, idempotencyCompleteBudget)
	defer cancel()
	if err := store.CompleteIdempotency(cctx, tenant, key, fp, core.StoredResponse{Status: rec.Status(), Header: header, Body: body}); err != nil {
		// The caller has its answer; a retry will meet the in-flight key
		// (409) until IdempotencyInFlightTimeout, then run again.
		s.log.LogAttrs(ctx, slog.LevelError, "store idempotent response",
			slog.String("request_id", RequestID(ctx)), slog.String("error", err.Error()))
	}
}

// setReplayBody replaces the body that a replay of this request will get,
// for answers carrying a secret that must not be stored (a new API key).
func setReplayBody(c *gin.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.Set(replayBodyKey, b)
	return nil
}

// replay writes a stored answer.
func replay(c *gin.Context, r *core.StoredResponse) {
	h := c.Writer.Header()
	for k, v := range r.Header {
		h[k] = v
	}
	h.Set(IdempotentReplayedHeader, "true")
	c.Status(r.Status)
	_, _ = c.Writer.Write(r.Body)
	c.Abort()
}

// fingerprint identifies a request for its Idempotency-Key.
func fingerprint(method, uri string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(method + "\n" + uri + "\n"))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// recorder keeps a copy of what the handler writes.
type recorder struct {
	gin.ResponseWriter
	body bytes.Buffer
}

func (r *recorder) Write(b []byte) (int, error) {
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}

func (r *recorder) WriteString(s string) (int, error) {
	r.body.WriteString(s)
	return r.ResponseWriter.WriteString(s)
}

// purgeIdempotency deletes expired idempotency records now and every
// IdempotencyPurgeInterval until ctx is done, each purge bounded by
// IdempotencyPurgeTimeout.
func (s *Server) purgeIdempotency(ctx context.Context) {
	t := time.NewTicker(s.opts.IdempotencyPurgeInterval)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, s.opts.IdempotencyPurgeTimeout)
		n, err := s.opts.Store.PurgeIdempotency(pctx)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Warn("purge expired idempotency records", "error", err.Error())
		case n > 0:
			s.log.Info("purged expired idempotency records", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
