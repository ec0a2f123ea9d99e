package tokenhttp_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/jobs"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/test/fakevendor"
)

// A token held for review (the vendor's answer was lost and it takes no
// idempotency key) is settled by an operator with the code the vendor's
// portal shows: issued, with a token.issued event carrying the reason.
func TestSettleHeldTokenByHand(t *testing.T) {
	eachStore(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		cfg := sunKing()
		cfg.IdempotencyHeader = ""
		cfg.Timeout = 300 * time.Millisecond // the vendor mints, then never answers
		w := newWorld(t, b, cfg, sunKingFake(t), "880000123")
		w.fake.Set(fakevendor.IssueThenHang)
		tok := w.pay().Tokens[0]
		if r := w.next(); r.Outcome != jobs.OutcomeDead || !strings.Contains(r.Err.Error(), "held for review") {
			t.Fatalf("outcome %+v, want held for review", r)
		}
		minted := w.fake.Minted()
		if len(minted) != 1 || w.token(tok.ID).Status != payg.TokenPending {
			t.Fatalf("minted %v, token %s", minted, w.token(tok.ID).Status)
		}

		if _, err := w.svc.SettleTokenByHand(ctx, tenantID, tok.ID, payg.TokenIssued, "", "portal"); core.ErrorCode(err) != core.EINVALID {
			t.Errorf("issued without a code: %v, want EINVALID", err)
		}
		if _, err := w.svc.SettleTokenByHand(ctx, tenantID, tok.ID, payg.TokenIssued, minted[0], " "); core.ErrorCode(err) != core.EINVALID {
			t.Errorf("settled without a reason: %v, want EINVALID", err)
		}
		got, err := w.svc.SettleTokenByHand(ctx, tenantID, tok.ID, payg.TokenIssued, minted[0], "vendor portal, ticket 4411")
		if err != nil || got.Status != payg.TokenIssued || got.Code != minted[0] || got.SettledAt.IsZero() {
			t.Fatalf("settled: %+v, %v", got, err)
		}
		again, err := w.svc.SettleTokenByHand(ctx, tenantID, tok.ID, payg.TokenIssued, minted[0], "vendor portal, ticket 4411")
		if err != nil || again.Code != minted[0] {
			t.Errorf("settling again the same way: %+v, %v", again, err)
		}
		if _, err := w.svc.SettleTokenByHand(ctx, tenantID, tok.ID, payg.TokenFailed, "", "changed my mind"); core.ErrorCode(err) != core.ECONFLICT {
			t.Errorf("failing an issued token: %v, want ECONFLICT", err)
		}
		evs := w.events(payg.EventTokenIssued)
		if len(evs) != 1 {
			t.Fatalf("%d token.issued events, want 1", len(evs))
		}
		d := eventData(t, evs[0])
		if d["code"] != minted[0] || d["reason"] != "vendor portal, ticket 4411" || d["id"] != tok.ID {
			t.Errorf("token.issued data %v", d)
		}
	})
}

// An operator who gives up on a token while its request is still being
// retried: the token fails, and the next run asks the vendor nothing.
func TestSettleByHandBeforeRetry(t *testing.T) {
	eachStore(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		w := newWorld(t, b, sunKing(), sunKingFake(t), "880000123")
		w.fake.Set(fakevendor.Fail)
		tok := w.pay().Tokens[0]
		if r := w.next(); r.Outcome != jobs.OutcomeRetry {
			t.Fatalf("outcome %+v, want a retry", r)
		}
		got, err := w.svc.SettleTokenByHand(ctx, tenantID, tok.ID, payg.TokenFailed, "", "device returned to the warehouse")
		if err != nil || got.Status != payg.TokenFailed || !strings.Contains(got.FailureReason, "device returned") {
			t.Fatalf("failed by hand: %+v, %v", got, err)
		}
		w.fake.Set(fakevendor.OK)
		w.advance(2 * time.Hour)
		if r := w.next(); r.Outcome != jobs.OutcomeDone {
			t.Fatalf("the job after the token was settled: %+v, want done", r)
		}
		if n := len(w.fake.Requests()); n != 1 || len(w.fake.Minted()) != 0 {
			t.Errorf("%d requests, %d codes minted; want the first request only", n, len(w.fake.Minted()))
		}
		evs := w.events(payg.EventTokenFailed)
		if len(evs) != 1 || eventData(t, evs[0])["reason"] != "device returned to the warehouse" {
			t.Errorf("token.failed events %v", evs)
		}
	})
}

// A credit above the vendor's max_units is split into several tokens,
// each its own request and code.
func TestMaxUnitsSplit(t *testing.T) {
	eachStore(t, func(t *testing.T, b backend) {
		cfg := sunKing()
		cfg.MaxUnits = 12
		w := newWorld(t, b, cfg, fakevendor.Options{Shape: sunKingShape(t), IdempotencyHeader: "Idempotency-Key"}, "880000123")
		out := w.pay()
		days := out.Allocation.CreditSeconds / 86400
		if days <= 24 {
			t.Fatalf("the payment buys %d days; the test wants more than two tokens' worth", days)
		}
		var sum int64
		for i, tok := range out.Tokens {
			want := min(int64(12), days-int64(i)*12)
			if tok.Value != want || tok.Status != payg.TokenPending || tok.Seconds != want*86400 {
				t.Errorf("token %d: %+v, want %d days pending", i, tok, want)
			}
			sum += tok.Value
		}
		if n := int((days + 11) / 12); len(out.Tokens) != n || sum != days {
			t.Fatalf("%d tokens of %d days in all, want %d of %d", len(out.Tokens), sum, n, days)
		}
		for range out.Tokens {
			if r := w.next(); r.Outcome != jobs.OutcomeDone {
				t.Fatalf("outcome %+v", r)
			}
		}
		codes := map[string]bool{}
		for _, tok := range out.Tokens {
			got := w.token(tok.ID)
			if got.Status != payg.TokenIssued || got.Code == "" || codes[got.Code] {
				t.Errorf("token %+v: want issued with a code of its own", got)
			}
			codes[got.Code] = true
		}
		var payloads []int
		for _, r := range w.fake.Requests() {
			var b struct{ Payload int }
			if err := json.Unmarshal(r.Body, &b); err != nil {
				t.Fatal(err)
			}
			payloads = append(payloads, b.Payload)
		}
		if len(payloads) != len(out.Tokens) {
			t.Fatalf("requests %v, want one per token", payloads)
		}
		for _, p := range payloads {
			if p < 1 || p > 12 {
				t.Errorf("a request asks for %d days, above max_units 12", p)
			}
		}
	})
}
