package messaging_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/coretest"
	"github.com/payg-gateway/gateway/core/messaging"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/core/sqlite"
)

// The tests of this file run the sender over a store whose writes a
// "kill" cuts off, to open the window between a provider's acceptance and
// the record of it (issue 9: no SMS is sent twice for one cause).

const unknownTenant = "sunbright-ke"

// killableStore is a SQLite store whose write transactions fail while
// dead: the gateway process has died, and nothing it would still write
// reaches the database.
type killableStore struct {
	*sqlite.Store
	dead atomic.Bool
}

func (s *killableStore) InTx(ctx context.Context, fn func(payg.Tx) error) error {
	if s.dead.Load() {
		return errors.New("the process was killed")
	}
	return s.Store.InTx(ctx, fn)
}

func (s *killableStore) MarkSending(ctx context.Context, tenant, id, instance string, at time.Time) (bool, error) {
	if s.dead.Load() {
		return false, errors.New("the process was killed")
	}
	return s.Store.MarkSending(ctx, tenant, id, instance, at)
}

// acceptingSMS accepts every send, then runs afterAccept (if set) before
// it answers: the provider has the message whatever happens next.
type acceptingSMS struct {
	mu          sync.Mutex
	calls       int
	fail        int // the next fail sends are answered with a retryable error
	afterAccept func()
}

func (f *acceptingSMS) SendSMS(_ context.Context, msg adapters.SMS) ([]adapters.SMSReceipt, error) {
	f.mu.Lock()
	f.calls++
	n := f.calls
	failing := f.fail > 0
	if failing {
		f.fail--
	}
	after := f.afterAccept
	f.mu.Unlock()
	if failing {
		return nil, errors.New("dial tcp: connection refused")
	}
	if after != nil {
		after()
	}
	return []adapters.SMSReceipt{{To: msg.To[0], ProviderID: fmt.Sprintf("ATXid_%d", n), State: adapters.SMSAccepted}}, nil
}

func (f *acceptingSMS) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

type unknownWorld struct {
	store *killableStore
	clock *coretest.Clock
	sms   *acceptingSMS
	msg   messaging.Message
}

// newUnknownWorld is a migrated store with one queued message and its
// send job.
func newUnknownWorld(t *testing.T) *unknownWorld {
	t.Helper()
	ctx := context.Background()
	clock := coretest.NewClock(time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC))
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gateway.db"), clock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateTenant(ctx, core.Tenant{ID: unknownTenant, Name: "SunBright", TimeZone: "Africa/Nairobi", DefaultCountry: "KE"}); err != nil {
		t.Fatal(err)
	}
	now := clock.Now()
	m := messaging.Message{ID: "msg_crash1", TenantID: unknownTenant, CauseKey: "evt_1:payment_received",
		Template: messaging.TemplatePaymentReceived, Language: "en", To: "+254700000123", Body: "Thank you Amina, 500 KES received.",
		Encoding: messaging.GSM7, Segments: 1, State: messaging.StateQueued, CreatedAt: now, UpdatedAt: now}
	payload, _ := json.Marshal(map[string]string{"message_id": m.ID})
	err = st.InTx(ctx, func(ptx payg.Tx) error {
		tx := ptx.(messaging.Tx)
		if _, err := tx.InsertMessage(ctx, m); err != nil {
			return err
		}
		return tx.EnqueueJob(ctx, core.Job{TenantID: m.TenantID, Queue: messaging.Queue, Key: m.CauseKey, Payload: payload, MaxAttempts: 12})
	})
	if err != nil {
		t.Fatal(err)
	}
	return &unknownWorld{store: &killableStore{Store: st}, clock: clock, sms: &acceptingSMS{}, msg: m}
}

