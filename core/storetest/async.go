package storetest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/callbacks"
	"github.com/payg-gateway/gateway/core/jobs"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/test/sim"
)

func (w *world) asyncRequest(t *testing.T, id string) payg.AsyncRequest {
	t.Helper()
	r, err := w.svc.AsyncRequest(context.Background(), w.tenant, id)
	if err != nil {
		t.Fatalf("AsyncRequest %s: %v", id, err)
	}
	return r
}

// runDue claims the due jobs of queue one at a time and runs them with h,
// as a job runner would, until none is due. It returns how many ran.
func (w *world) runDue(t *testing.T, queue string, h jobs.Handler) int {
	t.Helper()
	ctx := context.Background()
	q := asJobStore(t, w.store)
	n := 0
	for ; ; n++ {
		js, err := q.Claim(ctx, queue, 1, time.Minute)
		if err != nil {
			t.Fatalf("Claim %s: %v", queue, err)
		}
		if len(js) == 0 {
			return n
		}
		if err := h.Handle(ctx, js[0]); err != nil {
			t.Fatalf("job %s: %v", js[0].Key, err)
		}
		if err := q.Complete(ctx, js[0]); err != nil {
			t.Fatalf("Complete %s: %v", js[0].Key, err)
		}
	}
}

// testAsyncRequests checks the store's record of asynchronous provider
// requests: both ways of recording one, finding it by either provider id,
// its state changes and the send job a timeout schedules.
func testAsyncRequests(t *testing.T, h Harness) {
	ctx := context.Background()
	w := newWorld(t, h)
	record := func(in payg.NewAsyncRequest) payg.AsyncRequest {
		t.Helper()
		r, err := w.svc.RecordAsyncRequest(ctx, w.tenant, in)
		if err != nil {
			t.Fatalf("RecordAsyncRequest: %v", err)
		}
		return r
	}
	// Sent already: pending, one attempt, no job.
	sent := record(payg.NewAsyncRequest{Instance: "ke-paybill", Operation: payg.OperationStatusQuery, ProviderTxID: "TEST0A1B2C",
		RequestRef: "1234-5678901-1", ConversationRef: "AG_20250314_0000aaaabbbbccccdddd", QuarantineID: "qua_1", MaxAttempts: 2})
	got := w.asyncRequest(t, sent.ID)
	if got.State != payg.AsyncPending || got.Attempts != 1 || got.MaxAttempts != 2 || got.RefProviderTxID != "TEST0A1B2C" ||
		got.QuarantineID != "qua_1" || !got.SentAt.Equal(w.clock.Now()) || !got.NextAttemptAt.IsZero() || !got.FinishedAt.IsZero() {
		t.Errorf("recorded sent request %+v", got)
	}
	if js := w.jobs(t, "async:"+sent.ID); len(js) != 0 {
		t.Errorf("jobs of a request sent already: %+v", js)
	}
	// To send: created, with its send job due now.
	toSend := record(payg.NewAsyncRequest{Instance: "ke-paybill", Operation: payg.OperationStatusQuery, ProviderTxID: "TEST0A1B2D"})
	if toSend.State != payg.AsyncCreated || toSend.Attempts != 0 || toSend.MaxAttempts != payg.DefaultAsyncMaxAttempts {
		t.Errorf("recorded request to send %+v", toSend)
	}
	if js := w.jobs(t, "async:"+toSend.ID); len(js) != 1 || js[0].Queue != payg.AsyncQueue || js[0].RunAt.After(w.clock.Now()) {
		t.Errorf("send jobs %+v, want one due now", js)
	}
	if _, err := w.svc.RecordAsyncRequest(ctx, w.tenant, payg.NewAsyncRequest{Instance: "ke-paybill", Operation: payg.OperationStatusQuery}); core.ErrorCode(err) != core.EINVALID {
		t.Errorf("request about no payment: %v, want EINVALID", err)
	}

	// Found by either id, at its instance only; empty ids match nothing.
	for _, ids := range [][2]string{{"1234-5678901-1", ""}, {"", "AG_20250314_0000aaaabbbbccccdddd"}, {"1234-5678901-1", "other"}} {
		if r, err := w.svc.AsyncRequestByRef(ctx, "ke-paybill", ids[0], ids[1]); err != nil || r.ID != sent.ID {
			t.Errorf("AsyncRequestByRef %q: %+v, %v", ids, r, err)
		}
	}
	for _, c := range []struct{ instance, req, prov string }{{"other", "1234-5678901-1", ""}, {"ke-paybill", "", ""}, {"ke-paybill", "nope", "nope"}} {
		if _, err := w.svc.AsyncRequestByRef(ctx, c.instance, c.req, c.prov); core.ErrorCode(err) != core.ENOTFOUND {
			t.Errorf("AsyncRequestByRef %+v: %v, want ENOTFOUND", c, err)
		}
	}
	if _, err := w.svc.AsyncRequest(ctx, core.DefaultTenantID, sent.ID); core.ErrorCode(err) != core.ENOTFOUND {
		t.Errorf("another tenant's request: %v", err)
	}

	update := func(id string, res payg.AsyncResult) payg.AsyncUpdate {
		t.Helper()
		up, err := w.svc.UpdateAsyncRequest(ctx, w.tenant, id, res)
		if err != nil {
			t.Fatalf("UpdateAsyncRequest: %v", err)
		}
		return up
	}
	// A result for a request not sent yet is not about it.
	if up := update(toSend.ID, payg.AsyncResult{State: payg.AsyncFailed, Code: "x"}); up.Changed || up.Request.State != payg.AsyncCreated {
		t.Errorf("result before the send: %+v", up)
	}
	// A timeout schedules the next send after the backoff, once.
	w.clock.Advance(time.Second)
	up := update(sent.ID, payg.AsyncResult{State: payg.AsyncTimedOut, Code: "1", Description: "The service request timed out.", RetryAfter: time.Minute})
	if !up.Changed || !up.Retry || up.Request.State != payg.AsyncTimedOut || !up.Request.NextAttemptAt.Equal(w.clock.Now().Add(time.Minute)) {
		t.Errorf("timeout %+v", up)
	}
	if up := update(sent.ID, payg.AsyncResult{State: payg.AsyncTimedOut, RetryAfter: time.Minute}); up.Changed {
		t.Errorf("repeated timeout changed the request: %+v", up)
	}
	js := w.jobs(t, "async:"+sent.ID)
	if len(js) != 1 || js[0].Key != "async:"+sent.ID+":send:2" || !js[0].RunAt.Equal(w.clock.Now().Add(time.Minute)) {
		t.Errorf("send jobs after the timeout %+v", js)
	}
	// Sent again: pending under the new ids, two attempts; the old ids
	// find it no more.
	up = update(sent.ID, payg.AsyncResult{State: payg.AsyncPending, RequestRef: "1234-5678904-1", ProviderRef: "AG_4"})
	if r := up.Request; !up.Changed || r.State != payg.AsyncPending || r.Attempts != 2 || r.RequestRef != "1234-5678904-1" ||
		!r.NextAttemptAt.IsZero() || r.ResultCode != "1" {
		t.Errorf("sent again %+v", up)
	}
	if _, err := w.svc.AsyncRequestByRef(ctx, "ke-paybill", "1234-5678901-1", ""); core.ErrorCode(err) != core.ENOTFOUND {
		t.Errorf("the first send's id still finds the request: %v", err)
	}
	// Its last attempt times out: given up, no more job.
	up = update(sent.ID, payg.AsyncResult{State: payg.AsyncTimedOut, Code: "1", Description: "The service request timed out.", RetryAfter: time.Minute})
	if r := up.Request; up.Retry || r.State != payg.AsyncGaveUp || r.FinishedAt.IsZero() || !strings.Contains(r.ResultDescription, "given up") {
		t.Errorf("last timeout %+v", up)
	}
	if js := w.jobs(t, "async:"+sent.ID); len(js) != 1 {
		t.Errorf("%d send jobs after giving up, want the one before", len(js))
	}
	if up := update(sent.ID, payg.AsyncResult{State: payg.AsyncSucceeded}); up.Changed {
		t.Errorf("a final request changed: %+v", up)
	}

	// A failure is final, with the provider's code.
	failed := record(payg.NewAsyncRequest{Instance: "ke-paybill", Operation: payg.OperationStatusQuery, ProviderTxID: "TEST0A1B2E", RequestRef: "r3"})
	up = update(failed.ID, payg.AsyncResult{State: payg.AsyncFailed, Code: "SFC_IC0003", Description: "The operator does not exist."})
	if r := w.asyncRequest(t, failed.ID); r.State != payg.AsyncFailed || r.ResultCode != "SFC_IC0003" || r.FinishedAt.IsZero() {
		t.Errorf("failed request %+v", r)
	}

	// A late answer after a timeout settles the request; the send due
	// next then finds nothing to do.
	late := record(payg.NewAsyncRequest{Instance: "ke-paybill", Operation: payg.OperationStatusQuery, ProviderTxID: "TEST0A1B2F", RequestRef: "r4"})
	update(late.ID, payg.AsyncResult{State: payg.AsyncTimedOut, RetryAfter: time.Minute})
	if up := update(late.ID, payg.AsyncResult{State: payg.AsyncSucceeded, Code: "0"}); !up.Changed || up.Request.State != payg.AsyncSucceeded ||
		!up.Request.NextAttemptAt.IsZero() || up.Request.Attempts != 1 {
		t.Errorf("late answer after a timeout %+v", up)
	}

	// Lists: by state and receipt, in creation order, paged.
	list := func(q payg.AsyncRequestQuery, limit int) core.Page[payg.AsyncRequest] {
		t.Helper()
		var p core.Page[payg.AsyncRequest]
		w.view(t, func(r payg.Reader) error {
			var err error
			p, err = r.ListAsyncRequests(ctx, w.tenant, q, core.PageRequest{Limit: limit})
			return err
		})
		return p
	}
	if p := list(payg.AsyncRequestQuery{}, 2); len(p.Items) != 2 || p.NextCursor == "" || p.Items[0].ID != sent.ID || p.Items[1].ID != toSend.ID {
		t.Errorf("first page %+v", p)
	}
	if p := list(payg.AsyncRequestQuery{State: payg.AsyncSucceeded}, 0); len(p.Items) != 1 || p.Items[0].ID != late.ID {
		t.Errorf("succeeded ones %+v", p)
	}
	if p := list(payg.AsyncRequestQuery{State: payg.AsyncFailed}, 0); len(p.Items) != 1 || p.Items[0].ID != failed.ID {
		t.Errorf("failed ones %+v", p)
	}
	if p := list(payg.AsyncRequestQuery{Receipt: "TEST0A1B2D", Operation: payg.OperationStatusQuery}, 0); len(p.Items) != 1 || p.Items[0].ID != toSend.ID {
		t.Errorf("by receipt %+v", p)
	}
	if p := list(payg.AsyncRequestQuery{Operation: payg.OperationReversal}, 0); len(p.Items) != 0 {
		t.Errorf("reversals %+v", p)
	}
}

