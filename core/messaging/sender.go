package messaging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker"
	"golang.org/x/time/rate"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/jobs"
	"github.com/payg-gateway/gateway/core/payg"
)

// Defaults of SenderOptions.
const (
	DefaultBreakerFailures = 5
	DefaultBreakerOpenFor  = time.Minute
	DefaultSendTimeout     = 30 * time.Second
	// DefaultMaxRateWait is how long a send may wait for its instance's
	// rate limit in the worker; a longer wait reschedules the job.
	DefaultMaxRateWait = 2 * time.Second
	// NoInstanceDelay is how long a message whose tenant has no SMS
	// instance any more waits before it is looked at again.
	NoInstanceDelay = 10 * time.Minute
)

// UnknownOutcome is what a send job does with a queued message whose
// previous attempt was cut off before its outcome was recorded (the
// gateway died between the provider call and the record): the provider
// may or may not have taken it, and neither Africa's Talking nor Twilio
// takes an idempotency key that would make a second send safe.
type UnknownOutcome string

// UnknownOutcome policies.
const (
	// UnknownHold (the default) moves the message to StateUnknown and
	// sends nothing: no customer gets a text twice, and an operator
	// resends the ones that did not arrive (Service.Resend).
	UnknownHold UnknownOutcome = "hold"
	// UnknownResend sends the message again: at least once.
	UnknownResend UnknownOutcome = "resend"
)

// ParseUnknownOutcome reads a policy name; empty is UnknownHold.
func ParseUnknownOutcome(v string) (UnknownOutcome, error) {
	switch UnknownOutcome(v) {
	case "", UnknownHold:
		return UnknownHold, nil
	case UnknownResend:
		return UnknownResend, nil
	}
	return "", fmt.Errorf("want %s or %s, got %q", UnknownHold, UnknownResend, v)
}

// DefaultRetryPolicy is the send queue's: 30 s doubling to 30 min, ±20 %
// (backoff/v4's exponential back-off).
var DefaultRetryPolicy jobs.RetryPolicy = jobs.Exponential{Initial: 30 * time.Second, Max: 30 * time.Minute, Jitter: 0.2}

// Instance is an SMS instance the sender may use.
type Instance struct {
	Name   string
	Sender adapters.SMSSender
	// Secondary names the instance used while this one's breaker is
	// open; empty for none.
	Secondary string
	// RatePerSecond limits the sends per second through this instance
	// (0: no limit); Burst is how many may go at once (at least 1).
	RatePerSecond float64
	Burst         int
}

