package callbacks_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/callbacks"
	"github.com/payg-gateway/gateway/core/coretest"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/core/sqlite"
)

// fakePayAdapter reports one KES payment per callback, its receipt the
// body, and acknowledges "OK".
type fakePayAdapter struct{}

func (fakePayAdapter) Provision(context.Context, adapters.InstanceConfig, adapters.Deps) error {
	return nil
}

func (fakePayAdapter) CallbackRoutes() []adapters.Route {
	return []adapters.Route{{Kind: "paid", Methods: []string{http.MethodPost}}}
}

func (fakePayAdapter) ParseCallback(_ context.Context, req *adapters.Request) (*adapters.CallbackResult, error) {
	if req.Kind != "paid" {
		return nil, adapters.ErrUnknownKind
	}
	return &adapters.CallbackResult{
		Ack: adapters.Response{Status: http.StatusOK, ContentType: "text/plain", Body: []byte("OK")},
		Notices: []core.PaymentNotice{{ProviderTxID: string(req.Body), Status: core.NoticeSucceeded,
			Amount: core.Money{Amount: 15000, Currency: "KES"}, AccountRef: "AC-NOBODY", Raw: req.Body}},
	}, nil
}

// stallStore is a store whose writes, while stalled, get no answer. With
// heed set they wait for the caller's context and fail with it, as
// PostgreSQL through pgx does on a silent connection; without, they
// commit but their answer comes only once released, whatever the
// caller's context (a store that does not heed contexts, a commit whose
// answer was lost on the way).
type stallStore struct {
	payg.Store
	mu       sync.Mutex
	stalled  bool
	heed     bool
	release  chan struct{}
	finished chan error // the commits answered late, without heed
}

func (s *stallStore) stall(heed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stalled, s.heed, s.release = true, heed, make(chan struct{})
}

func (s *stallStore) recover() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stalled = false
	close(s.release)
}

func (s *stallStore) InTx(ctx context.Context, fn func(payg.Tx) error) error {
	s.mu.Lock()
	stalled, heed, release := s.stalled, s.heed, s.release
	s.mu.Unlock()
	if !stalled {
		return s.Store.InTx(ctx, fn)
	}
	if heed {
		<-ctx.Done()
		return ctx.Err()
	}
	err := s.Store.InTx(ctx, fn)
	s.finished <- err
	<-release
	return err
}

// A callback the store cannot take within the host's deadline is answered
// 503 at the deadline, not when the store comes back, so the provider
// re-sends it; the re-sent callback after recovery applies the payment
// once and is acknowledged, whether the stalled write was rolled back or
// committed late.
func TestCallbackDeadline(t *testing.T) {
	for _, heed := range []bool{true, false} {
		name := map[bool]string{true: "rolled back", false: "answered late"}[heed]
		t.Run(name, func(t *testing.T) { testCallbackDeadline(t, heed) })
	}
}

func testCallbackDeadline(t *testing.T, heed bool) {
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
	store := &stallStore{Store: st, finished: make(chan error, 1)}
	svc := payg.NewService(payg.Options{Store: store, Tenants: st, Clock: clock})
	inst := adapters.InstanceConfig{Name: "pay-fake", Adapter: "payments.fake", Tenant: core.DefaultTenantID, Currency: "KES"}
	host, err := callbacks.New(svc, []callbacks.Instance{{Config: inst, Adapter: fakePayAdapter{}}}, clock,
		slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	const deadline = 300 * time.Millisecond
	host.SetTimeout(deadline)

	post := func() (adapters.Response, time.Duration) {
		t.Helper()
		start := time.Now()
		done := make(chan adapters.Response, 1)
		go func() {
			done <- host.Handle(ctx, "pay-fake", []string{"paid"}, &adapters.Request{Method: http.MethodPost,
				Body: []byte("RCPT0001"), RemoteAddr: netip.MustParseAddr("127.0.0.1"), ReceivedAt: clock.Now()})
		}()
		select {
		case r := <-done:
			return r, time.Since(start)
		case <-time.After(deadline + 5*time.Second):
			t.Fatalf("callback unanswered after %v on a silent store (deadline %v)", deadline+5*time.Second, deadline)
			return adapters.Response{}, 0
		}
	}
	payments := func() int {
		t.Helper()
		var page core.Page[payg.Payment]
		if err := st.View(ctx, func(r payg.Reader) error {
			var err error
			page, err = r.ListPayments(ctx, core.DefaultTenantID, payg.PaymentQuery{}, core.PageRequest{Limit: 10})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return len(page.Items)
	}

	store.stall(heed)
	r, took := post()
	if r.Status != http.StatusServiceUnavailable {
		t.Fatalf("with the store silent: %d, want 503", r.Status)
	}
	// The deadline, the grace for the store's own answer, and slack for
	// a loaded machine.
	if took < deadline || took > deadline+time.Second {
		t.Errorf("answered after %v, want about the deadline %v", took, deadline)
	}
	store.recover()
	if !heed {
		if err := <-store.finished; err != nil {
			t.Fatalf("the late commit: %v", err)
		}
	}
	want := map[bool]int{true: 0, false: 1}[heed]
	if n := payments(); n != want {
		t.Fatalf("%d payments after the 503, want %d", n, want)
	}
	for i := range 2 {
		r, _ := post()
		if r.Status != http.StatusOK || string(r.Body) != "OK" {
			t.Fatalf("re-send %d after recovery: %d %q, want 200 OK", i+1, r.Status, r.Body)
		}
	}
	if n := payments(); n != 1 {
		t.Errorf("%d payments after the re-sends, want 1", n)
	}
}
