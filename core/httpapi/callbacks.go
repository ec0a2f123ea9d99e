package httpapi

import (
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/payg-gateway/gateway/adapters"
)

// routesCallbacks serves provider callbacks at /callbacks/{instance}/{kind}
// and /callbacks/{instance}/{kind}/{params…} for POST and PUT. They are not
// under /v1: providers authenticate their own way, checked by the adapter,
// and get their own answer format, not problem+json.
func (s *Server) routesCallbacks() {
	for _, m := range []string{http.MethodPost, http.MethodPut} {
		s.engine.Handle(m, "/callbacks/:instance/:kind", s.callback)
		s.engine.Handle(m, "/callbacks/:instance/:kind/*params", s.callback)
	}
}

func (s *Server) callback(c *gin.Context) {
	if s.opts.Callbacks == nil {
		c.Status(http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			c.Status(http.StatusRequestEntityTooLarge)
			return
		}
		c.Status(http.StatusBadRequest)
		return
	}
	segments := []string{c.Param("kind")}
	if p := strings.Trim(c.Param("params"), "/"); p != "" {
		segments = append(segments, strings.Split(p, "/")...)
	}
	remote, _ := netip.ParseAddr(c.ClientIP()) // the zero Addr fails every allow-list
	req := &adapters.Request{
		Method: c.Request.Method, Path: c.Request.URL.Path, Header: c.Request.Header.Clone(), Body: body,
		RemoteAddr: remote.Unmap(), ReceivedAt: s.opts.Clock.Now(),
	}
	resp := s.opts.Callbacks.Handle(c.Request.Context(), c.Param("instance"), segments, req)
	if resp.ContentType != "" {
		c.Header("Content-Type", resp.ContentType)
	}
	c.Status(resp.Status)
	if len(resp.Body) > 0 {
		_, _ = c.Writer.Write(resp.Body)
	}
}
