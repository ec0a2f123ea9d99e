package payg

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/payg-gateway/gateway/core"
)

// AsyncState is where an asynchronous provider request stands.
type AsyncState string

// Asynchronous request states:
//
//	created → pending → succeeded | failed
//	pending → timed_out → pending (sent again) … → gave_up
//
// created: stored, its send job is due (a query an operator asked for).
// pending: the provider accepted it; its result comes by callback.
// timed_out: the provider gave up waiting (M-Pesa QueueTimeOutURL); a job
// sends it again after a backoff. gave_up: it timed out MaxAttempts times,
// or could not be sent again.
const (
	AsyncCreated   AsyncState = "created"
	AsyncPending   AsyncState = "pending"
	AsyncSucceeded AsyncState = "succeeded"
	AsyncFailed    AsyncState = "failed"
	AsyncTimedOut  AsyncState = "timed_out"
	AsyncGaveUp    AsyncState = "gave_up"
)

// Final reports whether s is an end state.
func (s AsyncState) Final() bool {
	return s == AsyncSucceeded || s == AsyncFailed || s == AsyncGaveUp
}

// Operations of asynchronous requests (adapters.Operation).
const (
	OperationStatusQuery = "status_query"
	OperationReversal    = "reversal"
)

// AsyncRequest is a request the gateway made to a provider whose result
// arrives later by callback: an M-Pesa Transaction Status query (or a
// Reversal). It is found again by the provider's ids when the result
// comes, and sent again, with the same Ref, when the provider times out.
type AsyncRequest struct {
	ID        string
	TenantID  string
	Instance  string
	Operation string
	// RefRequestID, RefProviderRef and RefProviderTxID identify the
	// payment the request is about (adapters.PaymentRef): what is sent
	// again. RefProviderTxID is the receipt of a Transaction Status query.
	RefRequestID    string
	RefProviderRef  string
	RefProviderTxID string
	// RequestRef and ProviderRef are the provider's ids of the latest
	// send (M-Pesa OriginatorConversationID and ConversationID); empty
	// while created.
	RequestRef  string
	ProviderRef string
	State       AsyncState
	// Attempts counts the sends the provider accepted; MaxAttempts bounds
	// them.
	Attempts    int
	MaxAttempts int
	// ResultCode and ResultDescription are the provider's last result
	// (or why the request could not be sent).
	ResultCode        string
	ResultDescription string
	// PaymentRequestID and QuarantineID name what the request was made
	// for, when it was a payment request's or a quarantined callback's
	// status check.
	PaymentRequestID string
	QuarantineID     string
	CreatedAt        time.Time
	UpdatedAt        time.Time
	SentAt           time.Time
	// NextAttemptAt is when a timed-out request is sent again.
	NextAttemptAt time.Time
	FinishedAt    time.Time
}

// AsyncRequestQuery filters an asynchronous request list; zero fields do
// not filter.
type AsyncRequestQuery struct {
	Operation string
	State     AsyncState
	// Receipt keeps requests about this provider transaction id.
	Receipt string
}

// AsyncQueue is the job queue that sends asynchronous requests: the first
// send of one an operator asked for, and the sends after a timeout.
const AsyncQueue = "async_request"

// AsyncJob is the payload of an AsyncQueue job.
type AsyncJob struct {
	Tenant string `json:"tenant"`
	ID     string `json:"id"`
	// Watch, when set, makes the job a watch on the request's send
	// number Watch instead of a send: if that send is still pending (no
	// result came, or it came before the send was recorded), it is
	// treated as timed out.
	Watch int `json:"watch,omitempty"`
}

// DefaultAsyncMaxAttempts bounds the sends of an asynchronous request.
const DefaultAsyncMaxAttempts = 5

const prefixAsyncRequest = "arq_"

// NewAsyncRequest is an asynchronous request to store.
type NewAsyncRequest struct {
	Instance  string
	Operation string
	// RequestID, ProviderRef and ProviderTxID are the payment it is
	// about.
	RequestID, ProviderRef, ProviderTxID string
	// RequestRef and ProviderRef are the provider's ids when the request
	// was already sent (then it is stored pending); empty stores it
	// created, with its send job due now.
	RequestRef, ConversationRef string
	PaymentRequestID            string
	QuarantineID                string
	// MaxAttempts defaults to DefaultAsyncMaxAttempts.
	MaxAttempts int
	// ResultWait, when set, is how long the result of a request stored
	// pending is awaited before a watch job treats it as timed out.
	ResultWait time.Duration
}

