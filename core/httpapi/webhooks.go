package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/payg-gateway/gateway/connectors/webhook"
	"github.com/payg-gateway/gateway/core"
)

// Secret rotation: how long the old secrets keep signing by default, and
// at most.
const (
	defaultSecretOverlap = 24 * time.Hour
	maxSecretOverlap     = 30 * 24 * time.Hour
)

// lookupTimeout bounds the name resolution of an endpoint URL's host.
const lookupTimeout = 5 * time.Second

// webhookAPI serves the CRM webhook endpoints (/v1/webhook-endpoints),
// their attempts log, and replays of events. Endpoints are managed with
// connectors/webhook's NewEndpoint, ValidateEndpoint and RotateSecret;
// replays are its Replayer's.
type webhookAPI struct {
	store    core.WebhookStore // nil: webhooks are not configured
	replayer webhook.Replayer
	egress   webhook.Egress
	lookup   func(ctx context.Context, network, host string) ([]netip.Addr, error)
	clock    core.Clock
	// types are the event types of the document's catalogue; every
	// subscribed pattern must match one.
	types []string
	// mu serialises this process's endpoint edits, so they do not lose
	// the compare-and-set to each other; edits from other replicas are
	// met by the compare-and-set itself (see edit).
	mu sync.Mutex
}

func (s *Server) newWebhookAPI() *webhookAPI {
	a := &webhookAPI{store: s.opts.Webhooks, egress: s.opts.WebhookEgress, lookup: s.opts.LookupIP, clock: s.opts.Clock}
	a.replayer = webhook.Replayer{Events: s.opts.Events, Jobs: s.opts.Jobs, Endpoints: s.opts.Webhooks, Wake: s.opts.WakeJobs}
	for _, op := range s.spec.Webhooks() {
		a.types = append(a.types, op.Path)
	}
	return a
}

func (a *webhookAPI) register(g *gin.RouterGroup) {
	h := func(f gin.HandlerFunc) gin.HandlerFunc {
		if a.store == nil {
			return webhooksNotConfigured
		}
		return f
	}
	g.GET("/webhook-endpoints", h(a.list))
	g.POST("/webhook-endpoints", h(a.create))
	g.GET("/webhook-endpoints/:id", h(a.get))
	g.PATCH("/webhook-endpoints/:id", h(a.update))
	g.DELETE("/webhook-endpoints/:id", h(a.delete))
	g.POST("/webhook-endpoints/:id/secrets", h(a.rotate))
	g.GET("/webhook-endpoints/:id/attempts", h(a.attempts))
	g.POST("/webhook-endpoints/:id/replay", h(a.replayRange))
	g.POST("/webhook-endpoints/:id/replay-dead", h(a.replayDead))
	g.POST("/events/:id/replay", h(a.replayEvent))
}

func webhooksNotConfigured(c *gin.Context) {
	writeProblem(c, http.StatusServiceUnavailable, "webhooks are not configured on this gateway")
}

// ---- JSON shapes

type webhookSecretJSON struct {
	ID        string     `json:"id"`
	CreatedAt timestamp  `json:"created_at"`
	ExpiresAt *timestamp `json:"expires_at"`
}

type webhookEndpointJSON struct {
	ID                 string              `json:"id"`
	URL                string              `json:"url"`
	Description        *string             `json:"description"`
	EventTypes         []string            `json:"event_types"`
	Enabled            bool                `json:"enabled"`
	DisabledReason     *string             `json:"disabled_reason"`
	RateLimitPerSecond int                 `json:"rate_limit_per_second"`
	Secrets            []webhookSecretJSON `json:"secrets"`
	CreatedAt          timestamp           `json:"created_at"`
	UpdatedAt          timestamp           `json:"updated_at"`
}

// renderEndpoint shows an endpoint with its secrets' ids and times, never
// their values.
func renderEndpoint(e core.WebhookEndpoint) webhookEndpointJSON {
	out := webhookEndpointJSON{ID: e.ID, URL: e.URL, Description: optString(e.Description), EventTypes: e.EventTypes,
		Enabled: e.Enabled, DisabledReason: optString(e.DisabledReason), RateLimitPerSecond: e.RateLimitPerSecond,
		Secrets: make([]webhookSecretJSON, 0, len(e.Secrets)), CreatedAt: timestamp(e.CreatedAt), UpdatedAt: timestamp(e.UpdatedAt)}
	if out.EventTypes == nil {
		out.EventTypes = []string{}
	}
	for _, s := range e.Secrets {
		out.Secrets = append(out.Secrets, webhookSecretJSON{ID: s.ID, CreatedAt: timestamp(s.CreatedAt), ExpiresAt: optTimestamp(s.ExpiresAt)})
	}
	return out
}

