package resilience

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/connectors/webhook"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/test/load/loadtest"
)

// checkPayments checks through the store that every payment of the storm
// was acknowledged in the end and applied exactly once, with exactly one
// token, which the device accepts in count order (loadtest.Verify: the
// ledger, balances and token chain of every contract).
func checkPayments(t *testing.T, w *world, storm *loadtest.Storm) {
	t.Helper()
	sent := storm.Payments()
	v, err := loadtest.Verify(context.Background(), w.st, w.fleet, sent)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range v.Problems {
		t.Errorf("verification: %s", p)
	}
	if v.ProblemCount != 0 || v.Unacked != 0 || v.Applied != len(sent) || v.Tokens != len(sent) {
		t.Fatalf("%d problems, %d payments never acknowledged, %d applied, %d tokens; want 0, 0, %d, %d",
			v.ProblemCount, v.Unacked, v.Applied, v.Tokens, len(sent), len(sent))
	}
}

// checkTokensAPI reads every paid contract's tokens through the API of g
// and checks that it shows one token per payment applied, counts unique
// and increasing in the order the tokens were issued.
func checkTokensAPI(t *testing.T, w *world, g *gateway, storm *loadtest.Storm) {
	t.Helper()
	perContract := map[int]int{}
	for _, p := range storm.Payments() {
		perContract[p.Contract]++
	}
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	for i, n := range perContract {
		var list struct {
			Data       []tokenJSON `json:"data"`
			NextCursor *string     `json:"next_cursor"`
		}
		url := g.URL() + "/v1/contracts/" + w.fleet.ContractID(i) + "/tokens?limit=200"
		if err := w.getJSON(client, url, &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Data) != n || list.NextCursor != nil {
			t.Errorf("contract %s: the API lists %d tokens, want %d (one per payment)", w.fleet.ContractID(i), len(list.Data), n)
			continue
		}
		payments := map[string]bool{}
		counts := map[int64]bool{}
		for _, tok := range list.Data {
			if tok.PaymentID == nil || payments[*tok.PaymentID] || counts[tok.Count] || tok.Status != "issued" {
				t.Errorf("contract %s: token %+v repeats a payment or a count, or is not issued", w.fleet.ContractID(i), tok)
			}
			if tok.PaymentID != nil {
				payments[*tok.PaymentID] = true
			}
			counts[tok.Count] = true
		}
		// Issued one after the other, each at a higher count than the
		// last (the device refuses a count it has passed).
		slices.SortStableFunc(list.Data, func(a, b tokenJSON) int {
			if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
				return c
			}
			return cmp.Compare(a.Count, b.Count)
		})
		for k := 1; k < len(list.Data); k++ {
			if list.Data[k].Count <= list.Data[k-1].Count {
				t.Errorf("contract %s: token issued at %v has count %d, after count %d at %v", w.fleet.ContractID(i),
					list.Data[k].CreatedAt, list.Data[k].Count, list.Data[k-1].Count, list.Data[k-1].CreatedAt)
			}
		}
	}
}

