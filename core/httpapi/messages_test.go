package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/payg-gateway/gateway/adapters/nexus"
	"github.com/payg-gateway/gateway/adapters/openpaygo"
	"github.com/payg-gateway/gateway/connectors/webhook"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/coretest"
	"github.com/payg-gateway/gateway/core/httpapi"
	"github.com/payg-gateway/gateway/core/messaging"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/core/secretbox"
)

// newMessageWorld is newPAYGWorld with messaging on, as serve wires it
// when an SMS instance is configured.
func newMessageWorld(t *testing.T, store core.Store, configure ...func(*httpapi.Options)) (*paygWorld, *messaging.Service) {
	t.Helper()
	clock := coretest.NewClock(paygEpoch)
	ms, ok := innerStore(store).(messaging.Store)
	if !ok {
		t.Fatalf("%T is not a messaging.Store", store)
	}
	templates, err := messaging.NewTemplates(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	msgs := messaging.NewService(messaging.Options{Store: ms, Tenants: store, Clock: clock, Templates: templates,
		Settings: func(string) messaging.Settings { return messaging.Settings{Enabled: true} }})
	box, err := secretbox.New(secretbox.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	svc := payg.NewService(payg.Options{
		Store: ms, Tenants: store, Clock: clock, Box: box,
		Engines:     map[payg.TokenScheme]payg.TokenEngine{payg.SchemeOpenPAYGO: openpaygo.Engine{}, payg.SchemeNexus: nexus.Engine{}},
		Subscribers: []payg.EventSubscriber{webhook.Subscriber{}, msgs},
	})
	a := newAPI(t, store, append([]func(*httpapi.Options){func(o *httpapi.Options) { o.Clock, o.PAYG, o.Messaging = clock, svc, msgs }}, configure...)...)
	w := &paygWorld{api: a, svc: svc, clock: clock, tenant: "sunbright-ke"}
	w.addTenant(t, w.tenant)
	w.crm = a.client(t, a.key(t, w.tenant, core.ScopeWrite))
	return w, msgs
}

type messageBody struct {
	ID         string  `json:"id"`
	CustomerID *string `json:"customer_id"`
	ContractID *string `json:"contract_id"`
	Template   *string `json:"template"`
	Language   string  `json:"language"`
	To         string  `json:"to"`
	Body       string  `json:"body"`
	Encoding   string  `json:"encoding"`
	Segments   int     `json:"segments"`
	State      string  `json:"state"`
	SentAt     *string `json:"sent_at"`
}

func TestMessagesAPI(t *testing.T) {
	forEachStore(t, func(t *testing.T, open openStore) {
		w, _ := newMessageWorld(t, open(t))
		crm := w.crm
		s1 := w.sell(t, crm, 1)
		s2 := w.sell(t, crm, 2)
		for i, ref := range []string{"external_id:L-1", "external_id:L-2", "external_id:L-1"} {
			r := crm.Post("/v1/payments", map[string]any{"contract_id": ref, "amount": map[string]any{"amount": 15000, "currency": "KES"},
				"reference": "RCPT-" + string(rune('A'+i))}, "pay-"+string(rune('A'+i)))
			wantStatus(t, "payment", r, http.StatusCreated)
		}

		all := decode[struct {
			Data       []messageBody `json:"data"`
			NextCursor *string       `json:"next_cursor"`
		}](t, crm.Get("/v1/messages"))
		if len(all.Data) != 3 || all.NextCursor != nil {
			t.Fatalf("GET /v1/messages = %+v, want 3 messages", all)
		}
		m := all.Data[0]
		if m.ContractID == nil || *m.ContractID != s1.contract.ID || m.Template == nil || *m.Template != "payment_received" ||
			m.Language != "sw" || m.To != "+254700000123" || m.Encoding != "gsm7" || m.Segments != 1 || m.State != "queued" ||
			m.SentAt != nil || !strings.HasPrefix(m.Body, "Asante Amina, tumepokea 150 KES kwa AC100001.") {
			t.Errorf("first message = %+v", m)
		}

		list := func(query string) []messageBody {
			t.Helper()
			r := crm.Get("/v1/messages?" + query)
			wantStatus(t, "list "+query, r, http.StatusOK)
			return decode[struct {
				Data []messageBody `json:"data"`
			}](t, r).Data
		}
		if got := list("contract_id=" + url.QueryEscape("external_id:L-1")); len(got) != 2 {
			t.Errorf("by contract L-1: %d messages, want 2", len(got))
		}
		if got := list("contract_id=" + s2.contract.ID); len(got) != 1 || *got[0].ContractID != s2.contract.ID {
			t.Errorf("by contract id: %+v", got)
		}
		if got := list("customer_id=" + url.QueryEscape("external_id:C-2")); len(got) != 1 || *got[0].CustomerID != s2.customer.ID {
			t.Errorf("by customer: %+v", got)
		}
		if got := list("state=queued&limit=2"); len(got) != 2 {
			t.Errorf("queued, limit 2: %d", len(got))
		}
		if got := list("state=delivered"); len(got) != 0 {
			t.Errorf("delivered: %d, want 0", len(got))
		}
		wantStatus(t, "unknown customer", crm.Get("/v1/messages?customer_id=external_id:C-404"), http.StatusNotFound)
		wantPointers(t, "bad state", crm.Get("/v1/messages?state=lost"), http.StatusUnprocessableEntity, "state")

		r := crm.Get("/v1/messages/" + m.ID)
		wantStatus(t, "get message", r, http.StatusOK)
		if got := decode[messageBody](t, r); got.ID != m.ID || got.Body != m.Body {
			t.Errorf("GET one = %+v", got)
		}
		wantStatus(t, "unknown message", crm.Get("/v1/messages/msg_404"), http.StatusNotFound)

		// Another tenant sees none of them.
		w.addTenant(t, "other")
		other := w.client(t, w.key(t, "other", core.ScopeRead))
		wantStatus(t, "other tenant's message", other.Get("/v1/messages/"+m.ID), http.StatusNotFound)
		if got := decode[struct {
			Data []messageBody `json:"data"`
		}](t, other.Get("/v1/messages")).Data; len(got) != 0 {
			t.Errorf("other tenant lists %d messages", len(got))
		}
	})
}
