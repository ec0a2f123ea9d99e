package callbacks_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/callbacks"
	"github.com/payg-gateway/gateway/core/coretest"
	"github.com/payg-gateway/gateway/core/messaging"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/core/sqlite"
)

// fakeSMSAdapter reads delivery reports from a JSON body
// [{"id": …, "status": …}] and acknowledges "OK".
type fakeSMSAdapter struct{}

func (fakeSMSAdapter) Provision(context.Context, adapters.InstanceConfig, adapters.Deps) error {
	return nil
}

func (fakeSMSAdapter) CallbackRoutes() []adapters.Route {
	return []adapters.Route{{Kind: "dlr", Methods: []string{http.MethodPost}}}
}

func (fakeSMSAdapter) ParseCallback(_ context.Context, req *adapters.Request) (*adapters.CallbackResult, error) {
	if req.Kind != "dlr" {
		return nil, adapters.ErrUnknownKind
	}
	var in []struct{ ID, Status string }
	ack := adapters.Response{Status: http.StatusOK, ContentType: "text/plain", Body: []byte("OK")}
	if err := json.Unmarshal(req.Body, &in); err != nil {
		return &adapters.CallbackResult{Ack: ack, Quarantine: &adapters.Quarantine{Reason: "not JSON"}}, nil
	}
	res := &adapters.CallbackResult{Ack: ack}
	for _, r := range in {
		res.Deliveries = append(res.Deliveries, adapters.DeliveryReport{ProviderID: r.ID, State: adapters.SMSState(r.Status), ProviderStatus: r.Status})
	}
	return res, nil
}

func TestDeliveryReports(t *testing.T) {
	ctx := context.Background()
	clock := coretest.NewClock(time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC))
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gateway.db"), clock)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	svc := payg.NewService(payg.Options{Store: st, Tenants: st, Clock: clock})
	inst := adapters.InstanceConfig{Name: "sms-fake", Adapter: "sms.fake", Tenant: core.DefaultTenantID}
	log := slog.New(slog.DiscardHandler)
	reg := prometheus.NewRegistry()
	host, err := callbacks.New(svc, []callbacks.Instance{{Config: inst, Adapter: fakeSMSAdapter{}}}, clock, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	host.SetDeliveries(messaging.Deliveries{Store: st, Clock: clock, Logger: log})

	now := clock.Now()
	m := messaging.Message{ID: "msg_1", TenantID: core.DefaultTenantID, CauseKey: "evt_1:payment_received", To: "+254700000123",
		Body: "Thank you", Encoding: messaging.GSM7, Segments: 1, State: messaging.StateSent, Instance: "sms-fake",
		ProviderID: "ATXid_1", CreatedAt: now, UpdatedAt: now, SentAt: now}
	if err := st.InTx(ctx, func(tx payg.Tx) error {
		_, err := tx.(messaging.Tx).InsertMessage(ctx, m)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	post := func(body string) adapters.Response {
		t.Helper()
		clock.Advance(time.Second)
		return host.Handle(ctx, "sms-fake", []string{"dlr"}, &adapters.Request{Method: http.MethodPost, Body: []byte(body),
			RemoteAddr: netip.MustParseAddr("127.0.0.1"), ReceivedAt: clock.Now()})
	}
	state := func() messaging.Message {
		t.Helper()
		got, err := st.Message(ctx, core.DefaultTenantID, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	ok := func(r adapters.Response) {
		t.Helper()
		if r.Status != http.StatusOK || string(r.Body) != "OK" {
			t.Fatalf("ack = %d %q, want 200 OK", r.Status, r.Body)
		}
	}

	// An unknown id is ignored and acknowledged.
	ok(post(`[{"id":"ATXid_404","status":"delivered"}]`))
	if got := state(); got.State != messaging.StateSent {
		t.Errorf("after an unknown id: %s, want sent", got.State)
	}
	ok(post(`[{"id":"ATXid_1","status":"delivered"}]`))
	got := state()
	if got.State != messaging.StateDelivered || got.ProviderStatus != "delivered" || !got.FinalAt.Equal(clock.Now()) {
		t.Errorf("after the report: %+v", got)
	}
	// A repeat and a late, lesser report change nothing.
	ok(post(`[{"id":"ATXid_1","status":"delivered"},{"id":"ATXid_1","status":"sent"},{"id":"ATXid_1","status":"failed"}]`))
	if again := state(); again.State != messaging.StateDelivered || !again.UpdatedAt.Equal(got.UpdatedAt) {
		t.Errorf("after late reports: %s updated %v, want delivered unchanged", again.State, again.UpdatedAt)
	}
	// No money moved.
	var payments core.Page[payg.Payment]
	if err := st.View(ctx, func(r payg.Reader) error {
		payments, err = r.ListPayments(ctx, core.DefaultTenantID, payg.PaymentQuery{}, core.PageRequest{Limit: 10})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(payments.Items) != 0 {
		t.Errorf("delivery reports made %d payments", len(payments.Items))
	}
	// The breaker state of the instance's sends, as the sender reports it.
	host.SetBreakers(func(name string) (string, bool) { return "open", name == "sms-fake" })
	if sts := host.Statuses(); len(sts) != 1 || sts[0].BreakerState != "open" || !sts[0].LastCallbackAt.Equal(clock.Now()) {
		t.Errorf("Statuses = %+v", sts)
	}
	// A store that cannot take the reports: not acknowledged, so the
	// provider sends them again.
	st.Close()
	if r := post(`[{"id":"ATXid_1","status":"delivered"}]`); r.Status != http.StatusServiceUnavailable {
		t.Errorf("with the store down: %d, want 503", r.Status)
	}
}