// RecordAsyncRequest stores an asynchronous request of tenant: pending
// when it was sent already (in.RequestRef or in.ConversationRef set),
// else created with a job, due now, that sends it.
func (s *Service) RecordAsyncRequest(ctx context.Context, tenant string, in NewAsyncRequest) (AsyncRequest, error) {
	if in.Instance == "" || in.Operation == "" {
		return AsyncRequest{}, core.Errorf(core.EINVALID, "asynchronous request: instance and operation are required")
	}
	if in.RequestID == "" && in.ProviderRef == "" && in.ProviderTxID == "" {
		return AsyncRequest{}, core.Errorf(core.EINVALID, "asynchronous request: it names no payment")
	}
	now := s.clock.Now()
	r := AsyncRequest{
		ID: newID(prefixAsyncRequest), TenantID: tenant, Instance: in.Instance, Operation: in.Operation,
		RefRequestID: in.RequestID, RefProviderRef: in.ProviderRef, RefProviderTxID: in.ProviderTxID,
		RequestRef: in.RequestRef, ProviderRef: in.ConversationRef, State: AsyncCreated, MaxAttempts: in.MaxAttempts,
		PaymentRequestID: in.PaymentRequestID, QuarantineID: in.QuarantineID, CreatedAt: now, UpdatedAt: now,
	}
	if r.MaxAttempts <= 0 {
		r.MaxAttempts = DefaultAsyncMaxAttempts
	}
	sent := r.RequestRef != "" || r.ProviderRef != ""
	if sent {
		r.State, r.Attempts, r.SentAt = AsyncPending, 1, now
	}
	err := s.inTx(ctx, func(tx Tx) error {
		if err := tx.InsertAsyncRequest(ctx, r); err != nil {
			return err
		}
		if sent {
			return enqueueAsyncWatch(ctx, tx, r, in.ResultWait)
		}
		return enqueueAsyncJob(ctx, tx, r, now)
	})
	if err != nil {
		return AsyncRequest{}, fmt.Errorf("payg: record asynchronous request: %w", err)
	}
	return r, nil
}

// enqueueAsyncJob schedules the next send of r at at, once per send: the
// job's key names the send.
func enqueueAsyncJob(ctx context.Context, tx Tx, r AsyncRequest, at time.Time) error {
	payload, err := json.Marshal(AsyncJob{Tenant: r.TenantID, ID: r.ID})
	if err != nil {
		return err
	}
	err = tx.EnqueueJob(ctx, core.Job{TenantID: r.TenantID, Queue: AsyncQueue,
		Key: "async:" + r.ID + ":send:" + strconv.Itoa(r.Attempts+1), Payload: payload, RunAt: at, MaxAttempts: 10})
	if err != nil {
		return fmt.Errorf("enqueue send of asynchronous request %s: %w", r.ID, err)
	}
	return nil
}

// enqueueAsyncWatch schedules, wait after r's latest send, the check that
// its result came: a send whose result never arrives (lost by the
// provider, or arrived before the send was recorded) must not leave the
// request pending for ever. A zero wait schedules nothing.
func enqueueAsyncWatch(ctx context.Context, tx Tx, r AsyncRequest, wait time.Duration) error {
	if wait <= 0 {
		return nil
	}
	payload, err := json.Marshal(AsyncJob{Tenant: r.TenantID, ID: r.ID, Watch: r.Attempts})
	if err != nil {
		return err
	}
	err = tx.EnqueueJob(ctx, core.Job{TenantID: r.TenantID, Queue: AsyncQueue,
		Key: "async:" + r.ID + ":watch:" + strconv.Itoa(r.Attempts), Payload: payload, RunAt: r.SentAt.Add(wait), MaxAttempts: 10})
	if err != nil {
		return fmt.Errorf("enqueue result watch of asynchronous request %s: %w", r.ID, err)
	}
	return nil
}

// AsyncRequest returns one asynchronous request of tenant.
func (s *Service) AsyncRequest(ctx context.Context, tenant, id string) (AsyncRequest, error) {
	var r AsyncRequest
	err := s.store.View(ctx, func(rd Reader) error {
		var err error
		r, err = rd.AsyncRequest(ctx, tenant, id)
		return err
	})
	return r, err
}

