package tokenhttp_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/adapters/tokenhttp"
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
		const storeTimeout = 300 * time.Millisecond
		settler := &stallingSettler{}
		settler.stalled.Store(true)
		w := newWorld(t, b, sunKing(), sunKingFake(t), "880000123", func(s *worldSetup) {
			s.vendor.StoreTimeout = storeTimeout
			s.settler = func(inner tokenhttp.Settler) tokenhttp.Settler {
				settler.Settler = inner
				return settler
			}
		})
		start := time.Now()
		tok := w.pay().Tokens[0]
		// w.next waits 15 s: without the bound the run never ends.
		r := w.next()
		if r.Outcome != jobs.OutcomeRetry || !strings.Contains(r.Err.Error(), "deadline exceeded") {
			t.Fatalf("with the store stalled: %+v, want a retry after the store deadline", r)
		}
		if took := time.Since(start); took < storeTimeout {
			t.Errorf("gave up after %v, before the store timeout %v", took, storeTimeout)
		}
		if got := w.token(tok.ID); got.Status != payg.TokenPending {
			t.Fatalf("token %s after the stalled write, want pending", got.Status)
		}

		settler.stalled.Store(false)
		w.advance(2 * time.Hour)
		if r := w.next(); r.Outcome != jobs.OutcomeDone {
			t.Fatalf("the next run: %+v, want done", r)
		}
		got := w.token(tok.ID)
		minted := w.fake.Minted()
		if got.Status != payg.TokenIssued || len(minted) != 1 || got.Code != minted[0] {
			t.Errorf("token %s %q, minted %v; want the one code issued", got.Status, got.Code, minted)
		}
	})
}