// SenderOptions configure a Sender.
type SenderOptions struct {
	Store Store
	Clock core.Clock
	// Instances are the SMS instances; Route names the one that sends
	// for a tenant ("" when none does).
	Instances []Instance
	Route     func(tenant string) string
	// BreakerFailures consecutive failed sends through an instance (no
	// answer, a refusal of the whole request, a provider's "try later")
	// open its breaker for BreakerOpenFor (wall time: gobreaker v1 has no
	// clock). Sends meeting an open breaker go to the instance's
	// secondary, or wait BreakerOpenFor without spending an attempt.
	BreakerFailures int
	BreakerOpenFor  time.Duration
	SendTimeout     time.Duration
	MaxRateWait     time.Duration
	// UnknownOutcome is what a send does when the previous attempt's
	// outcome was never recorded; empty is UnknownHold.
	UnknownOutcome UnknownOutcome
	// Registerer receives gateway_sms_messages_total,
	// gateway_sms_segments_total and gateway_sms_unknown_outcomes_total;
	// nil registers none.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Sender is the jobs.Handler of Queue: it sends one message through its
// tenant's instance. It is safe for concurrent use.
type Sender struct {
	o         SenderOptions
	log       *slog.Logger
	instances map[string]*instance
	messages  *prometheus.CounterVec
	segments  *prometheus.CounterVec
	unknown   *prometheus.CounterVec
}

type instance struct {
	Instance
	breaker *gobreaker.TwoStepCircuitBreaker
	limit   *rate.Limiter // nil: no limit
	mu      sync.Mutex
}

var _ jobs.Handler = (*Sender)(nil)

// NewSender returns a Sender. It fails when an instance's secondary is
// unknown or when its metrics cannot be registered.
func NewSender(o SenderOptions) (*Sender, error) {
	if o.BreakerFailures <= 0 {
		o.BreakerFailures = DefaultBreakerFailures
	}
	if o.BreakerOpenFor <= 0 {
		o.BreakerOpenFor = DefaultBreakerOpenFor
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = DefaultSendTimeout
	}
	if o.MaxRateWait <= 0 {
		o.MaxRateWait = DefaultMaxRateWait
	}
	if o.Clock == nil {
		o.Clock = core.SystemClock{}
	}
	if o.Route == nil {
		o.Route = func(string) string { return "" }
	}
	policy, err := ParseUnknownOutcome(string(o.UnknownOutcome))
	if err != nil {
		return nil, fmt.Errorf("sms unknown outcome: %w", err)
	}
	o.UnknownOutcome = policy
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Sender{o: o, log: log.With("component", "sms"), instances: map[string]*instance{}}
	for _, in := range o.Instances {
		s.instances[in.Name] = s.newInstance(in)
	}
	for _, in := range o.Instances {
		if in.Secondary != "" {
			if _, ok := s.instances[in.Secondary]; !ok || in.Secondary == in.Name {
				return nil, fmt.Errorf("sms instance %s: secondary %q is not another SMS instance", in.Name, in.Secondary)
			}
		}
	}
	s.messages = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_sms_messages_total",
		Help: "Text messages handed to SMS providers, by instance and resulting state (sent, rejected, failed, retry).",
	}, []string{"instance", "state"})
	s.segments = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_sms_segments_total",
		Help: "SMS segments (what providers bill) of the messages in gateway_sms_messages_total.",
	}, []string{"instance", "state"})
	s.unknown = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_sms_unknown_outcomes_total",
		Help: "Sends found cut off before their outcome was recorded (the gateway died mid-send), by instance and what was done: held (state unknown, not sent again) or resent.",
	}, []string{"instance", "action"})
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{s.messages, s.segments, s.unknown} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

func (s *Sender) newInstance(in Instance) *instance {
	failures := uint32(s.o.BreakerFailures)
	x := &instance{Instance: in}
	x.breaker = gobreaker.NewTwoStepCircuitBreaker(gobreaker.Settings{
		Name:        in.Name,
		Timeout:     s.o.BreakerOpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		OnStateChange: func(name string, from, to gobreaker.State) {
			s.log.Warn("sms instance breaker", "instance", name, "from", from.String(), "to", to.String())
		},
	})
	if in.RatePerSecond > 0 {
		x.limit = rate.NewLimiter(rate.Limit(in.RatePerSecond), max(in.Burst, 1))
	}
	return x
}

// errUnhealthy marks a send that counts against the instance's breaker.
var errUnhealthy = errors.New("sms instance unhealthy")