// AsyncResult is what became of one send of an asynchronous request.
type AsyncResult struct {
	// State is AsyncSucceeded, AsyncFailed or AsyncTimedOut (the provider's
	// answer by callback); AsyncPending records a new send (RequestRef and
	// ProviderRef are its ids); AsyncGaveUp gives up.
	State       AsyncState
	RequestRef  string
	ProviderRef string
	Code        string
	Description string
	// RetryAfter is the wait before a timed-out request is sent again.
	RetryAfter time.Duration
	// Sync marks a final answer that came with the send itself (an
	// adapter that answered at once): it counts as a send.
	Sync bool
	// ResultWait, with State AsyncPending, schedules a watch job: if
	// the send's result has not come after this long, the send is
	// treated as timed out.
	ResultWait time.Duration
}

// AsyncUpdate reports what UpdateAsyncRequest did.
type AsyncUpdate struct {
	Request AsyncRequest
	// Changed is false when the request was final already, or the
	// result was for a send it has since replaced (a repeated callback).
	Changed bool
	// Retry is set when a timeout scheduled the next send.
	Retry bool
}

// UpdateAsyncRequest records res on request id of tenant, in one
// transaction with the job of its next send when a timeout leaves sends
// to spend; a timeout with none left gives the request up. A final
// request is left as it is, and so is a callback result that is not about
// a pending request (a repeat), except a success or failure after a
// timeout (a late answer), which settles it.
func (s *Service) UpdateAsyncRequest(ctx context.Context, tenant, id string, res AsyncResult) (AsyncUpdate, error) {
	var out AsyncUpdate
	err := s.inTx(ctx, func(tx Tx) error {
		r, err := tx.LockAsyncRequest(ctx, tenant, id)
		if err != nil {
			return err
		}
		out = AsyncUpdate{Request: r}
		if r.State.Final() {
			return nil
		}
		now := s.clock.Now()
		switch res.State {
		case AsyncSucceeded, AsyncFailed, AsyncTimedOut:
			switch {
			case res.Sync && r.State != AsyncPending:
				r.Attempts++
				r.SentAt = now
			case res.Sync:
				return nil // sent already: the job ran twice
			case r.State == AsyncTimedOut && res.State != AsyncTimedOut:
				// A late answer to the send that timed out: it settles
				// the request, and the next send finds nothing to do.
				r.NextAttemptAt = time.Time{}
			case r.State != AsyncPending:
				return nil // a repeated callback: its send was already answered
			}
		case AsyncPending:
			if r.State == AsyncPending {
				return nil // sent already: the job ran twice
			}
			r.Attempts++
			r.SentAt = now
			r.RequestRef, r.ProviderRef = res.RequestRef, res.ProviderRef
			r.NextAttemptAt = time.Time{}
		case AsyncGaveUp:
		default:
			return core.Errorf(core.EINVALID, "asynchronous request %s: cannot record state %q", id, res.State)
		}
		r.State = res.State
		if res.Code != "" || res.Description != "" || res.State != AsyncPending {
			r.ResultCode, r.ResultDescription = res.Code, res.Description
		}
		if r.State == AsyncTimedOut {
			if r.Attempts >= r.MaxAttempts {
				r.State = AsyncGaveUp
				r.ResultDescription = fmt.Sprintf("%s (timed out %d times; given up)", r.ResultDescription, r.Attempts)
			} else {
				r.NextAttemptAt = now.Add(res.RetryAfter)
				out.Retry = true
			}
		}
		r.UpdatedAt = now
		if r.State.Final() {
			r.FinishedAt = now
			r.NextAttemptAt = time.Time{}
		}
		if err := tx.UpdateAsyncRequest(ctx, r); err != nil {
			return err
		}
		out.Request, out.Changed = r, true
		switch {
		case out.Retry:
			return enqueueAsyncJob(ctx, tx, r, r.NextAttemptAt)
		case r.State == AsyncPending:
			return enqueueAsyncWatch(ctx, tx, r, res.ResultWait)
		}
		return nil
	})
	if err != nil {
		return AsyncUpdate{}, fmt.Errorf("payg: update asynchronous request %s: %w", id, err)
	}
	return out, nil
}

// AsyncRequestByRef finds the asynchronous request of instance that the
// provider calls requestRef or providerRef (the latest one when several
// match); ENOTFOUND when there is none.
func (s *Service) AsyncRequestByRef(ctx context.Context, instance, requestRef, providerRef string) (AsyncRequest, error) {
	var r AsyncRequest
	err := s.store.View(ctx, func(rd Reader) error {
		var err error
		r, err = rd.AsyncRequestByRef(ctx, instance, requestRef, providerRef)
		return err
	})
	return r, err
}
