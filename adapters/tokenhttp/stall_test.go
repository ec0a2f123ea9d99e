package tokenhttp_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/adapters/tokenhttp"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/jobs"
	"github.com/payg-gateway/gateway/core/payg"
)

// stallingSettler is a store that reads but, while stalled, never answers
// a write: it waits for the caller's context, as a database that accepts
// the statement and goes silent does.
type stallingSettler struct {
	tokenhttp.Settler
	stalled atomic.Bool
}

func (s *stallingSettler) CompleteToken(ctx context.Context, tenant, tokenID, code string) (payg.Token, error) {
	if s.stalled.Load() {
		<-ctx.Done()
		return payg.Token{}, ctx.Err()
	}
	return s.Settler.CompleteToken(ctx, tenant, tokenID, code)
}

// The vendor answers with a code but the store does not take it: the run
// ends with a retryable error once StoreTimeout has passed (it used to
// wait for ever, its context detached from the job's deadline), the token
// stays pending, and the next run stores the code the vendor gives again
// under the same idempotency key.
func TestStoreStalledAfterVendorAnswer(t *testing.T) {
	eachStore(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		w := newWorld(t, b, sunKing(), sunKingFake(t), "880000123")
		const storeTimeout = 300 * time.Millisecond
		v, err := tokenhttp.New(w.cfg, tokenhttp.Options{Clock: w.clock, StoreTimeout: storeTimeout})
		if err != nil {
			t.Fatal(err)
		}
		settler := &stallingSettler{Settler: w.svc}
		settler.stalled.Store(true)
		h := v.Handler(settler, nil)

		// Applied without waking the world's runner: this test runs the job.
		out, err := w.svc.ApplyNotice(ctx, tenantID, core.PaymentNotice{
			Instance: "mpesa-ke", ProviderTxID: "TXSTALL1", Status: core.NoticeSucceeded,
			Amount: paymentKES, AccountRef: "AC100234", OccurredAt: epoch,
		})
		if err != nil {
			t.Fatal(err)
		}
		tok := out.Tokens[0]
		job := w.job(tok.ID)

		run := func() error {
			t.Helper()
			done := make(chan error, 1)
			go func() { done <- h.Handle(ctx, job) }()
			select {
			case err := <-done:
				return err
			case <-time.After(storeTimeout + 5*time.Second):
				t.Fatalf("Handle still running %v after the vendor answered: the store write is unbounded", storeTimeout+5*time.Second)
				return nil
			}
		}
		start := time.Now()
		err = run()
		if !errors.Is(err, context.DeadlineExceeded) || jobs.IsPermanent(err) {
			t.Fatalf("with the store stalled: %v, want a retryable deadline error", err)
		}
		if took := time.Since(start); took < storeTimeout {
			t.Errorf("gave up after %v, before the store timeout %v", took, storeTimeout)
		}
		if got := w.token(tok.ID); got.Status != payg.TokenPending {
			t.Fatalf("token %s after the stalled write, want pending", got.Status)
		}

		settler.stalled.Store(false)
		if err := run(); err != nil {
			t.Fatalf("the next run: %v", err)
		}
		got := w.token(tok.ID)
		minted := w.fake.Minted()
		if got.Status != payg.TokenIssued || len(minted) != 1 || got.Code != minted[0] {
			t.Errorf("token %s %q, minted %v; want the one code issued", got.Status, got.Code, minted)
		}
	})
}
