package callbacks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/jobs"
	"github.com/payg-gateway/gateway/core/payg"
)

// AsyncPolicy says how asynchronous provider requests (M-Pesa Transaction
// Status) are sent again after the provider timed out.
type AsyncPolicy struct {
	// MaxAttempts bounds the sends of one request; after the last one
	// times out the request is given up.
	MaxAttempts int
	// Backoff are the waits before each send again (the first after the
	// first timeout), the last one repeated.
	Backoff []time.Duration
	// ResultWait is how long the result of a send is awaited; after it
	// the send is treated as timed out (Daraja's own queue timeout comes
	// much sooner, so this only catches results that never arrive).
	ResultWait time.Duration
}

// DefaultAsyncPolicy sends a timed-out request again after 1, 5, 15 and
// 60 minutes: five sends in about an hour and a half. A send with no
// result after an hour counts as timed out.
var DefaultAsyncPolicy = AsyncPolicy{
	MaxAttempts: payg.DefaultAsyncMaxAttempts,
	Backoff:     []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour},
	ResultWait:  time.Hour,
}

// AsyncRetryPolicy is the backoff of a send job whose call failed (the
// provider did not answer, or refused for now): 30 s doubling to 10 min,
// ±10 %, within the job's attempts.
var AsyncRetryPolicy jobs.RetryPolicy = jobs.Exponential{Initial: 30 * time.Second, Max: 10 * time.Minute, Jitter: 0.1}

// SetAsyncPolicy replaces DefaultAsyncPolicy for this host; zero fields
// keep the default. Call it before the host serves.
func (h *Host) SetAsyncPolicy(p AsyncPolicy) {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultAsyncPolicy.MaxAttempts
	}
	if len(p.Backoff) == 0 {
		p.Backoff = DefaultAsyncPolicy.Backoff
	}
	if p.ResultWait <= 0 {
		p.ResultWait = DefaultAsyncPolicy.ResultWait
	}
	h.async = p
}

// backoff is the wait before a request that timed out after its
// attempts-th send is sent again.
func (p AsyncPolicy) backoff(attempts int) time.Duration {
	return p.Backoff[min(max(attempts-1, 0), len(p.Backoff)-1)]
}

// asyncOrigin names what an asynchronous request was made for.
type asyncOrigin struct {
	paymentRequestID string
	quarantineID     string
}

// recordAsync stores an asynchronous request the instance's adapter has
// just sent (a status query whose answer comes by callback), so its
// result is found when it arrives and a timeout can send it again. It is
// the one place such a request is recorded.
func (h *Host) recordAsync(ctx context.Context, log *slog.Logger, in Instance, ref adapters.PaymentRef, a *adapters.AsyncRequest, from asyncOrigin) error {
	r, err := h.svc.RecordAsyncRequest(ctx, in.Config.Tenant, payg.NewAsyncRequest{
		Instance: in.Config.Name, Operation: string(a.Operation),
		RequestID: ref.RequestID, ProviderRef: ref.ProviderRef, ProviderTxID: ref.ProviderTxID,
		RequestRef: a.RequestRef, ConversationRef: a.ProviderRef,
		PaymentRequestID: from.paymentRequestID, QuarantineID: from.quarantineID, MaxAttempts: h.async.MaxAttempts,
		ResultWait: h.async.ResultWait,
	})
	if err != nil {
		return err
	}
	log.Info("asynchronous provider request recorded; its result comes by callback", "async_request", r.ID,
		"operation", r.Operation, "request_ref", r.RequestRef, "provider_ref", r.ProviderRef)
	return nil
}

