package core

import (
	"context"
	"time"
)

// Idempotency records let a caller retry a POST safely (Stripe's semantics):
// the first request with a key runs and its answer is stored; a retry with
// the same key and the same request gets the stored answer again; the same
// key with a different request is refused (EINVALID); and a retry while the
// first is still running is refused too (ECONFLICT).
//
// A record is in flight from BeginIdempotency until CompleteIdempotency or
// ReleaseIdempotency. The stored answer and the request's business writes
// are not (yet) one transaction: a process that dies between the two
// leaves the record in flight. After IdempotencyInFlightTimeout such a
// record may be taken over by a retry, which then runs the request again;
// handlers must therefore keep their own writes safe to repeat (natural
// keys, unique constraints) until the two share a transaction.
const (
	// IdempotencyTTL is how long a key and its answer are kept.
	IdempotencyTTL = 24 * time.Hour
	// IdempotencyInFlightTimeout is how long a request may hold its key
	// before a retry is allowed to take it over.
	IdempotencyInFlightTimeout = time.Minute
	// MaxIdempotencyKeyLength bounds the key a caller chooses.
	MaxIdempotencyKeyLength = 255
)

// StoredResponse is an answer kept for replay.
type StoredResponse struct {
	Status int
	// Header holds the response headers to replay, canonical names as keys.
	Header map[string][]string
	Body   []byte
}

// IdempotencyService keeps idempotency records. Keys are scoped by tenant;
// fingerprint identifies the request (a hash of its method, path and body).
type IdempotencyService interface {
	// BeginIdempotency claims key for one request. It returns (nil, nil)
	// when the caller now holds the key and must Complete or Release it;
	// the stored answer when the key was completed for the same
	// fingerprint; EINVALID when the key was used for another fingerprint;
	// ECONFLICT while another request holds it. An expired record (older
	// than IdempotencyTTL) is replaced, and an in-flight record older than
	// IdempotencyInFlightTimeout is taken over.
	BeginIdempotency(ctx context.Context, tenantID, key, fingerprint string) (*StoredResponse, error)
	// CompleteIdempotency stores the answer of a request that holds key;
	// ENOTFOUND if it does not hold it (any more).
	CompleteIdempotency(ctx context.Context, tenantID, key, fingerprint string, resp StoredResponse) error
	// ReleaseIdempotency gives up an in-flight key without an answer, so a
	// retry runs the request again. Releasing a key not held is a no-op.
	ReleaseIdempotency(ctx context.Context, tenantID, key, fingerprint string) error
	// PurgeIdempotency deletes records older than IdempotencyTTL and
	// returns how many it deleted.
	PurgeIdempotency(ctx context.Context) (int, error)
}

// IdempotencyRecord is the state of a stored record that the rules look at.
type IdempotencyRecord struct {
	Fingerprint string
	Completed   bool
	CreatedAt   time.Time // when the current request first claimed the key
	LockedAt    time.Time // when a request last claimed it
}

// IdempotencyAction is what BeginIdempotency does with an existing record.
type IdempotencyAction int

// The actions Decide picks.
const (
	IdempotencyReplay   IdempotencyAction = iota + 1 // answer with the stored response
	IdempotencyRestart                               // the record expired: claim it afresh
	IdempotencyTakeOver                              // a stale in-flight claim: take it over
)

// Decide applies the idempotency rules to an existing record, for the
// stores: a record past IdempotencyTTL is restarted; otherwise another
// fingerprint is EINVALID, a completed record is replayed, a fresh
// in-flight one is ECONFLICT and a stale one is taken over.
func (r IdempotencyRecord) Decide(now time.Time, fingerprint string) (IdempotencyAction, error) {
	switch {
	case now.Sub(r.CreatedAt) >= IdempotencyTTL:
		return IdempotencyRestart, nil
	case r.Fingerprint != fingerprint:
		return 0, Errorf(EINVALID, "this Idempotency-Key was used with a different request; use a new key")
	case r.Completed:
		return IdempotencyReplay, nil
	case now.Sub(r.LockedAt) < IdempotencyInFlightTimeout:
		return 0, Errorf(ECONFLICT, "a request with this Idempotency-Key is still in progress; retry later")
	}
	return IdempotencyTakeOver, nil
}