// webhookEndpointCreatedJSON is an endpoint with a new secret's value,
// shown once; an idempotent replay omits it.
type webhookEndpointCreatedJSON struct {
	webhookEndpointJSON
	Secret string `json:"secret,omitempty"`
}

type webhookAttemptJSON struct {
	ID         string    `json:"id"`
	EndpointID string    `json:"endpoint_id"`
	EventID    string    `json:"event_id"`
	DeliveryID string    `json:"delivery_id"`
	Attempt    int       `json:"attempt"`
	At         timestamp `json:"at"`
	StatusCode *int      `json:"status_code"`
	LatencyMS  int64     `json:"latency_ms"`
	Error      *string   `json:"error"`
	Response   *string   `json:"response"`
}

func renderAttempt(a core.WebhookAttempt) webhookAttemptJSON {
	out := webhookAttemptJSON{ID: a.ID, EndpointID: a.EndpointID, EventID: a.EventID, DeliveryID: a.JobID, Attempt: a.Attempt,
		At: timestamp(a.At), LatencyMS: max(0, a.Latency.Milliseconds()), Error: optString(a.Error), Response: optString(a.Response)}
	if a.StatusCode != 0 {
		code := a.StatusCode
		out.StatusCode = &code
	}
	return out
}

type webhookReplayJSON struct {
	Enqueued int `json:"enqueued"`
}

// ---- checks

// checkEventTypes answers 422 unless every pattern matches at least one
// event type of the catalogue: a misspelt type would otherwise never
// match anything, silently.
func (a *webhookAPI) checkEventTypes(c *gin.Context, patterns []string) bool {
	var fields []FieldProblem
	for i, p := range patterns {
		matched := false
		for _, typ := range a.types {
			if webhook.Matches([]string{p}, typ) {
				matched = true
				break
			}
		}
		if !matched {
			fields = append(fields, FieldProblem{Pointer: "/event_types/" + strconv.Itoa(i),
				Detail: fmt.Sprintf("%q matches no event type the gateway sends (%s)", p, strings.Join(a.types, ", "))})
		}
	}
	if len(fields) > 0 {
		writeProblem(c, http.StatusUnprocessableEntity, "event_types names no known event type", fields...)
		return false
	}
	return true
}

// checkURL answers 422 unless rawURL is an http(s) URL without
// credentials whose host the egress policy allows: a literal address, or
// every address the name resolves to now. A name that does not resolve
// is accepted (the CRM's DNS may come later); every delivery is checked
// again when it connects.
func (a *webhookAPI) checkURL(c *gin.Context, rawURL string) bool {
	bad := func(detail string) bool {
		writeProblem(c, http.StatusUnprocessableEntity, "webhook endpoint url: "+detail, FieldProblem{Pointer: "/url", Detail: detail})
		return false
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return bad("want an absolute http or https URL without credentials")
	}
	host := u.Hostname()
	var addrs []netip.Addr
	switch ip, err := netip.ParseAddr(host); {
	case err == nil:
		addrs = []netip.Addr{ip}
	case strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost"):
		addrs = []netip.Addr{netip.IPv6Loopback()} // RFC 6761: always this machine
	default:
		ctx, cancel := context.WithTimeout(c.Request.Context(), lookupTimeout)
		defer cancel()
		addrs, _ = a.lookup(ctx, "ip", host)
	}
	for _, ip := range addrs {
		if err := a.egress.Check(ip); err != nil {
			why := strings.TrimPrefix(err.Error(), webhook.ErrEgressRefused.Error()+": ")
			if ip.String() != host {
				why = host + " resolves to " + strings.Replace(why, " is ", ", which is ", 1)
			}
			return bad(why + ": refused by this gateway's egress policy (webhooks.allow_loopback, webhooks.allow_private_networks)")
		}
	}
	return true
}

// failEndpoint answers an error of webhook.ValidateEndpoint, pointing at
// the field it names.
func failEndpoint(c *gin.Context, err error) {
	msg := core.ErrorMessage(err)
	pointer := ""
	switch {
	case strings.Contains(msg, " url"):
		pointer = "/url"
	case strings.Contains(msg, "event_types"):
		pointer = "/event_types"
	case strings.Contains(msg, "rate_limit_per_second"):
		pointer = "/rate_limit_per_second"
	}
	fail(c, err, pointer)
}

