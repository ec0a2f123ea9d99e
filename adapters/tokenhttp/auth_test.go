package tokenhttp_test

import (
	"strings"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/config"
	"github.com/payg-gateway/gateway/core/jobs"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/test/fakevendor"
)

// sunKingOAuth is Sun King as it really authenticates: OAuth2 client
// credentials against its Keycloak (the fixtures' client), form-encoded,
// scope roles.
func sunKingOAuth(secret string) (config.TokenVendor, fakevendor.Options) {
	cfg := sunKing()
	cfg.Auth = config.TokenVendorAuth{
		Kind: config.OAuth2ClientCredentials, TokenURL: "/auth/realms/glp/protocol/openid-connect/token",
		ClientID: "test-sunking-client", ClientSecret: config.NewSecret(secret), Scope: "roles",
	}
	return cfg, fakevendor.Options{
		Shape: fakevendor.Shape{Success: func(code string) (int, []byte) {
			return 200, []byte(`{"token":"` + code + `"}`)
		}},
		IdempotencyHeader: "Idempotency-Key",
		OAuth: &fakevendor.OAuth{Path: "/auth/realms/glp/protocol/openid-connect/token",
			ClientID: "test-sunking-client", ClientSecret: "test-sunking-secret-DO-NOT-USE", ExpiresIn: 300},
	}
}

// The access token is fetched once and cached until shortly before it
// expires; a token the vendor no longer takes (401) is fetched again once
// and the request resent, without spending a retry attempt.
func TestOAuth2ClientCredentials(t *testing.T) {
	eachStore(t, func(t *testing.T, b backend) {
		cfg, fo := sunKingOAuth("test-sunking-secret-DO-NOT-USE")
		w := newWorld(t, b, cfg, fo, "880000123")
		issue := func(what string) {
			t.Helper()
			tok := w.pay().Tokens[0]
			if r := w.next(); r.Outcome != jobs.OutcomeDone {
				t.Fatalf("%s: outcome %+v", what, r)
			}
			if got := w.token(tok.ID); got.Status != payg.TokenIssued || got.Code == "" {
				t.Fatalf("%s: token %+v", what, got)
			}
			if j := w.job(tok.ID); j.Attempts != 1 {
				t.Errorf("%s: the job spent %d attempts, want 1", what, j.Attempts)
			}
		}
		tokenRequests := func(what string, want int) {
			t.Helper()
			if got := w.fake.TokenRequests(); got != want {
				t.Errorf("%s: %d access-token requests, want %d", what, got, want)
			}
		}
		issue("first")
		tokenRequests("first", 1)
		issue("second")
		tokenRequests("cached", 1)

		// The vendor drops its tokens early: 401, one new token, resent.
		w.fake.RevokeTokens()
		issue("after a revocation")
		tokenRequests("after a revocation", 2)

		// Near its expiry (300 s less the margin) the token is fetched
		// again before the request.
		w.clock.Advance(280 * time.Second)
		issue("near expiry")
		tokenRequests("near expiry", 3)
		if n := len(w.fake.Requests()); n != 4 {
			t.Errorf("%d credit requests reached the vendor, want 4", n)
		}
	})
}

// A refused client secret: the request never goes out, the token stays
// pending and the job is retried.
func TestOAuth2Refused(t *testing.T) {
	eachStore(t, func(t *testing.T, b backend) {
		cfg, fo := sunKingOAuth("wrong-secret")
		w := newWorld(t, b, cfg, fo, "880000123")
		tok := w.pay().Tokens[0]
		r := w.next()
		if r.Outcome != jobs.OutcomeRetry {
			t.Fatalf("outcome %+v, want a retry", r)
		}
		if got := w.token(tok.ID); got.Status != payg.TokenPending {
			t.Errorf("token %s, want pending", got.Status)
		}
		if n := len(w.fake.Requests()); n != 0 {
			t.Errorf("%d credit requests without an access token", n)
		}
		if e := r.Err.Error(); !strings.Contains(e, "access token") || strings.Contains(e, "wrong-secret") {
			t.Errorf("error %q: want it to name the access token and not show the secret", e)
		}
	})
}

// steamaLogin authenticates as Steama does: a login request with the
// credentials (the fixtures' user) gives a session token, sent as
// "Authorization: Token …" until the vendor refuses it.
func steamaLogin(password string) (config.TokenVendor, fakevendor.Options) {
	cfg := sunKing()
	cfg.Secrets = map[string]config.Secret{"user": config.NewSecret("test-steama-user"), "password": config.NewSecret(password)}
	cfg.Auth = config.TokenVendorAuth{
		Kind: config.AuthLogin, LoginURL: "/get-token/", LoginTokenPath: "$.token", Prefix: "Token ",
		LoginBody: map[string]any{"username": "{secret.user}", "password": "{secret.password}"},
	}
	return cfg, fakevendor.Options{
		Shape: fakevendor.Shape{Success: func(code string) (int, []byte) {
			return 200, []byte(`{"token":"` + code + `"}`)
		}},
		IdempotencyHeader: "Idempotency-Key",
		Login:             &fakevendor.Login{Path: "/get-token/", Username: "test-steama-user", Password: "test-steama-pass-DO-NOT-USE"},
	}
}

// A login session is kept until the vendor refuses it (no TTL): one login
// for many requests, one new login after a 401, without an extra attempt.
func TestLoginSession(t *testing.T) {
	eachStore(t, func(t *testing.T, b backend) {
		cfg, fo := steamaLogin("test-steama-pass-DO-NOT-USE")
		w := newWorld(t, b, cfg, fo, "880000123")
		issue := func(what string, logins int) {
			t.Helper()
			tok := w.pay().Tokens[0]
			if r := w.next(); r.Outcome != jobs.OutcomeDone {
				t.Fatalf("%s: outcome %+v", what, r)
			}
			if j := w.job(tok.ID); j.Attempts != 1 {
				t.Errorf("%s: the job spent %d attempts, want 1", what, j.Attempts)
			}
			if got := w.fake.TokenRequests(); got != logins {
				t.Errorf("%s: %d logins, want %d", what, got, logins)
			}
		}
		issue("first", 1)
		w.clock.Advance(48 * time.Hour)
		issue("two days later", 1)
		w.fake.RevokeTokens()
		issue("after the session was revoked", 2)
	})
}

// Refused credentials: no credit request goes out, the token waits.
func TestLoginRefused(t *testing.T) {
	eachStore(t, func(t *testing.T, b backend) {
		cfg, fo := steamaLogin("wrong-password")
		w := newWorld(t, b, cfg, fo, "880000123")
		tok := w.pay().Tokens[0]
		r := w.next()
		if r.Outcome != jobs.OutcomeRetry || w.token(tok.ID).Status != payg.TokenPending || len(w.fake.Requests()) != 0 {
			t.Fatalf("outcome %+v, %d requests; want a retry and none", r, len(w.fake.Requests()))
		}
		if e := r.Err.Error(); !strings.Contains(e, "login refused") || strings.Contains(e, "wrong-password") {
			t.Errorf("error %q", e)
		}
	})
}
