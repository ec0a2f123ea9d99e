package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/connectors/webhook"
	"github.com/payg-gateway/gateway/connectors/webhook/signature"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/coretest"
	"github.com/payg-gateway/gateway/core/httpapi"
	"github.com/payg-gateway/gateway/core/jobs"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/openapi"
	"github.com/payg-gateway/gateway/test/fakecrm"
)

// deliveries runs the webhook deliveries of a paygWorld's store as serve
// does (cmd/gateway newJobs): a job runner with webhook.NewDeliverer, on
// the world's clock. The runner polls only when woken, and reports each
// outcome on results.
type deliveries struct {
	t       *testing.T
	runner  *jobs.Runner
	results chan jobs.Result
}

// startDeliveries starts the runner; wake is set to it, for the server's
// WakeJobs.
func startDeliveries(t *testing.T, w *paygWorld, wake *atomic.Pointer[jobs.Runner]) *deliveries {
	t.Helper()
	store := innerStore(w.store)
	queue, ok := store.(core.JobQueue)
	endpoints, ok2 := store.(core.WebhookStore)
	if !ok || !ok2 {
		t.Fatalf("%T is not a job queue and webhook store", store)
	}
	d, err := webhook.NewDeliverer(webhook.DelivererOptions{Store: endpoints, Clock: w.clock, Egress: webhook.Egress{AllowLoopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	ds := &deliveries{t: t, results: make(chan jobs.Result, 100)}
	// One worker: deliveries are attempted in the order they were
	// enqueued. Leases outlast the test clock's jumps.
	ds.runner = jobs.New(jobs.Options{Queue: queue, Clock: w.clock, Workers: 1, Lease: 1000 * time.Hour, PollInterval: time.Hour,
		Observe: func(r jobs.Result) { ds.results <- r }})
	ds.runner.Register(webhook.Queue, d, webhook.DefaultSchedule)
	wake.Store(ds.runner)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ds.runner.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runner: %v", err)
		}
	})
	return ds
}

// await waits for n delivery outcomes, each of the given kind.
func (d *deliveries) await(n int, want jobs.Outcome) []jobs.Result {
	d.t.Helper()
	out := make([]jobs.Result, 0, n)
	for range n {
		select {
		case r := <-d.results:
			if r.Outcome != want {
				d.t.Fatalf("delivery outcome %s (%v), want %s", r.Outcome, r.Err, want)
			}
			out = append(out, r)
		case <-time.After(15 * time.Second):
			d.t.Fatalf("no delivery outcome within 15s (%d of %d)", len(out), n)
		}
	}
	return out
}

// envelopeBody is what the fake CRM decodes of a delivery.
type envelopeBody struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	Tenant     string `json:"tenant"`
	ContractID string `json:"contract_id"`
	Sequence   int64  `json:"sequence"`
}

// checkDelivery fails the test unless a delivery is signed as the
// catalogue documents and its body matches its type's schema.
func checkDelivery(t *testing.T, spec *openapi.Spec, req fakecrm.Request) envelopeBody {
	t.Helper()
	var env envelopeBody
	if err := json.Unmarshal(req.Body, &env); err != nil {
		t.Fatalf("delivery body %s: %v", req.Body, err)
	}
	op := spec.Webhook(env.Type)
	if op == nil {
		t.Fatalf("delivery of type %q, which the catalogue lacks", env.Type)
	}
	if fields, err := op.ValidateBody(req.Header.Get("Content-Type"), req.Body); err != nil || len(fields) > 0 {
		t.Errorf("%s delivery does not match the catalogue: %v %v\n%s", env.Type, fields, err, req.Body)
	}
	if fields := op.ValidateParams(nil, nil, req.Header); len(fields) > 0 {
		t.Errorf("%s delivery headers do not match the catalogue: %v", env.Type, fields)
	}
	return env
}

