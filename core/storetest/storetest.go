// Package storetest is the conformance suite every core.Store passes. Each
// store's tests call Run with a Harness that hands out isolated databases;
// a new behaviour of the store gets its test here, once, for both stores.
package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/coretest"
)

// Harness makes stores for the suite.
type Harness struct {
	// NewDatabase creates an empty, isolated database for one test (removed
	// in t.Cleanup) and returns a function that opens a new, unmigrated
	// store on it. Calling open twice gives two stores on the same
	// database, as two gateway replicas would have.
	NewDatabase func(t *testing.T) (open func(t *testing.T, clock core.Clock) core.Store)
}

// Epoch is the suite clock's starting time.
var Epoch = time.Date(2026, 3, 14, 9, 26, 53, 589793000, time.UTC)

// Run runs the whole suite.
func Run(t *testing.T, h Harness) {
	t.Run("Migrate", func(t *testing.T) { testMigrate(t, h) })
	t.Run("ConcurrentMigrate", func(t *testing.T) { testConcurrentMigrate(t, h) })
	t.Run("DefaultTenant", func(t *testing.T) { testDefaultTenant(t, h) })
	t.Run("Tenants", func(t *testing.T) { testTenants(t, h) })
	t.Run("ClosedStore", func(t *testing.T) { testClosedStore(t, h) })
	t.Run("API", func(t *testing.T) { testAPI(t, h) })
	t.Run("PAYGEntities", func(t *testing.T) { testPAYGEntities(t, h) })
	t.Run("ApplyPayment", func(t *testing.T) { testApplyPayment(t, h) })
	t.Run("SuspenseAndMatching", func(t *testing.T) { testSuspenseAndMatching(t, h) })
	t.Run("ConcurrentDuplicates", func(t *testing.T) { testConcurrentDuplicates(t, h) })
	t.Run("ConcurrentTokens", func(t *testing.T) { testConcurrentTokens(t, h) })
	t.Run("SetTimeTokens", func(t *testing.T) { testSetTimeTokens(t, h) })
	t.Run("SetTimeNeedsEngine", func(t *testing.T) { testSetTimeNeedsEngine(t, h) })
	t.Run("PaidOff", func(t *testing.T) { testPaidOff(t, h) })
	t.Run("ReverseAndResolve", func(t *testing.T) { testReverseAndResolve(t, h) })
	t.Run("LedgerProperty", func(t *testing.T) { testLedgerProperty(t, h) })
	t.Run("ListContracts", func(t *testing.T) { testListContracts(t, h) })
	t.Run("MpesaCallbacks", func(t *testing.T) { testMpesaCallbacks(t, h) })
	t.Run("PaymentRequests", func(t *testing.T) { testPaymentRequests(t, h) })
	t.Run("STKCallbacks", func(t *testing.T) { testSTKCallbacks(t, h) })
	t.Run("MoMoCallbacks", func(t *testing.T) { testMoMoCallbacks(t, h) })
	t.Run("AsyncRequests", func(t *testing.T) { testAsyncRequests(t, h) })
	t.Run("MpesaResults", func(t *testing.T) { testMpesaResults(t, h) })
	t.Run("QuarantineStatusQuery", func(t *testing.T) { testQuarantineStatusQuery(t, h) })
	t.Run("OperatorActions", func(t *testing.T) { testOperatorActions(t, h) })
	t.Run("RotateKeys", func(t *testing.T) { testRotateKeys(t, h) })
	t.Run("SweepStatuses", func(t *testing.T) { testSweepStatuses(t, h) })
	t.Run("Jobs", func(t *testing.T) { testJobs(t, h) })
	t.Run("LockContractDevices", func(t *testing.T) { testLockContractDevices(t, h) })
	t.Run("PaymentStatements", func(t *testing.T) { testPaymentStatements(t, h) })
	t.Run("GroupCommit", func(t *testing.T) { testGroupCommit(t, h) })
	t.Run("Messages", func(t *testing.T) { testMessages(t, h) })
	t.Run("WebhookSecretsSealed", func(t *testing.T) { testWebhookSecretsSealed(t, h) })
	t.Run("WebhookEndpointVersions", func(t *testing.T) { testWebhookEndpointVersions(t, h) })
}

// migrated returns a migrated store on a fresh database and its clock.
func migrated(t *testing.T, h Harness) (core.Store, *coretest.Clock) {
	t.Helper()
	clock := coretest.NewClock(Epoch)
	s := h.NewDatabase(t)(t, clock)
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s, clock
}

func testMigrate(t *testing.T, h Harness) {
	ctx := context.Background()
	open := h.NewDatabase(t)
	s := open(t, coretest.NewClock(Epoch))
	if err := s.Ready(ctx); err == nil {
		t.Fatal("Ready before Migrate = nil, want an error: the schema is missing")
	}
	for i := range 3 {
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate #%d: %v", i+1, err)
		}
	}
	if err := s.Ready(ctx); err != nil {
		t.Fatalf("Ready after Migrate: %v", err)
	}
	// A second process opening the migrated database is ready at once and
	// its Migrate is a no-op that keeps the data.
	if _, err := s.CreateTenant(ctx, tenant("kept")); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, coretest.NewClock(Epoch))
	if err := s2.Ready(ctx); err != nil {
		t.Fatalf("Ready on a second store: %v", err)
	}
	if err := s2.Migrate(ctx); err != nil {
		t.Fatalf("Migrate on a second store: %v", err)
	}
	if _, err := s2.Tenant(ctx, "kept"); err != nil {
		t.Fatalf("data lost by a repeated migrate: %v", err)
	}
}

