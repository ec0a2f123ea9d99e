package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/coretest"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/core/secretbox"
)

// webhookStore is what the webhook endpoint tests need of a store.
type webhookStore interface {
	core.Store
	core.WebhookStore
	core.WebhookSecretSealer
}

// openWebhookStores opens n stores on one fresh migrated database, as n
// gateway replicas would, with the suite's tenant.
func openWebhookStores(t *testing.T, h Harness, n int) ([]webhookStore, *coretest.Clock) {
	t.Helper()
	clock := coretest.NewClock(Epoch)
	open := h.NewDatabase(t)
	var out []webhookStore
	for i := range n {
		s, ok := open(t, clock).(webhookStore)
		if !ok {
			t.Fatalf("the store does not implement core.WebhookStore and core.WebhookSecretSealer")
		}
		if i == 0 {
			if err := s.Migrate(context.Background()); err != nil {
				t.Fatal(err)
			}
			if _, err := s.CreateTenant(context.Background(), core.Tenant{ID: "sunbright-ke", Name: "SunBright", TimeZone: "Africa/Nairobi"}); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, s)
	}
	return out, clock
}

func newBox(t *testing.T) *secretbox.Box {
	t.Helper()
	b, err := secretbox.New(secretbox.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testEndpoint(id, secret string, now time.Time) core.WebhookEndpoint {
	return core.WebhookEndpoint{
		ID: id, TenantID: "sunbright-ke", URL: "https://crm.example/hooks/" + id, EventTypes: []string{"payment.*"}, Enabled: true,
		Secrets:   []core.WebhookSecret{{ID: "whs_" + id, Value: secret, CreatedAt: now}},
		CreatedAt: now, UpdatedAt: now,
	}
}

// testWebhookSecretsSealed: with a master key, signing secrets are sealed
// at rest (a store without the key cannot read them), plain-text rows from
// before are sealed by ResealWebhookSecrets, which also moves every secret
// to a new master key and skips what is already under it; the subscriber's
// listing inside a business transaction needs no key.
func testWebhookSecretsSealed(t *testing.T, h Harness) {
	ctx := context.Background()
	stores, clock := openWebhookStores(t, h, 3)
	plain, old, next := stores[0], stores[1], stores[2] // replicas: no key, the old key, the new key
	box1, box2 := newBox(t), newBox(t)
	old.UseSecretBox(box1)
	next.UseSecretBox(box2)
	const v1, v2 = "whsec_c2VjcmV0LW9uZS1zZWNyZXQtb25lLXNlY3JldC0x", "whsec_c2VjcmV0LXR3by1zZWNyZXQtdHdvLXNlY3JldC0y"
	now := clock.Now()

	read := func(s webhookStore, id string) (string, error) {
		t.Helper()
		e, err := s.WebhookEndpoint(ctx, "sunbright-ke", id)
		if err != nil {
			return "", err
		}
		if len(e.Secrets) != 1 {
			t.Fatalf("endpoint %s has %d secrets", id, len(e.Secrets))
		}
		return e.Secrets[0].Value, nil
	}
	want := func(s webhookStore, id, v string) {
		t.Helper()
		if got, err := read(s, id); err != nil || got != v {
			t.Fatalf("endpoint %s secret: %v; want it readable", id, err)
		}
	}
	unreadable := func(s webhookStore, id, why string) {
		t.Helper()
		if got, err := read(s, id); err == nil {
			t.Fatalf("endpoint %s secret readable %s (%d bytes)", id, why, len(got))
		}
	}
	reseal := func(s webhookStore, box *secretbox.Box, n int) {
		t.Helper()
		if got, err := s.ResealWebhookSecrets(ctx, box); err != nil || got != n {
			t.Fatalf("ResealWebhookSecrets = %d, %v; want %d", got, err, n)
		}
	}

	// A row written without a master key (or before sealing existed) is in
	// plain text: every replica reads it.
	if err := plain.CreateWebhookEndpoint(ctx, testEndpoint("whe_1", v1, now)); err != nil {
		t.Fatal(err)
	}
	want(plain, "whe_1", v1)
	want(old, "whe_1", v1)
	// Start-up sealing: now only a replica with the key reads it.
	reseal(old, box1, 1)
	want(old, "whe_1", v1)
	unreadable(plain, "whe_1", "without the master key after sealing")
	reseal(old, box1, 0)

	// New secrets are sealed when written.
	if err := old.CreateWebhookEndpoint(ctx, testEndpoint("whe_2", v2, now)); err != nil {
		t.Fatal(err)
	}
	want(old, "whe_2", v2)
	unreadable(plain, "whe_2", "without the master key")
	unreadable(next, "whe_2", "under another master key")

	// The subscriber lists endpoints in the payment's transaction; that
	// needs no key and leaves the secrets out.
	if err := plain.(payg.Store).InTx(ctx, func(tx payg.Tx) error {
		l, ok := tx.(interface {
			EnabledWebhookEndpoints(ctx context.Context, tenant string) ([]core.WebhookEndpoint, error)
		})
		if !ok {
			return fmt.Errorf("%T lists no endpoints", tx)
		}
		eps, err := l.EnabledWebhookEndpoints(ctx, "sunbright-ke")
		if err == nil && (len(eps) != 2 || eps[0].Secrets != nil) {
			err = fmt.Errorf("enabled endpoints %v", eps)
		}
		return err
	}); err != nil {
		t.Fatalf("listing in a business transaction without the key: %v", err)
	}

	// Rotation: everything moves under the new key; running it again
	// finds nothing to do.
	reseal(old, box2, 2)
	want(next, "whe_1", v1)
	want(next, "whe_2", v2)
	unreadable(old, "whe_1", "under the old key after rotation")
	reseal(next, box2, 0)
	reseal(old, box2, 0) // an interrupted rotation run again

	// A replica with neither key cannot reseal (it would lose them).
	third := newBox(t)
	if n, err := plain.ResealWebhookSecrets(ctx, third); err == nil {
		t.Fatalf("resealing without the current key = %d, nil; want an error", n)
	}
	want(next, "whe_1", v1)
}

// testWebhookEndpointVersions: endpoint updates are compare-and-set on the
// endpoint's version, so replicas sharing a database never lose each
// other's changes.
func testWebhookEndpointVersions(t *testing.T, h Harness) {
	ctx := context.Background()
	stores, clock := openWebhookStores(t, h, 2)
	a, b := stores[0], stores[1]
	box := newBox(t)
	a.UseSecretBox(box)
	b.UseSecretBox(box)
	if err := a.CreateWebhookEndpoint(ctx, testEndpoint("whe_1", "whsec_c2VjcmV0LW9uZS1zZWNyZXQtb25lLXNlY3JldC0x", clock.Now())); err != nil {
		t.Fatal(err)
	}
	ea, err := a.WebhookEndpoint(ctx, "sunbright-ke", "whe_1")
	if err != nil {
		t.Fatal(err)
	}
	eb, err := b.WebhookEndpoint(ctx, "sunbright-ke", "whe_1")
	if err != nil {
		t.Fatal(err)
	}
	if ea.Version != 1 || eb.Version != 1 {
		t.Fatalf("versions %d, %d; want 1", ea.Version, eb.Version)
	}
	ea.Description = "from a"
	if err := a.UpdateWebhookEndpoint(ctx, ea); err != nil {
		t.Fatal(err)
	}
	eb.Description = "from b"
	if err := b.UpdateWebhookEndpoint(ctx, eb); core.ErrorCode(err) != core.ECONFLICT {
		t.Fatalf("update over a stale version: %v, want ECONFLICT", err)
	}
	eb, _ = b.WebhookEndpoint(ctx, "sunbright-ke", "whe_1")
	if eb.Version != 2 || eb.Description != "from a" {
		t.Fatalf("after a's update: version %d, description %q", eb.Version, eb.Description)
	}
	missing := eb
	missing.ID = "whe_none"
	if err := b.UpdateWebhookEndpoint(ctx, missing); core.ErrorCode(err) != core.ENOTFOUND {
		t.Fatalf("update of a missing endpoint: %v, want ENOTFOUND", err)
	}
	if err := b.DisableWebhookEndpoint(ctx, "sunbright-ke", "whe_1", "410 Gone", clock.Now()); err != nil {
		t.Fatal(err)
	}
	if err := b.UpdateWebhookEndpoint(ctx, eb); core.ErrorCode(err) != core.ECONFLICT {
		t.Fatalf("update over an endpoint disabled meanwhile: %v, want ECONFLICT", err)
	}

	// Both replicas add secrets at once, each a read-modify-write retried
	// on conflict: every secret is kept.
	const each = 8
	var wg sync.WaitGroup
	errs := make(chan error, 2*each)
	for r, s := range []webhookStore{a, b} {
		for i := range each {
			wg.Go(func() {
				id := fmt.Sprintf("whs_%d_%d", r, i)
				for range 200 {
					e, err := s.WebhookEndpoint(ctx, "sunbright-ke", "whe_1")
					if err != nil {
						errs <- err
						return
					}
					e.Secrets = append(e.Secrets, core.WebhookSecret{ID: id, Value: "whsec_" + id, CreatedAt: clock.Now()})
					err = s.UpdateWebhookEndpoint(ctx, e)
					if core.ErrorCode(err) == core.ECONFLICT {
						continue
					}
					errs <- err
					return
				}
				errs <- fmt.Errorf("secret %s: too many conflicts", id)
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	e, err := a.WebhookEndpoint(ctx, "sunbright-ke", "whe_1")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range e.Secrets {
		ids = append(ids, s.ID)
	}
	for r := range 2 {
		for i := range each {
			if id := fmt.Sprintf("whs_%d_%d", r, i); !slices.Contains(ids, id) {
				t.Errorf("secret %s was lost; the endpoint has %v", id, ids)
			}
		}
	}
	if e.Version != 3+2*each {
		t.Errorf("version %d after %d updates, want %d", e.Version, 2+2*each, 3+2*each)
	}
}
