package httpapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

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

type campaignBody struct {
	ID       string `json:"id"`
	State    string `json:"state"`
	Template *string
	Progress struct {
		Recipients int `json:"recipients"`
		Skipped    int `json:"skipped"`
		Queued     int `json:"queued"`
		Sent       int `json:"sent"`
	} `json:"progress"`
	RecipientsChosenAt *string `json:"recipients_chosen_at"`
}

func TestCampaignsAPI(t *testing.T) {
	forEachStore(t, func(t *testing.T, open openStore) {
		store := open(t)
		w, msgs := newMessageWorld(t, store)
		crm := w.crm
		ctx := t.Context()
		for n := 1; n <= 3; n++ {
			w.sell(t, crm, n)
		}
		// Two of them paid: active, not in arrears.
		for i, ref := range []string{"external_id:L-1", "external_id:L-2"} {
			wantStatus(t, "payment", crm.Post("/v1/payments", map[string]any{"contract_id": ref,
				"amount": map[string]any{"amount": 15000, "currency": "KES"}, "reference": fmt.Sprintf("R-%d", i)}, fmt.Sprintf("p-%d", i)), http.StatusCreated)
		}
		before := len(decode[struct {
			Data []messageBody `json:"data"`
		}](t, crm.Get("/v1/messages")).Data)

		r := crm.Post("/v1/campaigns", map[string]any{"name": "hello", "body": "Hi {{name}}, thanks for {{account}}.",
			"filter": map[string]any{"statuses": []string{"active"}, "max_days_in_arrears": 0}}, "cmp-1")
		wantStatus(t, "create campaign", r, http.StatusAccepted)
		cmp := decode[campaignBody](t, r)
		if cmp.State != "pending" || r.Header.Get("Location") != "/v1/campaigns/"+cmp.ID || cmp.RecipientsChosenAt != nil {
			t.Fatalf("new campaign: %s (Location %q)", r.Body, r.Header.Get("Location"))
		}
		// Recipients are chosen by the campaign job.
		jq, ok := innerStore(store).(core.JobQueue)
		if !ok {
			t.Fatal("store is not a job queue")
		}
		js, err := jq.Claim(ctx, messaging.CampaignQueue, 10, time.Minute)
		if err != nil || len(js) != 1 {
			t.Fatalf("campaign jobs = %d, %v", len(js), err)
		}
		if err := msgs.CampaignHandler().Handle(ctx, js[0]); err != nil {
			t.Fatal(err)
		}
		got := decode[campaignBody](t, crm.Get("/v1/campaigns/"+cmp.ID))
		if got.State != "running" || got.Progress.Recipients != 2 || got.Progress.Queued != 2 || got.RecipientsChosenAt == nil {
			t.Errorf("campaign after choosing = %+v", got)
		}
		rec := decode[struct {
			Data []messageBody `json:"data"`
		}](t, crm.Get("/v1/campaigns/"+cmp.ID+"/recipients?limit=10")).Data
		if len(rec) != 2 || rec[0].Body != "Hi Amina, thanks for AC100001." || rec[0].Template != nil {
			t.Errorf("recipients = %+v", rec)
		}
		if n := len(decode[struct {
			Data []messageBody `json:"data"`
		}](t, crm.Get("/v1/campaigns/"+cmp.ID+"/recipients?state=sent")).Data); n != 0 {
			t.Errorf("%d sent recipients, want 0", n)
		}
		if n := len(decode[struct {
			Data []messageBody `json:"data"`
		}](t, crm.Get("/v1/messages")).Data); n != before+2 {
			t.Errorf("/v1/messages lists %d, want %d", n, before+2)
		}

		wantPointers(t, "unknown variable", crm.Post("/v1/campaigns", map[string]any{"body": "Hi {{nmae}}", "filter": map[string]any{}}, "cmp-2"),
			http.StatusUnprocessableEntity, "/body")
		wantPointers(t, "both", crm.Post("/v1/campaigns", map[string]any{"body": "x", "template": "reminder", "filter": map[string]any{}}, "cmp-3"),
			http.StatusUnprocessableEntity, "/body")
		wantPointers(t, "bad template", crm.Post("/v1/campaigns", map[string]any{"template": "paid_off", "filter": map[string]any{}}, "cmp-4"),
			http.StatusUnprocessableEntity, "/template")
		wantStatus(t, "unknown campaign", crm.Get("/v1/campaigns/cmp_404"), http.StatusNotFound)
		wantStatus(t, "unknown campaign's recipients", crm.Get("/v1/campaigns/cmp_404/recipients"), http.StatusNotFound)
		w.addTenant(t, "other")
		other := w.client(t, w.key(t, "other", core.ScopeRead))
		wantStatus(t, "other tenant's campaign", other.Get("/v1/campaigns/"+cmp.ID), http.StatusNotFound)
	})
}
