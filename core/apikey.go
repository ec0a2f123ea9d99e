package core

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"strings"
	"time"
	"unicode/utf8"
)

// Scope is what an API key may do. Scopes nest: admin includes write, and
// write includes read.
type Scope string

// The scopes, weakest first.
const (
	ScopeRead  Scope = "read"  // GET anything of the key's tenant
	ScopeWrite Scope = "write" // also create, change and delete business data
	ScopeAdmin Scope = "admin" // also manage the tenant's API keys
)

func (s Scope) rank() int {
	switch s {
	case ScopeRead:
		return 1
	case ScopeWrite:
		return 2
	case ScopeAdmin:
		return 3
	}
	return 0
}

// Valid reports whether s is one of the defined scopes.
func (s Scope) Valid() bool { return s.rank() > 0 }

// Allows reports whether a key with scope s may do what needs scope need.
// An invalid scope allows nothing.
func (s Scope) Allows(need Scope) bool { return s.Valid() && need.Valid() && s.rank() >= need.rank() }

// APIKeyPrefix starts every API key, so a leaked key is recognisable (by
// secret scanners, too) and a malformed one is refused without a lookup.
const APIKeyPrefix = "gw_live_"

// apiKeyRandomBytes of entropy follow the prefix: 256 bits.
const apiKeyRandomBytes = 32

// APIKeyDisplayLength is how much of a key is kept in clear, as its Prefix,
// so an operator can tell keys apart: the fixed prefix and four random
// characters (20 bits: a hint, not a secret's worth).
const APIKeyDisplayLength = len(APIKeyPrefix) + 4

// APIKeyLastUsedResolution is how stale LastUsedAt may be: authentication
// writes it only when it is older than this, so a busy key does not turn
// every request into a database write.
const APIKeyLastUsedResolution = time.Minute

// MaxAPIKeyNameLength bounds APIKey.Name, in characters.
const MaxAPIKeyNameLength = 100

var keyEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// APIKey is a credential of a CRM or an operator for the /v1 API. Only a
// hash of the key is stored; the key itself is shown once, when created.
type APIKey struct {
	ID       string
	TenantID string
	// Name says who or what uses the key ("crm-sync", "ops laptop").
	Name  string
	Scope Scope
	// Prefix is the key's first APIKeyDisplayLength characters.
	Prefix     string
	CreatedAt  time.Time
	LastUsedAt *time.Time // nil until first used
	RevokedAt  *time.Time // nil while the key works
}

// Revoked reports whether the key has been revoked.
func (k *APIKey) Revoked() bool { return k.RevokedAt != nil }

// Validate checks the fields a caller sets (tenant, name, scope) and returns
// an EINVALID error naming the first bad one.
func (k *APIKey) Validate() error {
	name := strings.TrimSpace(k.Name)
	switch {
	case k.TenantID == "":
		return Errorf(EINVALID, "api key tenant: required")
	case name == "":
		return Errorf(EINVALID, "api key name: required")
	case !utf8.ValidString(k.Name) || utf8.RuneCountInString(k.Name) > MaxAPIKeyNameLength:
		return Errorf(EINVALID, "api key name: want at most %d characters of UTF-8", MaxAPIKeyNameLength)
	case !k.Scope.Valid():
		return Errorf(EINVALID, "api key scope %q: want read, write or admin", k.Scope)
	}
	return nil
}

// NewAPIKeySecret makes a new random key and returns it with its display
// prefix and the hash to store.
func NewAPIKeySecret() (plaintext, prefix string, hash []byte) {
	var b [apiKeyRandomBytes]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error
	plaintext = APIKeyPrefix + strings.ToLower(keyEncoding.EncodeToString(b[:]))
	return plaintext, plaintext[:APIKeyDisplayLength], HashAPIKey(plaintext)
}

// HashAPIKey is the stored form of a key: its SHA-256. A fast, unsalted hash
// is right here, unlike for passwords: a key carries 256 random bits, so
// there is no dictionary to try and brute force is hopeless however fast the
// hash; and a deterministic hash lets a key be found by an index lookup
// (whose timing reveals nothing useful, as the caller cannot choose hashes).
func HashAPIKey(plaintext string) []byte {
	h := sha256.Sum256([]byte(plaintext))
	return h[:]
}

// WellFormedAPIKey reports whether s looks like a key NewAPIKeySecret makes,
// so garbage is refused without touching the store.
func WellFormedAPIKey(s string) bool {
	rest, ok := strings.CutPrefix(s, APIKeyPrefix)
	if !ok || len(rest) != keyEncoding.EncodedLen(apiKeyRandomBytes) {
		return false
	}
	for _, r := range rest {
		if (r < 'a' || r > 'z') && (r < '2' || r > '7') {
			return false
		}
	}
	return true
}

// NewAPIKeyID returns a new random API key id such as key_3kq7m2xw5fzp4d6a.
func NewAPIKeyID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return "key_" + strings.ToLower(keyEncoding.EncodeToString(b[:]))
}

// APIKeyService stores API keys. Every method but AuthenticateAPIKey is
// scoped by tenant: a key of another tenant is ENOTFOUND.
type APIKeyService interface {
	// CreateAPIKey stores a new key for k.TenantID with k.Name and k.Scope
	// (other fields are ignored) and returns it with the plaintext key,
	// which is not kept and cannot be shown again. ENOTFOUND if the tenant
	// does not exist, EINVALID for a bad name or scope.
	CreateAPIKey(ctx context.Context, k APIKey) (APIKey, string, error)
	// AuthenticateAPIKey returns the key whose plaintext is given, and
	// records its use (at most once per APIKeyLastUsedResolution).
	// ENOTFOUND if no such key exists or it has been revoked.
	AuthenticateAPIKey(ctx context.Context, plaintext string) (APIKey, error)
	// APIKeys lists the tenant's keys, revoked ones included, ordered by
	// creation time then id.
	APIKeys(ctx context.Context, tenantID string, page PageRequest) (Page[APIKey], error)
	// RevokeAPIKey revokes the tenant's key and returns it. Revoking a
	// revoked key changes nothing.
	RevokeAPIKey(ctx context.Context, tenantID, id string) (APIKey, error)
}

// APIService is what the REST API's own machinery keeps in the store: its
// credentials and its idempotency records.
type APIService interface {
	APIKeyService
	IdempotencyService
}
