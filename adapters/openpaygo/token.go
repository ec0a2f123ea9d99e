package openpaygo

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/payg-gateway/gateway/adapters/internal/siphash"
)

// Limits and reserved values of the token format.
const (
	// MaxValue is the largest activation value of a standard ADD_TIME or
	// SET_TIME token.
	MaxValue = 995
	// MaxExtendedValue is the largest value of an extended token.
	MaxExtendedValue = 999_999
	// DisablePAYGValue is the raw value carried by a DISABLE_PAYG token.
	DisablePAYGValue = 998
	// CounterSyncValue is the raw value carried by a COUNTER_SYNC token.
	CounterSyncValue = 999
	// MaxStartingCode is the largest starting code (9 decimal digits).
	MaxStartingCode = 999_999_999
	// MaxValueDivider is the largest value divider.
	MaxValueDivider = 255
	// MaxCount is the largest token count this package handles. The format
	// itself has no limit, but encoding and decoding cost grows linearly
	// with the count. Devices built on the C reference stop at 65 535.
	MaxCount = math.MaxInt32
)

// Device window rules (shared/docs/openpaygo-token.md §5).
const (
	maxTokenJump        = 64  // counts a token may be ahead of the device
	maxCounterSyncJump  = 100 // the same for counter-sync tokens
	unorderedEntryDepth = 16  // older ADD_TIME counts that may still be entered
)

// Errors returned by this package. They are wrapped with details; test for
// them with errors.Is.
var (
	ErrInvalidKey          = errors.New("openpaygo: invalid secret key")
	ErrInvalidStartingCode = errors.New("openpaygo: starting code out of range")
	ErrInvalidDivider      = errors.New("openpaygo: value divider out of range")
	ErrInvalidTokenType    = errors.New("openpaygo: invalid token type")
	ErrValueOutOfRange     = errors.New("openpaygo: value out of range")
	ErrCountOutOfRange     = errors.New("openpaygo: count out of range")
	ErrMalformedToken      = errors.New("openpaygo: malformed token")
)

// TokenType is the kind of a token, or the outcome of decoding one. The
// numeric values are those of the reference implementation.
type TokenType int

// Token types. Invalid and AlreadyUsed are decoder results only.
const (
	AddTime     TokenType = 1
	SetTime     TokenType = 2
	DisablePAYG TokenType = 3
	CounterSync TokenType = 4
	Invalid     TokenType = 10
	AlreadyUsed TokenType = 11
)

// String returns the spelling used by the reference and the test vectors,
// such as "ADD_TIME".
func (t TokenType) String() string {
	switch t {
	case AddTime:
		return "ADD_TIME"
	case SetTime:
		return "SET_TIME"
	case DisablePAYG:
		return "DISABLE_PAYG"
	case CounterSync:
		return "COUNTER_SYNC"
	case Invalid:
		return "INVALID"
	case AlreadyUsed:
		return "ALREADY_USED"
	}
	return fmt.Sprintf("TokenType(%d)", int(t))
}

// ParseTokenType parses a token type spelled as in the test vectors
// (ADD_TIME, SET_TIME, DISABLE_PAYG, COUNTER_SYNC, INVALID, ALREADY_USED).
// Case and surrounding spaces are ignored.
func ParseTokenType(s string) (TokenType, error) {
	name := strings.ToUpper(strings.TrimSpace(s))
	for _, t := range []TokenType{AddTime, SetTime, DisablePAYG, CounterSync, Invalid, AlreadyUsed} {
		if t.String() == name {
			return t, nil
		}
	}
	return 0, fmt.Errorf("%w: %q", ErrInvalidTokenType, s)
}

// Key is a 16-byte OpenPAYGO secret key.
type Key [16]byte

