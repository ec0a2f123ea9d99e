// Package nexus encodes Angaza Nexus Keycode tokens (server side) for
// pay-as-you-go devices, bit for bit as Angaza's reference encoder
// (nexus-python, nexus_keycode 1.5.1) does.
//
// Two protocols are supported. The full protocol ([FullEncoder]) renders 14
// digits as "*DDD DDD DDD DDD DD#" and counts credit in hours; its factory
// keycodes are shorter. The small protocol ([SmallEncoder]) renders a start
// key and 14 symbols from {2,3,4,5} as "1DD DDD DDD DDD DDD" and counts
// credit in days on a non-linear scale.
//
// # Message ids
//
// Every credit, unlock, wipe and custom message has a uint32 message id that
// the server increments once per keycode for each device. The MAC covers
// the full 32-bit id, but only its low 6 bits travel in the keycode (the
// extended small message carries just 2). The device rebuilds the full id as
// the lowest id in [Pd-23, Pd+40] with those low bits, where Pd is the
// highest id it has accepted; see [ExpandID]. So the server must never get
// more than [IDWindowAbove] ids ahead of the device, and ids should stay
// below 65536 because the device firmware keeps some ids in 16 bits.
// Maintenance, test and factory keycodes always use id 0.
//
// [Encode] takes a protocol-neutral [Request], as used by the test vectors
// and [EncodeCSV].
package nexus

import (
	"encoding/binary"

	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/payg-gateway/gateway/adapters/internal/siphash"
)

// The device's message-id window around its Pd index (the highest id it has
// accepted): it can apply ids from Pd-IDWindowBelow to Pd+IDWindowAbove.
const (
	IDWindowBelow = 23
	IDWindowAbove = 40
)

// ExpandID returns the full message id a device whose Pd index is pd
// rebuilds from the 6 id bits carried in a keycode: the lowest id in
// [pd-IDWindowBelow, pd+IDWindowAbove] whose low 6 bits are low6. It
// reports false if low6 is not a 6-bit value or no id in the window (clamped
// to the uint32 range) matches.
func ExpandID(pd uint32, low6 uint8) (uint32, bool) {
	if low6 > 0x3F {
		return 0, false
	}
	lo := uint64(pd) - min(uint64(pd), IDWindowBelow)
	hi := min(uint64(pd)+IDWindowAbove, math.MaxUint32)
	id := lo + (uint64(low6)-lo)&0x3F
	if id > hi {
		return 0, false
	}
	return uint32(id), true
}

// IDCollisionError reports that a message cannot be sent with the requested
// id because the device could mistake it for another message. Sending it
// with a later id (usually the next one) works.
type IDCollisionError struct {
	// ID is the refused message id.
	ID uint32
	// Next is the next usable id, or 0 if none was found within
	// IDWindowAbove ids.
	Next uint32

	reason string
}

func newIDCollisionError(id uint32, reason string, next uint32) *IDCollisionError {
	return &IDCollisionError{ID: id, Next: next, reason: reason}
}

// Error implements the error interface.
func (e *IDCollisionError) Error() string {
	if e.Next == 0 {
		return fmt.Sprintf("nexus: message id %d cannot be used: %s; no usable id within %d above it", e.ID, e.reason, IDWindowAbove)
	}
	return fmt.Sprintf("nexus: message id %d cannot be used: %s; next usable id is %d", e.ID, e.reason, e.Next)
}

// nextID returns id+step, or 0 if that overflows uint32.
func nextID(id, step uint32) uint32 {
	if id > math.MaxUint32-step {
		return 0
	}
	return id + step
}

// Request describes one keycode in the protocol-neutral form of the test
// vectors and the batch CSV.
type Request struct {
	Protocol Protocol
	Type     MessageType
	// Key is the device's 16-byte secret key. It is ignored by the factory
	// and small TEST types, which use fixed keys.
	Key []byte
	// ID is the full message id. It must be 0 for the factory, MAINTENANCE
	// and TEST types, which always use id 0.
	ID uint32
	// Value is the type's argument as text, as in the vectors' value
	// column: a decimal number of hours, days or minutes, or the name of a
	// wipe flag, maintenance type, test type or custom command. It must be
	// empty for the types that take no value (UNLOCK, SET_CREDIT_UNLOCK,
	// FACTORY_ALLOW_TEST, FACTORY_DISPLAY_PAYG_ID). See the [MessageType]
	// constants.
	Value string
}

