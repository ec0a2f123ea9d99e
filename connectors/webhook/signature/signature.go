// Package signature signs and verifies webhooks per the Standard Webhooks
// specification (standardwebhooks.com). It depends on the standard library
// only, so a CRM team writing Go can copy or import it to check that a
// request came from the gateway:
//
//	err := signature.Verify([]string{"whsec_…"}, r.Header, body, 5*time.Minute, time.Now())
//
// Each delivery carries three headers: webhook-id (the event id, the same
// on every retry: use it as the idempotency key), webhook-timestamp (Unix
// seconds of the attempt) and webhook-signature, a space-separated list of
// "v1,<base64 HMAC-SHA256 of id.timestamp.body>", one per active secret,
// so a secret can be rotated without a gap. Secrets are "whsec_" followed by
// the base64 of their key.
package signature

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts every secret.
const SecretPrefix = "whsec_"

// Key sizes: new secrets have DefaultKeySize random bytes; keys between
// MinKeySize and MaxKeySize bytes are accepted (the specification's range).
const (
	DefaultKeySize = 32
	MinKeySize     = 24
	MaxKeySize     = 64
)

// DefaultTolerance is how far a timestamp may be from the verifier's clock.
const DefaultTolerance = 5 * time.Minute

// Verification errors.
var (
	ErrMissingHeaders = errors.New("signature: missing webhook-id, webhook-timestamp or webhook-signature header")
	ErrBadTimestamp   = errors.New("signature: webhook-timestamp is not Unix seconds")
	ErrStaleTimestamp = errors.New("signature: webhook-timestamp is outside the tolerance")
	ErrNoMatch        = errors.New("signature: no signature matches")
	ErrBadSecret      = errors.New("signature: secret is not whsec_ followed by base64 of 24 to 64 bytes")
)

// NewSecret returns a new random secret, "whsec_" + base64 of 32 bytes.
func NewSecret() string {
	b := make([]byte, DefaultKeySize)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// ParseSecret returns the key of a "whsec_…" secret (the prefix may be
// left out, as some dashboards do).
func ParseSecret(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil || len(key) < MinKeySize || len(key) > MaxKeySize {
		return nil, ErrBadSecret
	}
	return key, nil
}

// Sign returns one "v1,<base64>" signature of id, timestamp and body per
// secret, space-separated: the webhook-signature header's value.
func Sign(secrets []string, id string, timestamp time.Time, body []byte) (string, error) {
	if len(secrets) == 0 {
		return "", errors.New("signature: no secret to sign with")
	}
	ts := strconv.FormatInt(timestamp.Unix(), 10)
	sigs := make([]string, len(secrets))
	for i, s := range secrets {
		key, err := ParseSecret(s)
		if err != nil {
			return "", fmt.Errorf("secret %d: %w", i+1, err)
		}
		sigs[i] = "v1," + base64.StdEncoding.EncodeToString(mac(key, id, ts, body))
	}
	return strings.Join(sigs, " "), nil
}

func mac(key []byte, id, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Headers returns the three headers of a delivery signed with secrets.
func Headers(secrets []string, id string, timestamp time.Time, body []byte) (http.Header, error) {
	sig, err := Sign(secrets, id, timestamp, body)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(timestamp.Unix(), 10))
	h.Set(HeaderSignature, sig)
	return h, nil
}

// Verify checks that body, with the id and timestamp in h, was signed by
// one of secrets (a receiver lists its current and, during a rotation, its
// previous secret), and that the timestamp is within tolerance of now (0:
// DefaultTolerance). Signature versions other than v1 are ignored. The
// comparison is constant-time.
func Verify(secrets []string, h http.Header, body []byte, tolerance time.Duration, now time.Time) error {
	id, ts, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || ts == "" || sigs == "" {
		return ErrMissingHeaders
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrBadTimestamp
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrStaleTimestamp
	}
	var want [][]byte
	for _, s := range strings.Fields(sigs) {
		v, b64, ok := strings.Cut(s, ",")
		if !ok || v != "v1" {
			continue
		}
		if sig, err := base64.StdEncoding.DecodeString(b64); err == nil {
			want = append(want, sig)
		}
	}
	for _, s := range secrets {
		key, err := ParseSecret(s)
		if err != nil {
			return err
		}
		got := mac(key, id, ts, body)
		for _, w := range want {
			if hmac.Equal(got, w) {
				return nil
			}
		}
	}
	return ErrNoMatch
}
