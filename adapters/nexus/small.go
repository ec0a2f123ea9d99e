package nexus

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/payg-gateway/gateway/adapters/internal/siphash"
)

// Small-protocol limits.
const (
	// MaxSmallAddDays is the largest small-protocol ADD_CREDIT amount.
	MaxSmallAddDays = 405
	// MaxSmallSetDays is the largest small-protocol SET_CREDIT amount.
	MaxSmallSetDays = 960
)

// Small-protocol type codes (2 bits on the wire).
const (
	smallAddCredit   = 0
	smallPassthrough = 1
	smallSetCredit   = 2
	smallMaintTest   = 3
)

// Special small-protocol bodies.
const (
	smallBodyLock                   = 254 // SET_CREDIT with 0 days
	smallBodyUnlock                 = 255 // ADD_CREDIT or SET_CREDIT type
	smallBodyCustomWipeRestricted   = 253 // SET_CREDIT type
	smallBodyMaintenanceFlag        = 0x80
	smallExtendedAppIDBit           = 1 << 25 // payload bit 0: extended small message
	smallExtendedSetCreditWipeFlags = 0       // extended type code
)

// SmallEncoder encodes small-protocol keycodes (1DD DDD DDD DDD DDD with
// symbols 2..5) for one device. The zero value encodes with the all-zero
// key. A SmallEncoder is immutable and safe for concurrent use.
type SmallEncoder struct {
	k0, k1 uint64
}

// NewSmallEncoder returns an encoder for the device with the given 16-byte
// secret key.
func NewSmallEncoder(key []byte) (SmallEncoder, error) {
	k0, k1, err := splitKey(key)
	if err != nil {
		return SmallEncoder{}, err
	}
	return SmallEncoder{k0: k0, k1: k1}, nil
}

// AddCredit returns the keycode that adds days (1..[MaxSmallAddDays]) of
// credit. Above 180 days the device counts in 3-day steps, so the amount is
// rounded down: 182 days encodes the same as 181. id is the full message id;
// only its low 6 bits are transmitted.
func (e SmallEncoder) AddCredit(id uint32, days int) (string, error) {
	body, err := smallAddCreditBody(days)
	if err != nil {
		return "", err
	}
	return e.message(id, smallAddCredit, body), nil
}

// SetCredit returns the keycode that sets the remaining credit to days
// (0..[MaxSmallSetDays]); 0 locks the device. Above 90 days the amount is
// rounded down to the device's coarser steps (2, 4, 8 or 16 days).
//
// A 1-day SET_CREDIT whose id has low 6 bits 63 would collide with a legacy
// test code and is refused with an [*IDCollisionError]; use the next id.
func (e SmallEncoder) SetCredit(id uint32, days int) (string, error) {
	body, err := smallSetCreditBody(days)
	if err != nil {
		return "", err
	}
	if id&0x3F == 0x3F && days == 1 {
		return "", newIDCollisionError(id, "a 1-day SET_CREDIT would collide with a legacy test code", nextID(id, 1))
	}
	return e.message(id, smallSetCredit, body), nil
}

// Unlock returns the keycode that unlocks the device for good (ADD_CREDIT
// type, body 255).
func (e SmallEncoder) Unlock(id uint32) string {
	return e.message(id, smallAddCredit, smallBodyUnlock)
}

// SetCreditUnlock returns the unlock keycode sent as the SET_CREDIT type
// (body 255).
func (e SmallEncoder) SetCreditUnlock(id uint32) string {
	return e.message(id, smallSetCredit, smallBodyUnlock)
}

// Maintenance returns the MAINTENANCE keycode of type t. It always uses
// message id 0, does not consume an id and can be entered any number of
// times.
func (e SmallEncoder) Maintenance(t MaintenanceType) (string, error) {
	if t > MaintenanceWipeIDsAll {
		return "", fmt.Errorf("nexus: unknown maintenance type %d", uint8(t))
	}
	return e.message(0, smallMaintTest, smallBodyMaintenanceFlag|uint8(t)), nil
}

// CustomCommand returns the CUSTOM_COMMAND keycode c (SET_CREDIT type with a
// reserved body).
func (e SmallEncoder) CustomCommand(id uint32, c CustomCommandType) (string, error) {
	if c != CustomWipeRestrictedFlag {
		return "", fmt.Errorf("nexus: unknown custom command %d", uint8(c))
	}
	return e.message(id, smallSetCredit, smallBodyCustomWipeRestricted), nil
}

// ExtendedSetCreditWipeRestrictedFlag returns the extended keycode that sets
// the credit to days (0..[MaxSmallSetDays], rounded as in
// [SmallEncoder.SetCredit]) and wipes the restricted flag.
//
// The extended message carries only the low 2 bits of id in its body, so
// the device matches it against every id in its window with those bits.
// If another id in [id-23, id+40] with the same low 2 bits gives the same
// 12-bit authenticator, the id is refused with an [*IDCollisionError] that
// names the next usable id.
func (e SmallEncoder) ExtendedSetCreditWipeRestrictedFlag(id uint32, days int) (string, error) {
	setBody, err := smallSetCreditBody(days)
	if err != nil {
		return "", err
	}
	if e.extendedCollides(id, setBody) {
		next := uint32(0)
		for n := uint64(id) + 1; n <= uint64(id)+IDWindowAbove && n <= math.MaxUint32; n++ {
			if !e.extendedCollides(uint32(n), setBody) {
				next = uint32(n)
				break
			}
		}
		return "", newIDCollisionError(id, "the extended message authenticator collides with another id in the device window", next)
	}
	body10 := extendedBody(id, setBody)
	auth := e.extendedAuth(id, body10)
	payload := smallExtendedAppIDBit | smallExtendedSetCreditWipeFlags<<22 | uint32(body10)<<12 | uint32(auth)
	// The passthrough type code goes after the first 6 payload bits, where
	// the message id sits in other small messages.
	msg := payload>>20<<22 | smallPassthrough<<20 | payload&0xFFFFF
	return renderSmall(obscureSmall(msg)), nil
}