// ParseKey parses a key written as 32 hexadecimal characters.
func ParseKey(s string) (Key, error) {
	var k Key
	if len(s) != 2*len(k) {
		return Key{}, fmt.Errorf("%w: want %d hex characters, got %d", ErrInvalidKey, 2*len(k), len(s))
	}
	if _, err := hex.Decode(k[:], []byte(s)); err != nil {
		return Key{}, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	return k, nil
}

// words returns the SipHash key halves.
func (k Key) words() (k0, k1 uint64) {
	return binary.LittleEndian.Uint64(k[:8]), binary.LittleEndian.Uint64(k[8:])
}

// DeriveStartingCode returns the starting code the reference uses when none
// is given: the 9-digit fold of SipHash-2-4 of the key over itself.
func DeriveStartingCode(k Key) int {
	k0, k1 := k.words()
	return int(fold30(siphash.Sum64(k0, k1, k[:])))
}

// Device holds the parameters a server and a device share.
type Device struct {
	// Key is the secret key.
	Key Key
	// StartingCode seeds the token chain, 0..999 999 999. Zero is a valid
	// starting code; see DeriveStartingCode for the reference default.
	StartingCode int
	// ValueDivider is the number of activation units per day, 1..255. Zero
	// means 1.
	ValueDivider int
	// Restricted selects the restricted digit set (digits 1-4 only).
	Restricted bool
}

// divider returns the effective value divider.
func (d Device) divider() int {
	if d.ValueDivider == 0 {
		return 1
	}
	return d.ValueDivider
}

// validate checks the device parameters.
func (d Device) validate() error {
	if d.StartingCode < 0 || d.StartingCode > MaxStartingCode {
		return fmt.Errorf("%w: %d (want 0..%d)", ErrInvalidStartingCode, d.StartingCode, MaxStartingCode)
	}
	if d.ValueDivider < 0 || d.ValueDivider > MaxValueDivider {
		return fmt.Errorf("%w: %d (want 1..%d)", ErrInvalidDivider, d.ValueDivider, MaxValueDivider)
	}
	return nil
}

// RawValue converts a number of days into the integer activation value a
// token carries: days × divider, rounded half to even as the reference
// (Python's round) does. It does not apply the per-token limit of 995;
// Encode does.
func (d Device) RawValue(days float64) (int, error) {
	if err := d.validate(); err != nil {
		return 0, err
	}
	if math.IsNaN(days) || math.IsInf(days, 0) || days < 0 {
		return 0, fmt.Errorf("%w: %v days", ErrValueOutOfRange, days)
	}
	raw := math.RoundToEven(days * float64(d.divider()))
	if raw > MaxExtendedValue {
		return 0, fmt.Errorf("%w: %v days is %v units (max %d)", ErrValueOutOfRange, days, raw, MaxExtendedValue)
	}
	return int(raw), nil
}

// chain is the hash chain of one token form (standard or extended).
type chain struct {
	k0, k1   uint64
	extended bool
}

func newChain(k Key, extended bool) chain {
	k0, k1 := k.words()
	return chain{k0: k0, k1: k1, extended: extended}
}

// mod is the size of the value field: 10^3, or 10^6 for extended tokens.
func (c chain) mod() uint64 {
	if c.extended {
		return 1_000_000
	}
	return 1_000
}

// next is one step of the chain: F9 or F12 of the spec.
func (c chain) next(code uint64) uint64 {
	if c.extended {
		// The message is the 8-byte big-endian code.
		y := siphash.Sum64Word(c.k0, c.k1, bits64BE(code)) >> 24
		if y > 999_999_999_999 {
			y -= 99_511_627_777
		}
		return y
	}
	// The message is the 4-byte big-endian code, twice.
	be := uint64(bits32BE(uint32(code)))
	return uint64(fold30(siphash.Sum64Word(c.k0, c.k1, be|be<<32)))
}

// fold30 folds a hash into 9 decimal digits: XOR the halves, keep bits
// 31..2, and pull the values above 999 999 999 back into range.
func fold30(h uint64) uint32 {
	y := (uint32(h>>32) ^ uint32(h)) >> 2
	if y > 999_999_999 {
		y -= 73_741_825
	}
	return y
}

// bits32BE returns the little-endian reading of the big-endian bytes of v,
// which is how a big-endian message word enters SipHash.
func bits32BE(v uint32) uint32 {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return binary.LittleEndian.Uint32(b[:])
}

// bits64BE is bits32BE for 64-bit words.
func bits64BE(v uint64) uint64 {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return binary.LittleEndian.Uint64(b[:])
}
