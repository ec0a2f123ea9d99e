// Package tokencache caches a provider's OAuth-style access token until
// shortly before it expires, fetching it at most once at a time however
// many callers want it (providers such as Daraja invalidate the previous
// token on every fetch).
package tokencache

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/payg-gateway/gateway/core"
)

// Fetch obtains a new token and its lifetime.
type Fetch func(ctx context.Context) (token string, lifetime time.Duration, err error)

// Cache holds one token. Safe for concurrent use.
type Cache struct {
	fetch  Fetch
	clock  core.Clock
	margin time.Duration
	sem    chan struct{} // one fetch at a time

	mu        sync.Mutex
	token     string
	refreshAt time.Time
}

// New returns a cache that refreshes a token margin before it expires
// (at most half its lifetime before), using clock for the time.
func New(fetch Fetch, clock core.Clock, margin time.Duration) *Cache {
	return &Cache{fetch: fetch, clock: clock, margin: margin, sem: make(chan struct{}, 1)}
}

// Token returns the cached token, or fetches a new one when there is none
// or it is due for refresh. Concurrent callers share one fetch.
func (c *Cache) Token(ctx context.Context) (string, error) {
	if tok, ok := c.cached(); ok {
		return tok, nil
	}
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-c.sem }()
	if tok, ok := c.cached(); ok {
		return tok, nil
	}
	tok, life, err := c.fetch(ctx)
	if err != nil {
		return "", err
	}
	if tok == "" {
		return "", errors.New("token response without a token")
	}
	if life <= 0 {
		return "", errors.New("token response without a positive lifetime")
	}
	m := min(c.margin, life/2)
	c.mu.Lock()
	c.token, c.refreshAt = tok, c.clock.Now().Add(life-m)
	c.mu.Unlock()
	return tok, nil
}

// Invalidate drops tok if it is still the cached token (the provider
// refused it), so the next Token call fetches a new one. A token fetched
// meanwhile by another caller is kept.
func (c *Cache) Invalidate(tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == tok {
		c.token, c.refreshAt = "", time.Time{}
	}
}

func (c *Cache) cached() (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && c.clock.Now().Before(c.refreshAt) {
		return c.token, true
	}
	return "", false
}