// Handle implements jobs.Handler.
func (s *Sender) Handle(ctx context.Context, j core.Job) error {
	var p sendPayload
	if err := json.Unmarshal(j.Payload, &p); err != nil || p.MessageID == "" {
		return jobs.Permanent(fmt.Errorf("sms: job %s: bad payload", j.ID))
	}
	m, err := s.o.Store.Message(ctx, j.TenantID, p.MessageID)
	if core.ErrorCode(err) == core.ENOTFOUND {
		return jobs.Permanent(err)
	}
	if err != nil {
		return err
	}
	if m.State != StateQueued {
		return nil // sent before (a job run again after its worker died)
	}
	if !m.SendingAt.IsZero() {
		held, err := s.unknownOutcome(ctx, m)
		if err != nil || held {
			return err
		}
	}
	now := s.o.Clock.Now()
	in, err := s.pick(j.TenantID)
	if err != nil {
		return jobs.NotAttempted(err, now.Add(s.o.BreakerOpenFor))
	}
	if in == nil {
		return jobs.NotAttempted(fmt.Errorf("sms: no SMS instance sends for tenant %s", j.TenantID), now.Add(NoInstanceDelay))
	}
	// Marked before the rate limit's wait, so the limit paces the
	// provider calls themselves, not the marks' commits.
	mark, err := s.markSending(ctx, in, m)
	if err != nil || mark.IsZero() {
		return err
	}
	if err := s.wait(ctx, in); err != nil {
		return s.unmark(ctx, m, mark, err)
	}
	done, err := in.breaker.Allow()
	if err != nil {
		// Half-open and its one trial is out: look again shortly.
		return s.unmark(ctx, m, mark, jobs.NotAttempted(fmt.Errorf("sms instance %s: %w", in.Name, err), now.Add(s.o.BreakerOpenFor/10)))
	}
	m.SendingAt = mark
	sendErr := s.send(ctx, in, j, m)
	done(!errors.Is(sendErr, errUnhealthy))
	return sendErr
}

// markSending commits the mark that a send of m through in is in flight,
// before the provider is called: if this process dies before the record,
// the next run of the job knows the outcome is unknown. It returns the
// mark; a zero mark with a nil error when m moved on since it was read
// (nothing to send), or with an error when another run of the job (whose
// lease had passed) is sending it.
func (s *Sender) markSending(ctx context.Context, in *instance, m Message) (time.Time, error) {
	// Stores keep microseconds; the mark is compared after a round trip.
	mark := s.o.Clock.Now().Truncate(time.Microsecond)
	marked, err := s.o.Store.MarkSending(ctx, m.TenantID, m.ID, in.Name, mark)
	if err != nil {
		return time.Time{}, fmt.Errorf("sms: message %s: %w", m.ID, err)
	}
	if marked {
		return mark, nil
	}
	cur, err := s.o.Store.Message(ctx, m.TenantID, m.ID)
	if err == nil && cur.State != StateQueued {
		return time.Time{}, nil
	}
	return time.Time{}, jobs.NotAttempted(fmt.Errorf("sms: message %s: another attempt is in flight", m.ID), mark.Add(s.o.SendTimeout))
}

// unmark clears mark from m when the provider was not called after all
// (the rate limit or the breaker turned the send away) and returns why. If
// the mark cannot be cleared the job fails; its next run finds the mark and
// treats the outcome as unknown, which never sends twice.
func (s *Sender) unmark(ctx context.Context, m Message, mark time.Time, why error) error {
	err := s.update(ctx, m, func(cur *Message) bool {
		if cur.State != StateQueued || !cur.SendingAt.Equal(mark) {
			return false
		}
		cur.SendingAt = time.Time{}
		return true
	})
	if err != nil {
		return fmt.Errorf("sms: message %s: clear the in-flight mark after %v: %w", m.ID, why, err)
	}
	return why
}

// pick returns the instance to send through: the tenant's, or its
// secondary while the tenant's breaker is open. It fails when both are
// open, and returns nil when no instance sends for the tenant.
func (s *Sender) pick(tenant string) (*instance, error) {
	name := s.o.Route(tenant)
	if name == "" {
		return nil, nil
	}
	in, ok := s.instances[name]
	if !ok {
		return nil, nil
	}
	if in.breaker.State() != gobreaker.StateOpen {
		return in, nil
	}
	if sec, ok := s.instances[in.Secondary]; ok && sec.breaker.State() != gobreaker.StateOpen {
		return sec, nil
	}
	return nil, fmt.Errorf("sms instance %s: breaker open", in.Name)
}

