package config

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"time"

	"github.com/payg-gateway/gateway/core/messaging"
)

// SMS configures the customers' text messages (core/messaging). The SMS
// instances themselves (sms.africastalking, sms.twilio) are listed under
// instances like every adapter; this section says which one sends for
// each tenant and how.
//
// Without an instance (the default) no message is created: nothing would
// send it, and a backlog sent once an instance is configured would be
// stale. The /v1/messages API then lists nothing.
type SMS struct {
	// Instance is the SMS instance that sends for every tenant without
	// its own (tenants.ID.instance); empty: none.
	Instance string `yaml:"instance"`
	// Events are the event types that send a message (default
	// payment.applied, payment.unmatched, contract.paid_off and
	// token.issued for hand-issued tokens).
	Events []string `yaml:"events"`
	// SupportPhone is the number an unmatched payer is told to call.
	SupportPhone string `yaml:"support_phone"`
	// Language is the language of messages to payers who are not known
	// customers (an unmatched payment): en (the default), fr, sw, pt.
	Language string `yaml:"language"`
	// QuietHours is a local window, "21:00-07:00", in which reminders and
	// campaigns wait; empty for none.
	QuietHours string `yaml:"quiet_hours"`
	// Templates override the shipped ones: template name → language →
	// text with {{variables}}.
	Templates map[string]map[string]string `yaml:"templates"`
	// Reminders are day offsets from the due date (credit expiry or
	// instalment due date) on which a reminder (≤ 0) or an overdue notice
	// (> 0) is sent, by catalogue plan id; "default" for every other
	// contract. None by default.
	Reminders map[string][]int `yaml:"reminders"`
	// Instances tune each SMS instance: its failover secondary and rate
	// limit, by instance name.
	Instances map[string]SMSInstance `yaml:"instances"`
	// Tenants override the settings above per tenant.
	Tenants map[string]SMSTenant `yaml:"tenants"`
	// MaxAttempts bounds the provider calls of one message (default 12).
	MaxAttempts int `yaml:"max_attempts"`
	// BreakerFailures consecutive failed sends open an instance's breaker
	// for BreakerOpenFor.
	BreakerFailures int           `yaml:"breaker_failures"`
	BreakerOpenFor  time.Duration `yaml:"breaker_open_for"`
	// ReminderInterval is how often due reminders are looked for.
	ReminderInterval time.Duration `yaml:"reminder_interval"`
	// UnknownOutcome is what a send does when it finds the previous
	// attempt cut off before its outcome was recorded (the gateway died
	// after calling the provider): hold (the default) puts the message in
	// state unknown and sends nothing (resend it with POST
	// /v1/messages/{id}/resend if the customer did not get it); resend
	// sends it again (at least once: the customer may get it twice).
	UnknownOutcome string `yaml:"unknown_outcome"`
}

// SMSInstance tunes one SMS instance.
type SMSInstance struct {
	// Secondary is the SMS instance used while this one's breaker is
	// open.
	Secondary string `yaml:"secondary"`
	// RatePerSecond caps sends through the instance (0: no cap); Burst is
	// how many may go at once.
	RatePerSecond int `yaml:"rate_per_second"`
	Burst         int `yaml:"burst"`
}

// SMSTenant overrides the SMS settings for one tenant; empty fields keep
// the global ones.
type SMSTenant struct {
	Instance     string                       `yaml:"instance"`
	Language     string                       `yaml:"language"`
	Events       []string                     `yaml:"events"`
	SupportPhone string                       `yaml:"support_phone"`
	QuietHours   string                       `yaml:"quiet_hours"`
	Templates    map[string]map[string]string `yaml:"templates"`
	Reminders    map[string][]int             `yaml:"reminders"`
}

func defaultSMS() SMS {
	return SMS{MaxAttempts: messaging.DefaultMaxAttempts, BreakerFailures: messaging.DefaultBreakerFailures,
		BreakerOpenFor: messaging.DefaultBreakerOpenFor, ReminderInterval: 5 * time.Minute,
		UnknownOutcome: string(messaging.UnknownHold)}
}

var validLanguage = regexp.MustCompile(`^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$`)

var smsEvents = []string{"payment.applied", "payment.unmatched", "contract.paid_off", "token.issued"}

