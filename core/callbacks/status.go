package callbacks

import (
	"slices"
	"sync"
	"time"

	"github.com/payg-gateway/gateway/adapters"
)

// InstanceStatus is what an operator sees of an adapter instance.
type InstanceStatus struct {
	Name     string
	Adapter  string
	Tenant   string
	Currency string
	// Capabilities lists what the adapter does: callbacks, validation,
	// payment_initiation, status_query, url_registration.
	Capabilities   []string
	LastCallbackAt time.Time
	LastError      string
	LastErrorAt    time.Time
	// BreakerState is the state of the circuit breaker around the
	// instance's outgoing calls (closed, half_open, open), empty when it
	// has none.
	BreakerState string
}

// health tracks each instance's last callback and last error, in memory:
// it says how this process has seen the instance since it started.
type health struct {
	mu   sync.Mutex
	last map[string]*InstanceStatus
}

func (h *health) record(instance string, at time.Time, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	st, ok := h.last[instance]
	if !ok {
		return
	}
	st.LastCallbackAt = at
	if err != nil {
		st.LastError, st.LastErrorAt = err.Error(), at
	}
}

// Statuses lists the configured instances and their health, by name.
func (h *Host) Statuses() []InstanceStatus {
	h.health.mu.Lock()
	defer h.health.mu.Unlock()
	out := make([]InstanceStatus, 0, len(h.health.last))
	for _, st := range h.health.last {
		c := *st
		if h.breakers != nil {
			c.BreakerState, _ = h.breakers(c.Name)
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b InstanceStatus) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}

func capabilities(a adapters.Adapter) []string {
	var out []string
	if _, ok := a.(adapters.CallbackParser); ok {
		out = append(out, "callbacks")
	}
	if _, ok := a.(adapters.CallbackValidator); ok {
		out = append(out, "validation")
	}
	if _, ok := a.(adapters.PaymentInitiator); ok {
		out = append(out, "payment_initiation")
	}
	if _, ok := a.(adapters.StatusQuerier); ok {
		out = append(out, "status_query")
	}
	if _, ok := a.(adapters.URLRegistrar); ok {
		out = append(out, "url_registration")
	}
	return out
}