// wait takes a token of the instance's rate limit, waiting up to
// MaxRateWait; a longer wait reschedules the job without spending an
// attempt. The limit is reckoned in wall time.
func (s *Sender) wait(ctx context.Context, in *instance) error {
	if in.limit == nil {
		return nil
	}
	now := time.Now()
	r := in.limit.ReserveN(now, 1)
	delay := r.DelayFrom(now)
	if delay > s.o.MaxRateWait {
		r.CancelAt(now)
		return jobs.NotAttempted(fmt.Errorf("sms instance %s: rate limit", in.Name), s.o.Clock.Now().Add(delay))
	}
	if delay <= 0 {
		return nil
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		r.Cancel()
		return jobs.NotAttempted(ctx.Err(), time.Time{})
	case <-t.C:
		return nil
	}
}

// unknownOutcome deals with a queued message whose previous attempt is
// still marked in flight: that attempt's outcome was never recorded. With
// UnknownHold the message goes to StateUnknown and held is true: the job
// ends without sending. With UnknownResend the mark is cleared (the
// attempt counted) and the caller sends again. Either way only while the
// message, locked, is still queued with the mark: an attempt that was
// slow rather than dead may have recorded its outcome meanwhile (held is
// then true: there is nothing to send).
func (s *Sender) unknownOutcome(ctx context.Context, m Message) (held bool, err error) {
	now := s.o.Clock.Now()
	action := "held"
	if s.o.UnknownOutcome == UnknownResend {
		action = "resent"
	}
	var changed, queued bool
	err = s.update(ctx, m, func(cur *Message) bool {
		queued = cur.State == StateQueued
		if !queued || cur.SendingAt.IsZero() {
			return false
		}
		changed = true
		cur.Attempts++
		cur.UpdatedAt = now
		if s.o.UnknownOutcome == UnknownResend {
			cur.Reason = "the send begun at " + cur.SendingAt.UTC().Format(time.RFC3339) +
				" was cut off before its outcome was recorded; sent again"
			cur.SendingAt = time.Time{}
			return true
		}
		cur.State = StateUnknown
		cur.Reason = "outcome unknown: the send begun at " + cur.SendingAt.UTC().Format(time.RFC3339) +
			" was cut off before the provider's answer was recorded, so the message may have been sent;" +
			" resend it if the customer did not get it"
		return true
	})
	if err != nil {
		return false, fmt.Errorf("sms: message %s: %w", m.ID, err)
	}
	if !changed {
		return !queued, nil
	}
	s.unknown.WithLabelValues(m.Instance, action).Inc()
	s.log.Warn("sms send cut off before its outcome was recorded", "message_id", m.ID, "tenant", m.TenantID,
		"instance", m.Instance, "sending_at", m.SendingAt, "policy", string(s.o.UnknownOutcome), "action", action)
	return s.o.UnknownOutcome != UnknownResend, nil
}

// send calls the provider for m, marked in flight (markSending), and
// records the outcome on the message, which clears the mark. An error
// wrapping errUnhealthy counts against the instance's breaker.
func (s *Sender) send(ctx context.Context, in *instance, j core.Job, m Message) error {
	sctx, cancel := context.WithTimeout(ctx, s.o.SendTimeout)
	receipts, err := in.Sender.SendSMS(sctx, adapters.SMS{To: []string{m.To}, Body: m.Body, Reference: m.ID})
	cancel()
	now := s.o.Clock.Now()
	lastTry := j.Attempts >= j.MaxAttempts
	if err == nil && len(receipts) != 1 {
		err = fmt.Errorf("sms: %s answered %d receipts for one recipient", in.Name, len(receipts))
	}
	if err != nil {
		var pe *adapters.ProviderError
		if errors.As(err, &pe) && !pe.Retryable {
			s.count(in.Name, "failed", m)
			if rerr := s.record(ctx, m, in.Name, adapters.SMSReceipt{State: adapters.SMSFailed, Code: pe.Code, Reason: pe.Message}, now); rerr != nil {
				return rerr
			}
			return jobs.Permanent(fmt.Errorf("%w: %w", errUnhealthy, err))
		}
		s.count(in.Name, "retry", m)
		if lastTry {
			if rerr := s.record(ctx, m, in.Name, adapters.SMSReceipt{State: adapters.SMSFailed, Reason: "gave up: " + err.Error()}, now); rerr != nil {
				return rerr
			}
		} else if rerr := s.attempted(ctx, m, in.Name, err.Error(), now); rerr != nil {
			return rerr
		}
		return fmt.Errorf("%w: %s: %w", errUnhealthy, in.Name, err)
	}
	r := receipts[0]
	if r.Alert {
		s.log.Error("sms provider refusal needs an operator", "instance", in.Name, "code", r.Code, "reason", r.Reason, "message_id", m.ID)
	}
	if r.State == adapters.SMSRetry {
		s.count(in.Name, "retry", m)
		reason := reasonText(r.Code, r.Reason)
		if lastTry {
			r.State, r.Reason = adapters.SMSFailed, "gave up: "+reason
			if rerr := s.record(ctx, m, in.Name, r, now); rerr != nil {
				return rerr
			}
		} else if rerr := s.attempted(ctx, m, in.Name, reason, now); rerr != nil {
			return rerr
		}
		return fmt.Errorf("%w: %s asked to retry: %s", errUnhealthy, in.Name, reason)
	}
	st, _ := FromSMSState(r.State)
	s.count(in.Name, string(st), m)
	return s.record(ctx, m, in.Name, r, now)
}

