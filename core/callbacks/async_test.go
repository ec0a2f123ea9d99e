package callbacks_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/payg-gateway/gateway/adapters"
	_ "github.com/payg-gateway/gateway/adapters/mpesa" // registers payments.mpesa
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/callbacks"
	"github.com/payg-gateway/gateway/core/coretest"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/core/sqlite"
)

const mpesaSecret = "test-path-secret-0123456789"

// mpesaGateway is a callback host with one M-Pesa instance over the
// SQLite database at path.
type mpesaGateway struct {
	store *sqlite.Store
	svc   *payg.Service
	host  *callbacks.Host
	reg   *prometheus.Registry
	clock *coretest.Clock
}

func openMpesaGateway(t *testing.T, path string, clock *coretest.Clock) *mpesaGateway {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path, clock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	g := &mpesaGateway{store: st, svc: payg.NewService(payg.Options{Store: st, Tenants: st, Clock: clock}),
		reg: prometheus.NewRegistry(), clock: clock}
	ic := adapters.InstanceConfig{Name: "ke-paybill", Adapter: "payments.mpesa", Tenant: core.DefaultTenantID, Currency: "KES",
		Settings: map[string]any{"short_code": "600123", "callback_secret": mpesaSecret, "allowed_cidrs": []any{"127.0.0.0/8"}}}
	a, err := adapters.Provision(ctx, ic, adapters.Deps{Clock: clock}.WithDefaults())
	if err != nil {
		t.Fatal(err)
	}
	ic, _ = ic.Check()
	g.host, err = callbacks.New(g.svc, []callbacks.Instance{{Config: ic, Adapter: a}}, clock, slog.New(slog.DiscardHandler), g.reg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func (g *mpesaGateway) post(t *testing.T, kind, file string) adapters.Response {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("../../../shared/testdata/providers/mpesa", file))
	if err != nil {
		t.Fatal(err)
	}
	return g.host.Handle(context.Background(), "ke-paybill", []string{kind, mpesaSecret}, &adapters.Request{
		Method: http.MethodPost, Header: http.Header{"Content-Type": {"application/json"}}, Body: body,
		RemoteAddr: netip.MustParseAddr("127.0.0.1"), ReceivedAt: g.clock.Now(),
	})
}

// outcomes is the gateway_callbacks_total count of ke-paybill's kind and
// outcome.
func (g *mpesaGateway) outcomes(t *testing.T, kind, outcome string) float64 {
	t.Helper()
	want := map[string]string{"instance": "ke-paybill", "kind": kind, "outcome": outcome}
	mfs, err := g.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "gateway_callbacks_total" {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if want[l.GetName()] != l.GetValue() {
					continue series
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// TestOutcomeNotRecordedIsNotAcknowledged: the result of a stored status
// query is acknowledged only once recorded. With the store down the
// provider gets 503 (and retries); the retry records it. A result for a
// query the gateway never stored is acknowledged and counted.
func TestOutcomeNotRecordedIsNotAcknowledged(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "gateway.db")
	clock := coretest.NewClock(time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC))
	g := openMpesaGateway(t, path, clock)
	if _, err := g.host.StartStatusQuery(ctx, core.DefaultTenantID, "ke-paybill", "TEST0A1B2C"); core.ErrorCode(err) != core.EINVALID {
		t.Errorf("status query through an instance without initiator settings: %v, want EINVALID", err)
	}

	if resp := g.post(t, "status-result", "transaction_status_result_failed.json"); resp.Status != http.StatusOK {
		t.Fatalf("result of an unknown query answered %d, want 200", resp.Status)
	}
	if n := g.outcomes(t, "status-result", "unknown_request"); n != 1 {
		t.Errorf("unknown_request counted %v times, want 1", n)
	}

	q, err := g.svc.RecordAsyncRequest(ctx, core.DefaultTenantID, payg.NewAsyncRequest{Instance: "ke-paybill",
		Operation: payg.OperationStatusQuery, ProviderTxID: "TEST0A1B2X",
		RequestRef: "1234-5678902-1", ConversationRef: "AG_20250314_0000aaaabbbbcccc1111"})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.store.Close(); err != nil {
		t.Fatal(err)
	}
	if resp := g.post(t, "status-result", "transaction_status_result_failed.json"); resp.Status != http.StatusServiceUnavailable {
		t.Fatalf("result with the store down answered %d, want 503", resp.Status)
	}
	if n := g.outcomes(t, "status-result", "error"); n != 1 {
		t.Errorf("error counted %v times, want 1", n)
	}

	// The provider retries once the store is back.
	g = openMpesaGateway(t, path, clock)
	if resp := g.post(t, "status-result", "transaction_status_result_failed.json"); resp.Status != http.StatusOK {
		t.Fatalf("retried result answered %d, want 200", resp.Status)
	}
	got, err := g.svc.AsyncRequest(ctx, core.DefaultTenantID, q.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != payg.AsyncFailed || got.ResultCode != "SFC_IC0003" || got.ResultDescription != "The operator does not exist." {
		t.Errorf("query after the retried result %+v", got)
	}
	if n := g.outcomes(t, "status-result", "recorded"); n != 1 {
		t.Errorf("recorded counted %v times, want 1", n)
	}
}
