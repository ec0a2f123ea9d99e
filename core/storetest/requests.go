package storetest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/payg-gateway/gateway/adapters"
	_ "github.com/payg-gateway/gateway/adapters/mtnmomo" // registers payments.mtn_momo
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/callbacks"
	"github.com/payg-gateway/gateway/core/lease"
	"github.com/payg-gateway/gateway/core/payg"
)

// seedRequest stores a payment request the gateway made earlier, as the
// fixtures README's test world has them.
func (w *world) seedRequest(t *testing.T, instance, requestID string, amount core.Money, status payg.RequestStatus) payg.PaymentRequest {
	t.Helper()
	now := w.clock.Now()
	r := payg.PaymentRequest{
		ID: "prq_" + strings.NewReplacer("-", "", "_", "").Replace(requestID), TenantID: w.tenant, Instance: instance,
		ContractID: w.contract.ID, Amount: amount, MSISDN: "254700000123", AccountRef: w.contract.AccountNumber,
		ReferenceID: "ref-" + requestID, RequestID: requestID, ProviderRef: requestID, Status: status,
		ExpiresAt: now.Add(5 * time.Minute), CreatedAt: now, UpdatedAt: now, InitiatedAt: now,
	}
	if err := w.pstore.InTx(context.Background(), func(tx payg.Tx) error { return tx.InsertPaymentRequest(context.Background(), r) }); err != nil {
		t.Fatalf("InsertPaymentRequest: %v", err)
	}
	return r
}

func (w *world) request(t *testing.T, id string) payg.PaymentRequest {
	t.Helper()
	var r payg.PaymentRequest
	w.view(t, func(rd payg.Reader) error {
		var err error
		r, err = rd.PaymentRequest(context.Background(), w.tenant, id)
		return err
	})
	return r
}

func (w *world) jobs(t *testing.T, prefix string) []core.Job {
	t.Helper()
	js, ok := w.store.(core.JobService)
	if !ok {
		t.Fatalf("%T is not a core.JobService", w.store)
	}
	p, err := js.ListJobs(context.Background(), core.JobQuery{TenantID: w.tenant, KeyPrefix: prefix}, core.PageRequest{Limit: core.MaxPageLimit})
	if err != nil {
		t.Fatalf("ListJobs: %v", err)
	}
	return p.Items
}

func (w *world) events(t *testing.T, typ string) []payg.Event {
	t.Helper()
	var out []payg.Event
	w.view(t, func(r payg.Reader) error {
		p, err := r.ListEvents(context.Background(), w.tenant, payg.EventQuery{Type: typ}, core.PageRequest{Limit: core.MaxPageLimit})
		out = p.Items
		return err
	})
	return out
}

