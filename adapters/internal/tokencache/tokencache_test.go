package tokencache

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/core/coretest"
)

func TestCache(t *testing.T) {
	clock := coretest.NewClock(time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC))
	var fetches atomic.Int32
	release := make(chan struct{})
	c := New(func(ctx context.Context) (string, time.Duration, error) {
		n := fetches.Add(1)
		if n == 1 {
			<-release // hold the first fetch until every caller waits
		}
		return "t" + strconv.Itoa(int(n)), time.Hour, nil
	}, clock, 5*time.Minute)

	var wg sync.WaitGroup
	got := make([]string, 10)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := c.Token(context.Background())
			if err != nil {
				t.Error(err)
			}
			got[i] = tok
		}()
	}
	close(release)
	wg.Wait()
	for _, tok := range got {
		if tok != "t1" {
			t.Fatalf("tokens %v: want one shared fetch", got)
		}
	}
	clock.Advance(55*time.Minute - time.Second)
	if tok, _ := c.Token(context.Background()); tok != "t1" {
		t.Errorf("refreshed too early: %s", tok)
	}
	clock.Advance(time.Second)
	if tok, _ := c.Token(context.Background()); tok != "t2" {
		t.Errorf("not refreshed 5 minutes before expiry: %s", tok)
	}
	c.Invalidate("t1") // stale: keeps t2
	if tok, _ := c.Token(context.Background()); tok != "t2" {
		t.Errorf("a stale invalidation dropped the current token")
	}
	c.Invalidate("t2")
	if tok, _ := c.Token(context.Background()); tok != "t3" {
		t.Errorf("invalidated token kept: %s", tok)
	}
}

func TestShortLifetime(t *testing.T) {
	clock := coretest.NewClock(time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC))
	n := 0
	c := New(func(context.Context) (string, time.Duration, error) { n++; return "t", 180 * time.Second, nil }, clock, 5*time.Minute)
	c.Token(context.Background())
	clock.Advance(89 * time.Second)
	c.Token(context.Background())
	clock.Advance(2 * time.Second)
	c.Token(context.Background())
	if n != 2 {
		t.Errorf("%d fetches: a 180 s token refreshes at half its life", n)
	}
}

func TestErrors(t *testing.T) {
	clock := coretest.NewClock(time.Now())
	boom := errors.New("boom")
	c := New(func(context.Context) (string, time.Duration, error) { return "", 0, boom }, clock, time.Minute)
	if _, err := c.Token(context.Background()); !errors.Is(err, boom) {
		t.Errorf("got %v", err)
	}
	c = New(func(context.Context) (string, time.Duration, error) { return "t", 0, nil }, clock, time.Minute)
	if _, err := c.Token(context.Background()); err == nil {
		t.Error("a token without lifetime was accepted")
	}
	block, started := make(chan struct{}), make(chan struct{})
	c = New(func(ctx context.Context) (string, time.Duration, error) {
		close(started)
		<-block
		return "t", time.Hour, nil
	}, clock, time.Minute)
	go c.Token(context.Background())
	<-started // the first caller holds the fetch
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Token(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("a waiting caller ignored its context: %v", err)
	}
	close(block)
}
