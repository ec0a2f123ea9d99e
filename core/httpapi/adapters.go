package httpapi

import (
	"time"

	"github.com/gin-gonic/gin"

	"github.com/payg-gateway/gateway/core/callbacks"
)

// breakerNone is the breaker state of an adapter instance without a
// circuit breaker around its provider calls (SMS instances have one).
const breakerNone = "none"

type adapterJSON struct {
	Name     string  `json:"name"`
	Adapter  string  `json:"adapter"`
	Tenant   string  `json:"tenant"`
	Currency *string `json:"currency"` // null: an SMS instance

	Capabilities   []string   `json:"capabilities"`
	LastCallbackAt *timestamp `json:"last_callback_at"`
	LastError      *string    `json:"last_error"`
	LastErrorAt    *timestamp `json:"last_error_at"`
	BreakerState   string     `json:"breaker_state"`
}

func renderAdapter(st callbacks.InstanceStatus) adapterJSON {
	caps := st.Capabilities
	if caps == nil {
		caps = []string{}
	}
	return adapterJSON{Name: st.Name, Adapter: st.Adapter, Tenant: st.Tenant, Currency: optString(st.Currency), Capabilities: caps,
		LastCallbackAt: optTimestamp(st.LastCallbackAt), LastError: optString(st.LastError),
		LastErrorAt: optTimestamp(st.LastErrorAt), BreakerState: breakerState(st.BreakerState)}
}

func breakerState(s string) string {
	if s == "" {
		return breakerNone
	}
	return s
}

// listAdapters lists the caller's tenant's adapter instances, by name,
// with the health this process has seen (callbacks.Host.Statuses).
func (s *Server) listAdapters(c *gin.Context) {
	req, ok := pageRequest(c)
	if !ok {
		return
	}
	tenant := TenantID(c.Request.Context())
	var mine []callbacks.InstanceStatus
	if s.opts.Callbacks != nil {
		for _, st := range s.opts.Callbacks.Statuses() {
			if st.Tenant == tenant {
				mine = append(mine, st)
			}
		}
	}
	// Names are unique and Statuses sorts by them: the stable order.
	p, err := pageOf(mine, req, func(callbacks.InstanceStatus) time.Time { return time.Time{} },
		func(st callbacks.InstanceStatus) string { return st.Name })
	if err != nil {
		fail(c, err, "cursor")
		return
	}
	writeList(c, p, renderAdapter)
}
