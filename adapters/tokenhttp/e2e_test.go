package tokenhttp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/config"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/jobs"
	"github.com/payg-gateway/gateway/core/lease"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/test/fakevendor"
)

// sunKing is Sun King's mapping (§2 of the vendor brief) with a static
// bearer token (the fake has no OAuth server) and an idempotency header.
func sunKing() config.TokenVendor {
	return config.TokenVendor{
		Name: "sunking", Method: "POST", URLTemplate: "/v2/token",
		Auth: config.TokenVendorAuth{Header: "Authorization", Value: config.NewSecret("Bearer test-sunking-access-token")},
		RequestBody: map[string]any{
			"device": "{serial}", "command": "add_credit", "payload": "{days}", "time_unit": "day",
		},
		UnlockBody:        map[string]any{"device": "{serial}", "command": "unlock"},
		IdempotencyHeader: "Idempotency-Key",
		Response:          config.TokenVendorResponse{TokenPath: "$.token", ErrorPath: "$.message"},
	}
}

// sunKingShape answers as the fixtures do: serial 880000123 is known,
// anything else is the 404 fixture.
func sunKingShape(t *testing.T) fakevendor.Shape {
	notFound := fixture(t, "sunking/error_device_not_found_404.json")
	return fakevendor.Shape{
		Check: func(r fakevendor.Request) (int, []byte) {
			if r.Header.Get("Authorization") != "Bearer test-sunking-access-token" {
				return http.StatusUnauthorized, []byte(`{"message":"unauthorized"}`)
			}
			var b struct{ Device string }
			if json.Unmarshal(r.Body, &b) != nil || b.Device != "880000123" {
				return http.StatusNotFound, notFound
			}
			return 0, nil
		},
		Success: func(code string) (int, []byte) {
			b, _ := json.Marshal(map[string]string{"token": code})
			return http.StatusOK, b
		},
	}
}

func sunKingFake(t *testing.T) fakevendor.Options {
	return fakevendor.Options{Shape: sunKingShape(t), IdempotencyHeader: "Idempotency-Key", Codes: []string{"483920175364"}}
}

