package loadtest

import (
	"context"
	"os"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/payg-gateway/gateway/core/postgres/pgtest"
	"github.com/payg-gateway/gateway/core/secretbox"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	os.Exit(m.Run())
}

// stores opens each store for a test: SQLite always, PostgreSQL when
// GATEWAY_TEST_POSTGRES_DSN is set (required under CI).
var stores = []struct {
	name string
	open func(t *testing.T) *Target
}{
	{"sqlite", func(t *testing.T) *Target {
		t.Helper()
		tg, err := OpenSQLite(context.Background(), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return tg
	}},
	{"postgres", func(t *testing.T) *Target {
		t.Helper()
		tg, err := OpenPostgres(context.Background(), pgtest.DSN(t))
		if err != nil {
			t.Fatal(err)
		}
		return tg
	}},
}

// size returns n, or small under the race detector.
func size(n, small int) int {
	if raceEnabled {
		return small
	}
	return n
}

func closeTarget(t *testing.T, tg *Target) {
	t.Helper()
	t.Cleanup(func() {
		if err := tg.Close(); err != nil {
			t.Error(err)
		}
	})
}

// TestRun runs the benchmark reduced: every acknowledged payment is applied
// once with a token (unknown accounts in suspense), the duplicates change
// nothing, and nothing fails. Throughput is reported, not asserted.
func TestRun(t *testing.T) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			tg := s.open(t)
			closeTarget(t, tg)
			requests := size(2000, 300)
			res, err := Run(context.Background(), tg, Config{
				Contracts: 200, Requests: requests, Concurrency: 32, DupShare: 0.10, UnknownShare: 0.05, Seed: 7,
				SeedBatch: 64, Lookups: 100,
			})
			if err != nil {
				t.Fatal(err)
			}
			v := res.Verification
			for _, p := range v.Problems {
				t.Errorf("verification: %s", p)
			}
			for _, s := range append(res.Gateway.ErrorSamples, res.Baseline.ErrorSamples...) {
				t.Errorf("error: %s", s)
			}
			if !res.Correct() {
				t.Fatalf("run not correct: targets %+v", res.Targets)
			}
			if res.Gateway.Requests != requests || res.Baseline.Requests != requests || v.Unacked != 0 {
				t.Errorf("gateway %d requests, baseline %d, %d payments never acknowledged; want %d, %d, 0",
					res.Gateway.Requests, res.Baseline.Requests, v.Unacked, requests, requests)
			}
			if v.Applied == 0 || v.Suspense == 0 || res.DuplicatesSent == 0 || v.Tokens != v.Applied {
				t.Errorf("the mix did not exercise every path: %d applied, %d suspense, %d duplicates, %d tokens",
					v.Applied, v.Suspense, res.DuplicatesSent, v.Tokens)
			}
			if res.Lookup.Requests != 100 || res.Lookup.Errors != 0 {
				t.Errorf("lookups: %d, %d errors", res.Lookup.Requests, res.Lookup.Errors)
			}
			t.Logf("%s: gateway %.0f/s, baseline %.0f/s, ratio %.2f, p99 %s (reduced size; not a measurement)",
				s.name, res.Gateway.PerSecond, res.Baseline.PerSecond, res.Ratio, res.Gateway.P99)
		})
	}
}

// TestStorm is issue 9's duplicate storm, reduced: every callback sent 3
// times, the copies interleaved and in flight together, on few contracts
// so that payments also race for the same contract and device. Each
// payment is applied once and each token issued once (the device accepts
// every token, once, in count order).
func TestStorm(t *testing.T) {
	const (
		contracts = 40
		copies    = 3
		conc      = 32
	)
	payments := size(300, 100)
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			ctx := context.Background()
			tg := s.open(t)
			closeTarget(t, tg)
			box, err := secretbox.New(secretbox.NewKey())
			if err != nil {
				t.Fatal(err)
			}
			fleet, err := Seed(ctx, tg.Store, SeedOptions{Contracts: contracts, Tenant: Tenant, Box: box})
			if err != nil {
				t.Fatal(err)
			}
			gw, err := StartGateway(ctx, tg.Store, GatewayOptions{Tenant: Tenant, Box: box})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := gw.Close(); err != nil {
					t.Error(err)
				}
			})
			storm := NewStorm(fleet, payments, copies, conc, 11, "ST")
			client := NewClient(conc)
			defer client.CloseIdleConnections()
			st, err := Fire(ctx, client, gw.ConfirmationURL(), storm, LoopOptions{Concurrency: conc, Calls: storm.Calls()})
			if err != nil {
				t.Fatal(err)
			}
			if st.Requests != payments*copies || st.Errors != 0 {
				t.Fatalf("%d calls, %d errors (%v); want %d, 0", st.Requests, st.Errors, st.ErrorSamples, payments*copies)
			}
			sent := storm.Payments()
			for _, p := range sent {
				if p.Sends != copies || p.Acks != copies {
					t.Fatalf("payment %s sent %d times, acknowledged %d; want %d and %d", p.TxID, p.Sends, p.Acks, copies, copies)
				}
			}
			v, err := Verify(ctx, tg.Store, fleet, sent)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range v.Problems {
				t.Errorf("verification: %s", p)
			}
			if v.ProblemCount != 0 || v.Applied != payments || v.Tokens != payments {
				t.Fatalf("%d problems, %d payments applied, %d tokens; want 0, %d, %d", v.ProblemCount, v.Applied, v.Tokens, payments, payments)
			}
		})
	}
}
