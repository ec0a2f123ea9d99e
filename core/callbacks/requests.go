package callbacks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/jobs"
	"github.com/payg-gateway/gateway/core/payg"
)

// RequestPolicy says how payment requests are initiated and followed up
// (the janitor).
type RequestPolicy struct {
	// Checks are the waits before each status check of a request, the
	// last one repeated: the janitor's backoff.
	Checks []time.Duration
	// Grace is how long after a request's window (ExpiresAt) the janitor
	// keeps asking before it leaves the request unknown (expired). A
	// callback that comes later still settles it.
	Grace time.Duration
	// CallTimeout bounds one call to the provider.
	CallTimeout time.Duration
	// Window is how long a payer has to approve a request.
	Window time.Duration
}

// DefaultRequestPolicy checks after 15 s, 30 s, 1 min, 2 min, then every
// 5 min, for up to 30 min after the payer's 5-minute window.
var DefaultRequestPolicy = RequestPolicy{
	Checks:      []time.Duration{15 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute},
	Grace:       30 * time.Minute,
	CallTimeout: 30 * time.Second,
	Window:      payg.DefaultRequestWindow,
}

// SetRequestPolicy replaces DefaultRequestPolicy for this host; zero fields
// keep the default. Call it before the host serves.
func (h *Host) SetRequestPolicy(p RequestPolicy) {
	d := DefaultRequestPolicy
	if len(p.Checks) == 0 {
		p.Checks = d.Checks
	}
	if p.Grace <= 0 {
		p.Grace = d.Grace
	}
	if p.CallTimeout <= 0 {
		p.CallTimeout = d.CallTimeout
	}
	if p.Window <= 0 {
		p.Window = d.Window
	}
	h.policy = p
}

// PaymentRequestInput is a payment request as a CRM asks for it.
type PaymentRequestInput struct {
	ContractID string // resolved id
	// Instance names the adapter instance; empty picks the tenant's one
	// instance that can request payments in the amount's currency.
	Instance    string
	Amount      core.Money
	Phone       string
	Description string
}

// CreatePaymentRequest stores a payment request and its initiation job.
// The instance must belong to tenant and be able to start payments.
func (h *Host) CreatePaymentRequest(ctx context.Context, tenant string, in PaymentRequestInput) (payg.PaymentRequest, error) {
	name, err := h.initiatingInstance(tenant, in.Instance, in.Amount.Currency)
	if err != nil {
		return payg.PaymentRequest{}, err
	}
	ref, err := adapters.NewReferenceID()
	if err != nil {
		return payg.PaymentRequest{}, err
	}
	return h.svc.CreatePaymentRequest(ctx, tenant, payg.PaymentRequestInput{
		ContractID: in.ContractID, Instance: name, Amount: in.Amount, Phone: in.Phone,
		Description: in.Description, ReferenceID: ref, Window: h.policy.Window,
	})
}