func testConcurrentMigrate(t *testing.T, h Harness) {
	ctx := context.Background()
	open := h.NewDatabase(t)
	const replicas = 4
	stores := make([]core.Store, replicas)
	for i := range stores {
		stores[i] = open(t, coretest.NewClock(Epoch))
	}
	var wg sync.WaitGroup
	errs := make([]error, replicas)
	for i, s := range stores {
		wg.Go(func() { errs[i] = s.Migrate(ctx) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent Migrate: %v", err)
	}
	for i, s := range stores {
		if err := s.Ready(ctx); err != nil {
			t.Errorf("replica %d not ready: %v", i, err)
		}
	}
	ts, err := stores[0].Tenants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 1 {
		t.Fatalf("after concurrent migrations: %d tenants, want exactly the default one", len(ts))
	}
}

func testDefaultTenant(t *testing.T, h Harness) {
	s, _ := migrated(t, h)
	got, err := s.Tenant(context.Background(), core.DefaultTenantID)
	if err != nil {
		t.Fatalf("default tenant: %v", err)
	}
	if got.ID != core.DefaultTenantID || got.TimeZone != "UTC" || got.Name == "" {
		t.Errorf("default tenant = %+v", got)
	}
	if got.CreatedAt.IsZero() {
		t.Error("default tenant has no created_at")
	}
}

func tenant(id string) core.Tenant {
	return core.Tenant{ID: id, Name: "Tenant " + id, TimeZone: "Africa/Nairobi", DefaultCountry: "KE"}
}

func testTenants(t *testing.T, h Harness) {
	ctx := context.Background()
	s, clock := migrated(t, h)

	created, err := s.CreateTenant(ctx, tenant("sunbright-ke"))
	if err != nil {
		t.Fatalf("CreateTenant: %v", err)
	}
	want := clock.Now().Truncate(time.Microsecond)
	if !created.CreatedAt.Equal(want) || !created.UpdatedAt.Equal(want) {
		t.Errorf("created_at = %v, updated_at = %v; want the store clock's %v", created.CreatedAt, created.UpdatedAt, want)
	}
	got, err := s.Tenant(ctx, "sunbright-ke")
	if err != nil {
		t.Fatalf("Tenant: %v", err)
	}
	if got != created {
		t.Errorf("read back %+v, want %+v", got, created)
	}

	t.Run("duplicate id is a conflict", func(t *testing.T) {
		_, err := s.CreateTenant(ctx, tenant("sunbright-ke"))
		if code := core.ErrorCode(err); code != core.ECONFLICT {
			t.Fatalf("code = %q (%v), want %q", code, err, core.ECONFLICT)
		}
	})
	t.Run("missing tenant is not found", func(t *testing.T) {
		_, err := s.Tenant(ctx, "nobody")
		if code := core.ErrorCode(err); code != core.ENOTFOUND {
			t.Fatalf("code = %q (%v), want %q", code, err, core.ENOTFOUND)
		}
	})
	t.Run("invalid tenant is rejected before the store", func(t *testing.T) {
		bad := []core.Tenant{
			{ID: "Upper", Name: "x", TimeZone: "UTC"},
			{ID: "ok", Name: "", TimeZone: "UTC"},
			{ID: "ok", Name: "x", TimeZone: "Mars/Olympus"},
			{ID: "ok", Name: "x", TimeZone: "UTC", DefaultCountry: "KEN"},
		}
		for _, b := range bad {
			if _, err := s.CreateTenant(ctx, b); core.ErrorCode(err) != core.EINVALID {
				t.Errorf("CreateTenant(%+v) = %v, want %q", b, err, core.EINVALID)
			}
		}
	})
	t.Run("list is ordered by id", func(t *testing.T) {
		clock.Advance(time.Hour)
		if _, err := s.CreateTenant(ctx, tenant("acme-ug")); err != nil {
			t.Fatal(err)
		}
		ts, err := s.Tenants(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, x := range ts {
			ids = append(ids, x.ID)
		}
		want := []string{"acme-ug", core.DefaultTenantID, "sunbright-ke"}
		if len(ids) != len(want) {
			t.Fatalf("ids = %v, want %v", ids, want)
		}
		for i := range want {
			if ids[i] != want[i] {
				t.Fatalf("ids = %v, want %v", ids, want)
			}
		}
	})
}

func testClosedStore(t *testing.T, h Harness) {
	s, _ := migrated(t, h)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Ready(context.Background()); err == nil {
		t.Fatal("Ready on a closed store = nil, want an error")
	}
}
