package httpapi_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/payg-gateway/gateway/connectors/webhook"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/callbacks"
	"github.com/payg-gateway/gateway/core/httpapi"
	"github.com/payg-gateway/gateway/core/messaging"
	"github.com/payg-gateway/gateway/core/postgres"
	"github.com/payg-gateway/gateway/core/postgres/pgtest"
	"github.com/payg-gateway/gateway/core/sqlite"
)

// webhookStores is what the webhook API reads and writes: both SQL stores
// are all of it.
type webhookStores interface {
	core.WebhookStore
	core.JobService
	webhook.EventSource
}

// fixtureDefaults gives a test server what serve gives it, unless the
// test set its own: a callback host (without adapter instances) and the
// webhook endpoints, jobs and events of the store.
func fixtureDefaults(t *testing.T, o *httpapi.Options) {
	t.Helper()
	if o.Callbacks == nil {
		var clock core.Clock = core.SystemClock{}
		if o.Clock != nil {
			clock = o.Clock
		}
		h, err := callbacks.New(o.PAYG, nil, clock, o.Logger, o.Registry)
		if err != nil {
			t.Fatal(err)
		}
		o.Callbacks = h
	}
	if o.Messages == nil {
		if s, ok := innerStore(o.Store).(messaging.Store); ok {
			o.Messages = s
		}
	}
	if o.Webhooks == nil {
		if s, ok := innerStore(o.Store).(webhookStores); ok {
			o.Webhooks, o.Jobs, o.Events = s, s, s
		}
	}
}

// openClockedStore opens a migrated store on clock.
type openClockedStore func(t *testing.T, clock core.Clock) core.Store

// forEachClockedStore is forEachStore for tests whose store must run on
// the test's clock: a store makes jobs due by its own clock.
func forEachClockedStore(t *testing.T, fn func(t *testing.T, open openClockedStore)) {
	migrated := func(t *testing.T, s core.Store) core.Store {
		t.Helper()
		if err := s.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		return s
	}
	t.Run("sqlite", func(t *testing.T) {
		fn(t, func(t *testing.T, clock core.Clock) core.Store {
			s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "gw.db"), clock)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return migrated(t, s)
		})
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := pgtest.Schema(t)
		fn(t, func(t *testing.T, clock core.Clock) core.Store {
			s, err := postgres.Open(context.Background(), dsn, clock)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return migrated(t, s)
		})
	})
}