// Acceptance 3 of issue 5: the vendor is down when a payment arrives. The
// payment is applied at once and its token is pending; the breaker opens
// and turns requests away without spending attempts; once the vendor is
// back the token is issued, once.
func TestVendorOutage(t *testing.T) {
	eachStore(t, func(t *testing.T, b backend) {
		cfg := sunKing()
		// gobreaker v1 keeps wall time: the breaker stays open 200 ms
		// while the test clock jumps hours.
		cfg.Breaker = config.TokenVendorBreaker{Failures: 2, OpenFor: 200 * time.Millisecond}
		w := newWorld(t, b, cfg, sunKingFake(t), "880000123")
		w.fake.Set(fakevendor.Fail)

		out := w.pay()
		if out.Payment.Status != payg.PaymentApplied || out.Contract == nil || out.Contract.State.Expiry.IsZero() {
			t.Fatalf("payment not applied: %+v", out.Payment)
		}
		if len(out.Tokens) != 1 {
			t.Fatalf("%d tokens, want 1", len(out.Tokens))
		}
		tok := out.Tokens[0]
		if tok.Status != payg.TokenPending || tok.Code != "" || tok.Type != "ADD_CREDIT" || tok.Value != 30 || tok.Seconds != 30*86400 {
			t.Fatalf("token at payment time = %+v, want pending, 30 days, no code", tok)
		}
		if n := len(w.events(payg.EventTokenIssued)); n != 0 {
			t.Fatalf("%d token.issued events before the vendor answered", n)
		}

		// Down: two failures open the breaker, which then turns the job
		// away without spending an attempt.
		retries, turnedAway := 0, 0
		for first := true; retries < 2 || turnedAway < 2; first = false {
			if !first {
				// Past any retry delay. Not after the last outcome: the
				// job must stay undue while it is inspected below.
				w.advance(2 * time.Hour)
			}
			r := w.next()
			switch r.Outcome {
			case jobs.OutcomeRetry:
				if turnedAway > 0 && retries >= 2 {
					break // a half-open probe, failed
				}
				if turnedAway > 0 {
					t.Fatalf("turned away before two failures")
				}
				retries++
			case jobs.OutcomeNotAttempted:
				if retries < 2 || !strings.Contains(r.Err.Error(), "circuit breaker") {
					t.Fatalf("not attempted after %d failures: %v", retries, r.Err)
				}
				turnedAway++
			default:
				t.Fatalf("while the vendor is down: %+v", r)
			}
		}
		if j := w.job(tok.ID); j.Attempts != len(w.fake.Requests()) || j.State != core.JobPending {
			t.Errorf("job while down: %d attempts for %d requests, %s; want equal (turn-aways spend none), pending", j.Attempts, len(w.fake.Requests()), j.State)
		}
		if got := w.token(tok.ID); got.Status != payg.TokenPending {
			t.Errorf("token while down: %s", got.Status)
		}

		// Back: the breaker lets a probe through once its open time is
		// over (wall time), and the token is issued.
		w.fake.Set(fakevendor.OK)
		for {
			w.advance(2 * time.Hour)
			r := w.next()
			if r.Outcome == jobs.OutcomeDone {
				break
			}
			if r.Outcome != jobs.OutcomeNotAttempted {
				t.Fatalf("after the vendor came back: %+v", r)
			}
		}
		got := w.token(tok.ID)
		if got.Status != payg.TokenIssued || got.Code != "483920175364" || got.SettledAt.IsZero() {
			t.Errorf("token after recovery = %+v", got)
		}
		if minted := w.fake.Minted(); len(minted) != 1 {
			t.Errorf("vendor minted %v, want one code", minted)
		}
		issued := w.events(payg.EventTokenIssued)
		if len(issued) != 1 || eventData(t, issued[0])["code"] != "483920175364" || eventData(t, issued[0])["id"] != tok.ID {
			t.Errorf("token.issued events = %d %v, want one with the code", len(issued), issued)
		}
		reqs := w.fake.Requests()
		j := w.job(tok.ID)
		if j.State != core.JobDone || j.Attempts != len(reqs) || reqs[len(reqs)-1].Status != http.StatusOK {
			t.Errorf("job %s with %d attempts, %d requests sent; want done, equal, the last answered 200", j.State, j.Attempts, len(reqs))
		}
		for _, r := range reqs {
			if r.Key != tok.ID {
				t.Errorf("idempotency key %q, want the token id %s", r.Key, tok.ID)
			}
			if !sameJSON(t, r.Body, fixture(t, "sunking/token_request_add_credit.json")) {
				t.Errorf("request body %s, want the fixture's", r.Body)
			}
		}

		// Settling again: the same outcome is a no-op, another a conflict.
		if again, err := w.svc.CompleteToken(context.Background(), tenantID, tok.ID, "483920175364"); err != nil || again.Status != payg.TokenIssued {
			t.Errorf("second CompleteToken = %+v, %v; want a no-op", again, err)
		}
		if _, err := w.svc.FailToken(context.Background(), tenantID, tok.ID, "late"); core.ErrorCode(err) != core.ECONFLICT {
			t.Errorf("FailToken on an issued token: %v, want ECONFLICT", err)
		}
		if n := len(w.events(payg.EventTokenIssued)); n != 1 {
			t.Errorf("%d token.issued events after settling again", n)
		}
	})
}