// TestWebhooksEndToEnd: an endpoint created through the API receives a
// manual payment's events, signed and in sequence order; a CRM that
// fails then recovers gets every event once, and the attempts log shows
// it; replays, secret rotation, dead deliveries and 410 Gone through the
// API.
func TestWebhooksEndToEnd(t *testing.T) {
	forEachClockedStore(t, func(t *testing.T, open openClockedStore) {
		spec, err := openapi.Load()
		if err != nil {
			t.Fatal(err)
		}
		var runner atomic.Pointer[jobs.Runner]
		clock := coretest.NewClock(paygEpoch)
		w := newPAYGWorldAt(t, open(t, clock), clock, func(o *httpapi.Options) {
			o.WebhookEgress = webhook.Egress{AllowLoopback: true} // the fake CRM listens on 127.0.0.1
			o.WakeJobs = func() {
				if r := runner.Load(); r != nil {
					r.Wake()
				}
			}
		})
		d := startDeliveries(t, w, &runner)
		admin := w.client(t, w.key(t, w.tenant, core.ScopeAdmin))
		crm := fakecrm.New(fakecrm.Options{Now: w.clock.Now, Tolerance: 1000 * time.Hour}) // the test clock jumps hours
		t.Cleanup(crm.Close)

		r := admin.Post("/v1/webhook-endpoints", map[string]any{"url": crm.URL() + "/hooks/gateway", "description": "fake CRM",
			"event_types": []string{"payment.*", "token.issued"}}, "ep-1")
		wantStatus(t, "create endpoint", r, http.StatusCreated)
		ep := decode[endpointBody](t, r)
		crm.SetSecrets(*ep.Secret)
		path := "/v1/webhook-endpoints/" + ep.ID

		// The CRM is down when the payment is taken.
		crm.Set(fakecrm.Fail)
		s := w.sell(t, w.crm, 1)
		r = w.crm.Post("/v1/payments", map[string]any{"contract_id": "external_id:L-1",
			"amount": map[string]any{"amount": 15000, "currency": "KES"}, "reference": "RCPT-1"}, "pay-1")
		wantStatus(t, "manual payment", r, http.StatusCreated)
		paid := w.clock.Now()
		d.runner.Wake() // serve's runner polls every second
		d.await(3, jobs.OutcomeRetry)
		crm.Set(fakecrm.OK)
		w.clock.Advance(6 * time.Second) // past the first retry: 5 s ± 10 %
		d.runner.Wake()
		d.await(3, jobs.OutcomeDone)

		got := crm.Received()
		if len(got) != 6 {
			t.Fatalf("the CRM received %d requests, want 3 failed and 3 delivered", len(got))
		}
		// First attempts go out in the contract's order; retries are each
		// due at their own (jittered) time, and the CRM orders by sequence.
		wantTypes := []string{"payment.received", "payment.applied", "token.issued"}
		var ids []string
		retried := map[string]bool{}
		var prev int64
		for i, req := range got {
			env := checkDelivery(t, spec, req)
			wantStatus := http.StatusInternalServerError
			if i >= 3 {
				wantStatus = http.StatusOK
			}
			if !req.Verified || req.Status != wantStatus || env.Tenant != w.tenant || env.ContractID != s.contract.ID {
				t.Errorf("request %d: %s, verified %v (%v), answered %d", i, req.Body, req.Verified, req.VerifyErr, req.Status)
			}
			if err := signature.Verify([]string{*ep.Secret}, req.Header, req.Body, 0, w.clock.Now()); err != nil {
				t.Errorf("request %d does not verify with the endpoint's secret: %v", i, err)
			}
			if i < 3 {
				if env.Type != wantTypes[i] || env.Sequence <= prev {
					t.Errorf("first attempt %d: %s with sequence %d after %d; want %s, in contract order", i, env.Type, env.Sequence, prev, wantTypes[i])
				}
				prev = env.Sequence
				ids = append(ids, env.ID)
				continue
			}
			if !slices.Contains(ids, env.ID) || retried[env.ID] {
				t.Errorf("retry %d has webhook-id %s; want each of %v once", i, env.ID, ids)
			}
			retried[env.ID] = true
		}
		for _, id := range ids {
			if n := crm.Delivered()[id]; n != 1 {
				t.Errorf("event %s delivered %d times, want once", id, n)
			}
		}

		// The attempts log, as the CRM team reads it: each delivery failed
		// once with the CRM's answer, then got through.
		attempts := all[attemptBody](t, w.crm, path+"/attempts", 4)
		if len(attempts) != 6 {
			t.Fatalf("%d attempts, want 6", len(attempts))
		}
		delivery := map[string]string{}
		for i, a := range attempts {
			code, n, errText, at := http.StatusInternalServerError, 1, true, paid
			if i >= 3 {
				code, n, errText, at = http.StatusOK, 2, false, paid.Add(6*time.Second)
			} else if a.EventID != ids[i] {
				t.Errorf("attempt %d is of %s, want %s", i, a.EventID, ids[i])
			}
			if d, ok := delivery[a.EventID]; ok && d != a.DeliveryID {
				t.Errorf("attempts of %s in deliveries %s and %s", a.EventID, d, a.DeliveryID)
			}
			delivery[a.EventID] = a.DeliveryID
			if a.EndpointID != ep.ID || !slices.Contains(ids, a.EventID) || a.Attempt != n || a.StatusCode == nil || *a.StatusCode != code ||
				(a.Error != nil) != errText || a.Response == nil || *a.Response != fmt.Sprintf(`{"status":%d}`, code) || a.LatencyMS < 0 ||
				a.At != at.Format(time.RFC3339) {
				t.Errorf("attempt %d: %+v", i, a)
			}
		}
		if one := all[attemptBody](t, w.crm, path+"/attempts?event_id="+ids[1], 10); len(one) != 2 || one[0].EventID != ids[1] {
			t.Errorf("attempts of %s: %+v", ids[1], one)
		}

		// Replays: one event to every endpoint, one to this endpoint, a
		// time range; each goes out at once (the server wakes the runner).
		for i, body := range []any{nil, map[string]any{"endpoint_id": ep.ID}} {
			r = w.crm.Post("/v1/events/"+ids[1]+"/replay", body, fmt.Sprintf("replay-%d", i))
			wantStatus(t, "replay an event", r, http.StatusAccepted)
			if n := decode[replayBody](t, r).Enqueued; n != 1 {
				t.Fatalf("replay enqueued %d, want 1", n)
			}
			d.await(1, jobs.OutcomeDone)
		}
		if n := crm.Delivered()[ids[1]]; n != 3 {
			t.Errorf("replayed event delivered %d times, want 3", n)
		}
		r = w.crm.Post(path+"/replay", map[string]any{"since": paid.Add(-time.Minute).Format(time.RFC3339),
			"until": paid.Add(time.Minute).Format(time.RFC3339)}, "replay-range")
		wantStatus(t, "replay a range", r, http.StatusAccepted)
		if n := decode[replayBody](t, r).Enqueued; n != 3 {
			t.Fatalf("range replay enqueued %d, want the 3 subscribed events", n)
		}
		d.await(3, jobs.OutcomeDone)
		got = crm.Received()
		for i, req := range got[len(got)-3:] {
			if env := checkDelivery(t, spec, req); env.ID != ids[i] {
				t.Errorf("range replay %d: %s, want %s (in order)", i, env.ID, ids[i])
			}
		}

		// Rotation: while the old secret lasts, deliveries carry both
		// signatures, and a CRM that switched verifies them.
		r = admin.Post(path+"/secrets", map[string]any{"overlap_seconds": 3600}, "rotate")
		wantStatus(t, "rotate", r, http.StatusOK)
		fresh := *decode[endpointBody](t, r).Secret
		crm.SetSecrets(fresh)
		signatures := func(name string) int {
			t.Helper()
			wantStatus(t, name, w.crm.Post("/v1/events/"+ids[0]+"/replay", nil, strings.ReplaceAll(name, " ", "-")), http.StatusAccepted)
			d.await(1, jobs.OutcomeDone)
			got := crm.Received()
			last := got[len(got)-1]
			if !last.Verified {
				t.Errorf("%s: not verified with the new secret: %v", name, last.VerifyErr)
			}
			return len(strings.Fields(last.Header.Get(signature.HeaderSignature)))
		}
		if n := signatures("during the overlap"); n != 2 {
			t.Errorf("%d signatures during the overlap, want 2", n)
		}
		w.clock.Advance(2 * time.Hour)
		if n := signatures("after the overlap"); n != 1 {
			t.Errorf("%d signatures after the overlap, want 1", n)
		}

		// A delivery the CRM refuses twelve times is dead; replay-dead
		// sends it again once the CRM is fixed.
		r = admin.Patch(path, map[string]any{"event_types": []string{"token.issued"}})
		wantStatus(t, "subscribe to tokens only", r, http.StatusOK)
		crm.SetSecrets(signature.NewSecret()) // the CRM misconfigured: 401 to everything
		r = w.crm.Post("/v1/payments", map[string]any{"contract_id": s.contract.ID,
			"amount": map[string]any{"amount": 15000, "currency": "KES"}, "reference": "RCPT-2"}, "pay-2")
		wantStatus(t, "second payment", r, http.StatusCreated)
		token := decode[outcomeBody](t, r).Tokens[0]
		d.runner.Wake()
		for range webhook.DefaultMaxAttempts - 1 {
			d.await(1, jobs.OutcomeRetry)
			w.clock.Advance(12 * time.Hour) // past the longest wait, 10 h + 10 %
			d.runner.Wake()
		}
		d.await(1, jobs.OutcomeDead)
		var tokenEvent string
		for _, a := range all[attemptBody](t, w.crm, path+"/attempts", 50) {
			if a.Attempt == webhook.DefaultMaxAttempts {
				tokenEvent = a.EventID
			}
		}
		dead := all[attemptBody](t, w.crm, path+"/attempts?event_id="+tokenEvent, 50)
		if len(dead) != webhook.DefaultMaxAttempts || *dead[len(dead)-1].StatusCode != http.StatusUnauthorized {
			t.Errorf("attempts of the dead delivery %+v", dead)
		}
		crm.SetSecrets(fresh)
		r = w.crm.Post(path+"/replay-dead", nil, "dead-1")
		wantStatus(t, "replay dead", r, http.StatusAccepted)
		if n := decode[replayBody](t, r).Enqueued; n != 1 {
			t.Fatalf("replay-dead enqueued %d, want 1", n)
		}
		d.await(1, jobs.OutcomeDone)
		if n := crm.Delivered()[tokenEvent]; n != 1 {
			t.Errorf("dead token event delivered %d times after replay-dead, want 1", n)
		}
		last := crm.Received()[len(crm.Received())-1]
		if !strings.Contains(string(last.Body), token.Code) {
			t.Errorf("replayed dead delivery %s lacks the token's code %s", last.Body, token.Code)
		}
		r = w.crm.Post(path+"/replay-dead", nil, "dead-2")
		if n := decode[replayBody](t, r).Enqueued; n != 0 {
			t.Errorf("second replay-dead enqueued %d, want 0", n)
		}

		// 410 Gone disables the endpoint, visibly; enabling clears it.
		crm.Set(fakecrm.Gone)
		wantStatus(t, "replay to a gone CRM", w.crm.Post("/v1/events/"+tokenEvent+"/replay", nil, "gone"), http.StatusAccepted)
		d.await(1, jobs.OutcomeDead)
		got1 := decode[endpointBody](t, w.crm.Get(path))
		if got1.Enabled || got1.DisabledReason == nil || !strings.Contains(*got1.DisabledReason, "410") {
			t.Errorf("endpoint after 410: %+v", got1)
		}
		wantStatus(t, "replay to a disabled endpoint", w.crm.Post("/v1/events/"+tokenEvent+"/replay",
			map[string]any{"endpoint_id": ep.ID}, "gone-2"), http.StatusConflict)
		r = admin.Patch(path, map[string]any{"enabled": true})
		if got := decode[endpointBody](t, r); !got.Enabled || got.DisabledReason != nil {
			t.Errorf("endpoint enabled again: %s", r.Body)
		}
	})
}

