package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/payg-gateway/gateway/core"
)

// routesV1 registers the /v1 REST API. Every route passes, in order:
// authentication (401), the key's rate limit (429), its scope (403),
// validation against the OpenAPI document (400/415/422) and, for a POST,
// the Idempotency-Key (409/422 or a replay). Handlers scope every query by
// TenantID(ctx).
func (s *Server) routesV1() {
	v1 := s.engine.Group("/v1", s.authenticate, s.rateLimit, s.authorize, s.validateRequest, s.idempotency)
	v1.GET("/tenant", s.getTenant)
	v1.GET("/api-keys", s.listAPIKeys)
	v1.POST("/api-keys", s.createAPIKey)
	v1.DELETE("/api-keys/:id", s.revokeAPIKey)
	api := &paygAPI{svc: s.opts.PAYG, store: s.opts.PAYGStore, tenants: s.opts.Store, clock: s.opts.Clock}
	api.register(v1)
	requests := &requestAPI{paygAPI: api, host: s.opts.Callbacks, wake: s.opts.WakeJobs}
	requests.register(v1)
	(&statusQueryAPI{requestAPI: requests}).register(v1)
	v1.GET("/adapters", s.listAdapters)
	s.newWebhookAPI().register(v1)
	s.newMessageAPI().register(v1)
	s.newCampaignAPI().register(v1)
}

// timestamp renders a time as the API does: RFC 3339 in UTC.
type timestamp time.Time

func (t timestamp) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Format(time.RFC3339Nano) + `"`), nil
}

func optionalTime(t *time.Time) *timestamp {
	if t == nil {
		return nil
	}
	ts := timestamp(*t)
	return &ts
}

// listJSON is the shape of every list answer.
type listJSON[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"next_cursor"`
}

// writeList answers one page of a list.
func writeList[T, J any](c *gin.Context, page core.Page[T], render func(T) J) {
	out := listJSON[J]{Data: make([]J, 0, len(page.Items))}
	for _, it := range page.Items {
		out.Data = append(out.Data, render(it))
	}
	if page.NextCursor != "" {
		out.NextCursor = &page.NextCursor
	}
	c.JSON(http.StatusOK, out)
}

// pageRequest reads ?limit= and ?cursor= (their form is already checked
// against the document); a cursor this API did not make is 422.
func pageRequest(c *gin.Context) (core.PageRequest, bool) {
	var p core.PageRequest
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeProblem(c, http.StatusUnprocessableEntity, "bad limit", FieldProblem{Pointer: "limit", Detail: "want an integer"})
			return p, false
		}
		p.Limit = n
	}
	p.Cursor = c.Query("cursor")
	if p.Cursor != "" {
		if _, err := core.ParseCursor(p.Cursor); err != nil {
			writeProblem(c, http.StatusUnprocessableEntity, core.ErrorMessage(err),
				FieldProblem{Pointer: "cursor", Detail: "not a next_cursor returned by this API"})
			return p, false
		}
	}
	return p, true
}

// bindJSON decodes the validated request body into v.
func bindJSON(c *gin.Context, v any) bool {
	if err := json.Unmarshal(requestBody(c), v); err != nil {
		// The document's schema admitted a body this handler cannot read.
		WriteError(c, fmt.Errorf("decode validated body: %w", err))
		return false
	}
	return true
}

type tenantJSON struct {
	ID             string    `json:"id"`
	Name           string    `json:"name"`
	TimeZone       string    `json:"time_zone"`
	DefaultCountry *string   `json:"default_country"`
	CreatedAt      timestamp `json:"created_at"`
	UpdatedAt      timestamp `json:"updated_at"`
}

func (s *Server) getTenant(c *gin.Context) {
	t, err := s.opts.Store.Tenant(c.Request.Context(), TenantID(c.Request.Context()))
	if err != nil {
		WriteError(c, err)
		return
	}
	out := tenantJSON{ID: t.ID, Name: t.Name, TimeZone: t.TimeZone,
		CreatedAt: timestamp(t.CreatedAt), UpdatedAt: timestamp(t.UpdatedAt)}
	if t.DefaultCountry != "" {
		out.DefaultCountry = &t.DefaultCountry
	}
	c.JSON(http.StatusOK, out)
}

type apiKeyJSON struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Scope      core.Scope `json:"scope"`
	Prefix     string     `json:"prefix"`
	CreatedAt  timestamp  `json:"created_at"`
	LastUsedAt *timestamp `json:"last_used_at"`
	RevokedAt  *timestamp `json:"revoked_at"`
}

func renderAPIKey(k core.APIKey) apiKeyJSON {
	return apiKeyJSON{ID: k.ID, Name: k.Name, Scope: k.Scope, Prefix: k.Prefix,
		CreatedAt: timestamp(k.CreatedAt), LastUsedAt: optionalTime(k.LastUsedAt), RevokedAt: optionalTime(k.RevokedAt)}
}

type apiKeyCreatedJSON struct {
	apiKeyJSON
	// Key is the whole key, shown once; a replay omits it.
	Key string `json:"key,omitempty"`
}

func (s *Server) listAPIKeys(c *gin.Context) {
	page, ok := pageRequest(c)
	if !ok {
		return
	}
	keys, err := s.opts.Store.APIKeys(c.Request.Context(), TenantID(c.Request.Context()), page)
	if err != nil {
		WriteError(c, err)
		return
	}
	writeList(c, keys, renderAPIKey)
}

func (s *Server) createAPIKey(c *gin.Context) {
	var in struct {
		Name  string     `json:"name"`
		Scope core.Scope `json:"scope"`
	}
	if !bindJSON(c, &in) {
		return
	}
	ctx := c.Request.Context()
	k, plaintext, err := s.opts.Store.CreateAPIKey(ctx, core.APIKey{TenantID: TenantID(ctx), Name: in.Name, Scope: in.Scope})
	if err != nil {
		WriteError(c, err)
		return
	}
	// The plaintext is never stored, not even for an idempotent replay.
	if err := setReplayBody(c, apiKeyCreatedJSON{apiKeyJSON: renderAPIKey(k)}); err != nil {
		WriteError(c, err)
		return
	}
	c.Header("Location", "/v1/api-keys/"+k.ID)
	c.JSON(http.StatusCreated, apiKeyCreatedJSON{apiKeyJSON: renderAPIKey(k), Key: plaintext})
}

func (s *Server) revokeAPIKey(c *gin.Context) {
	ctx := c.Request.Context()
	k, err := s.opts.Store.RevokeAPIKey(ctx, TenantID(ctx), c.Param("id"))
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, renderAPIKey(k))
}
