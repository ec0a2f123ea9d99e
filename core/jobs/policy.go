package jobs

import (
	"time"

	"github.com/cenkalti/backoff/v4"
)

// RetryPolicy says how long a job waits after a failed attempt.
type RetryPolicy interface {
	// Delay is the wait after the job's attempt-th failed attempt (1 for
	// the first).
	Delay(attempt int) time.Duration
}

// Schedule is a RetryPolicy that follows a fixed list of delays, the last
// one repeated, each randomised by ±Jitter (0.1 is ±10 %) so jobs that
// failed together do not all come back together.
type Schedule struct {
	Delays []time.Duration
	Jitter float64
}

// Delay implements RetryPolicy. The randomisation is backoff/v4's
// (RetryInterval × [1−Jitter, 1+Jitter]) on a constant interval.
func (s Schedule) Delay(attempt int) time.Duration {
	if len(s.Delays) == 0 {
		return 0
	}
	d := s.Delays[min(max(attempt, 1), len(s.Delays))-1]
	if s.Jitter <= 0 || d <= 0 {
		return d
	}
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(d), backoff.WithMaxInterval(d), backoff.WithMultiplier(1),
		backoff.WithRandomizationFactor(s.Jitter), backoff.WithMaxElapsedTime(0))
	return b.NextBackOff()
}

// Exponential is a RetryPolicy whose delays grow from Initial by Multiplier
// (2 when zero) up to Max, randomised by ±Jitter: backoff/v4's
// ExponentialBackOff, asked for its attempt-th interval.
type Exponential struct {
	Initial    time.Duration
	Max        time.Duration
	Multiplier float64
	Jitter     float64
}

// Delay implements RetryPolicy.
func (e Exponential) Delay(attempt int) time.Duration {
	mult := e.Multiplier
	if mult <= 0 {
		mult = 2
	}
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(e.Initial), backoff.WithMaxInterval(max(e.Max, e.Initial)),
		backoff.WithMultiplier(mult), backoff.WithRandomizationFactor(e.Jitter), backoff.WithMaxElapsedTime(0))
	var d time.Duration
	for range max(attempt, 1) {
		d = b.NextBackOff()
	}
	return d
}

// DefaultRetryPolicy is the policy of a queue registered without one:
// 1 s doubling to 1 h, ±10 %.
var DefaultRetryPolicy RetryPolicy = Exponential{Initial: time.Second, Max: time.Hour, Jitter: 0.1}