func (s *Sender) count(instance, state string, m Message) {
	s.messages.WithLabelValues(instance, state).Inc()
	s.segments.WithLabelValues(instance, state).Add(float64(m.Segments))
}

// record stores a provider's receipt on the message, if it is still
// queued, and clears its in-flight mark. It is also stored on a message
// that went to StateUnknown because this very attempt (m.SendingAt) was
// taken for dead while it was only slow.
func (s *Sender) record(ctx context.Context, m Message, instance string, r adapters.SMSReceipt, now time.Time) error {
	return s.update(ctx, m, func(cur *Message) bool {
		ours := cur.State == StateUnknown && !m.SendingAt.IsZero() && cur.SendingAt.Equal(m.SendingAt)
		if cur.State != StateQueued && !ours {
			return false
		}
		cur.SendingAt = time.Time{}
		st, ok := FromSMSState(r.State)
		if !ok {
			return false
		}
		cur.State, cur.Instance, cur.ProviderID = st, instance, r.ProviderID
		if !ours { // an unknown message has counted this attempt
			cur.Attempts++
		}
		cur.Reason = reasonText(r.Code, r.Reason)
		cur.UpdatedAt = now
		if st != StateFailed && st != StateRejected {
			cur.SentAt = now
		}
		if st.Final() {
			cur.FinalAt = now
		}
		return true
	})
}

// attempted counts a send that failed and will be retried.
func (s *Sender) attempted(ctx context.Context, m Message, instance, reason string, now time.Time) error {
	return s.update(ctx, m, func(cur *Message) bool {
		if cur.State != StateQueued {
			return false
		}
		cur.SendingAt = time.Time{}
		cur.Attempts++
		cur.Instance, cur.Reason, cur.UpdatedAt = instance, reason, now
		return true
	})
}

func (s *Sender) update(ctx context.Context, m Message, change func(*Message) bool) error {
	// The outcome is stored even if the job's context is ending: the
	// provider has been called.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return s.o.Store.InTx(ctx, func(ptx payg.Tx) error {
		tx, ok := ptx.(Tx)
		if !ok {
			return fmt.Errorf("messaging: %T does not store messages", ptx)
		}
		cur, err := tx.LockMessage(ctx, m.TenantID, m.ID)
		if err != nil {
			return err
		}
		if !change(&cur) {
			return nil
		}
		return tx.UpdateMessage(ctx, cur)
	})
}

// BreakerState returns the state of an instance's breaker: closed,
// half_open or open; false for an instance the sender does not know.
func (s *Sender) BreakerState(instance string) (string, bool) {
	in, ok := s.instances[instance]
	if !ok {
		return "", false
	}
	switch in.breaker.State() {
	case gobreaker.StateOpen:
		return "open", true
	case gobreaker.StateHalfOpen:
		return "half_open", true
	}
	return "closed", true
}