// tokenJSON is what the checks read of the API's Token.
type tokenJSON struct {
	PaymentID *string   `json:"payment_id"`
	Count     int64     `json:"count"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
}

// deliveries is what the fake CRM saw of the events.
type deliveries struct {
	events    int // events stored
	requests  int // requests the CRM received
	delivered int // 2xx answers
	dupes     int // 2xx answers beyond the first per event
}

func (d deliveries) String() string {
	return fmt.Sprintf("%d events, %d requests at the CRM, %d delivered (%d duplicates)", d.events, d.requests, d.delivered, d.dupes)
}

// checkWebhooks waits until no delivery is pending or running, then checks
// that every stored event reached the CRM at least once (exactly once when
// once is set, with a single attempt each in the attempts log), that every
// request carried a valid signature and an event of the store, that the
// repeats of an event carry its webhook-id and the same bytes, and that no
// delivery died.
func checkWebhooks(t *testing.T, w *world, once bool, within time.Duration) deliveries {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(within)
	for {
		n, err := w.countJobs(ctx, core.JobPending, core.JobRunning)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d webhook deliveries still pending or running after %v", n, within)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n, err := w.countJobs(ctx, core.JobDead); err != nil || n != 0 {
		t.Errorf("%d dead webhook deliveries (%v)", n, err)
	}

	events, err := w.events(ctx)
	if err != nil {
		t.Fatal(err)
	}

	var d deliveries
	d.events = len(events)
	received := w.crm.Received()
	d.requests = len(received)
	bodies := map[string][]byte{}
	bad := 0
	for _, r := range received {
		if !r.Verified {
			if bad++; bad <= 5 {
				t.Errorf("CRM got a request that does not verify: %v", r.VerifyErr)
			}
			continue
		}
		if _, ok := events[r.ID]; !ok {
			t.Errorf("CRM got webhook-id %s, which is no event of the store", r.ID)
		}
		if b, ok := bodies[r.ID]; ok && !bytes.Equal(b, r.Body) {
			t.Errorf("webhook-id %s delivered with two different bodies:\n%s\n%s", r.ID, b, r.Body)
		}
		bodies[r.ID] = r.Body
	}
	delivered := w.crm.Delivered()
	missing := 0
	for id, e := range events {
		n := delivered[id]
		d.delivered += n
		if n > 1 {
			d.dupes += n - 1
		}
		switch {
		case n == 0:
			if missing++; missing <= 5 {
				t.Errorf("event %s (%s) never reached the CRM", id, e.Type)
			}
		case once && n != 1:
			t.Errorf("event %s (%s) delivered %d times, want once", id, e.Type, n)
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d events never reached the CRM", missing, len(events))
	}
	if once {
		attempts := 0
		err := pages(func(req core.PageRequest) (string, error) {
			pg, err := w.st.ListWebhookAttempts(ctx, loadtest.Tenant, core.WebhookAttemptQuery{EndpointID: w.endpoint.ID}, req)
			for _, a := range pg.Items {
				attempts++
				if a.Attempt != 1 || a.StatusCode != http.StatusOK {
					t.Errorf("attempt %+v: want the first, answered 200", a)
				}
			}
			return pg.NextCursor, err
		})
		if err != nil {
			t.Fatal(err)
		}
		if attempts != len(events) || d.requests != len(events) {
			t.Errorf("%d attempts logged, %d requests at the CRM, for %d events: want one each", attempts, d.requests, len(events))
		}
	}
	return d
}

// events returns the tenant's stored events by id.
func (w *world) events(ctx context.Context) (map[string]payg.Event, error) {
	events := map[string]payg.Event{}
	err := pages(func(req core.PageRequest) (string, error) {
		var pg core.Page[payg.Event]
		err := w.st.View(ctx, func(r payg.Reader) error {
			var err error
			pg, err = r.ListEvents(ctx, loadtest.Tenant, payg.EventQuery{}, req)
			return err
		})
		for _, e := range pg.Items {
			events[e.ID] = e
		}
		return pg.NextCursor, err
	})
	return events, err
}

// countJobs counts the tenant's webhook delivery jobs in the given states.
func (w *world) countJobs(ctx context.Context, states ...core.JobState) (int, error) {
	return w.countQueue(ctx, webhook.Queue, states...)
}

// countQueue counts the tenant's jobs of queue in the given states.
func (w *world) countQueue(ctx context.Context, queue string, states ...core.JobState) (int, error) {
	n := 0
	for _, s := range states {
		err := pages(func(req core.PageRequest) (string, error) {
			pg, err := w.st.ListJobs(ctx, core.JobQuery{TenantID: loadtest.Tenant, Queue: queue, State: s}, req)
			n += len(pg.Items)
			return pg.NextCursor, err
		})
		if err != nil {
			return 0, err
		}
	}
	return n, nil
}

// pages calls list for each page until it returns no next cursor.
func pages(list func(req core.PageRequest) (next string, err error)) error {
	req := core.PageRequest{Limit: core.MaxPageLimit}
	for {
		next, err := list(req)
		if err != nil {
			return err
		}
		if next == "" {
			return nil
		}
		req.Cursor = next
	}
}
