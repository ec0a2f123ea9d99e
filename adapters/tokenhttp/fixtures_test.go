package tokenhttp_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/payg-gateway/gateway/config"
	"github.com/payg-gateway/gateway/core/jobs"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/test/fakevendor"
)

// stron is Stronpower's vending API (§9): credentials in the body, a
// typed boolean, money in major units, the code at $[0].Token of an
// array, and no idempotency key.
func stron() config.TokenVendor {
	return config.TokenVendor{
		Name: "stron", Method: "POST", URLTemplate: "/api/VendingMeter",
		Secrets: map[string]config.Secret{
			"user": config.NewSecret("test-stron-user"), "password": config.NewSecret("test-stron-pass-DO-NOT-USE"),
		},
		RequestBody: map[string]any{
			"CompanyName": "TESTCO", "UserName": "{secret.user}", "PassWord": "{secret.password}",
			"MeterID": "{serial}", "is_vend_by_unit": false, "Amount": "{amount}",
		},
		Idempotency: "none",
		Response:    config.TokenVendorResponse{TokenPath: "$[0].Token", ErrorPath: "$.Message"},
	}
}

// stronShape answers with the fixtures: meter 58000000123 gets the OK
// array (with the minted code), any other meter the empty array.
func stronShape(t *testing.T) fakevendor.Shape {
	return fakevendor.Shape{
		Check: func(r fakevendor.Request) (int, []byte) {
			if !strings.Contains(string(r.Body), `"MeterID":"58000000123"`) {
				return http.StatusOK, fixture(t, "stron/vending_meter_response_empty.json")
			}
			return 0, nil
		},
		Success: func(code string) (int, []byte) {
			ok := string(fixture(t, "stron/vending_meter_response_ok.json"))
			return http.StatusOK, []byte(strings.Replace(ok, "10394857261038475629", code, 1))
		},
	}
}

// The fixture world's payment through Stron: the request is the
// fixture's byte for byte in meaning, and the code is read from the array.
func TestStronFixtures(t *testing.T) {
	eachStore(t, func(t *testing.T, b backend) {
		w := newWorld(t, b, stron(), fakevendor.Options{Shape: stronShape(t), Codes: []string{"10394857261038475629"}}, "58000000123")
		tok := w.pay().Tokens[0]
		if r := w.next(); r.Outcome != jobs.OutcomeDone {
			t.Fatalf("%+v", r)
		}
		if got := w.token(tok.ID); got.Status != payg.TokenIssued || got.Code != "10394857261038475629" {
			t.Errorf("token %+v", got)
		}
		reqs := w.fake.Requests()
		if len(reqs) != 1 || !sameJSON(t, reqs[0].Body, fixture(t, "stron/vending_meter_request.json")) {
			t.Errorf("requests %d, body %s; want the fixture's", len(reqs), reqs[0].Body)
		}
		if reqs[0].Path != "/api/VendingMeter" || reqs[0].Header.Get("Content-Type") != "application/json" {
			t.Errorf("request %s %s", reqs[0].Path, reqs[0].Header.Get("Content-Type"))
		}
	})
}

// Stron's empty array (meter not registered) fails the token.
func TestStronEmptyArray(t *testing.T) {
	eachStore(t, func(t *testing.T, b backend) {
		w := newWorld(t, b, stron(), fakevendor.Options{Shape: stronShape(t)}, "58000009999")
		tok := w.pay().Tokens[0]
		if r := w.next(); r.Outcome != jobs.OutcomeDone {
			t.Fatalf("%+v", r)
		}
		got := w.token(tok.ID)
		if got.Status != payg.TokenFailed || !strings.Contains(got.FailureReason, "without a code at $[0].Token") {
			t.Errorf("token %+v", got)
		}
		if strings.Contains(got.FailureReason, "test-stron-pass") {
			t.Errorf("failure reason leaks the password: %q", got.FailureReason)
		}
	})
}

// A paid-off contract's unlock goes out with Sun King's unlock body.
func TestSunKingUnlock(t *testing.T) {
	eachStore(t, func(t *testing.T, b backend) {
		w := newWorld(t, b, sunKing(), sunKingFake(t), "880000123")
		tok, err := w.svc.IssueToken(context.Background(), tenantID, w.device.ID, payg.TokenUnlock, 0, "goodwill")
		if err != nil {
			t.Fatal(err)
		}
		if tok.Status != payg.TokenPending || tok.Type != "UNLOCK" {
			t.Fatalf("manual unlock %+v, want pending", tok)
		}
		w.runner.Wake()
		if r := w.next(); r.Outcome != jobs.OutcomeDone {
			t.Fatalf("%+v", r)
		}
		reqs := w.fake.Requests()
		if len(reqs) != 1 || !sameJSON(t, reqs[0].Body, fixture(t, "sunking/token_request_unlock.json")) {
			t.Errorf("unlock request %s, want the fixture's", reqs[0].Body)
		}
		if got := w.token(tok.ID); got.Status != payg.TokenIssued || got.Code == "" {
			t.Errorf("token %+v", got)
		}
	})
}
