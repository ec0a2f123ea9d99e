package nexus

import (
	"encoding/binary"
	"math/bits"
)

// sipHash24 returns the standard SipHash-2-4 of msg under the 128-bit key
// (k0, k1), where k0 and k1 are the little-endian words of the 16-byte key.
func sipHash24(k0, k1 uint64, msg []byte) uint64 {
	v0 := k0 ^ 0x736f6d6570736575
	v1 := k1 ^ 0x646f72616e646f6d
	v2 := k0 ^ 0x6c7967656e657261
	v3 := k1 ^ 0x7465646279746573

	n := len(msg)
	for len(msg) >= 8 {
		m := binary.LittleEndian.Uint64(msg)
		v3 ^= m
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0 ^= m
		msg = msg[8:]
	}

	last := uint64(n) << 56
	for i, c := range msg {
		last |= uint64(c) << (8 * uint(i))
	}
	v3 ^= last
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= last

	v2 ^= 0xff
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	return v0 ^ v1 ^ v2 ^ v3
}

// sipRound is one SipRound of the SipHash compression function.
func sipRound(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13)
	v1 ^= v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16)
	v3 ^= v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21)
	v3 ^= v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17)
	v1 ^= v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}

// pseudorandom returns the 8 pseudo-random bytes used to obscure a keycode:
// SipHash-2-4 under the all-zero key over 0x00 ‖ seed (the leading byte is
// the iteration counter; only iteration 0 is ever used). Byte i of the
// result is (h >> 8i) & 0xFF.
func pseudorandom(seed []byte) [8]byte {
	var msg [5]byte // longest seed is 4 bytes (full protocol)
	n := copy(msg[1:], seed)
	var p [8]byte
	binary.LittleEndian.PutUint64(p[:], sipHash24(0, 0, msg[:1+n]))
	return p
}
