package loadtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// maxCalls bounds every loop, whatever its options say.
const maxCalls = 50_000_000

// Stats summarise one measured phase.
type Stats struct {
	Requests int `json:"requests"`
	// OK counts 2xx answers; Errors the rest and transport errors.
	OK           int           `json:"ok"`
	Errors       int           `json:"errors"`
	ErrorSamples []string      `json:"error_samples,omitempty"`
	Elapsed      time.Duration `json:"-"`
	// PerSecond is OK answers per second of the phase.
	PerSecond float64       `json:"per_second"`
	P50       time.Duration `json:"-"`
	P95       time.Duration `json:"-"`
	P99       time.Duration `json:"-"`
	Max       time.Duration `json:"-"`
	// The durations again, in milliseconds, for the result file.
	ElapsedSeconds float64 `json:"elapsed_s"`
	P50ms          float64 `json:"p50_ms"`
	P95ms          float64 `json:"p95_ms"`
	P99ms          float64 `json:"p99_ms"`
	MaxMs          float64 `json:"max_ms"`
}

// LoopOptions bound a loop: it stops after Calls calls or after Duration,
// whichever comes first (0 is no bound, but one of them must be set).
type LoopOptions struct {
	Concurrency int
	Calls       int
	Duration    time.Duration
}

// errExhausted tells a loop that its source has no more calls.
var errExhausted = errors.New("loadtest: no more calls")

// loop calls fn from o.Concurrency goroutines, each call with the next
// sequence number, and times every call. fn returns an error for a failed
// call, or errExhausted to end the loop.
func loop(ctx context.Context, o LoopOptions, fn func(ctx context.Context, seq int) error) (Stats, error) {
	if o.Concurrency < 1 {
		return Stats{}, fmt.Errorf("loadtest: concurrency %d", o.Concurrency)
	}
	calls := o.Calls
	if calls <= 0 || calls > maxCalls {
		if o.Duration <= 0 {
			return Stats{}, errors.New("loadtest: a loop needs a number of calls or a duration")
		}
		calls = maxCalls
	}
	if o.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	var next atomic.Int64
	type worker struct {
		lat    []time.Duration
		errs   int
		sample []string
	}
	workers := make([]worker, o.Concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			me := &workers[w]
			for ctx.Err() == nil {
				seq := int(next.Add(1) - 1)
				if seq >= calls {
					return
				}
				t0 := time.Now()
				err := fn(ctx, seq)
				if errors.Is(err, errExhausted) {
					return
				}
				if err != nil && ctx.Err() != nil {
					return // cut short by the deadline: neither a success nor an error
				}
				me.lat = append(me.lat, time.Since(t0))
				if err != nil {
					me.errs++
					if len(me.sample) < 3 {
						me.sample = append(me.sample, err.Error())
					}
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return Stats{}, err
	}
	var lat []time.Duration
	var s Stats
	for _, w := range workers {
		lat = append(lat, w.lat...)
		s.Errors += w.errs
		for _, m := range w.sample {
			if len(s.ErrorSamples) < 5 {
				s.ErrorSamples = append(s.ErrorSamples, m)
			}
		}
	}
	s.Requests, s.OK, s.Elapsed = len(lat), len(lat)-s.Errors, elapsed
	slices.Sort(lat)
	s.P50, s.P95, s.P99 = percentile(lat, 50), percentile(lat, 95), percentile(lat, 99)
	if len(lat) > 0 {
		s.Max = lat[len(lat)-1]
	}
	if elapsed > 0 {
		s.PerSecond = float64(s.OK) / elapsed.Seconds()
	}
	s.ElapsedSeconds = elapsed.Seconds()
	s.P50ms, s.P95ms, s.P99ms, s.MaxMs = ms(s.P50), ms(s.P95), ms(s.P99), ms(s.Max)
	return s, nil
}

// percentile is the nearest-rank p-th percentile of sorted.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 × n)
	return sorted[max(rank, 1)-1]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Call is one callback to send.
type Call struct {
	// Payment is the index of the payment it carries in its source.
	Payment int
	// Dup marks a re-send of a payment sent before.
	Dup  bool
	Body []byte
}

// Source hands out the callbacks of a run and learns how each ended. Its
// methods are called concurrently.
type Source interface {
	// Next returns the call to make as call number seq, or false when the
	// source has no more.
	Next(seq int) (Call, bool)
	// Done reports the HTTP status a call got, 0 after a transport error.
	Done(c Call, status int)
}

// NewClient returns an HTTP client for conc concurrent callers that keeps
// one connection alive per caller.
func NewClient(conc int) *http.Client {
	return &http.Client{
		Timeout: 60 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        conc,
			MaxIdleConnsPerHost: conc,
			MaxConnsPerHost:     conc,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// Fire posts src's calls to target (a loopback URL) as JSON, from
// o.Concurrency keep-alive connections, and measures them.
func Fire(ctx context.Context, client *http.Client, target string, src Source, o LoopOptions) (Stats, error) {
	if err := checkLoopback(target); err != nil {
		return Stats{}, err
	}
	return loop(ctx, o, func(ctx context.Context, seq int) error {
		c, ok := src.Next(seq)
		if !ok {
			return errExhausted
		}
		status, err := post(ctx, client, target, c.Body)
		src.Done(c, status)
		if err != nil {
			return err
		}
		if status < 200 || status > 299 {
			return fmt.Errorf("HTTP %d", status)
		}
		return nil
	})
}

func post(ctx context.Context, client *http.Client, target string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	// Read the answer to its end so the connection is reused.
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, fmt.Errorf("read answer: %w", err)
	}
	return resp.StatusCode, nil
}

// checkLoopback refuses a target that is not on this machine: the harness
// never sends load anywhere else.
func checkLoopback(target string) error {
	u, err := url.Parse(target)
	if err != nil {
		return fmt.Errorf("loadtest: target: %w", err)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("loadtest: target %s is not a loopback address", u.Host)
	}
	return nil
}