// testPaymentRequests checks the life of a payment request in the store:
// creation with its initiation job, the janitor's updates, and notices
// matched to requests by the provider's request id.
func testPaymentRequests(t *testing.T, h Harness) {
	ctx := context.Background()
	w := newWorld(t, h)
	kes := func(cents int64) core.Money { return core.Money{Amount: cents, Currency: "KES"} }

	r, err := w.svc.CreatePaymentRequest(ctx, w.tenant, payg.PaymentRequestInput{
		ContractID: w.contract.ID, Instance: "mpesa-ke", Amount: kes(150000), ReferenceID: "7f0c1a9e-1111-4abc-8def-000000000001",
	})
	if err != nil {
		t.Fatalf("CreatePaymentRequest: %v", err)
	}
	if r.Status != payg.RequestCreated || r.MSISDN != "254700000123" || r.AccountRef != "AC100234" || r.RequestID != r.ID ||
		!r.ExpiresAt.Equal(w.clock.Now().Add(payg.DefaultRequestWindow)) {
		t.Errorf("created request %+v", r)
	}
	if got := w.request(t, r.ID); got.ReferenceID != r.ReferenceID || got.Amount != kes(150000) || got.ContractID != w.contract.ID {
		t.Errorf("stored request %+v", got)
	}
	if js := w.jobs(t, "payreq:"+r.ID); len(js) != 1 || js[0].Queue != payg.RequestQueue || js[0].State != core.JobPending {
		t.Fatalf("initiation jobs %+v, want one pending", js)
	}

	// Refusals: another currency, an unknown contract, a bad phone.
	if _, err := w.svc.CreatePaymentRequest(ctx, w.tenant, payg.PaymentRequestInput{ContractID: w.contract.ID, Instance: "mpesa-ke",
		Amount: core.Money{Amount: 100, Currency: "UGX"}, ReferenceID: "x"}); core.ErrorCode(err) != core.EINVALID {
		t.Errorf("currency mismatch: %v, want EINVALID", err)
	}
	if _, err := w.svc.CreatePaymentRequest(ctx, w.tenant, payg.PaymentRequestInput{ContractID: "con_nope", Instance: "mpesa-ke",
		Amount: kes(100), ReferenceID: "y"}); core.ErrorCode(err) != core.ENOTFOUND {
		t.Errorf("unknown contract: %v, want ENOTFOUND", err)
	}
	if _, err := w.svc.CreatePaymentRequest(ctx, w.tenant, payg.PaymentRequestInput{ContractID: w.contract.ID, Instance: "mpesa-ke",
		Amount: kes(100), Phone: "not a phone", ReferenceID: "z"}); core.ErrorCode(err) != core.EINVALID {
		t.Errorf("bad phone: %v, want EINVALID", err)
	}

	// The initiation lands: the provider's ids are stored and the first
	// check is scheduled, once however often the same job reports it.
	const checkout = "ws_CO_26031409265300000700000123"
	for range 2 {
		r, err = w.svc.UpdatePaymentRequest(ctx, w.tenant, r.ID, payg.RequestUpdate{
			Status: payg.RequestInitiated, RequestID: checkout, ProviderRef: checkout, Initiation: true,
			NextCheck: w.clock.Now().Add(time.Minute), Cause: "job-1",
		})
		if err != nil {
			t.Fatalf("UpdatePaymentRequest: %v", err)
		}
	}
	if r.Status != payg.RequestInitiated || r.RequestID != checkout || r.Initiations != 2 || r.InitiatedAt.IsZero() {
		t.Errorf("initiated request %+v", r)
	}
	if js := w.jobs(t, "payreq:"+r.ID); len(js) != 2 {
		t.Errorf("%d jobs after the initiation, want the initiation and one check", len(js))
	}
	var byReq payg.PaymentRequest
	w.view(t, func(rd payg.Reader) error {
		byReq, err = rd.PaymentRequestByRequestID(ctx, "mpesa-ke", checkout)
		return err
	})
	if byReq.ID != r.ID {
		t.Errorf("PaymentRequestByRequestID = %+v", byReq)
	}

	// The STK callback carries no account reference and an unknown payer:
	// the payment goes to the request's contract.
	out, err := w.svc.ApplyNotice(ctx, w.tenant, core.PaymentNotice{
		Instance: "mpesa-ke", ProviderTxID: "TESTSTK001", RequestID: checkout, Status: core.NoticeSucceeded,
		Amount: kes(150000), PayerMSISDN: "254799999999", Raw: []byte(`{}`),
	})
	if err != nil {
		t.Fatalf("ApplyNotice: %v", err)
	}
	if out.Payment.Status != payg.PaymentApplied || out.Payment.ContractID != w.contract.ID || len(out.Tokens) != 1 ||
		out.Request == nil || out.Request.Status != payg.RequestSucceeded {
		t.Fatalf("outcome %+v", out)
	}
	r = w.request(t, r.ID)
	if r.Status != payg.RequestSucceeded || r.PaymentID != out.Payment.ID || r.FinishedAt.IsZero() {
		t.Errorf("settled request %+v", r)
	}
	if ev := w.events(t, payg.EventPaymentRequestSucceeded); len(ev) != 1 || ev[0].ContractID != w.contract.ID {
		t.Errorf("succeeded events %+v", ev)
	}
	// A final request stays as the callback left it.
	if got, err := w.svc.UpdatePaymentRequest(ctx, w.tenant, r.ID, payg.RequestUpdate{Status: payg.RequestUnknown, Reason: "late"}); err != nil ||
		got.Status != payg.RequestSucceeded {
		t.Errorf("update of a final request: %+v, %v", got, err)
	}
	// The same receipt again (the STK callback repeated, or the paybill's
	// C2B confirmation of it) is a duplicate.
	if dup, err := w.svc.ApplyNotice(ctx, w.tenant, notice("TESTSTK001", "AC100234", 150000)); err != nil || !dup.Duplicate {
		t.Errorf("C2B copy of the STK receipt: %+v, %v", dup, err)
	}

	// A failure marks the request failed with the provider's reason.
	failed := w.seedRequest(t, "mpesa-ke", "ws_CO_FAILED", kes(50000), payg.RequestInitiated)
	if _, err := w.svc.ApplyNotice(ctx, w.tenant, core.PaymentNotice{Instance: "mpesa-ke", RequestID: "ws_CO_FAILED",
		Status: core.NoticeFailed, Reason: "1032: Request cancelled by user"}); err != nil {
		t.Fatal(err)
	}
	if got := w.request(t, failed.ID); got.Status != payg.RequestFailed || got.Reason != "1032: Request cancelled by user" || got.PaymentID != "" {
		t.Errorf("failed request %+v", got)
	}
	if ev := w.events(t, payg.EventPaymentRequestFailed); len(ev) != 1 {
		t.Errorf("%d failed events, want 1", len(ev))
	}

	// Another amount than asked for: kept in suspense, not applied.
	mismatch := w.seedRequest(t, "mpesa-ke", "ws_CO_MISMATCH", kes(500000), payg.RequestInitiated)
	out, err = w.svc.ApplyNotice(ctx, w.tenant, core.PaymentNotice{Instance: "mpesa-ke", ProviderTxID: "TESTSTK002", RequestID: "ws_CO_MISMATCH",
		Status: core.NoticeSucceeded, Amount: kes(50000), Raw: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	if out.Payment.Status != payg.PaymentSuspense || out.Suspense == nil || out.Suspense.Reason != payg.SuspenseAmountMismatch {
		t.Errorf("mismatched payment %+v", out)
	}
	if got := w.request(t, mismatch.ID); got.Status != payg.RequestSucceeded || got.PaymentID != out.Payment.ID || !strings.Contains(got.Reason, "suspense") {
		t.Errorf("mismatched request %+v", got)
	}

	// Money for a request id nobody issued is refused, and nothing is kept.
	_, err = w.svc.ApplyNotice(ctx, w.tenant, core.PaymentNotice{Instance: "mpesa-ke", ProviderTxID: "TESTSTK003", RequestID: "ws_CO_NOT_OURS",
		Status: core.NoticeSucceeded, Amount: kes(1000), AccountRef: "AC100234", Raw: []byte(`{}`)})
	if !errors.Is(err, payg.ErrUnknownRequest) {
		t.Errorf("unknown request: %v, want ErrUnknownRequest", err)
	}
	w.view(t, func(rd payg.Reader) error {
		if _, err := rd.PaymentByKey(ctx, "mpesa-ke", "TESTSTK003"); core.ErrorCode(err) != core.ENOTFOUND {
			t.Errorf("payment of an unknown request stored: %v", err)
		}
		return nil
	})
	// The same id at another instance is not the same request.
	if _, err := w.svc.ApplyNotice(ctx, w.tenant, core.PaymentNotice{Instance: "other", ProviderTxID: "TESTSTK004", RequestID: "ws_CO_MISMATCH",
		Status: core.NoticeSucceeded, Amount: kes(500000), Raw: []byte(`{}`)}); !errors.Is(err, payg.ErrUnknownRequest) {
		t.Errorf("request id of another instance: %v", err)
	}

	// Lists: by contract and status, in creation order.
	var all, succeeded core.Page[payg.PaymentRequest]
	w.view(t, func(rd payg.Reader) error {
		if all, err = rd.ListPaymentRequests(ctx, w.tenant, payg.PaymentRequestQuery{ContractID: w.contract.ID}, core.PageRequest{Limit: 2}); err != nil {
			return err
		}
		succeeded, err = rd.ListPaymentRequests(ctx, w.tenant, payg.PaymentRequestQuery{Status: payg.RequestSucceeded}, core.PageRequest{})
		return err
	})
	if len(all.Items) != 2 || all.NextCursor == "" || all.Items[0].ID != r.ID {
		t.Errorf("first page %+v", all)
	}
	if len(succeeded.Items) != 2 {
		t.Errorf("%d succeeded requests, want 2", len(succeeded.Items))
	}
	// Another tenant sees none of them.
	w.view(t, func(rd payg.Reader) error {
		if _, err := rd.PaymentRequest(ctx, core.DefaultTenantID, r.ID); core.ErrorCode(err) != core.ENOTFOUND {
			t.Errorf("another tenant's request: %v", err)
		}
		return nil
	})
}

// testSTKCallbacks replays the M-Pesa STK push fixtures through the
// callback host against the requests the fixtures README says the gateway
// made.
func testSTKCallbacks(t *testing.T, h Harness) {
	w := newWorld(t, h)
	host := newMpesaHost(t, w)
	ack := fixture(t, "mpesa/response_callback_ack.json")
	kes := core.Money{Amount: 150000, Currency: "KES"}
	reqs := map[string]payg.PaymentRequest{}
	for _, id := range []string{"093000", "093500", "094000", "094500", "095000"} {
		reqs[id] = w.seedRequest(t, "ke-paybill", "ws_CO_14032025"+id+"000700000123", kes, payg.RequestInitiated)
	}
	cases := []struct {
		file  string
		check func(t *testing.T)
	}{
		{"stk_callback_success.json", func(t *testing.T) {
			p := w.paymentByKey(t, "ke-paybill", "TEST0S1T2K")
			if p.Status != payg.PaymentApplied || p.ContractID != w.contract.ID || p.Amount != kes {
				t.Errorf("payment %+v", p)
			}
			if r := w.request(t, reqs["093000"].ID); r.Status != payg.RequestSucceeded || r.PaymentID != p.ID {
				t.Errorf("request %+v", r)
			}
		}},
		{"stk_callback_duplicate.json", nil},
		{"stk_callback_cancelled_1032.json", func(t *testing.T) {
			if r := w.request(t, reqs["093500"].ID); r.Status != payg.RequestFailed || !strings.HasPrefix(r.Reason, "1032:") {
				t.Errorf("request %+v", r)
			}
		}},
		{"stk_callback_insufficient_funds_1.json", func(t *testing.T) {
			if r := w.request(t, reqs["094000"].ID); r.Status != payg.RequestFailed || !strings.HasPrefix(r.Reason, "1:") {
				t.Errorf("request %+v", r)
			}
		}},
		{"stk_callback_unreachable_1037.json", func(t *testing.T) {
			if r := w.request(t, reqs["094500"].ID); r.Status != payg.RequestFailed || !strings.HasPrefix(r.Reason, "1037:") {
				t.Errorf("request %+v", r)
			}
		}},
		{"stk_callback_malformed_success_without_metadata.json", func(t *testing.T) {
			// Not applied; a status check of its request is due now.
			if r := w.request(t, reqs["095000"].ID); r.Status != payg.RequestInitiated {
				t.Errorf("request %+v", r)
			}
			js := w.jobs(t, "payreq:"+reqs["095000"].ID+":callback:quarantine:")
			if len(js) != 1 || js[0].Queue != payg.RequestQueue || js[0].RunAt.After(w.clock.Now()) {
				t.Errorf("status checks of the quarantined callback's request: %+v", js)
			}
		}},
		{"stk_callback_unknown_checkout_id.json", func(t *testing.T) {
			w.view(t, func(r payg.Reader) error {
				if _, err := r.PaymentByKey(context.Background(), "ke-paybill", "TEST0S1T9Z"); core.ErrorCode(err) != core.ENOTFOUND {
					t.Errorf("payment of an unknown checkout id: %v", err)
				}
				return nil
			})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			resp := w.post(host, "stk", fixture(t, "mpesa/"+tc.file), "127.0.0.1")
			if resp.Status != http.StatusOK || !sameJSON(t, resp.Body, ack) {
				t.Fatalf("answer %d %s, want 200 %s", resp.Status, resp.Body, ack)
			}
			if tc.check != nil {
				tc.check(t)
			}
		})
	}
	// Exactly one payment moved money: the 1500 KES of the success.
	w.checkLedger(t, w.contract.ID, 150000)
	var q core.Page[payg.Quarantined]
	w.view(t, func(r payg.Reader) error {
		var err error
		q, err = r.ListQuarantine(context.Background(), w.tenant, core.PageRequest{})
		return err
	})
	if len(q.Items) != 2 {
		t.Fatalf("%d quarantined, want the success without metadata and the unknown checkout id", len(q.Items))
	}
	for _, it := range q.Items {
		if it.RequestID == "" || len(it.Body) == 0 {
			t.Errorf("quarantined without its request id or body: %+v", it)
		}
	}
	if !strings.Contains(q.Items[1].Reason, "not a payment request") {
		t.Errorf("unknown checkout id quarantined for %q", q.Items[1].Reason)
	}
	if ev := w.events(t, payg.EventPaymentRequestFailed); len(ev) != 3 {
		t.Errorf("%d payment_request.failed events, want 3", len(ev))
	}

	// Quarantined callbacks are found by their request id, and resolved
	// once.
	ctx := context.Background()
	open := func() []payg.Quarantined {
		var qs []payg.Quarantined
		w.view(t, func(r payg.Reader) error {
			var err error
			qs, err = r.OpenQuarantineByRequestID(ctx, "ke-paybill", "ws_CO_14032025095000000700000123")
			return err
		})
		return qs
	}
	qs := open()
	if len(qs) != 1 || qs[0].Kind != "stk" || qs[0].Status != "open" {
		t.Fatalf("open quarantine of the request: %+v", qs)
	}
	resolve := func(tenant string) error {
		return w.pstore.InTx(ctx, func(tx payg.Tx) error { return tx.ResolveQuarantine(ctx, tenant, qs[0].ID, w.clock.Now()) })
	}
	if err := resolve(core.DefaultTenantID); core.ErrorCode(err) != core.ENOTFOUND {
		t.Errorf("another tenant resolved it: %v", err)
	}
	if err := resolve(w.tenant); err != nil {
		t.Fatalf("ResolveQuarantine: %v", err)
	}
	if err := resolve(w.tenant); core.ErrorCode(err) != core.ENOTFOUND {
		t.Errorf("resolved twice: %v", err)
	}
	if qs := open(); len(qs) != 0 {
		t.Errorf("still open: %+v", qs)
	}
}

const momoCallbackKey = "storetest-momo-callback-key-0123456789"

// testMoMoCallbacks replays the MTN MoMo request-to-pay fixtures through
// the callback host against the requests the fixtures README says the
// gateway made (PAY-000123 … PAY-000130, UGX 50000 each). The instance does
// not confirm by status query here (there is no MoMo to ask); the
// end-to-end tests run the confirmation against the simulator.
func testMoMoCallbacks(t *testing.T, h Harness) {
	ctx := context.Background()
	w := newWorld(t, h)
	inst := adapters.InstanceConfig{Name: "ug-momo", Adapter: "payments.mtn_momo", Tenant: w.tenant, Currency: "UGX",
		Settings: map[string]any{"callback_key": momoCallbackKey, "confirm_by_status_query": false}}
	a, err := adapters.Provision(ctx, inst, adapters.Deps{Clock: w.clock}.WithDefaults())
	if err != nil {
		t.Fatalf("provision: %v", err)
	}
	inst, _ = inst.Check()
	host, err := callbacks.New(w.svc, []callbacks.Instance{{Config: inst, Adapter: a}}, w.clock, discardLogger(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	dev, err := w.svc.CreateDevice(ctx, w.tenant, payg.DeviceInput{Serial: "SHS-UG-1", Scheme: payg.SchemeOpenPAYGO,
		SecretKeyHex: testKeyHex, StartingCode: testStartingCode, ValueDivider: 1})
	if err != nil {
		t.Fatal(err)
	}
	ugx, err := w.svc.CreateContract(ctx, w.tenant, payg.ContractInput{AccountNumber: "UG100234", CustomerID: w.customer.ID,
		DeviceIDs: []string{dev.ID}, Plan: lease.Plan{Kind: lease.KindPAYGCredit, Currency: "UGX", Price: 5000,
			PricePeriod: lease.PeriodDay, GraceDays: 3, DefaultDays: 30}})
	if err != nil {
		t.Fatal(err)
	}
	amount := core.Money{Amount: 50000, Currency: "UGX"}
	reqs := map[string]payg.PaymentRequest{}
	for n := 123; n <= 130; n++ {
		id := fmt.Sprintf("PAY-%06d", n)
		w.contract = ugx
		reqs[id] = w.seedRequest(t, "ug-momo", id, amount, payg.RequestInitiated)
	}
	send := func(method, file, ref string) adapters.Response {
		tok := adapters.PathToken(momoCallbackKey, ref, 32)
		return host.Handle(ctx, "ug-momo", []string{"requesttopay", ref, tok}, &adapters.Request{
			Method: method, Path: "/callbacks/ug-momo/requesttopay/" + ref + "/" + tok,
			Header: http.Header{"Content-Type": {"application/json"}}, Body: fixture(t, "mtn/"+file),
			RemoteAddr: netip.MustParseAddr("127.0.0.1"), ReceivedAt: w.clock.Now(),
		})
	}
	status := func(id string) payg.PaymentRequest { return w.request(t, reqs[id].ID) }
	cases := []struct {
		method, file, externalID string
		check                    func(t *testing.T)
	}{
		{http.MethodPut, "requesttopay_callback_successful.json", "PAY-000123", func(t *testing.T) {
			p := w.paymentByKey(t, "ug-momo", "1000000001")
			if p.Status != payg.PaymentApplied || p.ContractID != ugx.ID || p.Amount != amount {
				t.Errorf("payment %+v", p)
			}
			if r := status("PAY-000123"); r.Status != payg.RequestSucceeded || r.PaymentID != p.ID {
				t.Errorf("request %+v", r)
			}
		}},
		{http.MethodPost, "requesttopay_callback_duplicate.json", "PAY-000123", nil},
		{http.MethodPost, "requesttopay_callback_failed_reason_string.json", "PAY-000124", func(t *testing.T) {
			if r := status("PAY-000124"); r.Status != payg.RequestFailed || r.Reason != "NOT_ENOUGH_FUNDS" {
				t.Errorf("request %+v", r)
			}
		}},
		{http.MethodPut, "requesttopay_callback_failed_reason_object.json", "PAY-000125", func(t *testing.T) {
			if r := status("PAY-000125"); r.Status != payg.RequestFailed || !strings.HasPrefix(r.Reason, "PAYER_NOT_FOUND: ") {
				t.Errorf("request %+v", r)
			}
		}},
		{http.MethodPost, "requesttopay_callback_failed_timeout.json", "PAY-000126", func(t *testing.T) {
			if r := status("PAY-000126"); r.Status != payg.RequestFailed || r.Reason != "COULD_NOT_PERFORM_TRANSACTION" {
				t.Errorf("request %+v", r)
			}
		}},
		{http.MethodPut, "requesttopay_callback_malformed_missing_status.json", "PAY-000127", func(t *testing.T) {
			if r := status("PAY-000127"); r.Status != payg.RequestInitiated {
				t.Errorf("request %+v", r)
			}
		}},
		{http.MethodPost, "requesttopay_callback_amount_mismatch.json", "PAY-000128", func(t *testing.T) {
			p := w.paymentByKey(t, "ug-momo", "1000000004")
			if p.Status != payg.PaymentSuspense || p.ContractID != "" {
				t.Errorf("mismatched payment applied: %+v", p)
			}
			if r := status("PAY-000128"); r.Status != payg.RequestSucceeded || !strings.Contains(r.Reason, string(payg.SuspenseAmountMismatch)) {
				t.Errorf("request %+v", r)
			}
		}},
		{http.MethodPut, "requesttopay_callback_malformed_amount.json", "PAY-000129", func(t *testing.T) {
			if r := status("PAY-000129"); r.Status != payg.RequestInitiated {
				t.Errorf("request %+v", r)
			}
		}},
		{http.MethodPost, "requesttopay_callback_unknown_externalid.json", "PAY-999999", func(t *testing.T) {
			w.view(t, func(r payg.Reader) error {
				if _, err := r.PaymentByKey(ctx, "ug-momo", "1000000005"); core.ErrorCode(err) != core.ENOTFOUND {
					t.Errorf("payment of an unknown externalId: %v", err)
				}
				return nil
			})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.file, func(t *testing.T) {
			ref := "5f2c1e7a-0b3d-4e6f-8a9b-" + strings.ToLower(fmt.Sprintf("%012x", len(tc.externalID)*1000+int(tc.externalID[len(tc.externalID)-1])))
			resp := send(tc.method, tc.file, ref)
			if resp.Status != http.StatusOK || len(resp.Body) != 0 {
				t.Fatalf("answer %d %q, want 200 and no body", resp.Status, resp.Body)
			}
			if tc.check != nil {
				tc.check(t)
			}
		})
	}
	// One payment moved money: UGX 50000 to the UGX contract.
	w.checkLedger(t, ugx.ID, 50000)
	var q core.Page[payg.Quarantined]
	w.view(t, func(r payg.Reader) error {
		var err error
		q, err = r.ListQuarantine(ctx, w.tenant, core.PageRequest{})
		return err
	})
	if len(q.Items) != 3 {
		t.Errorf("%d quarantined, want the missing status, the bad amount and the unknown externalId", len(q.Items))
	}
	// The janitor asks MTN about each: through their payment requests, or
	// on its own for the request that is not ours.
	for _, id := range []string{"PAY-000127", "PAY-000129"} {
		if js := w.jobs(t, "payreq:"+reqs[id].ID+":callback:quarantine:"); len(js) != 1 {
			t.Errorf("%s: %d status checks scheduled by its quarantine, want 1", id, len(js))
		}
	}
	if js := w.jobs(t, "quarantine:"); len(js) != 1 || js[0].Queue != payg.QuarantineQueue {
		t.Errorf("quarantine checks %+v, want one for the unknown externalId", js)
	}
	// A wrong path token is 404 and changes nothing.
	if resp := host.Handle(ctx, "ug-momo", []string{"requesttopay", "some-ref", "00000000000000000000000000000000"}, &adapters.Request{
		Method: http.MethodPut, Body: fixture(t, "mtn/requesttopay_callback_successful.json"), Header: http.Header{},
		RemoteAddr: netip.MustParseAddr("127.0.0.1"),
	}); resp.Status != http.StatusNotFound {
		t.Errorf("wrong path token: %d", resp.Status)
	}
}