// Encode returns the keycode for r, formatted as the reference encoder's
// default to_keycode() output.
func Encode(r Request) (string, error) {
	if r.Protocol != Full && r.Protocol != Small {
		return "", fmt.Errorf("nexus: unknown protocol %d", int(r.Protocol))
	}
	if r.Type < AddCredit || r.Type > Test {
		return "", fmt.Errorf("nexus: unknown message type %d", int(r.Type))
	}
	if !r.Type.ValidFor(r.Protocol) {
		return "", fmt.Errorf("nexus: message type %v is not defined for the %v protocol", r.Type, r.Protocol)
	}
	if !r.Type.usesID() && r.ID != 0 {
		return "", fmt.Errorf("nexus: %v always uses message id 0, got %d", r.Type, r.ID)
	}
	value := strings.TrimSpace(r.Value)
	if !r.Type.usesValue() && value != "" {
		return "", fmt.Errorf("nexus: %v takes no value, got %q", r.Type, r.Value)
	}
	if r.Type.usesValue() && value == "" {
		return "", fmt.Errorf("nexus: %v needs a value", r.Type)
	}

	// Key-independent types first, so they need no key.
	switch r.Type {
	case FactoryAllowTest:
		return EncodeFactoryAllowTest(), nil
	case FactoryDisplayPAYGID:
		return EncodeFactoryDisplayPAYGID(), nil
	case FactoryOQCTest:
		minutes, err := parseAmount(value, "minutes")
		if err != nil {
			return "", err
		}
		return EncodeFactoryOQCTest(minutes)
	case Test:
		t, err := ParseTestType(value)
		if err != nil {
			return "", err
		}
		return EncodeSmallTest(t)
	}

	if r.Protocol == Full {
		e, err := NewFullEncoder(r.Key)
		if err != nil {
			return "", err
		}
		return encodeFull(e, r.Type, r.ID, value)
	}
	e, err := NewSmallEncoder(r.Key)
	if err != nil {
		return "", err
	}
	return encodeSmall(e, r.Type, r.ID, value)
}

// encodeFull encodes the keyed full-protocol types.
func encodeFull(e FullEncoder, t MessageType, id uint32, value string) (string, error) {
	switch t {
	case AddCredit, SetCredit:
		hours, err := parseAmount(value, "hours")
		if err != nil {
			return "", err
		}
		if t == AddCredit {
			return e.AddCredit(id, hours)
		}
		return e.SetCredit(id, hours)
	case Unlock:
		return e.Unlock(id), nil
	case WipeState:
		flag, err := ParseWipeFlag(value)
		if err != nil {
			return "", err
		}
		return e.WipeState(id, flag)
	}
	return "", fmt.Errorf("nexus: message type %v is not defined for the full protocol", t)
}

// encodeSmall encodes the keyed small-protocol types.
func encodeSmall(e SmallEncoder, t MessageType, id uint32, value string) (string, error) {
	switch t {
	case AddCredit, SetCredit, ExtendedSetCreditWipeRestrictedFlag:
		days, err := parseAmount(value, "days")
		if err != nil {
			return "", err
		}
		switch t {
		case AddCredit:
			return e.AddCredit(id, days)
		case SetCredit:
			return e.SetCredit(id, days)
		}
		return e.ExtendedSetCreditWipeRestrictedFlag(id, days)
	case Unlock:
		return e.Unlock(id), nil
	case SetCreditUnlock:
		return e.SetCreditUnlock(id), nil
	case Maintenance:
		m, err := ParseMaintenanceType(value)
		if err != nil {
			return "", err
		}
		return e.Maintenance(m)
	case CustomCommand:
		c, err := ParseCustomCommandType(value)
		if err != nil {
			return "", err
		}
		return e.CustomCommand(id, c)
	}
	return "", fmt.Errorf("nexus: message type %v is not defined for the small protocol", t)
}

// parseAmount parses a decimal amount of unit. Range checks are left to the
// encoders; values too large for an int are reported as out of range.
func parseAmount(s, unit string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("nexus: %s %s out of range", unit, s)
		}
		return 0, fmt.Errorf("nexus: %s %q is not a decimal number", unit, s)
	}
	return n, nil
}

// pseudorandom returns the 8 pseudo-random bytes used to obscure a keycode:
// SipHash-2-4 under the all-zero key over 0x00 ‖ seed (the leading byte is
// the iteration counter; only iteration 0 is ever used). Byte i of the
// result is (h >> 8i) & 0xFF.
func pseudorandom(seed []byte) [8]byte {
	var msg [5]byte // longest seed is 4 bytes (full protocol)
	n := copy(msg[1:], seed)
	var p [8]byte
	binary.LittleEndian.PutUint64(p[:], siphash.Sum64(0, 0, msg[:1+n]))
	return p
}
