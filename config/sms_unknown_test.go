package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/payg-gateway/gateway/core/messaging"
)

// TestSMSUnknownOutcome: sms.unknown_outcome is hold unless the file or
// GATEWAY_SMS_UNKNOWN_OUTCOME says resend; anything else stops the start.
func TestSMSUnknownOutcome(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	cfg, err := Load("", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SMS.UnknownOutcome != string(messaging.UnknownHold) {
		t.Errorf("default sms.unknown_outcome %q, want hold", cfg.SMS.UnknownOutcome)
	}

	path := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(path, []byte("sms:\n  unknown_outcome: resend\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if cfg, err = Load(path, noEnv); err != nil {
		t.Fatal(err)
	}
	if cfg.SMS.UnknownOutcome != string(messaging.UnknownResend) {
		t.Errorf("sms.unknown_outcome from the file %q, want resend", cfg.SMS.UnknownOutcome)
	}

	env := func(v string) func(string) (string, bool) {
		return func(name string) (string, bool) {
			if name == "GATEWAY_SMS_UNKNOWN_OUTCOME" {
				return v, true
			}
			return "", false
		}
	}
	if cfg, err = Load("", env("resend")); err != nil {
		t.Fatal(err)
	}
	if cfg.SMS.UnknownOutcome != string(messaging.UnknownResend) {
		t.Errorf("sms.unknown_outcome from the environment %q, want resend", cfg.SMS.UnknownOutcome)
	}
	_, err = Load("", env("twice"))
	if err == nil || !strings.Contains(err.Error(), `sms.unknown_outcome`) || !strings.Contains(err.Error(), `want hold or resend, got "twice"`) {
		t.Errorf("bad sms.unknown_outcome: error %v", err)
	}
}