// A vendor's permanent refusal (unknown device) fails the token at once:
// token.failed with the vendor's reason, the money stays applied, nothing
// is retried and the breaker stays closed.
func TestPermanentVendorError(t *testing.T) {
	eachStore(t, func(t *testing.T, b backend) {
		w := newWorld(t, b, sunKing(), sunKingFake(t), "880009999")
		out := w.pay()
		tok := out.Tokens[0]
		if r := w.next(); r.Outcome != jobs.OutcomeDone {
			t.Fatalf("outcome %+v, want done (the token is settled as failed)", r)
		}
		got := w.token(tok.ID)
		if got.Status != payg.TokenFailed || got.Code != "" || !strings.Contains(got.FailureReason, "Device not found") {
			t.Errorf("token = %+v, want failed with the vendor's message", got)
		}
		failed := w.events(payg.EventTokenFailed)
		if len(failed) != 1 || eventData(t, failed[0])["failure_reason"] != got.FailureReason {
			t.Errorf("token.failed events %v", failed)
		}
		if n := len(w.events(payg.EventTokenIssued)); n != 0 {
			t.Errorf("%d token.issued events", n)
		}
		var c payg.Contract
		var p payg.Payment
		err := w.store.View(context.Background(), func(r payg.Reader) error {
			var err error
			if c, err = r.Contract(context.Background(), tenantID, w.contract.ID); err != nil {
				return err
			}
			p, err = r.Payment(context.Background(), tenantID, out.Payment.ID)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if p.Status != payg.PaymentApplied || c.State.TotalPaid != paymentKES.Amount || c.State.Status != lease.StatusActive {
			t.Errorf("after token.failed: payment %s, contract paid %d, %s; want the money still applied", p.Status, c.State.TotalPaid, c.State.Status)
		}
		if len(w.fake.Minted()) != 0 || len(w.fake.Requests()) != 1 {
			t.Errorf("vendor saw %d requests and minted %v", len(w.fake.Requests()), w.fake.Minted())
		}
		if st := w.handler.BreakerState(); st != "closed" {
			t.Errorf("breaker %s after a device error, want closed", st)
		}
	})
}

// The vendor mints the code and then never answers (a timeout after the
// request went out). The vendor honours the idempotency key, so the job
// asks again and gets the same code: one code, one token.issued.
func TestAmbiguousResentWithSameKey(t *testing.T) {
	eachStore(t, func(t *testing.T, b backend) {
		cfg := sunKing()
		cfg.Timeout = 100 * time.Millisecond
		w := newWorld(t, b, cfg, sunKingFake(t), "880000123")
		w.fake.Set(fakevendor.IssueThenHang)
		tok := w.pay().Tokens[0]
		if r := w.next(); r.Outcome != jobs.OutcomeRetry {
			t.Fatalf("after a timeout: %+v, want a retry", r)
		}
		w.fake.Set(fakevendor.OK)
		w.advance(2 * time.Hour)
		if r := w.next(); r.Outcome != jobs.OutcomeDone {
			t.Fatalf("resend: %+v", r)
		}
		if got := w.token(tok.ID); got.Status != payg.TokenIssued || got.Code != "483920175364" {
			t.Errorf("token %+v", got)
		}
		if m := w.fake.Minted(); len(m) != 1 || len(w.fake.Requests()) != 2 {
			t.Errorf("minted %v in %d requests; want one code for two requests", m, len(w.fake.Requests()))
		}
	})
}

// A vendor without idempotency that may have issued (connection reset
// after sending) is not asked again: the job stops, the token stays
// pending for an operator, and no second code is minted.
func TestAmbiguousHeldWithoutIdempotency(t *testing.T) {
	eachStore(t, func(t *testing.T, b backend) {
		cfg := sunKing()
		cfg.IdempotencyHeader = ""
		w := newWorld(t, b, cfg, sunKingFake(t), "880000123")
		w.fake.Set(fakevendor.Reset)
		tok := w.pay().Tokens[0]
		r := w.next()
		if r.Outcome != jobs.OutcomeDead || !strings.Contains(r.Err.Error(), "held for review") {
			t.Fatalf("outcome %+v, want dead, held for review", r)
		}
		if got := w.token(tok.ID); got.Status != payg.TokenPending {
			t.Errorf("token %s, want pending (held)", got.Status)
		}
		if len(w.fake.Requests()) != 1 {
			t.Errorf("%d requests, want 1", len(w.fake.Requests()))
		}
	})
}

// A vendor that keeps failing fails the token after the last attempt.
func TestFailsAfterLastAttempt(t *testing.T) {
	eachStore(t, func(t *testing.T, b backend) {
		cfg := sunKing()
		cfg.Retry.MaxAttempts = 3
		cfg.Breaker.Failures = 100
		w := newWorld(t, b, cfg, sunKingFake(t), "880000123")
		w.fake.Set(fakevendor.Fail)
		tok := w.pay().Tokens[0]
		for i := 1; ; i++ {
			r := w.next()
			if i < 3 && r.Outcome != jobs.OutcomeRetry || i == 3 && r.Outcome != jobs.OutcomeDead {
				t.Fatalf("attempt %d: %+v", i, r)
			}
			if i == 3 {
				break
			}
			w.advance(2 * time.Hour)
		}
		got := w.token(tok.ID)
		if got.Status != payg.TokenFailed || !strings.Contains(got.FailureReason, "no code after 3 attempts") {
			t.Errorf("token %+v", got)
		}
		if n := len(w.events(payg.EventTokenFailed)); n != 1 {
			t.Errorf("%d token.failed events", n)
		}
	})
}