// bindOptionalJSON decodes the validated request body into v, if there is
// one; an operation whose body is optional runs on its defaults without.
func bindOptionalJSON(c *gin.Context, v any) bool {
	if len(bytes.TrimSpace(requestBody(c))) == 0 {
		return true
	}
	return bindJSON(c, v)
}

// ---- endpoints

type webhookEndpointInput struct {
	URL                string   `json:"url"`
	Description        string   `json:"description"`
	EventTypes         []string `json:"event_types"`
	Enabled            *bool    `json:"enabled"`
	RateLimitPerSecond int      `json:"rate_limit_per_second"`
}

func (a *webhookAPI) create(c *gin.Context) {
	var in webhookEndpointInput
	if !bindJSON(c, &in) || !a.checkEventTypes(c, in.EventTypes) || !a.checkURL(c, in.URL) {
		return
	}
	ctx := c.Request.Context()
	ep, err := webhook.NewEndpoint(TenantID(ctx), in.URL, in.EventTypes, in.RateLimitPerSecond, a.egress, a.clock.Now())
	if err != nil {
		failEndpoint(c, err)
		return
	}
	ep.Description = in.Description
	if in.Enabled != nil {
		ep.Enabled = *in.Enabled
	}
	if err := a.store.CreateWebhookEndpoint(ctx, ep); err != nil {
		WriteError(c, err)
		return
	}
	// The secret is not kept for an idempotent replay.
	if err := setReplayBody(c, webhookEndpointCreatedJSON{webhookEndpointJSON: renderEndpoint(ep)}); err != nil {
		WriteError(c, err)
		return
	}
	created(c, "/v1/webhook-endpoints/"+ep.ID, webhookEndpointCreatedJSON{webhookEndpointJSON: renderEndpoint(ep), Secret: ep.Secrets[0].Value})
}

func (a *webhookAPI) list(c *gin.Context) {
	req, ok := pageRequest(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	p, err := a.store.ListWebhookEndpoints(ctx, TenantID(ctx), req)
	if err != nil {
		WriteError(c, err)
		return
	}
	writeList(c, p, renderEndpoint)
}

func (a *webhookAPI) get(c *gin.Context) {
	ctx := c.Request.Context()
	ep, err := a.store.WebhookEndpoint(ctx, TenantID(ctx), c.Param("id"))
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, renderEndpoint(ep))
}

type webhookEndpointPatch struct {
	URL                *string  `json:"url"`
	Description        *string  `json:"description"`
	EventTypes         []string `json:"event_types"`
	Enabled            *bool    `json:"enabled"`
	RateLimitPerSecond *int     `json:"rate_limit_per_second"`
}

func (a *webhookAPI) update(c *gin.Context) {
	var in webhookEndpointPatch
	if !bindJSON(c, &in) {
		return
	}
	if in.EventTypes != nil && !a.checkEventTypes(c, in.EventTypes) {
		return
	}
	if in.URL != nil && !a.checkURL(c, *in.URL) {
		return
	}
	ctx, tenant := c.Request.Context(), TenantID(c.Request.Context())
	ep, err := a.edit(ctx, tenant, c.Param("id"), func(ep *core.WebhookEndpoint) error {
		if in.URL != nil {
			ep.URL = *in.URL
		}
		if in.Description != nil {
			ep.Description = *in.Description
		}
		if in.EventTypes != nil {
			ep.EventTypes = in.EventTypes
		}
		if in.RateLimitPerSecond != nil {
			ep.RateLimitPerSecond = *in.RateLimitPerSecond
		}
		if in.Enabled != nil {
			// Enabling clears the gateway's reason for disabling it (410
			// Gone); an operator's disabling has none.
			ep.Enabled, ep.DisabledReason = *in.Enabled, ""
		}
		if err := webhook.ValidateEndpoint(*ep, a.egress); err != nil {
			return err
		}
		ep.UpdatedAt = a.clock.Now()
		return nil
	})
	if core.ErrorCode(err) == core.EINVALID {
		failEndpoint(c, err)
		return
	}
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, renderEndpoint(ep))
}

// maxEditAttempts bounds the re-reads of an endpoint edit that keeps
// losing the compare-and-set to other replicas' edits; after the last the
// answer is 409 and nothing was changed.
const maxEditAttempts = 25