// TestEventsMatchTheCatalogue: every event the gateway writes, as its
// webhook envelope, matches the schema of its type in the document's
// webhooks section; the flow writes every type but the reserved
// token.failed.
func TestEventsMatchTheCatalogue(t *testing.T) {
	forEachStore(t, func(t *testing.T, open openStore) {
		ctx := context.Background()
		spec, err := openapi.Load()
		if err != nil {
			t.Fatal(err)
		}
		w := newPAYGWorld(t, open(t))
		crm := w.crm
		s := w.sell(t, crm, 1)
		pay := func(ref string, amount int64, contract string) outcomeBody {
			t.Helper()
			r := crm.Post("/v1/payments", map[string]any{"contract_id": contract,
				"amount": map[string]any{"amount": amount, "currency": "KES"}, "reference": ref}, "pay-"+ref)
			wantStatus(t, "pay "+ref, r, http.StatusCreated)
			return decode[outcomeBody](t, r)
		}
		// Activation, credit, a token; its reversal.
		first := pay("R-1", 15000, s.contract.ID)
		wantStatus(t, "reverse", crm.Post("/v1/payments/"+first.Payment.ID+"/reversal", map[string]any{"reason": "bounced"}, "rev"), http.StatusOK)
		// Money for nobody: suspense, then refunded; more, then matched.
		for i, ref := range []string{"NOBODY1", "NOBODY2"} {
			o, err := w.svc.ApplyNotice(ctx, w.tenant, core.PaymentNotice{Instance: "mpesa-ke", ProviderTxID: ref, Status: core.NoticeSucceeded,
				Amount: core.Money{Amount: 15000, Currency: "KES"}, AccountRef: "nobody", PayerMSISDN: "2547 ***** 123", OccurredAt: w.clock.Now()})
			if err != nil || o.Suspense == nil {
				t.Fatalf("suspense payment: %+v, %v", o, err)
			}
			if i == 0 {
				wantStatus(t, "refund", crm.Post("/v1/suspense/"+o.Suspense.ID+"/refund", map[string]any{"note": "sent back"}, "refund"), http.StatusOK)
			} else {
				wantStatus(t, "match", crm.Post("/v1/suspense/"+o.Suspense.ID+"/match", map[string]any{"contract_id": s.contract.ID}, "match"), http.StatusOK)
			}
		}
		// A contract paid off at once: its unlock token.
		r := crm.Post("/v1/plans", map[string]any{"name": "small", "terms": map[string]any{"kind": "payg_credit", "currency": "KES",
			"price": 5000, "price_period": "day", "total_price": 10000, "default_days": 30}}, "plan-small")
		wantStatus(t, "small plan", r, http.StatusCreated)
		small := decode[idBody](t, r)
		r = crm.Post("/v1/devices", map[string]any{"serial": "SHS-9", "token_scheme": "openpaygo", "secret_key": deviceKeyHex}, "dev-9")
		wantStatus(t, "device", r, http.StatusCreated)
		dev := decode[idBody](t, r)
		r = crm.Post("/v1/contracts", map[string]any{"account_number": "AC9", "customer_id": s.customer.ID,
			"device_ids": []string{dev.ID}, "plan_id": small.ID}, "con-9")
		wantStatus(t, "contract", r, http.StatusCreated)
		if o := pay("R-9", 10000, decode[idBody](t, r).ID); o.Contract == nil || o.Contract.Status != "paid_off" || len(o.Tokens) != 1 {
			t.Fatalf("paying the whole price: %+v", o)
		}
		// Operator actions, and a token for a device without a contract.
		wantStatus(t, "repossess", crm.Post("/v1/contracts/"+s.contract.ID+"/status", map[string]any{"status": "repossessed", "reason": "collected"}, "st"), http.StatusOK)
		r = crm.Post("/v1/devices", map[string]any{"serial": "SHS-10", "token_scheme": "openpaygo", "secret_key": deviceKeyHex}, "dev-10")
		wantStatus(t, "spare device", r, http.StatusCreated)
		spare := decode[idBody](t, r)
		wantStatus(t, "goodwill", crm.Post("/v1/tokens", map[string]any{"device_id": spare.ID, "kind": "add_days", "days": 1, "reason": "demo unit"}, "tok"), http.StatusCreated)

		var events []payg.Event
		err = paygStoreOf(t, w.store).View(ctx, func(r payg.Reader) error {
			p, err := r.ListEvents(ctx, w.tenant, payg.EventQuery{}, core.PageRequest{Limit: core.MaxPageLimit})
			events = p.Items
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, e := range events {
			body, err := json.Marshal(webhook.NewEnvelope(e))
			if err != nil {
				t.Fatal(err)
			}
			op := spec.Webhook(e.Type)
			if op == nil {
				t.Errorf("event type %s is not in the catalogue", e.Type)
				continue
			}
			if fields, err := op.ValidateBody(openapi.JSONMediaType, body); err != nil || len(fields) > 0 {
				t.Errorf("%s event does not match the catalogue: %v %v\n%s", e.Type, fields, err, body)
			}
			seen[e.Type] = true
		}
		var missing []string
		for _, op := range spec.Webhooks() {
			if !seen[op.Path] && op.Path != payg.EventTokenFailed {
				missing = append(missing, op.Path)
			}
		}
		if len(missing) > 0 {
			t.Errorf("the flow wrote no %v events: extend it so every type is checked", missing)
		}
		if !slices.Contains(eventsOfType(events, payg.EventTokenIssued), "") {
			t.Error("no token.issued without a contract: the flow's spare device should have one")
		}
	})
}

// eventsOfType lists the contract ids of the events of type typ.
func eventsOfType(events []payg.Event, typ string) []string {
	var out []string
	for _, e := range events {
		if e.Type == typ {
			out = append(out, e.ContractID)
		}
	}
	return out
}
