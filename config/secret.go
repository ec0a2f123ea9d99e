package config

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// Secret is a configuration value that may be sensitive. In YAML or the
// environment it is written literally, or as a reference resolved at load:
//
//	env:NAME     the value of environment variable NAME
//	file:/path   the contents of the file, trailing newline removed
//
// Its String and LogValue never show the value.
type Secret struct {
	value string
	ref   string // the reference it came from, if any, for messages
}

// NewSecret returns a literal secret (for tests and flags).
func NewSecret(v string) Secret { return Secret{value: v} }

// Value returns the secret's value.
func (s Secret) Value() string { return s.value }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.value == "" }

// String hides the value; it names the reference when there is one.
func (s Secret) String() string {
	if s.ref != "" {
		return "[secret from " + s.ref + "]"
	}
	if s.value == "" {
		return ""
	}
	return "[secret]"
}

// LogValue keeps secrets out of slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// ResolveSecret turns a raw setting into a Secret, following env: and file:
// references.
func ResolveSecret(raw string, lookupEnv func(string) (string, bool)) (Secret, error) {
	switch {
	case strings.HasPrefix(raw, "env:"):
		name := strings.TrimPrefix(raw, "env:")
		if name == "" {
			return Secret{}, fmt.Errorf("env: reference without a variable name")
		}
		v, ok := lookupEnv(name)
		if !ok {
			return Secret{}, fmt.Errorf("environment variable %s is not set", name)
		}
		return Secret{value: v, ref: "env:" + name}, nil
	case strings.HasPrefix(raw, "file:"):
		path := strings.TrimPrefix(raw, "file:")
		b, err := os.ReadFile(path)
		if err != nil {
			return Secret{}, fmt.Errorf("read secret file: %w", err)
		}
		return Secret{value: strings.TrimRight(string(b), "\r\n"), ref: "file:" + path}, nil
	}
	return Secret{value: raw}, nil
}
