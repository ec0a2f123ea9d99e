package httpapi_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/callbacks"
	"github.com/payg-gateway/gateway/core/coretest"
	"github.com/payg-gateway/gateway/core/httpapi"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/test/sim"
)

type statusQueryBody struct {
	ID                string  `json:"id"`
	Instance          string  `json:"instance"`
	Receipt           *string `json:"receipt"`
	State             string  `json:"state"`
	Attempts          int     `json:"attempts"`
	MaxAttempts       int     `json:"max_attempts"`
	RequestRef        *string `json:"request_ref"`
	ResultCode        *string `json:"result_code"`
	ResultDescription *string `json:"result_description"`
	SentAt            *string `json:"sent_at"`
	FinishedAt        *string `json:"finished_at"`
}

// TestStatusQueries: an operator asks what became of an M-Pesa receipt;
// the query's job sends it to (fake) Daraja, the result callback settles
// it and applies the receipt, and the query can be listed and read, by
// its own tenant only.
func TestStatusQueries(t *testing.T) {
	forEachClockedStore(t, func(t *testing.T, open openClockedStore) {
		ctx := context.Background()
		clock := coretest.NewClock(paygEpoch)
		store := open(t, clock)
		d := sim.NewDaraja(sim.DarajaOptions{ConsumerKey: "ck", ConsumerSecret: "cs",
			StatusIDs: func(sim.StatusQuery) (string, string) {
				return "1234-5678901-1", "AG_20250314_0000aaaabbbbccccdddd" // transaction_status_result_completed.json's
			}})
		fake := httptest.NewServer(d.Handler())
		t.Cleanup(func() { d.Close(); fake.Close() })
		svc, _ := newPAYG(t, store, clock)
		ic := adapters.InstanceConfig{Name: "ke-paybill", Adapter: "payments.mpesa", Tenant: "sunbright-ke", Currency: "KES",
			Settings: map[string]any{"short_code": "600123", "callback_secret": mpesaPathSecret, "allowed_cidrs": []any{"127.0.0.0/8"},
				"base_url": fake.URL, "consumer_key": "ck", "consumer_secret": "cs", "initiator": "apiop",
				"security_credential": "c2VjcmV0Y3JlZGVudGlhbA==", "callback_base_url": "https://gateway.example.com/callbacks/ke-paybill"}}
		a, err := adapters.Provision(ctx, ic, adapters.Deps{Clock: clock}.WithDefaults())
		if err != nil {
			t.Fatal(err)
		}
		ic, _ = ic.Check()
		host, err := callbacks.New(svc, []callbacks.Instance{{Config: ic, Adapter: a}, mpesaInstance(t, "acme-paybill", "acme-ke", clock)},
			clock, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		api := newAPI(t, store, func(o *httpapi.Options) { o.Clock, o.PAYG, o.Callbacks = clock, svc, host })
		for _, id := range []string{"sunbright-ke", "acme-ke"} {
			if _, err := store.CreateTenant(ctx, core.Tenant{ID: id, Name: id, TimeZone: "Africa/Nairobi", DefaultCountry: "KE"}); err != nil {
				t.Fatal(err)
			}
		}
		ops := api.client(t, api.key(t, "sunbright-ke", core.ScopeWrite))
		reader := api.client(t, api.key(t, "sunbright-ke", core.ScopeRead))
		other := api.client(t, api.key(t, "acme-ke", core.ScopeRead))

		body := map[string]any{"instance": "ke-paybill", "receipt": "TEST0A1B2C"}
		r := ops.Post("/v1/status-queries", body, "sq-TEST0A1B2C")
		wantStatus(t, "create", r, http.StatusAccepted)
		var q statusQueryBody
		r.Decode(t, &q)
		if q.State != "created" || q.Instance != "ke-paybill" || q.Receipt == nil || *q.Receipt != "TEST0A1B2C" || q.Attempts != 0 ||
			q.MaxAttempts != payg.DefaultAsyncMaxAttempts || q.RequestRef != nil || r.Header.Get("Location") != "/v1/status-queries/"+q.ID {
			t.Errorf("created %+v, Location %q", q, r.Header.Get("Location"))
		}
		// A retry with the same key gets the same query.
		if r := ops.Post("/v1/status-queries", body, "sq-TEST0A1B2C"); r.Status != http.StatusAccepted || r.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("retry: %d, replayed %q", r.Status, r.Header.Get("Idempotent-Replayed"))
		}
		wantPointers(t, "unknown instance", ops.Post("/v1/status-queries", map[string]any{"instance": "nope", "receipt": "X1"}, ""),
			http.StatusUnprocessableEntity, "/instance")
		wantPointers(t, "another tenant's instance", ops.Post("/v1/status-queries", map[string]any{"instance": "acme-paybill", "receipt": "X1"}, ""),
			http.StatusUnprocessableEntity, "/instance")
		wantStatus(t, "no receipt", ops.Post("/v1/status-queries", map[string]any{"instance": "ke-paybill"}, ""), http.StatusUnprocessableEntity)
		wantStatus(t, "read key", reader.Post("/v1/status-queries", body, ""), http.StatusForbidden)

		// The send job asks Daraja.
		jq, ok := innerStore(store).(core.JobQueue)
		if !ok {
			t.Fatalf("%T is not a job queue", store)
		}
		js, err := jq.Claim(ctx, payg.AsyncQueue, 10, time.Minute)
		if err != nil || len(js) != 1 {
			t.Fatalf("claimed %d send jobs (%v), want 1", len(js), err)
		}
		if err := host.AsyncHandler().Handle(ctx, js[0]); err != nil {
			t.Fatalf("send job: %v", err)
		}
		if err := jq.Complete(ctx, js[0]); err != nil {
			t.Fatal(err)
		}
		if sent := d.StatusQueries(); len(sent) != 1 || sent[0].TransactionID != "TEST0A1B2C" || sent[0].Initiator != "apiop" {
			t.Fatalf("Daraja received %+v", sent)
		}
		reader.Get("/v1/status-queries/"+q.ID).Decode(t, &q)
		if q.State != "pending" || q.Attempts != 1 || q.RequestRef == nil || *q.RequestRef != "1234-5678901-1" || q.SentAt == nil {
			t.Errorf("after the send %+v", q)
		}

		// Daraja's result: the receipt is applied, the query succeeded.
		fx, err := os.ReadFile(filepath.Join("../../../shared/testdata/providers/mpesa", "transaction_status_result_completed.json"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Post(api.url+"/callbacks/ke-paybill/status-result/"+mpesaPathSecret, "application/json", bytes.NewReader(fx))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("result callback answered %d", resp.StatusCode)
		}
		reader.Get("/v1/status-queries/"+q.ID).Decode(t, &q)
		if q.State != "succeeded" || q.ResultCode == nil || *q.ResultCode != "0" || q.FinishedAt == nil {
			t.Errorf("after the result %+v", q)
		}
		if err := paygStoreOf(t, store).View(ctx, func(r payg.Reader) error {
			_, err := r.PaymentByKey(ctx, "ke-paybill", "TEST0A1B2C")
			return err
		}); err != nil {
			t.Errorf("the receipt the query found is not stored: %v", err)
		}

		// Lists, filtered and paged; another tenant sees none.
		wantStatus(t, "second query", ops.Post("/v1/status-queries", map[string]any{"instance": "ke-paybill", "receipt": "TEST0A1B2D"}, ""), http.StatusAccepted)
		if got := all[statusQueryBody](t, reader, "/v1/status-queries", 1); len(got) != 2 || got[0].ID != q.ID || got[1].State != "created" {
			t.Errorf("all queries %+v", got)
		}
		if got := all[statusQueryBody](t, reader, "/v1/status-queries?state=succeeded", 50); len(got) != 1 || got[0].ID != q.ID {
			t.Errorf("succeeded queries %+v", got)
		}
		if got := all[statusQueryBody](t, reader, "/v1/status-queries?receipt=TEST0A1B2D", 50); len(got) != 1 || *got[0].Receipt != "TEST0A1B2D" {
			t.Errorf("queries about TEST0A1B2D %+v", got)
		}
		if got := all[statusQueryBody](t, other, "/v1/status-queries", 50); len(got) != 0 {
			t.Errorf("another tenant sees %+v", got)
		}
		wantStatus(t, "another tenant's query", other.Get("/v1/status-queries/"+q.ID), http.StatusNotFound)
		wantPointers(t, "bad state", reader.Get("/v1/status-queries?state=lost"), http.StatusUnprocessableEntity, "state")
	})
}
