package resilience

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/payg-gateway/gateway/test/load/loadtest"
)

// telco sends a storm's C2B confirmations as Safaricom would: from several
// connections at once, and every call that does not get a 2xx (an error
// status, a reset connection, a refused one) is sent again after a pause
// until it does.
type telco struct {
	storm *loadtest.Storm
	// targets are the confirmation URLs; call seq goes first to
	// targets[seq % len], re-sends to the next one.
	targets []string
	conc    int
	// every, when set, paces the first sends: at most one call starts per
	// interval, so the load lasts while the test does things to the
	// gateway.
	every time.Duration
	// deadline bounds the whole run.
	deadline time.Duration

	client *http.Client

	sends, resends atomic.Int64
	mu             sync.Mutex
	statuses       map[string]int // answer ("200", "503", "transport") → count
	log            []send
}

// send is one HTTP call.
type send struct {
	start, end time.Time
	status     int // 0: transport error
}

func newTelco(storm *loadtest.Storm, targets []string, conc int) *telco {
	return &telco{
		storm: storm, targets: targets, conc: conc, deadline: 3 * time.Minute,
		statuses: map[string]int{},
		client: &http.Client{
			Timeout: 15 * time.Second,
			Transport: &http.Transport{
				Proxy:               nil,
				DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
				MaxIdleConnsPerHost: conc,
				IdleConnTimeout:     30 * time.Second,
				DisableCompression:  true,
			},
		},
	}
}

// run sends every call of the storm until each has been acknowledged.
func (tc *telco) run(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, tc.deadline)
	defer cancel()
	defer tc.client.CloseIdleConnections()
	var next atomic.Int64
	var pace <-chan time.Time
	if tc.every > 0 {
		tk := time.NewTicker(tc.every)
		defer tk.Stop()
		pace = tk.C
	}
	calls := tc.storm.Calls()
	errs := make(chan error, tc.conc)
	var wg sync.WaitGroup
	for range tc.conc {
		wg.Go(func() {
			for {
				seq := int(next.Add(1) - 1)
				if seq >= calls {
					return
				}
				if pace != nil {
					select {
					case <-pace:
					case <-ctx.Done():
					}
				}
				if err := tc.deliver(ctx, seq); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// deliver sends call seq until it gets a 2xx.
func (tc *telco) deliver(ctx context.Context, seq int) error {
	c, ok := tc.storm.Next(seq)
	if !ok {
		return nil
	}
	rng := rand.New(rand.NewPCG(uint64(seq), 99))
	for attempt := 0; ; attempt++ {
		if ctx.Err() != nil {
			return fmt.Errorf("call %d (payment %d) not acknowledged after %d sends: %w", seq, c.Payment, attempt, ctx.Err())
		}
		target := tc.targets[(seq+attempt)%len(tc.targets)]
		s := send{start: time.Now()}
		status, _ := tc.post(ctx, target, c.Body)
		s.end, s.status = time.Now(), status
		tc.storm.Done(c, status)
		tc.sends.Add(1)
		if attempt > 0 {
			tc.resends.Add(1)
		}
		key := "transport"
		if status != 0 {
			key = fmt.Sprint(status)
		}
		tc.mu.Lock()
		tc.statuses[key]++
		tc.log = append(tc.log, s)
		tc.mu.Unlock()
		if status >= 200 && status <= 299 {
			return nil
		}
		// A telco waits before it retries; a little jitter spreads the
		// retries of a burst.
		wait := time.Duration(100+rng.IntN(200)) * time.Millisecond
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
	}
}

func (tc *telco) post(ctx context.Context, target string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := tc.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

// summary says how the calls were answered.
func (tc *telco) summary() string {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	keys := make([]string, 0, len(tc.statuses))
	for k := range tc.statuses {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, " %s×%d", k, tc.statuses[k])
	}
	return fmt.Sprintf("%d calls, %d sends (%d re-sends):%s", tc.storm.Calls(), tc.sends.Load(), tc.resends.Load(), b.String())
}

// sendsWithin returns the sends that started at or after from and ended
// before to.
func (tc *telco) sendsWithin(from, to time.Time) []send {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	var out []send
	for _, s := range tc.log {
		if !s.start.Before(from) && s.end.Before(to) {
			out = append(out, s)
		}
	}
	return out
}