// sender is a new gateway process's sender (its breakers and metrics
// start afresh), with the policy for unknown outcomes.
func (w *unknownWorld) sender(t *testing.T, policy messaging.UnknownOutcome, reg prometheus.Registerer) *messaging.Sender {
	t.Helper()
	s, err := messaging.NewSender(messaging.SenderOptions{Store: w.store, Clock: w.clock,
		Instances: []messaging.Instance{{Name: "at-ke", Sender: w.sms}}, Route: func(string) string { return "at-ke" },
		UnknownOutcome: policy, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// claim claims the due send job as a worker does (after a kill, once its
// lease has passed).
func (w *unknownWorld) claim(t *testing.T) core.Job {
	t.Helper()
	js, err := w.store.Claim(context.Background(), messaging.Queue, 1, time.Minute)
	if err != nil || len(js) != 1 {
		t.Fatalf("claim: %d jobs, %v", len(js), err)
	}
	return js[0]
}

func (w *unknownWorld) message(t *testing.T) messaging.Message {
	t.Helper()
	m, err := w.store.Message(context.Background(), unknownTenant, w.msg.ID)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// crash runs the message's send job in a process killed right after the
// provider accepted the message: the acceptance is never recorded.
func (w *unknownWorld) crash(t *testing.T, policy messaging.UnknownOutcome) core.Job {
	t.Helper()
	j := w.claim(t)
	w.sms.afterAccept = func() { w.store.dead.Store(true) }
	if err := w.sender(t, policy, nil).Handle(context.Background(), j); err == nil {
		t.Fatal("the killed process recorded the send")
	}
	w.sms.afterAccept = nil
	w.store.dead.Store(false)
	if n := w.sms.count(); n != 1 {
		t.Fatalf("%d provider calls before the kill, want 1", n)
	}
	m := w.message(t)
	if m.State != messaging.StateQueued || m.SendingAt.IsZero() || m.Instance != "at-ke" {
		t.Fatalf("after the kill the message is %s, sending_at %v, instance %q; want queued, marked in flight through at-ke",
			m.State, m.SendingAt, m.Instance)
	}
	w.clock.Advance(2 * time.Minute) // the lease passes
	return j
}

// TestUnknownOutcomeHold: a send cut off between the provider's
// acceptance and its record is not sent again when the job runs again:
// the message goes to unknown, counted and explained.
func TestUnknownOutcomeHold(t *testing.T) {
	for _, policy := range []messaging.UnknownOutcome{"", messaging.UnknownHold} {
		t.Run(fmt.Sprintf("policy=%q", policy), func(t *testing.T) {
			w := newUnknownWorld(t)
			w.crash(t, policy)
			reg := prometheus.NewRegistry()
			if err := w.sender(t, policy, reg).Handle(context.Background(), w.claim(t)); err != nil {
				t.Fatalf("the job run again: %v", err)
			}
			if n := w.sms.count(); n != 1 {
				t.Errorf("the provider was called %d times; the message was sent twice", n)
			}
			m := w.message(t)
			if m.State != messaging.StateUnknown || !strings.Contains(m.Reason, "may have been sent") || m.Attempts != 1 ||
				m.ProviderID != "" || !m.FinalAt.IsZero() {
				t.Errorf("message %s, reason %q, attempts %d, provider id %q, final at %v; want unknown, explained, one attempt",
					m.State, m.Reason, m.Attempts, m.ProviderID, m.FinalAt)
			}
			if got := unknownCounter(t, reg, "at-ke", "held"); got != 1 {
				t.Errorf("gateway_sms_unknown_outcomes_total{action=held} = %v, want 1", got)
			}
			ms, err := w.store.ListMessages(context.Background(), unknownTenant, messaging.Query{State: messaging.StateUnknown}, core.PageRequest{})
			if err != nil || len(ms.Items) != 1 || ms.Items[0].ID != m.ID {
				t.Errorf("unknown messages listed: %+v, %v", ms.Items, err)
			}
		})
	}
}

// TestUnknownOutcomeResend: with sms.unknown_outcome resend the job sends
// the message again (at least once).
func TestUnknownOutcomeResend(t *testing.T) {
	w := newUnknownWorld(t)
	w.crash(t, messaging.UnknownResend)
	reg := prometheus.NewRegistry()
	if err := w.sender(t, messaging.UnknownResend, reg).Handle(context.Background(), w.claim(t)); err != nil {
		t.Fatalf("the job run again: %v", err)
	}
	if n := w.sms.count(); n != 2 {
		t.Errorf("the provider was called %d times, want 2 (sent again)", n)
	}
	m := w.message(t)
	if m.State != messaging.StateSent || m.ProviderID != "ATXid_2" || !m.SendingAt.IsZero() || m.Attempts != 2 {
		t.Errorf("message %s, provider id %q, sending_at %v, attempts %d; want sent as ATXid_2, not in flight, 2 attempts",
			m.State, m.ProviderID, m.SendingAt, m.Attempts)
	}
	if got := unknownCounter(t, reg, "at-ke", "resent"); got != 1 {
		t.Errorf("gateway_sms_unknown_outcomes_total{action=resent} = %v, want 1", got)
	}
}

// TestSendingMarkCleared: a recorded outcome clears the in-flight mark, so
// an ordinary retry (the provider unreachable) sends again and a sent
// message is never held.
func TestSendingMarkCleared(t *testing.T) {
	w := newUnknownWorld(t)
	w.sms.fail = 1
	s := w.sender(t, messaging.UnknownHold, nil)
	if err := s.Handle(context.Background(), w.claim(t)); err == nil {
		t.Fatal("a refused send succeeded")
	}
	if m := w.message(t); m.State != messaging.StateQueued || !m.SendingAt.IsZero() || m.Attempts != 1 {
		t.Fatalf("after a refused send: %s, sending_at %v, attempts %d; want queued, not in flight, 1 attempt",
			m.State, m.SendingAt, m.Attempts)
	}
	w.clock.Advance(time.Minute)
	if err := s.Handle(context.Background(), w.claim(t)); err != nil {
		t.Fatal(err)
	}
	m := w.message(t)
	if m.State != messaging.StateSent || !m.SendingAt.IsZero() || w.sms.count() != 2 {
		t.Errorf("after the retry: %s, sending_at %v, %d provider calls; want sent, not in flight, 2 calls",
			m.State, m.SendingAt, w.sms.count())
	}
}

// TestUnknownOutcomeSlowAttempt: an attempt that was only slow (its lease
// passed while the provider answered) and was taken for dead still records
// the provider's answer on the message it left unknown.
func TestUnknownOutcomeSlowAttempt(t *testing.T) {
	w := newUnknownWorld(t)
	j := w.claim(t)
	inCall, release := make(chan struct{}), make(chan struct{})
	w.sms.afterAccept = func() { close(inCall); <-release }
	slow := make(chan error, 1)
	go func() { slow <- w.sender(t, messaging.UnknownHold, nil).Handle(context.Background(), j) }()
	<-inCall
	w.clock.Advance(2 * time.Minute)
	if err := w.sender(t, messaging.UnknownHold, nil).Handle(context.Background(), w.claim(t)); err != nil {
		t.Fatal(err)
	}
	if m := w.message(t); m.State != messaging.StateUnknown {
		t.Fatalf("the second run left the message %s, want unknown", m.State)
	}
	close(release)
	if err := <-slow; err != nil {
		t.Fatalf("the slow attempt: %v", err)
	}
	m := w.message(t)
	if m.State != messaging.StateSent || m.ProviderID != "ATXid_1" || m.Attempts != 1 || !m.SendingAt.IsZero() || w.sms.count() != 1 {
		t.Errorf("message %s, provider id %q, attempts %d, sending_at %v, %d provider calls; want sent as ATXid_1 once",
			m.State, m.ProviderID, m.Attempts, m.SendingAt, w.sms.count())
	}
}

// TestResend: an unknown (or failed) message is queued again with a new
// send job, which sends it; any other state is a conflict.
func TestResend(t *testing.T) {
	ctx := context.Background()
	w := newUnknownWorld(t)
	w.crash(t, messaging.UnknownHold)
	if err := w.sender(t, messaging.UnknownHold, nil).Handle(ctx, w.claim(t)); err != nil {
		t.Fatal(err)
	}
	templates, err := messaging.NewTemplates(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := messaging.NewService(messaging.Options{Store: w.store, Tenants: w.store, Clock: w.clock, Templates: templates})
	m, err := svc.Resend(ctx, unknownTenant, w.msg.ID)
	if err != nil {
		t.Fatal(err)
	}
	if m.State != messaging.StateQueued || !m.SendingAt.IsZero() || m.ProviderID != "" || m.ID != w.msg.ID {
		t.Errorf("resent message %+v; want queued, not in flight", m)
	}
	if got := w.message(t); got.State != messaging.StateQueued || !got.SendingAt.IsZero() {
		t.Errorf("stored: %s, sending_at %v; want queued, not in flight", got.State, got.SendingAt)
	}
	if _, err := svc.Resend(ctx, unknownTenant, w.msg.ID); core.ErrorCode(err) != core.ECONFLICT {
		t.Errorf("resending a queued message: %v, want a conflict", err)
	}
	if _, err := svc.Resend(ctx, unknownTenant, "msg_none"); core.ErrorCode(err) != core.ENOTFOUND {
		t.Errorf("resending no message: %v, want not found", err)
	}
	if err := w.sender(t, messaging.UnknownHold, nil).Handle(ctx, w.claim(t)); err != nil {
		t.Fatal(err)
	}
	got := w.message(t)
	if got.State != messaging.StateSent || got.ProviderID != "ATXid_2" || w.sms.count() != 2 || got.Attempts != 2 {
		t.Errorf("after the resend job: %s as %q, %d provider calls, %d attempts; want sent as ATXid_2, 2 calls and attempts",
			got.State, got.ProviderID, w.sms.count(), got.Attempts)
	}
	if _, err := svc.Resend(ctx, unknownTenant, w.msg.ID); core.ErrorCode(err) != core.ECONFLICT {
		t.Errorf("resending a sent message: %v, want a conflict", err)
	}
}

// unknownCounter reads gateway_sms_unknown_outcomes_total{instance,action}.
func unknownCounter(t *testing.T, reg *prometheus.Registry, instance, action string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "gateway_sms_unknown_outcomes_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["instance"] == instance && labels["action"] == action {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
