package jobs

import (
	"errors"
	"time"
)

// retryAtError asks for the next attempt no earlier than At.
type retryAtError struct {
	err error
	at  time.Time
}

func (e *retryAtError) Error() string { return e.err.Error() }
func (e *retryAtError) Unwrap() error { return e.err }

// RetryAt marks a failed attempt that the other side asked to repeat no
// earlier than at (an HTTP Retry-After). The attempt is spent; the next
// one is at at or at the retry policy's time, whichever is later.
func RetryAt(err error, at time.Time) error {
	return &retryAtError{err: orUnknown(err), at: at}
}

// permanentError is a failure that no retry can fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks a failure that retrying cannot fix (the endpoint is
// gone, the payload is malformed): the job is dead at once.
func Permanent(err error) error {
	return &permanentError{err: orUnknown(err)}
}

// notAttemptedError says the work was not attempted.
type notAttemptedError struct {
	err error
	at  time.Time
}

func (e *notAttemptedError) Error() string { return e.err.Error() }
func (e *notAttemptedError) Unwrap() error { return e.err }

// NotAttempted says the handler did not attempt the work (an open circuit
// breaker, a rate limit): the job runs again at at without spending an
// attempt. A zero at means one poll interval from now.
func NotAttempted(err error, at time.Time) error {
	return &notAttemptedError{err: orUnknown(err), at: at}
}

func orUnknown(err error) error {
	if err == nil {
		return errors.New("jobs: failed without an error")
	}
	return err
}

// IsPermanent reports whether err was marked Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// RetryAfter returns the time a RetryAt error asks for.
func RetryAfter(err error) (time.Time, bool) {
	var r *retryAtError
	if errors.As(err, &r) {
		return r.at, true
	}
	return time.Time{}, false
}

// WasNotAttempted returns the time a NotAttempted error asks for.
func WasNotAttempted(err error) (time.Time, bool) {
	var n *notAttemptedError
	if errors.As(err, &n) {
		return n.at, true
	}
	return time.Time{}, false
}
