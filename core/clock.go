package core

import "time"

// Clock tells the time. Everything that stamps or compares times takes one,
// so tests can pin and move time.
type Clock interface {
	Now() time.Time
}

// SystemClock is the wall clock, in UTC.
type SystemClock struct{}

// Now returns the current time in UTC.
func (SystemClock) Now() time.Time { return time.Now().UTC() }
