package adapters

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"unicode"

	"github.com/google/uuid"
)

// NormalizeAccountRef normalises an account reference a payer typed: it
// trims, upper-cases, and removes spaces and '-' (" ac-100234 " becomes
// "AC100234"). Adapters put the result in PaymentNotice.AccountRef; the
// original text stays in the raw body.
func NormalizeAccountRef(s string) string {
	var b strings.Builder
	for _, r := range strings.TrimSpace(s) {
		if r == '-' || unicode.IsSpace(r) {
			continue
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

// ParsePrefixes parses an allow-list of CIDRs or single addresses
// ("196.201.214.200/32", "196.201.214.206"). Errors name the setting path
// and the index.
func ParsePrefixes(path string, list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for i, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %q is not a CIDR or an IP address", path, i, s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// AddrAllowed reports whether addr is in one of prefixes. An IPv4-mapped
// IPv6 address is compared as IPv4. An invalid (unknown) address is never
// allowed.
func AddrAllowed(prefixes []netip.Prefix, addr netip.Addr) bool {
	if !addr.IsValid() {
		return false
	}
	addr = addr.Unmap()
	for _, p := range prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// CheckSourceAddr returns an *AuthError (403, "source_ip") unless addr is
// allowed. An empty allow-list allows every address.
func CheckSourceAddr(prefixes []netip.Prefix, addr netip.Addr) error {
	if len(prefixes) == 0 || AddrAllowed(prefixes, addr) {
		return nil
	}
	return &AuthError{Status: 403, Check: "source_ip", Reason: fmt.Sprintf("%s is not in the allow-list", addr)}
}

// SecretEqual compares a received secret with the expected one in constant
// time (for equal lengths). An empty expected secret never matches.
func SecretEqual(got, want string) bool {
	if want == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// PathToken returns the per-request path token for message: the first n
// hex characters (at most 64) of HMAC-SHA256(key, message). Put it in a
// callback URL we give the provider and check it with SecretEqual.
func PathToken(key, message string, n int) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(message))
	s := hex.EncodeToString(m.Sum(nil))
	if n > 0 && n < len(s) {
		s = s[:n]
	}
	return s
}

// NewReferenceID returns a new random UUIDv4 for PaymentRequest.ReferenceID.
func NewReferenceID() (string, error) {
	u, err := uuid.NewRandom()
	if err != nil {
		return "", fmt.Errorf("adapters: new reference id: %w", err)
	}
	return u.String(), nil
}

// IsUUIDv4 reports whether s is a canonical (lower- or upper-case,
// hyphenated) version-4 UUID.
func IsUUIDv4(s string) bool {
	if len(s) != 36 {
		return false
	}
	u, err := uuid.Parse(s)
	return err == nil && u.Version() == 4 && u.Variant() == uuid.RFC4122
}