// EncodeSmallTest returns the small-protocol TEST keycode of type t. Test
// keycodes always use message id 0 and the all-0xFF key, so they are the
// same for every device.
func EncodeSmallTest(t TestType) (string, error) {
	if t > OQCTest {
		return "", fmt.Errorf("nexus: unknown test type %d", uint8(t))
	}
	e := SmallEncoder{k0: math.MaxUint64, k1: math.MaxUint64}
	return e.message(0, smallMaintTest, uint8(t)), nil
}

// message builds, obscures and renders a standard small message.
func (e SmallEncoder) message(id uint32, typ, body uint8) string {
	return renderSmall(obscureSmall(e.plain(id, typ, body)))
}

// plain returns the unobscured 28-bit message id6 ‖ type2 ‖ body8 ‖ mac12,
// where mac12 is the top 12 bits of
// SipHash-2-4(key, LE32(id) ‖ u8(typ) ‖ u8(body)).
func (e SmallEncoder) plain(id uint32, typ, body uint8) uint32 {
	var msg [6]byte
	binary.LittleEndian.PutUint32(msg[0:4], id)
	msg[4] = typ
	msg[5] = body
	mac := uint32(siphash.Sum64(e.k0, e.k1, msg[:]) >> 52)
	return (id&0x3F)<<22 | uint32(typ)<<20 | uint32(body)<<12 | mac
}

// extendedBody returns the 10-bit extended SET_CREDIT body: the low 2 bits
// of id followed by the 8-bit SET_CREDIT body.
func extendedBody(id uint32, setBody uint8) uint16 {
	return uint16(id&3)<<8 | uint16(setBody)
}

// extendedAuth returns the 12-bit authenticator of an extended message: the
// top 12 bits of SipHash-2-4(key, LE32(id) ‖ u8(type) ‖ LE16(body10)).
func (e SmallEncoder) extendedAuth(id uint32, body10 uint16) uint16 {
	var msg [7]byte
	binary.LittleEndian.PutUint32(msg[0:4], id)
	msg[4] = smallExtendedSetCreditWipeFlags
	binary.LittleEndian.PutUint16(msg[5:7], body10)
	return uint16(siphash.Sum64(e.k0, e.k1, msg[:]) >> 52)
}

// extendedCollides reports whether another id in the window
// [id-IDWindowBelow, id+IDWindowAbove] (clamped to the uint32 range) with
// the same low 2 bits gives the same authenticator as id.
func (e SmallEncoder) extendedCollides(id uint32, setBody uint8) bool {
	body10 := extendedBody(id, setBody) // identical for every candidate
	auth := e.extendedAuth(id, body10)
	lo := uint64(id) - min(uint64(id), IDWindowBelow)
	hi := min(uint64(id)+IDWindowAbove, math.MaxUint32)
	for j := lo + (uint64(id)-lo)%4; j <= hi; j += 4 {
		if j != uint64(id) && e.extendedAuth(uint32(j), body10) == auth {
			return true
		}
	}
	return false
}

// obscureSmall XORs the first 16 bits of a 28-bit message with a
// pseudo-random value seeded with BE16 of the 12-bit MAC. It is its own
// inverse.
func obscureSmall(msg uint32) uint32 {
	var seed [2]byte
	binary.BigEndian.PutUint16(seed[:], uint16(msg&0xFFF))
	p := pseudorandom(seed[:])
	return msg ^ (uint32(p[0])<<8|uint32(p[1]))<<12
}

// renderSmall formats a 28-bit message as the start key '1' followed by 14
// symbols (2 bits each, 0..3 as '2'..'5'), grouped by 3.
func renderSmall(msg uint32) string {
	var b [19]byte
	b[0] = '1'
	n := 1
	for i := range 14 {
		if (i+1)%3 == 0 {
			b[n] = ' '
			n++
		}
		b[n] = '2' + byte(msg>>(26-2*i)&3)
		n++
	}
	return string(b[:n])
}

// smallAddCreditBody maps days (1..405) to the ADD_CREDIT body.
func smallAddCreditBody(days int) (uint8, error) {
	switch {
	case days >= 1 && days <= 180:
		return uint8(days - 1), nil
	case days >= 181 && days <= MaxSmallAddDays:
		return uint8(180 + (days-181)/3), nil
	}
	return 0, fmt.Errorf("nexus: days %d out of range 1..%d", days, MaxSmallAddDays)
}

// smallSetCreditBody maps days (0..960) to the SET_CREDIT body.
func smallSetCreditBody(days int) (uint8, error) {
	switch {
	case days == 0:
		return smallBodyLock, nil
	case days >= 1 && days <= 90:
		return uint8(days - 1), nil
	case days >= 91 && days <= 180:
		return uint8(90 + (days-91)/2), nil
	case days >= 181 && days <= 360:
		return uint8(135 + (days-181)/4), nil
	case days >= 361 && days <= 720:
		return uint8(180 + (days-361)/8), nil
	case days >= 721 && days <= MaxSmallSetDays:
		return uint8(225 + (days-721)/16), nil
	}
	return 0, fmt.Errorf("nexus: days %d out of range 0..%d", days, MaxSmallSetDays)
}