// initiatingInstance checks the named instance, or picks the default one.
func (h *Host) initiatingInstance(tenant, name string, cur core.Currency) (string, error) {
	if name != "" {
		in, ok := h.instances[name]
		if !ok || in.Config.Tenant != tenant {
			return "", core.Errorf(core.EINVALID, "instance %q: no such adapter instance", name)
		}
		if _, ok := in.Adapter.(adapters.PaymentInitiator); !ok {
			return "", core.Errorf(core.EINVALID, "instance %q (%s) cannot request payments", name, in.Config.Adapter)
		}
		if in.Config.Currency != cur {
			return "", core.Errorf(core.EINVALID, "instance %q collects %s, not %s", name, in.Config.Currency, cur)
		}
		return name, nil
	}
	var names []string
	for n, in := range h.instances {
		if _, ok := in.Adapter.(adapters.PaymentInitiator); ok && in.Config.Tenant == tenant && in.Config.Currency == cur {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	switch len(names) {
	case 1:
		return names[0], nil
	case 0:
		return "", core.Errorf(core.EINVALID, "instance: no adapter instance of this tenant can request payments in %s", cur)
	}
	return "", core.Errorf(core.EINVALID, "instance: several instances can request payments in %s (%s): name one", cur, strings.Join(names, ", "))
}

// RequestHandler runs the jobs of payg.RequestQueue: it initiates payment
// requests and, as the janitor, checks on them until they are final. Each
// request has one chain of jobs (each run schedules the next), so any
// number of replicas may run it.
func (h *Host) RequestHandler() jobs.Handler {
	return jobs.HandlerFunc(h.handleRequest)
}

func (h *Host) handleRequest(ctx context.Context, j core.Job) error {
	var p payg.RequestJob
	if err := decodeJob(j, "payment request", &p); err != nil {
		return err
	}
	r, err := h.svc.PaymentRequest(ctx, p.Tenant, p.ID)
	if err != nil {
		return loadFailed(err)
	}
	if r.Status.Final() {
		return nil
	}
	log := h.log.With("payment_request", r.ID, "instance", r.Instance, "op", p.Op)
	in, ok := h.instances[r.Instance]
	if !ok {
		_, err := h.svc.UpdatePaymentRequest(ctx, r.TenantID, r.ID, payg.RequestUpdate{Status: payg.RequestUnknown,
			Reason: "instance " + r.Instance + " is not configured any more: the janitor cannot ask the provider"})
		log.Error("payment request of an instance that is not configured")
		return err
	}
	// A second run of an initiation job means the first may have called
	// the provider before it was lost: ask before calling again.
	if p.Op == payg.OpInitiate && j.Attempts <= 1 && r.Status == payg.RequestCreated {
		return h.initiate(ctx, log, in, r, j)
	}
	return h.check(ctx, log, in, r, j, p.Once)
}

// initiate calls the provider with the request's stored ReferenceID.
func (h *Host) initiate(ctx context.Context, log *slog.Logger, in Instance, r payg.PaymentRequest, j core.Job) error {
	pi, ok := in.Adapter.(adapters.PaymentInitiator)
	if !ok {
		_, err := h.svc.UpdatePaymentRequest(ctx, r.TenantID, r.ID, payg.RequestUpdate{Status: payg.RequestFailed,
			Reason: "instance " + r.Instance + " cannot request payments"})
		return err
	}
	// Counted before the call: the record shows a call that may have
	// landed even if this process dies in it.
	r, err := h.svc.UpdatePaymentRequest(ctx, r.TenantID, r.ID, payg.RequestUpdate{Initiation: true})
	if err != nil || r.Status.Final() {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, h.policy.CallTimeout)
	defer cancel()
	ini, err := pi.InitiatePayment(cctx, adapters.PaymentRequest{
		RequestID: r.ID, ReferenceID: r.ReferenceID, Amount: r.Amount, MSISDN: r.MSISDN,
		AccountRef: r.AccountRef, Description: r.Description,
	})
	now := h.clock.Now()
	var pe *adapters.ProviderError
	switch {
	case err == nil && ini.Status == core.NoticeFailed:
		log.Info("payment request refused by the provider", "reason", ini.Reason)
		h.step(r.Instance, "refused")
		_, err = h.svc.UpdatePaymentRequest(ctx, r.TenantID, r.ID, payg.RequestUpdate{Status: payg.RequestFailed,
			RequestID: ini.RequestID, ProviderRef: ini.ProviderRef, Reason: ini.Reason})
	case err == nil:
		log.Info("payment request initiated", "request_id", ini.RequestID, "duplicate", ini.Duplicate)
		h.step(r.Instance, "initiated")
		_, err = h.svc.UpdatePaymentRequest(ctx, r.TenantID, r.ID, payg.RequestUpdate{Status: payg.RequestInitiated,
			RequestID: ini.RequestID, ProviderRef: ini.ProviderRef, Reason: ini.Reason,
			NextCheck: now.Add(h.policy.delay(0)), Cause: j.ID})
		if err == nil && ini.RequestID != "" && ini.RequestID != r.RequestID {
			h.replayQuarantined(ctx, log, in, r.TenantID, ini.RequestID)
		}
	case errors.As(err, &pe) && pe.Retryable && now.Before(r.ExpiresAt):
		// Refused for now (rate limit, a transaction in process): it did
		// not land, so it is initiated again later with the same id.
		log.Warn("payment request refused for now; initiating again later", "error", err)
		h.step(r.Instance, "retry_later")
		_, err = h.svc.UpdatePaymentRequest(ctx, r.TenantID, r.ID, payg.RequestUpdate{Reason: "initiation refused for now: " + pe.Error(),
			NextCheck: now.Add(h.policy.delay(r.Initiations)), NextOp: payg.OpInitiate, Cause: j.ID})
	case errors.As(err, &pe), core.ErrorCode(err) == core.EINVALID, errors.Is(err, adapters.ErrNotConfigured):
		log.Warn("payment request failed at initiation", "error", err)
		h.step(r.Instance, "refused")
		_, err = h.svc.UpdatePaymentRequest(ctx, r.TenantID, r.ID, payg.RequestUpdate{Status: payg.RequestFailed,
			Reason: initiationReason(err)})
	default:
		// No answer: the request may have landed. Ask before anything.
		log.Warn("payment request initiation outcome unknown; the janitor asks the provider", "error", err)
		h.step(r.Instance, "unknown")
		_, err = h.svc.UpdatePaymentRequest(ctx, r.TenantID, r.ID, payg.RequestUpdate{Status: payg.RequestUnknown,
			Reason: "initiation outcome unknown: " + err.Error(), NextCheck: now.Add(h.policy.delay(0)), Cause: j.ID})
	}
	return err
}

func initiationReason(err error) string {
	var pe *adapters.ProviderError
	switch {
	case errors.As(err, &pe):
		s := pe.Code
		if pe.Message != "" {
			if s != "" {
				s += ": "
			}
			s += pe.Message
		}
		if s == "" {
			s = pe.Error()
		}
		return s
	case core.ErrorCode(err) == core.EINVALID:
		return "refused before calling the provider: " + core.ErrorMessage(err)
	}
	return err.Error()
}

// check asks the provider what became of a request and applies a final
// answer like a callback's; otherwise it schedules the next check, until
// the request's window and grace have passed.
func (h *Host) check(ctx context.Context, log *slog.Logger, in Instance, r payg.PaymentRequest, j core.Job, once bool) error {
	now := h.clock.Now()
	next := payg.RequestUpdate{Check: true, NextCheck: now.Add(h.policy.delay(r.Checks + 1)), Cause: j.ID}
	switch {
	case once:
		// A check a callback asked for: the request's own chain of
		// checks goes on, and decides when it has expired.
		next.NextCheck = time.Time{}
	case !now.Before(r.ExpiresAt.Add(h.policy.Grace)):
		next = payg.RequestUpdate{Check: true, Status: payg.RequestUnknown,
			Reason: fmt.Sprintf("expired: no final answer from the provider by %s; a late callback still settles it", r.ExpiresAt.Add(h.policy.Grace).UTC().Format(time.RFC3339))}
	}
	q, ok := in.Adapter.(adapters.StatusQuerier)
	if !ok {
		_, err := h.svc.UpdatePaymentRequest(ctx, r.TenantID, r.ID, next)
		return err
	}
	ref := adapters.PaymentRef{RequestID: r.RequestID, ProviderRef: r.ProviderRef}
	if ref.ProviderRef == "" {
		ref.ProviderRef = r.ReferenceID // the initiation's answer was lost
	}
	st, err := h.queryStatus(ctx, q, ref)
	h.step(r.Instance, "checked")
	if next.Status == payg.RequestUnknown {
		h.step(r.Instance, "expired")
	}
	switch {
	case errors.Is(err, adapters.ErrPaymentNotFound) && r.Status != payg.RequestInitiated && !once:
		// It never landed: initiate it again with the same ReferenceID
		// while the payer's window lasts, else it failed.
		if now.Before(r.ExpiresAt) {
			log.Info("payment request unknown to the provider; initiating it again")
			h.step(r.Instance, "reinitiated")
			_, err = h.svc.UpdatePaymentRequest(ctx, r.TenantID, r.ID, payg.RequestUpdate{Check: true, Status: payg.RequestCreated,
				Reason: "not found at the provider: initiating again", NextCheck: now, NextOp: payg.OpInitiate, Cause: j.ID})
			return err
		}
		_, err = h.svc.UpdatePaymentRequest(ctx, r.TenantID, r.ID, payg.RequestUpdate{Check: true, Status: payg.RequestFailed,
			Reason: "never reached the provider (not found there after the payer's window)"})
		return err
	case err != nil:
		log.Warn("payment request status check failed; asking again later", "error", err)
		next.Reason = firstNonEmpty(next.Reason, "last check failed: "+err.Error())
		_, err = h.svc.UpdatePaymentRequest(ctx, r.TenantID, r.ID, next)
		return err
	case st.Async != nil || st.Notice.Status == core.NoticePending:
		if st.Async != nil {
			if err := h.recordAsync(ctx, log, in, ref, st.Async, asyncOrigin{paymentRequestID: r.ID}); err != nil {
				return err
			}
		}
		if st.Async == nil && next.Status == "" {
			next.Reason = st.Notice.Reason
			if r.Status != payg.RequestInitiated {
				// The provider has it: the initiation landed after all.
				next.Status, next.RequestID, next.ProviderRef = payg.RequestInitiated, st.Notice.RequestID, ref.ProviderRef
			}
		}
		_, err = h.svc.UpdatePaymentRequest(ctx, r.TenantID, r.ID, next)
		return err
	}
	n := st.Notice
	n.Instance = r.Instance
	if n.RequestID == "" {
		n.RequestID = r.RequestID
	}
	out, err := h.svc.ApplyNotice(ctx, r.TenantID, n)
	if err != nil {
		return fmt.Errorf("apply status of payment request %s: %w", r.ID, err)
	}
	if out.Request == nil || out.Request.ID != r.ID {
		// The provider answered with another request id than ours.
		log.Error("status answer does not name the payment request", "request_id", n.RequestID)
	}
	log.Info("payment request settled by a status check", "status", n.Status, "payment_id", out.Payment.ID)
	h.step(r.Instance, "settled_by_check")
	_, err = h.svc.UpdatePaymentRequest(ctx, r.TenantID, r.ID, payg.RequestUpdate{Check: true})
	return err
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// delay is the wait before the i-th check (0 for the first).
func (p RequestPolicy) delay(i int) time.Duration {
	return p.Checks[min(max(i, 0), len(p.Checks)-1)]
}

// SetJobWaker makes the host call wake after it enqueued a job due now (a
// status check a callback asked for), so it runs at once rather than at
// the runner's next poll (jobs.Runner.Wake).
func (h *Host) SetJobWaker(wake func()) { h.wake = wake }

func (h *Host) wakeJobs() {
	if h.wake != nil {
		h.wake()
	}
}

// confirmLater schedules the confirmation of an unsigned callback's
// notices as status checks of their payment requests, run by jobs after
// the callback is acknowledged. It reports false when a notice names no
// payment request of the instance's tenant: such a callback is confirmed
// at once, as before.
func (h *Host) confirmLater(ctx context.Context, log *slog.Logger, in Instance, req *adapters.Request, res *adapters.CallbackResult) (bool, error) {
	if len(res.Notices) == 0 {
		return false, nil
	}
	sum := sha256.Sum256(req.Body)
	cause := hex.EncodeToString(sum[:12])
	for _, n := range res.Notices {
		if n.RequestID == "" {
			return false, nil
		}
		r, ok, err := h.svc.ScheduleRequestCheck(ctx, in.Config.Tenant, in.Config.Name, n.RequestID, cause)
		if err != nil || !ok {
			return false, err
		}
		if res.Ref.ProviderRef != "" && r.ProviderRef != "" && res.Ref.ProviderRef != r.ProviderRef {
			log.Warn("callback reference differs from its payment request's; the request's is asked",
				"payment_request", r.ID, "request_id", n.RequestID)
		}
	}
	log.Info("unsigned callback recorded as pending; its confirmation is scheduled", "request_id", res.Ref.RequestID)
	h.wakeJobs()
	return true, nil
}

// replayQuarantined runs again the callbacks of requestID that were
// quarantined because no payment request had that id yet: an M-Pesa STK
// callback can come before the push's own answer is stored. Each is read
// again by its adapter and applied; the quarantine is resolved once its
// notices are. A failure leaves it open for an operator (and is logged).
func (h *Host) replayQuarantined(ctx context.Context, log *slog.Logger, in Instance, tenant, requestID string) {
	p, ok := in.Adapter.(adapters.CallbackParser)
	if !ok {
		return
	}
	qs, err := h.svc.OpenQuarantineByRequestID(ctx, tenant, in.Config.Name, requestID)
	if err != nil {
		log.Error("quarantined callbacks of the request not read", "request_id", requestID, "error", err)
		return
	}
	for _, q := range qs {
		addr, _ := netip.ParseAddr(q.RemoteAddr)
		res, err := p.ParseCallback(ctx, &adapters.Request{Method: q.Method, Kind: q.Kind, Header: http.Header(q.Headers),
			Body: q.Body, RemoteAddr: addr, ReceivedAt: q.ReceivedAt, PathParams: map[string]string{}})
		if err != nil || res.Quarantine != nil || res.NeedsConfirmation || len(res.Notices) == 0 {
			continue // unreadable, or unsigned: it stays for the janitor and operators
		}
		applied := true
		for _, n := range res.Notices {
			n.Instance = in.Config.Name
			out, err := h.svc.ApplyNotice(ctx, tenant, n)
			if err != nil {
				log.Error("quarantined callback not applied on replay", "quarantine_id", q.ID, "error", err)
				applied = false
				break
			}
			log.Info("quarantined callback applied on replay", "quarantine_id", q.ID, "payment_id", out.Payment.ID,
				"duplicate", out.Duplicate)
		}
		if applied {
			if err := h.svc.ResolveQuarantine(ctx, tenant, q.ID); err != nil {
				log.Error("replayed quarantined callback not marked resolved", "quarantine_id", q.ID, "error", err)
			}
		}
	}
}

// scheduleQuarantineCheck makes the janitor ask the provider about a
// quarantined callback: through its payment request when it names one,
// else on its own when it names a payment the instance can query. A
// failure to schedule is logged: the callback is kept either way.
func (h *Host) scheduleQuarantineCheck(ctx context.Context, log *slog.Logger, in Instance, q payg.Quarantined, ref adapters.PaymentRef) {
	if ref.RequestID != "" {
		r, ok, err := h.svc.ScheduleRequestCheck(ctx, in.Config.Tenant, in.Config.Name, ref.RequestID, "quarantine:"+q.ID)
		switch {
		case err != nil:
			log.Error("quarantined callback: status check not scheduled; the request's own checks go on", "error", err)
			return
		case ok:
			log.Info("quarantined callback: status check of its payment request scheduled", "payment_request", r.ID)
			h.wakeJobs()
			return
		}
	}
	if _, ok := in.Adapter.(adapters.StatusQuerier); !ok || (ref.ProviderTxID == "" && ref.ProviderRef == "" && ref.RequestID == "") {
		return
	}
	if err := h.svc.ScheduleQuarantineCheck(ctx, in.Config.Tenant, q.ID); err != nil {
		log.Error("quarantined callback: status check not scheduled", "quarantine_id", q.ID, "error", err)
		return
	}
	h.wakeJobs()
}

// QuarantineRetryPolicy is the backoff of quarantine checks whose payment
// is still pending: 15 s doubling to 10 min, ±10 %.
var QuarantineRetryPolicy jobs.RetryPolicy = jobs.Exponential{Initial: 15 * time.Second, Max: 10 * time.Minute, Jitter: 0.1}

// errStillPending retries a quarantine check later.
var errStillPending = errors.New("the provider reports the payment pending")

// QuarantineHandler runs the jobs of payg.QuarantineQueue: it asks the
// provider about a quarantined callback's payment and applies a final
// answer (then the callback is resolved). A pending answer is asked again
// with the queue's backoff; an answer that comes later by callback (M-Pesa
// Transaction Status) is applied when it comes.
func (h *Host) QuarantineHandler() jobs.Handler {
	return jobs.HandlerFunc(h.handleQuarantine)
}

func (h *Host) handleQuarantine(ctx context.Context, j core.Job) error {
	var p payg.QuarantineJob
	if err := decodeJob(j, "quarantine", &p); err != nil {
		return err
	}
	q, err := h.svc.QuarantinedCallback(ctx, p.Tenant, p.ID)
	if err != nil {
		return loadFailed(err)
	}
	in, ok := h.instances[q.Instance]
	if q.Status != "open" || !ok {
		return nil
	}
	qr, ok := in.Adapter.(adapters.StatusQuerier)
	if !ok {
		return nil
	}
	log := h.log.With("quarantine_id", q.ID, "instance", q.Instance)
	ref := adapters.PaymentRef{RequestID: q.RequestID, ProviderRef: q.ProviderRef, ProviderTxID: q.ProviderTxID}
	st, err := h.queryStatus(ctx, qr, ref)
	switch {
	case cannotTell(err):
		log.Warn("quarantined callback: the provider cannot tell; left to an operator", "error", err)
		return nil
	case err != nil:
		return err
	case st.Async != nil:
		log.Info("quarantined callback: status asked; the answer comes by callback", "request_ref", st.Async.RequestRef)
		return h.recordAsync(ctx, log, in, ref, st.Async, asyncOrigin{quarantineID: q.ID})
	case st.Notice.Status == core.NoticePending:
		return errStillPending
	}
	n := st.Notice
	n.Instance = q.Instance
	out, err := h.svc.ApplyNotice(ctx, q.TenantID, n)
	if errors.Is(err, payg.ErrUnknownRequest) {
		log.Warn("quarantined callback: the provider reports money for a request the gateway did not make; left to an operator")
		return nil
	}
	if err != nil {
		return err
	}
	if err := h.svc.ResolveQuarantine(ctx, q.TenantID, q.ID); err != nil {
		return err
	}
	log.Info("quarantined callback resolved by a status query", "status", n.Status, "payment_id", out.Payment.ID)
	return nil
}

func (h *Host) step(instance, step string) {
	h.requests.WithLabelValues(instance, step).Inc()
}
