package messaging

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/payg"
)

// Queue is the job queue of message sends.
const Queue = "sms"

// DefaultMaxAttempts is how many times a send job calls a provider before
// it gives up (an open breaker or a rate limit spends no attempt).
const DefaultMaxAttempts = 12

// DefaultEvents are the events that send a message when Settings.Events is
// nil: payment received (with the token bought), payment unmatched (when
// the payer's phone is known), contract paid off, and hand-issued tokens.
var DefaultEvents = []string{payg.EventPaymentApplied, payg.EventPaymentUnmatched, payg.EventContractPaidOff, payg.EventTokenIssued}

// Settings are one tenant's messaging settings.
type Settings struct {
	// Enabled is set when an SMS instance sends for the tenant. Without
	// one no message is created (nothing would send it, and a backlog
	// sent when one is configured later would be stale).
	Enabled bool
	// Events are the event types that send a message; nil is
	// DefaultEvents.
	Events []string
	// SupportPhone is the number an unmatched payer is told to call; may
	// be empty.
	SupportPhone string
	// Language is the language of messages to payers who are not known
	// customers (an unmatched payment); empty is DefaultLanguage.
	Language string
	// QuietHours are local hours in which reminders and campaign messages
	// wait (confirmations of a payment go at once).
	QuietHours QuietHours
	// Reminders are the reminder schedules (see Schedules).
	Reminders Schedules
}

func (s Settings) sends(eventType string) bool {
	events := s.Events
	if events == nil {
		events = DefaultEvents
	}
	for _, e := range events {
		if e == eventType {
			return true
		}
	}
	return false
}

// Options are a Service's dependencies.
type Options struct {
	Store     Store
	Tenants   core.TenantService
	Clock     core.Clock
	Templates *Templates
	// Settings returns a tenant's settings; nil means messaging is off.
	Settings func(tenant string) Settings
	// MaxAttempts of each send job; 0 is DefaultMaxAttempts.
	MaxAttempts int
	Logger      *slog.Logger
}

// Service creates messages: for events (it is a payg.EventSubscriber),
// reminders and campaigns.
type Service struct {
	o   Options
	log *slog.Logger
}

var _ payg.EventSubscriber = (*Service)(nil)

// NewService returns a Service.
func NewService(o Options) *Service {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.Settings == nil {
		o.Settings = func(string) Settings { return Settings{} }
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{o: o, log: log.With("component", "messaging")}
}

// newID returns prefix + a UUIDv7 in hex, ordered by creation time.
func newID(prefix string) string {
	u, err := uuid.NewV7()
	if err != nil {
		u = uuid.New()
	}
	return prefix + strings.ReplaceAll(u.String(), "-", "")
}

// sendPayload is a send job's payload.
type sendPayload struct {
	MessageID string `json:"message_id"`
}

// draft is a message to create: who, why and with what values.
type draft struct {
	tenant     core.Tenant
	customerID string
	contractID string
	campaignID string
	cause      string
	template   string // a template name, or "" with body set
	body       string
	language   string
	phone      string
	values     map[string]string
	runAt      time.Time // zero: at once
}

// queue renders d and stores the message and its send job in tx, unless a
// message for the same cause exists. It reports whether it created one.
func (s *Service) queue(ctx context.Context, tx payg.Tx, d draft) (bool, error) {
	mtx, ok := tx.(Tx)
	if !ok {
		return false, fmt.Errorf("messaging: %T does not store messages", tx)
	}
	to, err := payg.NormalizePhone(d.phone, d.tenant.DefaultCountry)
	if err != nil {
		s.log.Info("no message: the phone number is not usable", "cause", d.cause, "error", err)
		return false, nil
	}
	body, lang := d.body, baseLanguage(d.language)
	if d.template != "" {
		t, l, ok := s.o.Templates.Lookup(d.tenant.ID, d.template, d.language)
		if !ok {
			return false, fmt.Errorf("messaging: no template %s", d.template)
		}
		body, lang = t.Render(d.values), l
	}
	enc, segs := Encode(body)
	now := s.o.Clock.Now()
	m := Message{
		ID: newID("msg_"), TenantID: d.tenant.ID, CustomerID: d.customerID, ContractID: d.contractID,
		CampaignID: d.campaignID, CauseKey: d.cause, Template: d.template, Language: lang, To: to, Body: body,
		Encoding: enc, Segments: segs, State: StateQueued, CreatedAt: now, UpdatedAt: now,
	}
	inserted, err := mtx.InsertMessage(ctx, m)
	if err != nil || !inserted {
		return false, err
	}
	if err := s.enqueueSend(ctx, tx, m, m.CauseKey, d.runAt); err != nil {
		return false, err
	}
	return true, nil
}

// enqueueSend enqueues the job sending m, under key, due at runAt (zero:
// now), in tx.
func (s *Service) enqueueSend(ctx context.Context, tx payg.Tx, m Message, key string, runAt time.Time) error {
	payload, err := json.Marshal(sendPayload{MessageID: m.ID})
	if err != nil {
		return err
	}
	err = tx.EnqueueJob(ctx, core.Job{TenantID: m.TenantID, Queue: Queue, Key: key, Payload: payload,
		MaxAttempts: s.o.MaxAttempts, RunAt: runAt})
	if err != nil {
		return fmt.Errorf("messaging: enqueue send of %s: %w", m.ID, err)
	}
	return nil
}

// firstName is what a message calls a customer.
func firstName(name string) string {
	if f := strings.Fields(name); len(f) > 0 {
		return f[0]
	}
	return name
}

// Resend queues again a message in StateUnknown (a send cut off before
// its outcome was recorded) or StateFailed: in one transaction the
// message goes back to queued, its provider fields, in-flight mark and
// final time cleared, with a new send job. A message in any other state
// is ECONFLICT; ENOTFOUND when the tenant has no such message.
func (s *Service) Resend(ctx context.Context, tenant, id string) (Message, error) {
	var out Message
	err := s.o.Store.InTx(ctx, func(ptx payg.Tx) error {
		tx, ok := ptx.(Tx)
		if !ok {
			return fmt.Errorf("messaging: %T does not store messages", ptx)
		}
		m, err := tx.LockMessage(ctx, tenant, id)
		if err != nil {
			return err
		}
		if m.State != StateUnknown && m.State != StateFailed {
			return core.Errorf(core.ECONFLICT, "message %s is %s: only an unknown or failed message can be resent", m.ID, m.State)
		}
		now := s.o.Clock.Now()
		m.Reason = "resend requested; was " + string(m.State)
		m.State, m.ProviderID, m.ProviderStatus = StateQueued, "", ""
		m.SentAt, m.FinalAt, m.SendingAt, m.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, now
		if err := tx.UpdateMessage(ctx, m); err != nil {
			return err
		}
		// Each resend is a new job: the cause's own job (and any earlier
		// resend's) has its key taken.
		if err := s.enqueueSend(ctx, tx, m, m.CauseKey+"#resend:"+newID(""), time.Time{}); err != nil {
			return err
		}
		out = m
		return nil
	})
	return out, err
}