// edit reads endpoint id, applies change and stores it over the version it
// read. An edit that lost the race to another replica sharing the database
// waits a little (random, growing), reads the endpoint again and redoes the
// change, so no change is lost, a new secret above all: it was shown once.
func (a *webhookAPI) edit(ctx context.Context, tenant, id string, change func(*core.WebhookEndpoint) error) (core.WebhookEndpoint, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var err error
	for attempt := range maxEditAttempts {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return core.WebhookEndpoint{}, ctx.Err()
			case <-time.After(time.Duration(rand.Int64N(int64(attempt)*int64(10*time.Millisecond)) + 1)):
			}
		}
		var ep core.WebhookEndpoint
		if ep, err = a.store.WebhookEndpoint(ctx, tenant, id); err != nil {
			return ep, err
		}
		if err = change(&ep); err != nil {
			return ep, err
		}
		err = a.store.UpdateWebhookEndpoint(ctx, ep)
		if core.ErrorCode(err) != core.ECONFLICT {
			ep.Version++
			return ep, err
		}
	}
	return core.WebhookEndpoint{}, fmt.Errorf("webhook endpoint %s: %w", id, err)
}

func (a *webhookAPI) delete(c *gin.Context) {
	ctx := c.Request.Context()
	if err := a.store.DeleteWebhookEndpoint(ctx, TenantID(ctx), c.Param("id")); err != nil {
		WriteError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

type secretRotateInput struct {
	OverlapSeconds *int64 `json:"overlap_seconds"`
}

// rotate adds a new secret and lets the others sign beside it for the
// overlap, dropping secrets that have already expired.
func (a *webhookAPI) rotate(c *gin.Context) {
	var in secretRotateInput
	if !bindOptionalJSON(c, &in) {
		return
	}
	overlap := defaultSecretOverlap
	if in.OverlapSeconds != nil {
		overlap = min(time.Duration(*in.OverlapSeconds)*time.Second, maxSecretOverlap)
	}
	ctx, tenant := c.Request.Context(), TenantID(c.Request.Context())
	var secret core.WebhookSecret
	ep, err := a.edit(ctx, tenant, c.Param("id"), func(ep *core.WebhookEndpoint) error {
		now := a.clock.Now()
		live := ep.Secrets[:0]
		for _, s := range ep.Secrets {
			if s.ExpiresAt.IsZero() || s.ExpiresAt.After(now) {
				live = append(live, s)
			}
		}
		ep.Secrets = live
		secret = webhook.RotateSecret(ep, now, overlap)
		return nil
	})
	if err != nil {
		WriteError(c, err)
		return
	}
	if err := setReplayBody(c, webhookEndpointCreatedJSON{webhookEndpointJSON: renderEndpoint(ep)}); err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, webhookEndpointCreatedJSON{webhookEndpointJSON: renderEndpoint(ep), Secret: secret.Value})
}

func (a *webhookAPI) attempts(c *gin.Context) {
	req, ok := pageRequest(c)
	if !ok {
		return
	}
	ctx, tenant := c.Request.Context(), TenantID(c.Request.Context())
	ep, err := a.store.WebhookEndpoint(ctx, tenant, c.Param("id"))
	if err != nil {
		WriteError(c, err)
		return
	}
	p, err := a.store.ListWebhookAttempts(ctx, tenant, core.WebhookAttemptQuery{EndpointID: ep.ID, EventID: c.Query("event_id")}, req)
	if err != nil {
		WriteError(c, err)
		return
	}
	writeList(c, p, renderAttempt)
}

// ---- replays

// replayed answers how many deliveries a replay enqueued (202: they go
// out on their own).
func replayed(c *gin.Context, n int, err error) {
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusAccepted, webhookReplayJSON{Enqueued: n})
}

type rangeReplayInput struct {
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
}

func (a *webhookAPI) replayRange(c *gin.Context) {
	var in rangeReplayInput
	if !bindJSON(c, &in) {
		return
	}
	if !in.Since.Before(in.Until) {
		writeProblem(c, http.StatusUnprocessableEntity, "the range is empty: until must be after since",
			FieldProblem{Pointer: "/until", Detail: "must be after since"})
		return
	}
	ctx := c.Request.Context()
	n, err := a.replayer.ReplayRange(ctx, TenantID(ctx), in.Since, in.Until, c.Param("id"))
	replayed(c, n, err)
}

func (a *webhookAPI) replayDead(c *gin.Context) {
	ctx := c.Request.Context()
	n, err := a.replayer.ReplayDead(ctx, TenantID(ctx), c.Param("id"))
	replayed(c, n, err)
}

type eventReplayInput struct {
	EndpointID string `json:"endpoint_id"`
}

func (a *webhookAPI) replayEvent(c *gin.Context) {
	var in eventReplayInput
	if !bindOptionalJSON(c, &in) {
		return
	}
	ctx := c.Request.Context()
	n, err := a.replayer.ReplayEvent(ctx, TenantID(ctx), c.Param("id"), in.EndpointID)
	replayed(c, n, err)
}