// The ids a Transaction Status query is accepted with, as the result
// fixtures carry them: the completed, failed and timed-out queries, and
// the timed-out one sent again (accepted under the same ids here, so the
// timeout fixture can answer it too).
var statusFixtureIDs = [][2]string{
	{"1234-5678901-1", "AG_20250314_0000aaaabbbbccccdddd"},
	{"1234-5678902-1", "AG_20250314_0000aaaabbbbcccc1111"},
	{"1234-5678903-1", "AG_20250314_0000aaaabbbbcccc2222"},
	{"1234-5678903-1", "AG_20250314_0000aaaabbbbcccc2222"},
}

// testMpesaResults sends three Transaction Status queries through the
// fake Daraja, then replays the M-Pesa Transaction Status and Reversal
// result fixtures after the C2B confirmation of the receipt they are
// about: each result is matched to its query and recorded; the timeout
// sends the query again.
func testMpesaResults(t *testing.T, h Harness) {
	ctx := context.Background()
	w := newWorld(t, h)
	var sends atomic.Int32
	d := sim.NewDaraja(sim.DarajaOptions{ConsumerKey: "ck", ConsumerSecret: "cs",
		StatusIDs: func(sim.StatusQuery) (string, string) {
			ids := statusFixtureIDs[min(int(sends.Add(1))-1, len(statusFixtureIDs)-1)]
			return ids[0], ids[1]
		}})
	fake := httptest.NewServer(d.Handler())
	t.Cleanup(func() { d.Close(); fake.Close() })
	reg := prometheus.NewRegistry()
	host := newMpesaHostWith(t, w, map[string]any{"base_url": fake.URL, "consumer_key": "ck", "consumer_secret": "cs",
		"initiator": "apiop", "security_credential": "c2VjcmV0Y3JlZGVudGlhbA==",
		"callback_base_url": "https://gateway.example.com/callbacks/ke-paybill"}, reg)
	host.SetAsyncPolicy(callbacks.AsyncPolicy{MaxAttempts: 2, Backoff: []time.Duration{time.Minute}})
	ack := fixture(t, "mpesa/response_callback_ack.json")
	post := func(t *testing.T, file, kind string) {
		t.Helper()
		resp := w.post(host, kind, fixture(t, "mpesa/"+file), "127.0.0.1")
		if resp.Status != http.StatusOK || !sameJSON(t, resp.Body, ack) {
			t.Fatalf("answer %d %s, want 200 %s", resp.Status, resp.Body, ack)
		}
	}
	post(t, "c2b_confirmation_v2_masked_msisdn.json", "c2b-confirmation")
	w.checkLedger(t, w.contract.ID, 150000)

	// An operator asks about three receipts; the send jobs query Daraja.
	var qs []payg.AsyncRequest
	for _, receipt := range []string{"TEST0A1B2C", "TEST0A1B2X", "TEST0A1B2Y"} {
		r, err := host.StartStatusQuery(ctx, w.tenant, "ke-paybill", receipt)
		if err != nil {
			t.Fatalf("StartStatusQuery: %v", err)
		}
		qs = append(qs, r)
	}
	if _, err := host.StartStatusQuery(ctx, core.DefaultTenantID, "ke-paybill", "TEST0A1B2C"); core.ErrorCode(err) != core.EINVALID {
		t.Errorf("another tenant's instance: %v, want EINVALID", err)
	}
	if n := w.runDue(t, payg.AsyncQueue, host.AsyncHandler()); n != 3 {
		t.Fatalf("%d send jobs ran, want 3", n)
	}
	sent := d.StatusQueries()
	if len(sent) != 3 {
		t.Fatalf("Daraja received %d status queries, want 3", len(sent))
	}
	for i, q := range qs {
		r := w.asyncRequest(t, q.ID)
		if r.State != payg.AsyncPending || r.Attempts != 1 || r.RequestRef != statusFixtureIDs[i][0] || r.ProviderRef != statusFixtureIDs[i][1] {
			t.Errorf("query %d after its send: %+v", i, r)
		}
		if sent[i].TransactionID != r.RefProviderTxID || sent[i].CommandID != "TransactionStatusQuery" ||
			!strings.Contains(sent[i].QueueTimeOutURL, "/status-timeout/") {
			t.Errorf("query %d as Daraja got it: %+v", i, sent[i])
		}
	}

	unknown := func() float64 {
		return counterValue(t, reg, "gateway_callbacks_total", map[string]string{"instance": "ke-paybill", "kind": "reversal-result", "outcome": "unknown_request"})
	}
	steps := []struct {
		file, kind string
		net        int64 // the contract's net receipts after the step
		status     payg.PaymentStatus
		check      func(t *testing.T)
	}{
		// The receipt is in the ledger already: reconciling it is a no-op.
		{"transaction_status_result_completed.json", "status-result", 150000, payg.PaymentApplied, func(t *testing.T) {
			if r := w.asyncRequest(t, qs[0].ID); r.State != payg.AsyncSucceeded || r.ResultCode != "0" || r.FinishedAt.IsZero() {
				t.Errorf("completed query %+v", r)
			}
		}},
		{"transaction_status_result_failed.json", "status-result", 150000, payg.PaymentApplied, func(t *testing.T) {
			if r := w.asyncRequest(t, qs[1].ID); r.State != payg.AsyncFailed || r.ResultCode != "SFC_IC0003" ||
				r.ResultDescription != "The operator does not exist." {
				t.Errorf("failed query %+v", r)
			}
		}},
		{"transaction_status_timeout.json", "status-timeout", 150000, payg.PaymentApplied, func(t *testing.T) {
			r := w.asyncRequest(t, qs[2].ID)
			if r.State != payg.AsyncTimedOut || r.Attempts != 1 || !r.NextAttemptAt.Equal(w.clock.Now().Add(time.Minute)) {
				t.Errorf("timed-out query %+v", r)
			}
			if js := w.jobs(t, "async:"+qs[2].ID+":send:2"); len(js) != 1 || js[0].State != core.JobPending {
				t.Fatalf("retry jobs %+v, want one pending", js)
			}
			// Not due yet; due after the backoff, it sends the same query.
			if n := w.runDue(t, payg.AsyncQueue, host.AsyncHandler()); n != 0 {
				t.Errorf("%d send jobs ran before the backoff", n)
			}
			w.clock.Advance(time.Minute)
			if n := w.runDue(t, payg.AsyncQueue, host.AsyncHandler()); n != 1 {
				t.Fatalf("%d send jobs ran after the backoff, want 1", n)
			}
			sent := d.StatusQueries()
			if len(sent) != 4 || sent[3].TransactionID != "TEST0A1B2Y" {
				t.Fatalf("Daraja received %+v, want the timed-out query again", sent)
			}
			if r := w.asyncRequest(t, qs[2].ID); r.State != payg.AsyncPending || r.Attempts != 2 || r.RequestRef != "1234-5678903-1" {
				t.Errorf("query sent again %+v", r)
			}
		}},
		// Its second send times out too: that was its last attempt.
		{"transaction_status_timeout.json", "status-timeout", 150000, payg.PaymentApplied, func(t *testing.T) {
			if r := w.asyncRequest(t, qs[2].ID); r.State != payg.AsyncGaveUp || r.Attempts != 2 || r.FinishedAt.IsZero() {
				t.Errorf("query timed out on its last attempt %+v", r)
			}
			if js := w.jobs(t, "async:"+qs[2].ID+":send:"); len(js) != 2 {
				t.Errorf("%d send jobs after giving up, want the first send and the one after the first timeout", len(js))
			}
		}},
		// The reversal takes the 1500 back; its repeat changes nothing.
		// The gateway never asked for it: its outcome matches no request.
		{"reversal_result_success.json", "reversal-result", 0, payg.PaymentReversed, nil},
		{"reversal_result_already_reversed.json", "reversal-result", 0, payg.PaymentReversed, func(t *testing.T) {
			if n := unknown(); n != 1 {
				t.Errorf("%v reversal results counted unknown_request, want 1 (the one that moved no money)", n)
			}
		}},
	}
	for _, st := range steps {
		t.Run(st.file, func(t *testing.T) {
			post(t, st.file, st.kind)
			if p := w.paymentByKey(t, "ke-paybill", "TEST0A1B2C"); p.Status != st.status {
				t.Errorf("payment TEST0A1B2C is %s, want %s", p.Status, st.status)
			}
			w.checkLedger(t, w.contract.ID, st.net)
			if st.check != nil {
				st.check(t)
			}
		})
	}
	// Replayed results change nothing.
	post(t, "transaction_status_result_failed.json", "status-result")
	if r := w.asyncRequest(t, qs[1].ID); r.State != payg.AsyncFailed || !r.UpdatedAt.Before(w.clock.Now()) {
		t.Errorf("failed query after a repeat %+v", r)
	}

	// An hour after their sends, the watches of the answered queries
	// find nothing to do.
	w.clock.Advance(time.Hour)
	w.runDue(t, payg.AsyncQueue, host.AsyncHandler())
	if n := len(d.StatusQueries()); n != 4 {
		t.Errorf("Daraja received %d status queries after the watches of answered ones, want still 4", n)
	}
	// A query whose result never comes is sent again an hour after its
	// send, as if it had timed out.
	lost, err := host.StartStatusQuery(ctx, w.tenant, "ke-paybill", "TEST0A1B2Z")
	if err != nil {
		t.Fatalf("StartStatusQuery: %v", err)
	}
	w.runDue(t, payg.AsyncQueue, host.AsyncHandler())
	if r := w.asyncRequest(t, lost.ID); r.State != payg.AsyncPending || r.Attempts != 1 {
		t.Fatalf("query after its send %+v", r)
	}
	w.clock.Advance(59 * time.Minute)
	if n := w.runDue(t, payg.AsyncQueue, host.AsyncHandler()); n != 0 {
		t.Errorf("%d jobs ran before the result wait was over", n)
	}
	w.clock.Advance(time.Minute)
	w.runDue(t, payg.AsyncQueue, host.AsyncHandler())
	sent = d.StatusQueries()
	if len(sent) != 6 || sent[5].TransactionID != "TEST0A1B2Z" {
		t.Fatalf("Daraja received %d queries (last %+v), want the lost query sent twice", len(sent), sent[len(sent)-1])
	}
	if r := w.asyncRequest(t, lost.ID); r.State != payg.AsyncPending || r.Attempts != 2 ||
		!strings.Contains(r.ResultDescription, "no result within 1h0m0s") {
		t.Errorf("lost query after the result wait %+v", r)
	}

	var all core.Page[payg.AsyncRequest]
	w.view(t, func(r payg.Reader) error {
		var err error
		all, err = r.ListAsyncRequests(ctx, w.tenant, payg.AsyncRequestQuery{}, core.PageRequest{})
		return err
	})
	if len(all.Items) != 4 {
		t.Errorf("%d asynchronous requests stored, want the 4 queries", len(all.Items))
	}
}