// StartStatusQuery asks the provider, through instance, what became of
// the payment with receipt: the query is stored and sent by a durable
// job (its answer comes by callback; a receipt the ledger lacks is then
// applied). The instance must belong to tenant and be able to query.
func (h *Host) StartStatusQuery(ctx context.Context, tenant, instance, receipt string) (payg.AsyncRequest, error) {
	receipt = strings.TrimSpace(receipt)
	in, ok := h.instances[instance]
	switch {
	case !ok || in.Config.Tenant != tenant:
		return payg.AsyncRequest{}, core.Errorf(core.EINVALID, "instance %q: no such adapter instance (have %s)", instance, h.tenantInstances(tenant))
	case receipt == "":
		return payg.AsyncRequest{}, core.Errorf(core.EINVALID, "receipt: required")
	}
	if q, ok := in.Adapter.(adapters.ReceiptQuerier); !ok || !q.QueriesByReceipt() {
		return payg.AsyncRequest{}, core.Errorf(core.EINVALID,
			"instance %q (%s) cannot ask about a payment by its receipt (M-Pesa needs settings.initiator, security_credential, consumer_key and consumer_secret)",
			instance, in.Config.Adapter)
	}
	r, err := h.svc.RecordAsyncRequest(ctx, tenant, payg.NewAsyncRequest{Instance: instance, Operation: payg.OperationStatusQuery,
		ProviderTxID: receipt, MaxAttempts: h.async.MaxAttempts})
	if err != nil {
		return payg.AsyncRequest{}, err
	}
	h.wakeJobs()
	return r, nil
}

