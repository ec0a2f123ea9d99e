package jobs_test

import (
	"testing"
	"time"

	"github.com/payg-gateway/gateway/core/jobs"
)

func TestScheduleDelay(t *testing.T) {
	s := jobs.Schedule{Delays: []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute}}
	tests := []struct {
		attempt int
		want    time.Duration
	}{
		{0, 5 * time.Second}, // before the first: treated as the first
		{1, 5 * time.Second},
		{2, 5 * time.Minute},
		{3, 30 * time.Minute},
		{4, 30 * time.Minute}, // the last repeats
		{40, 30 * time.Minute},
	}
	for _, tt := range tests {
		if got := s.Delay(tt.attempt); got != tt.want {
			t.Errorf("Delay(%d) = %v, want %v", tt.attempt, got, tt.want)
		}
	}
	if got := (jobs.Schedule{}).Delay(3); got != 0 {
		t.Errorf("empty schedule: %v, want 0", got)
	}
}

func TestScheduleJitter(t *testing.T) {
	s := jobs.Schedule{Delays: []time.Duration{10 * time.Hour}, Jitter: 0.1}
	seen := map[time.Duration]bool{}
	for range 200 {
		d := s.Delay(1)
		if d < 9*time.Hour || d > 11*time.Hour+time.Nanosecond {
			t.Fatalf("Delay = %v, outside 10h ± 10%%", d)
		}
		seen[d] = true
	}
	if len(seen) < 100 {
		t.Errorf("%d distinct delays in 200: jitter is not random", len(seen))
	}
}

func TestExponentialDelay(t *testing.T) {
	e := jobs.Exponential{Initial: time.Second, Max: 10 * time.Second}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for i, w := range want {
		if got := e.Delay(i + 1); got != w {
			t.Errorf("Delay(%d) = %v, want %v", i+1, got, w)
		}
	}
}
