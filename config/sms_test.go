package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSMS(t *testing.T) {
	load := func(t *testing.T, yaml string) (Config, error) {
		t.Helper()
		path := filepath.Join(t.TempDir(), "gateway.yaml")
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return Load(path, func(string) (string, bool) { return "", false })
	}
	// Nothing configured: messaging is off, never an error.
	cfg, err := Load("", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.SMS.Settings("default"); s.Enabled {
		t.Error("messaging on with no SMS instance")
	}

	cfg, err = load(t, `
instances:
  - {name: at-ke, adapter: sms.africastalking}
  - {name: twilio-ke, adapter: sms.twilio}
sms:
  instance: at-ke
  support_phone: "0800 720 000"
  quiet_hours: "21:00-07:00"
  reminders: {default: [-3, -1, 0, 1, 3, 7], pln_weekly: [-1, 2]}
  instances:
    at-ke: {secondary: twilio-ke, rate_per_second: 10, burst: 20}
  templates:
    paid_off: {en: "Paid off, {{name}}!"}
  tenants:
    acme:
      instance: twilio-ke
      language: fr
      quiet_hours: "22:00-06:00"
      events: [payment.applied]
  breaker_open_for: 30s
`)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	s := cfg.SMS.Settings("default")
	if !s.Enabled || s.SupportPhone != "0800 720 000" || s.QuietHours.Start != 21*time.Hour || s.QuietHours.End != 7*time.Hour ||
		len(s.Reminders.For("pln_other")) != 6 || len(s.Reminders.For("pln_weekly")) != 2 || s.Events != nil {
		t.Errorf("default tenant settings = %+v", s)
	}
	a := cfg.SMS.Settings("acme")
	if cfg.SMS.InstanceFor("acme") != "twilio-ke" || a.QuietHours.Start != 22*time.Hour || len(a.Events) != 1 || a.SupportPhone != "0800 720 000" || a.Language != "fr" || s.Language != "" {
		t.Errorf("acme settings = %+v", a)
	}
	if cfg.SMS.BreakerOpenFor != 30*time.Second || cfg.SMS.MaxAttempts != 12 {
		t.Errorf("breaker_open_for %v, max_attempts %d", cfg.SMS.BreakerOpenFor, cfg.SMS.MaxAttempts)
	}

	_, err = load(t, `
instances:
  - {name: mpesa-ke, adapter: payments.mpesa, currency: KES}
sms:
  instance: nope
  language: French
  events: [payment.received]
  quiet_hours: "9pm-7am"
  reminders: {default: [-90]}
  instances:
    mpesa-ke: {secondary: mpesa-ke, rate_per_second: -1}
  templates:
    reminder: {en: "Pay {{amout}}"}
  tenants:
    acme: {instance: mpesa-ke}
  max_attempts: 0
`)
	if err == nil {
		t.Fatal("Load accepted a bad sms section")
	}
	for _, want := range []string{
		`sms.instance: "nope" is not a configured instance`,
		`sms.events[0]: want one of`,
		`sms.quiet_hours: want HH:MM-HH:MM`,
		`sms.reminders.default[0]: want a day offset`,
		`sms.instances.mpesa-ke: instance "mpesa-ke" runs payments.mpesa, not an SMS adapter`,
		`sms.instances.mpesa-ke.secondary: an instance cannot be its own secondary`,
		`sms.instances.mpesa-ke.rate_per_second: must be 0`,
		`sms.templates: templates.reminder.en: unknown variable {{amout}}`,
		`sms.tenants.acme.instance: instance "mpesa-ke" runs payments.mpesa`,
		`sms.max_attempts: must be 1 to 100`,
		`sms.language: want a language tag`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
}
