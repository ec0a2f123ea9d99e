package nexus

import (
	"encoding/binary"
	"fmt"

	"github.com/payg-gateway/gateway/adapters/internal/siphash"
)

// Full-protocol limits.
const (
	// MaxFullHours is the largest ADD_CREDIT or SET_CREDIT amount in hours.
	// The body value 99999 is reserved for UNLOCK.
	MaxFullHours = 99998
	// MinOQCMinutes and MaxOQCMinutes bound the FACTORY_OQC_TEST duration.
	MinOQCMinutes = 1
	MaxOQCMinutes = 99
)

// Full-protocol type digits (the first digit of the plain keycode).
const (
	fullAddCredit        = 0
	fullSetCredit        = 1
	fullWipeState        = 2
	fullFactoryAllowTest = 4
	fullFactoryOQCTest   = 5
	fullFactoryPAYGID    = 6
)

// fullUnlockHours is the SET_CREDIT body that means UNLOCK.
const fullUnlockHours = 99999

// FullEncoder encodes full-protocol keycodes (*DDD DDD DDD DDD DD#) for one
// device. The zero value encodes with the all-zero key. A FullEncoder is
// immutable and safe for concurrent use.
type FullEncoder struct {
	k0, k1 uint64
}

// NewFullEncoder returns an encoder for the device with the given 16-byte
// secret key.
func NewFullEncoder(key []byte) (FullEncoder, error) {
	k0, k1, err := splitKey(key)
	if err != nil {
		return FullEncoder{}, err
	}
	return FullEncoder{k0: k0, k1: k1}, nil
}

// AddCredit returns the keycode that adds hours (0..[MaxFullHours]) of
// credit. id is the full message id; only its low 6 bits are transmitted.
func (e FullEncoder) AddCredit(id uint32, hours int) (string, error) {
	if hours < 0 || hours > MaxFullHours {
		return "", fmt.Errorf("nexus: hours %d out of range 0..%d", hours, MaxFullHours)
	}
	return e.credit(id, fullAddCredit, uint32(hours)), nil
}

// SetCredit returns the keycode that sets the remaining credit to hours
// (0..[MaxFullHours]); 0 locks the device. Use [FullEncoder.Unlock] to
// unlock.
func (e FullEncoder) SetCredit(id uint32, hours int) (string, error) {
	if hours < 0 || hours > MaxFullHours {
		return "", fmt.Errorf("nexus: hours %d out of range 0..%d (use UNLOCK to unlock)", hours, MaxFullHours)
	}
	return e.credit(id, fullSetCredit, uint32(hours)), nil
}

// Unlock returns the keycode that unlocks the device for good (SET_CREDIT
// with 99999 hours).
func (e FullEncoder) Unlock(id uint32) string {
	return e.credit(id, fullSetCredit, fullUnlockHours)
}

// WipeState returns the WIPE_STATE keycode for flag.
func (e FullEncoder) WipeState(id uint32, flag WipeFlag) (string, error) {
	if flag > WipeRestrictedFlag {
		return "", fmt.Errorf("nexus: unknown wipe flag %d", uint8(flag))
	}
	return e.credit(id, fullWipeState, uint32(flag)), nil
}

// credit builds, obscures and renders a 14-digit message: the type digit,
// the low 6 bits of id as 2 digits, the 5-digit body and the 6-digit MAC.
func (e FullEncoder) credit(id uint32, typ uint8, body uint32) string {
	mac := fullMAC(e.k0, e.k1, id, typ, body)
	var d [14]byte
	d[0] = typ
	putDigits(d[1:3], id&0x3F)
	putDigits(d[3:8], body)
	putDigits(d[8:14], mac)
	obscureFull(&d)
	return renderFull(d[:])
}

// EncodeFactoryAllowTest returns the FACTORY_ALLOW_TEST keycode. It is the
// same for every device.
func EncodeFactoryAllowTest() string {
	return factory(fullFactoryAllowTest, 0, 0)
}

// EncodeFactoryDisplayPAYGID returns the FACTORY_DISPLAY_PAYG_ID keycode. It
// is the same for every device.
func EncodeFactoryDisplayPAYGID() string {
	return factory(fullFactoryPAYGID, 0, 0)
}

// EncodeFactoryOQCTest returns the FACTORY_OQC_TEST keycode for a test of
// minutes ([MinOQCMinutes]..[MaxOQCMinutes]). It is the same for every
// device.
func EncodeFactoryOQCTest(minutes int) (string, error) {
	if minutes < MinOQCMinutes || minutes > MaxOQCMinutes {
		return "", fmt.Errorf("nexus: minutes %d out of range %d..%d", minutes, MinOQCMinutes, MaxOQCMinutes)
	}
	return factory(fullFactoryOQCTest, uint32(minutes), 5), nil
}

// factory renders an unobscured factory message: the type digit, a body of
// width digits (0 for none) and the 6-digit MAC under the all-zero key and
// message id 0.
func factory(typ uint8, body uint32, width int) string {
	var d [12]byte
	d[0] = typ
	putDigits(d[1:1+width], body)
	putDigits(d[1+width:7+width], fullMAC(0, 0, 0, typ, body))
	return renderFull(d[:7+width])
}

// fullMAC returns the 6-digit full-protocol MAC as an integer: the low 32
// bits of SipHash-2-4(key, LE32(id) ‖ u8(typ) ‖ LE32(body)) mod 10^6.
func fullMAC(k0, k1 uint64, id uint32, typ uint8, body uint32) uint32 {
	var msg [9]byte
	binary.LittleEndian.PutUint32(msg[0:4], id)
	msg[4] = typ
	binary.LittleEndian.PutUint32(msg[5:9], body)
	return uint32(siphash.Sum64(k0, k1, msg[:])) % 1_000_000
}

// obscureFull scrambles the 8 header and body digits of a plain 14-digit
// message in place, using a pseudo-random stream seeded with LE32 of the
// MAC. The 6 MAC digits are left alone.
func obscureFull(d *[14]byte) {
	var seed [4]byte
	binary.LittleEndian.PutUint32(seed[:], digitsValue(d[8:14]))
	p := pseudorandom(seed[:])
	for i := range 8 {
		d[i] = byte((int(d[i]) + int(p[i])) % 10)
	}
}

// putDigits writes v into d as len(d) decimal digit values (0..9), most
// significant first, dropping any higher digits.
func putDigits(d []byte, v uint32) {
	for i := len(d) - 1; i >= 0; i-- {
		d[i] = byte(v % 10)
		v /= 10
	}
}

// digitsValue is the inverse of putDigits.
func digitsValue(d []byte) uint32 {
	var v uint32
	for _, c := range d {
		v = v*10 + uint32(c)
	}
	return v
}

// renderFull formats digit values as "*ddd ddd ... d#".
func renderFull(d []byte) string {
	b := make([]byte, 0, 2+len(d)+len(d)/3)
	b = append(b, '*')
	for i, c := range d {
		if i > 0 && i%3 == 0 {
			b = append(b, ' ')
		}
		b = append(b, '0'+c)
	}
	b = append(b, '#')
	return string(b)
}

// splitKey checks that key is 16 bytes and returns its little-endian words.
func splitKey(key []byte) (k0, k1 uint64, err error) {
	if len(key) != 16 {
		return 0, 0, fmt.Errorf("nexus: secret key must be 16 bytes, got %d", len(key))
	}
	return binary.LittleEndian.Uint64(key[0:8]), binary.LittleEndian.Uint64(key[8:16]), nil
}