// counterValue is the value of the series of counter name with these
// label values in reg (0 when there is none).
func counterValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// testQuarantineStatusQuery: a quarantined C2B confirmation that names its
// receipt is checked by a Transaction Status query (the quarantine job
// sends it through the fake Daraja); the query is recorded with the
// quarantine's id, and its completed result resolves the quarantine.
func testQuarantineStatusQuery(t *testing.T, h Harness) {
	ctx := context.Background()
	w := newWorld(t, h)
	d := sim.NewDaraja(sim.DarajaOptions{ConsumerKey: "ck", ConsumerSecret: "cs",
		StatusIDs: func(sim.StatusQuery) (string, string) { return statusFixtureIDs[0][0], statusFixtureIDs[0][1] }})
	fake := httptest.NewServer(d.Handler())
	t.Cleanup(func() { d.Close(); fake.Close() })
	host := newMpesaHostWith(t, w, map[string]any{"base_url": fake.URL, "consumer_key": "ck", "consumer_secret": "cs",
		"initiator": "apiop", "security_credential": "c2VjcmV0Y3JlZGVudGlhbA==",
		"callback_base_url": "https://gateway.example.com/callbacks/ke-paybill"}, prometheus.NewRegistry())
	if resp := w.post(host, "c2b-confirmation", fixture(t, "mpesa/c2b_confirmation_malformed_amount_nonnumeric.json"), "127.0.0.1"); resp.Status != http.StatusOK {
		t.Fatalf("malformed confirmation answered %d", resp.Status)
	}
	var q core.Page[payg.Quarantined]
	w.view(t, func(r payg.Reader) error {
		var err error
		q, err = r.ListQuarantine(ctx, w.tenant, core.PageRequest{})
		return err
	})
	if len(q.Items) != 1 || q.Items[0].ProviderTxID != "TEST0A1B2H" {
		t.Fatalf("quarantined %+v, want the malformed confirmation of TEST0A1B2H", q.Items)
	}
	if n := w.runDue(t, payg.QuarantineQueue, host.QuarantineHandler()); n != 1 {
		t.Fatalf("%d quarantine checks ran, want 1", n)
	}
	if sent := d.StatusQueries(); len(sent) != 1 || sent[0].TransactionID != "TEST0A1B2H" {
		t.Fatalf("Daraja received %+v, want a query about TEST0A1B2H", sent)
	}
	var recs core.Page[payg.AsyncRequest]
	w.view(t, func(r payg.Reader) error {
		var err error
		recs, err = r.ListAsyncRequests(ctx, w.tenant, payg.AsyncRequestQuery{Receipt: "TEST0A1B2H"}, core.PageRequest{})
		return err
	})
	if len(recs.Items) != 1 {
		t.Fatalf("recorded %+v, want the quarantine's query", recs.Items)
	}
	rec := recs.Items[0]
	if rec.State != payg.AsyncPending || rec.QuarantineID != q.Items[0].ID || rec.RequestRef != statusFixtureIDs[0][0] || rec.Operation != payg.OperationStatusQuery {
		t.Errorf("quarantine's query %+v", rec)
	}
	if resp := w.post(host, "status-result", fixture(t, "mpesa/transaction_status_result_completed.json"), "127.0.0.1"); resp.Status != http.StatusOK {
		t.Fatalf("result answered %d", resp.Status)
	}
	if r := w.asyncRequest(t, rec.ID); r.State != payg.AsyncSucceeded {
		t.Errorf("query after its result %+v", r)
	}
	w.view(t, func(r payg.Reader) error {
		got, err := r.QuarantinedCallback(ctx, w.tenant, q.Items[0].ID)
		if err != nil || got.Status != "resolved" {
			t.Errorf("quarantined callback after the query's result: %+v, %v", got, err)
		}
		return nil
	})
}
