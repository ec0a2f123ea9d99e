package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// openAPIDocument serves the embedded OpenAPI document as it is.
func (s *Server) openAPIDocument(c *gin.Context) {
	c.Data(http.StatusOK, "application/yaml; charset=utf-8", s.spec.YAML())
}

// docsPage serves the reference page rendered from the document at start.
// The page is self-contained; the policy forbids it loading anything.
func (s *Server) docsPage(c *gin.Context) {
	c.Header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	c.Data(http.StatusOK, "text/html; charset=utf-8", s.docs)
}