func (h *Host) tenantInstances(tenant string) string {
	var names []string
	for n, in := range h.instances {
		if in.Config.Tenant == tenant {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// AsyncHandler runs the jobs of payg.AsyncQueue: it sends an asynchronous
// request for the first time (one an operator asked for) or again after
// the provider timed out, with the request's stored payment reference.
func (h *Host) AsyncHandler() jobs.Handler {
	return jobs.HandlerFunc(h.handleAsync)
}

func (h *Host) handleAsync(ctx context.Context, j core.Job) error {
	var p payg.AsyncJob
	if err := decodeJob(j, "asynchronous request", &p); err != nil {
		return err
	}
	r, err := h.svc.AsyncRequest(ctx, p.Tenant, p.ID)
	if err != nil {
		return loadFailed(err)
	}
	log := h.log.With("async_request", r.ID, "instance", r.Instance, "operation", r.Operation)
	if p.Watch > 0 {
		return h.watchAsync(ctx, log, r, p.Watch)
	}
	if r.State != payg.AsyncCreated && r.State != payg.AsyncTimedOut {
		return nil // sent already, or answered meanwhile
	}
	giveUp := func(why string) error {
		log.Warn("asynchronous provider request given up", "reason", why, "attempts", r.Attempts)
		_, err := h.svc.UpdateAsyncRequest(ctx, r.TenantID, r.ID, payg.AsyncResult{State: payg.AsyncGaveUp, Description: why})
		return err
	}
	in, ok := h.instances[r.Instance]
	if !ok {
		return giveUp("instance " + r.Instance + " is not configured any more")
	}
	q, ok := in.Adapter.(adapters.StatusQuerier)
	if !ok || r.Operation != payg.OperationStatusQuery {
		return giveUp(fmt.Sprintf("instance %s cannot send a %s", r.Instance, r.Operation))
	}
	ref := adapters.PaymentRef{RequestID: r.RefRequestID, ProviderRef: r.RefProviderRef, ProviderTxID: r.RefProviderTxID}
	st, err := h.queryStatus(ctx, q, ref)
	switch {
	case cannotTell(err):
		return giveUp("the provider cannot be asked: " + err.Error())
	case err != nil && j.Attempts >= j.MaxAttempts:
		return giveUp("not sent after " + fmt.Sprint(j.Attempts) + " tries: " + err.Error())
	case err != nil:
		log.Warn("asynchronous provider request not sent; trying again later", "error", err)
		return err
	case st.Async != nil:
		up, err := h.svc.UpdateAsyncRequest(ctx, r.TenantID, r.ID, payg.AsyncResult{State: payg.AsyncPending,
			RequestRef: st.Async.RequestRef, ProviderRef: st.Async.ProviderRef, ResultWait: h.async.ResultWait})
		if err == nil && up.Changed {
			log.Info("asynchronous provider request sent; its result comes by callback", "attempt", up.Request.Attempts,
				"request_ref", st.Async.RequestRef, "provider_ref", st.Async.ProviderRef)
		}
		return err
	case st.Notice.Status == core.NoticePending:
		return errStillPending
	}
	// The adapter answered at once: apply its answer like a callback's.
	n := st.Notice
	n.Instance = r.Instance
	out, err := h.svc.ApplyNotice(ctx, r.TenantID, n)
	if errors.Is(err, payg.ErrUnknownRequest) {
		return giveUp("the provider reports money for a request the gateway did not make")
	}
	if err != nil {
		return err
	}
	_, err = h.svc.UpdateAsyncRequest(ctx, r.TenantID, r.ID, payg.AsyncResult{State: payg.AsyncSucceeded, Sync: true,
		Description: "answered at once: payment " + string(n.Status)})
	log.Info("asynchronous provider request answered at once", "status", n.Status, "payment_id", out.Payment.ID)
	return err
}

// watchAsync treats send number send of r as timed out when it is still
// pending: its result did not come within the policy's ResultWait. The
// timeout sends it again (or gives up after the last attempt), as a
// provider's own timeout would.
func (h *Host) watchAsync(ctx context.Context, log *slog.Logger, r payg.AsyncRequest, send int) error {
	if r.State != payg.AsyncPending || r.Attempts != send {
		return nil // answered, or sent again since
	}
	up, err := h.svc.UpdateAsyncRequest(ctx, r.TenantID, r.ID, payg.AsyncResult{State: payg.AsyncTimedOut,
		Description: fmt.Sprintf("no result within %s of the send", h.async.ResultWait)})
	if err != nil {
		return err
	}
	if up.Retry {
		log.Warn("no result came for an asynchronous provider request; it is sent again", "attempts", up.Request.Attempts,
			"waited", h.async.ResultWait)
		h.wakeJobs()
	} else if up.Changed {
		log.Warn("no result came for an asynchronous provider request on its last attempt; given up", "attempts", up.Request.Attempts)
	}
	return nil
}

// applyOutcome records the result of an asynchronous request a callback
// reports on the stored request. It reports false, and changes nothing,
// for a request the gateway never stored (logged). A store error is
// returned: the callback is not acknowledged, and the provider retries.
func (h *Host) applyOutcome(ctx context.Context, log *slog.Logger, in Instance, res *adapters.CallbackResult) (bool, error) {
	o := res.Outcome
	log = log.With("operation", o.Operation, "result", o.Result, "code", o.Code, "request_ref", o.RequestRef, "provider_ref", o.ProviderRef)
	r, err := h.svc.AsyncRequestByRef(ctx, in.Config.Name, o.RequestRef, o.ProviderRef)
	switch {
	case core.ErrorCode(err) == core.ENOTFOUND || (err == nil && r.TenantID != in.Config.Tenant):
		log.Warn("provider reported the outcome of a request the gateway has no record of; acknowledged, nothing to update")
		return false, nil
	case err != nil:
		return false, err
	}
	log = log.With("async_request", r.ID)
	var state payg.AsyncState
	switch o.Result {
	case adapters.OutcomeSucceeded, adapters.OutcomeAlreadyDone:
		state = payg.AsyncSucceeded
	case adapters.OutcomeFailed:
		state = payg.AsyncFailed
	case adapters.OutcomeTimedOut:
		state = payg.AsyncTimedOut
	default:
		log.Warn("provider reported an outcome the gateway does not know; the request is left as it is")
		return true, nil
	}
	up, err := h.svc.UpdateAsyncRequest(ctx, r.TenantID, r.ID, payg.AsyncResult{State: state, Code: o.Code,
		Description: o.Description, RetryAfter: h.async.backoff(r.Attempts)})
	if err != nil {
		return true, err
	}
	switch got := up.Request; {
	case !up.Changed:
		log.Info("provider reported a request outcome again; the request is already " + string(got.State))
	case up.Retry:
		log.Info("provider timed out the request; it is sent again later", "attempts", got.Attempts, "next_attempt_at", got.NextAttemptAt)
		h.wakeJobs()
	case got.State == payg.AsyncGaveUp:
		log.Warn("provider timed out the request on its last attempt; given up", "attempts", got.Attempts)
	case got.State == payg.AsyncFailed:
		log.Warn("provider reported the request failed", "description", o.Description)
	default:
		log.Info("provider reported the request succeeded")
	}
	if up.Request.State == payg.AsyncSucceeded && r.QuarantineID != "" && len(res.Notices) > 0 {
		// The quarantined callback's payment is applied from the answer
		// (resolving is idempotent: a repeated callback does it again).
		if err := h.svc.ResolveQuarantine(ctx, r.TenantID, r.QuarantineID); err != nil {
			return true, err
		}
		log.Info("quarantined callback resolved by a status query's result", "quarantine_id", r.QuarantineID)
	}
	return true, nil
}
