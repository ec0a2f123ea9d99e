package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/payg-gateway/gateway/core"
)

type apiKeyCtxKey struct{}

// APIKeyFrom returns the API key that authenticated the request, if any.
func APIKeyFrom(ctx context.Context) (core.APIKey, bool) {
	k, ok := ctx.Value(apiKeyCtxKey{}).(core.APIKey)
	return k, ok
}

// TenantID returns the tenant of the API key that authenticated the
// request, or "" outside /v1. Every /v1 handler scopes its queries by it,
// so a key of one tenant never reaches another tenant's rows.
func TenantID(ctx context.Context) string {
	k, _ := APIKeyFrom(ctx)
	return k.TenantID
}

// authenticate requires an API key: "Authorization: Bearer gw_live_…".
// A missing, unknown or revoked key gets 401.
func (s *Server) authenticate(c *gin.Context) {
	scheme, token, _ := strings.Cut(strings.TrimSpace(c.GetHeader("Authorization")), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		unauthorized(c, "send an API key as Authorization: Bearer gw_live_…")
		return
	}
	key, err := s.opts.Store.AuthenticateAPIKey(c.Request.Context(), token)
	if core.ErrorCode(err) == core.ENOTFOUND {
		unauthorized(c, "unknown or revoked API key")
		return
	}
	if err != nil {
		WriteError(c, err)
		return
	}
	c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), apiKeyCtxKey{}, key))
	c.Next()
}

func unauthorized(c *gin.Context, detail string) {
	c.Header("WWW-Authenticate", `Bearer realm="payg-gateway"`)
	writeProblem(c, http.StatusUnauthorized, detail)
}

// authorize refuses a key whose scope is less than the operation's
// documented role (its security requirement in the OpenAPI document).
func (s *Server) authorize(c *gin.Context) {
	need := s.route(c).scope
	key, _ := APIKeyFrom(c.Request.Context())
	if !key.Scope.Allows(need) {
		writeProblem(c, http.StatusForbidden,
			fmt.Sprintf("this operation needs an API key with scope %s; this key has scope %s", need, key.Scope))
		return
	}
	c.Next()
}