func (c *Config) validateSMS(bad func(path, format string, args ...any)) {
	s := c.SMS
	names := map[string]string{} // instance name → adapter
	for _, in := range c.Instances {
		names[in.Name] = in.Adapter
	}
	checkInstance := func(path, name string) {
		if name == "" {
			return
		}
		adapter, ok := names[name]
		switch {
		case !ok:
			bad(path, "%q is not a configured instance (instances[].name)", name)
		case len(adapter) < 4 || adapter[:4] != "sms.":
			bad(path, "instance %q runs %s, not an SMS adapter (sms.*)", name, adapter)
		}
	}
	checkEvents := func(path string, events []string) {
		for i, e := range events {
			if !slices.Contains(smsEvents, e) {
				bad(fmt.Sprintf("%s[%d]", path, i), "want one of %v, got %q", smsEvents, e)
			}
		}
	}
	checkQuiet := func(path, q string) {
		if _, err := messaging.ParseQuietHours(q); err != nil {
			bad(path, "%v", err)
		}
	}
	checkReminders := func(path string, r map[string][]int) {
		for plan, offsets := range r {
			for i, d := range offsets {
				if d < -60 || d > 365 {
					bad(fmt.Sprintf("%s.%s[%d]", path, plan, i), "want a day offset from -60 to 365, got %d", d)
				}
			}
		}
	}
	checkLanguage := func(path, lang string) {
		if lang != "" && !validLanguage.MatchString(lang) {
			bad(path, "want a language tag such as en or fr, got %q", lang)
		}
	}
	checkLanguage("sms.language", s.Language)
	checkInstance("sms.instance", s.Instance)
	checkEvents("sms.events", s.Events)
	checkQuiet("sms.quiet_hours", s.QuietHours)
	checkReminders("sms.reminders", s.Reminders)
	for _, name := range sortedKeys(s.Instances) {
		in := s.Instances[name]
		p := "sms.instances." + name
		checkInstance(p, name)
		if in.Secondary == name {
			bad(p+".secondary", "an instance cannot be its own secondary")
		} else {
			checkInstance(p+".secondary", in.Secondary)
		}
		if in.RatePerSecond < 0 {
			bad(p+".rate_per_second", "must be 0 (no limit) or positive, got %d", in.RatePerSecond)
		}
		if in.Burst < 0 {
			bad(p+".burst", "must not be negative, got %d", in.Burst)
		}
	}
	for _, id := range sortedKeys(s.Tenants) {
		t := s.Tenants[id]
		p := "sms.tenants." + id
		checkInstance(p+".instance", t.Instance)
		checkLanguage(p+".language", t.Language)
		checkEvents(p+".events", t.Events)
		checkQuiet(p+".quiet_hours", t.QuietHours)
		checkReminders(p+".reminders", t.Reminders)
	}
	if s.MaxAttempts < 1 || s.MaxAttempts > 100 {
		bad("sms.max_attempts", "must be 1 to 100, got %d", s.MaxAttempts)
	}
	if s.BreakerFailures < 1 {
		bad("sms.breaker_failures", "must be at least 1, got %d", s.BreakerFailures)
	}
	if s.BreakerOpenFor <= 0 {
		bad("sms.breaker_open_for", "must be a positive duration such as 1m, got %v", s.BreakerOpenFor)
	}
	if s.ReminderInterval <= 0 {
		bad("sms.reminder_interval", "must be a positive duration such as 5m, got %v", s.ReminderInterval)
	}
	// Empty is the parser's default, but a configuration that sets the key
	// empty says nothing: it is refused.
	if _, err := messaging.ParseUnknownOutcome(s.UnknownOutcome); err != nil || s.UnknownOutcome == "" {
		bad("sms.unknown_outcome", "want %s or %s, got %q", messaging.UnknownHold, messaging.UnknownResend, s.UnknownOutcome)
	}
	if _, err := s.NewTemplates(); err != nil {
		bad("sms.templates", "%v", err)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// NewTemplates parses the shipped templates and the configured overrides,
// checking every one against the variables its cause provides.
func (s SMS) NewTemplates() (*messaging.Templates, error) {
	tenants := map[string]messaging.Overrides{}
	for id, t := range s.Tenants {
		if len(t.Templates) > 0 {
			tenants[id] = t.Templates
		}
	}
	return messaging.NewTemplates(s.Templates, tenants)
}

// InstanceFor names the SMS instance that sends for tenant ("" for none).
func (s SMS) InstanceFor(tenant string) string {
	if t, ok := s.Tenants[tenant]; ok && t.Instance != "" {
		return t.Instance
	}
	return s.Instance
}

// Settings returns tenant's messaging settings. The configuration has
// been validated.
func (s SMS) Settings(tenant string) messaging.Settings {
	t := s.Tenants[tenant]
	out := messaging.Settings{Enabled: s.InstanceFor(tenant) != "", Events: s.Events, SupportPhone: s.SupportPhone, Language: s.Language}
	if t.Language != "" {
		out.Language = t.Language
	}
	if t.Events != nil {
		out.Events = t.Events
	}
	if t.SupportPhone != "" {
		out.SupportPhone = t.SupportPhone
	}
	q := s.QuietHours
	if t.QuietHours != "" {
		q = t.QuietHours
	}
	out.QuietHours, _ = messaging.ParseQuietHours(q)
	r := s.Reminders
	if t.Reminders != nil {
		r = t.Reminders
	}
	if len(r) > 0 {
		out.Reminders = messaging.Schedules{}
		for plan, offsets := range r {
			if plan == "default" {
				plan = ""
			}
			out.Reminders[plan] = offsets
		}
	}
	return out
}
