package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/messaging"
	"github.com/payg-gateway/gateway/core/payg"
)

// TestMessageResendAPI: a message whose send outcome is unknown is listed
// under ?state=unknown, and POST /v1/messages/{id}/resend queues it again
// with a new send job (202, idempotent); a message in any other state is
// 409, another tenant's or none 404, a read key 403.
func TestMessageResendAPI(t *testing.T) {
	forEachStore(t, func(t *testing.T, open openStore) {
		store := open(t)
		w, _ := newMessageWorld(t, store)
		crm := w.crm
		ctx := t.Context()
		w.sell(t, crm, 1)
		wantStatus(t, "payment", crm.Post("/v1/payments", map[string]any{"contract_id": "external_id:L-1",
			"amount": map[string]any{"amount": 15000, "currency": "KES"}, "reference": "RCPT-A"}, "pay-A"), http.StatusCreated)
		list := func(query string) []messageBody {
			t.Helper()
			r := crm.Get("/v1/messages?" + query)
			wantStatus(t, "list "+query, r, http.StatusOK)
			return decode[struct {
				Data []messageBody `json:"data"`
			}](t, r).Data
		}
		queued := list("state=queued")
		if len(queued) != 1 {
			t.Fatalf("%d queued messages, want 1", len(queued))
		}
		id := queued[0].ID

		// A queued message cannot be resent: it is being sent.
		r := crm.Post("/v1/messages/"+id+"/resend", nil, "rs-queued")
		wantStatus(t, "resend a queued message", r, http.StatusConflict)
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
			t.Errorf("409 as %s, want problem+json", ct)
		}

		// The send was cut off after the provider call (as the sender
		// leaves it when it finds the attempt still marked in flight).
		ms := innerStore(store).(messaging.Store)
		err := ms.InTx(ctx, func(ptx payg.Tx) error {
			tx := ptx.(messaging.Tx)
			m, err := tx.LockMessage(ctx, w.tenant, id)
			if err != nil {
				return err
			}
			m.State, m.Instance, m.Attempts = messaging.StateUnknown, "at-ke", 1
			m.SendingAt, m.Reason = w.clock.Now().Add(-time.Minute), "outcome unknown"
			return tx.UpdateMessage(ctx, m)
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := list("state=unknown"); len(got) != 1 || got[0].ID != id || got[0].State != "unknown" {
			t.Fatalf("state=unknown lists %+v, want the message", got)
		}

		reader := w.client(t, w.key(t, w.tenant, core.ScopeRead))
		wantStatus(t, "a read key cannot resend", reader.Post("/v1/messages/"+id+"/resend", nil, "rs-read"), http.StatusForbidden)

		r = crm.Post("/v1/messages/"+id+"/resend", nil, "rs-1")
		wantStatus(t, "resend", r, http.StatusAccepted)
		if got := decode[messageBody](t, r); got.ID != id || got.State != "queued" || got.SentAt != nil {
			t.Errorf("resent message = %+v, want it queued", got)
		}
		if got := list("state=unknown"); len(got) != 0 {
			t.Errorf("still %d unknown messages after the resend", len(got))
		}
		m, err := ms.Message(ctx, w.tenant, id)
		if err != nil || m.State != messaging.StateQueued || !m.SendingAt.IsZero() {
			t.Errorf("stored after the resend: %s, sending_at %v (%v); want queued, not in flight", m.State, m.SendingAt, err)
		}
		// The replay of the same request answers the same, enqueuing
		// nothing more.
		r = crm.Post("/v1/messages/"+id+"/resend", nil, "rs-1")
		if r.Status != http.StatusAccepted || r.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("replayed resend: %d, replayed %q", r.Status, r.Header.Get("Idempotent-Replayed"))
		}
		js := innerStore(store).(core.JobService)
		jobs, err := js.ListJobs(ctx, core.JobQuery{TenantID: w.tenant, Queue: messaging.Queue, KeyPrefix: m.CauseKey + "#resend:"},
			core.PageRequest{Limit: 10})
		if err != nil || len(jobs.Items) != 1 || jobs.Items[0].State != core.JobPending {
			t.Errorf("resend jobs: %+v (%v); want one pending", jobs.Items, err)
		}
		// Queued again, it cannot be resent a second time.
		wantStatus(t, "resend twice", crm.Post("/v1/messages/"+id+"/resend", nil, "rs-2"), http.StatusConflict)

		wantStatus(t, "resend no message", crm.Post("/v1/messages/msg_404/resend", nil, "rs-404"), http.StatusNotFound)
		w.addTenant(t, "other")
		other := w.client(t, w.key(t, "other", core.ScopeWrite))
		wantStatus(t, "another tenant's message", other.Post("/v1/messages/"+id+"/resend", nil, "rs-other"), http.StatusNotFound)
	})
}
