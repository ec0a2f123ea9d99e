package jobs_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/jobs"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/core/postgres"
	"github.com/payg-gateway/gateway/core/postgres/pgtest"
	"github.com/payg-gateway/gateway/core/sqlite"
)

type benchStore interface {
	core.Store
	payg.Store
	core.JobQueue
}

// BenchmarkRunner measures the queue itself: jobs per second claimed, run
// (a no-op handler) and completed by 16 workers, on each store.
func BenchmarkRunner(b *testing.B) {
	opens := []struct {
		name string
		open func(b *testing.B) benchStore
	}{
		{"sqlite", func(b *testing.B) benchStore {
			s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "g.db"), core.SystemClock{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}},
		{"postgres", func(b *testing.B) benchStore {
			s, err := postgres.Open(context.Background(), pgtest.Schema(b), core.SystemClock{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}},
	}
	for _, o := range opens {
		b.Run(o.name, func(b *testing.B) {
			ctx := context.Background()
			s := o.open(b)
			if err := s.Migrate(ctx); err != nil {
				b.Fatal(err)
			}
			// Enqueue b.N jobs, 500 per transaction.
			for i := 0; i < b.N; i += 500 {
				err := s.InTx(ctx, func(tx payg.Tx) error {
					for k := i; k < min(i+500, b.N); k++ {
						if err := tx.EnqueueJob(ctx, core.Job{TenantID: core.DefaultTenantID, Queue: "bench", Key: fmt.Sprintf("bench-%d", k)}); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			var n atomic.Int64
			all := make(chan struct{})
			r := jobs.New(jobs.Options{Queue: s, Workers: 16, PollInterval: 5 * time.Millisecond, Observe: func(res jobs.Result) {
				if res.Outcome != jobs.OutcomeDone {
					b.Errorf("%+v", res)
				}
				if n.Add(1) == int64(b.N) {
					close(all)
				}
			}})
			r.Register("bench", jobs.HandlerFunc(func(context.Context, core.Job) error { return nil }), nil)
			runCtx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			b.ResetTimer()
			start := time.Now()
			go func() { done <- r.Run(runCtx) }()
			<-all
			took := time.Since(start)
			b.StopTimer()
			cancel()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/took.Seconds(), "jobs/s")
		})
	}
}
