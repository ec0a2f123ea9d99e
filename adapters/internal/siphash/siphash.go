// Package siphash is SipHash-2-4 (Aumasson and Bernstein, 2012), the MAC
// under both OpenPAYGO Token and Nexus keycodes. It is small enough to own:
// the token engines need the two-word key form and a one-word fast path.
package siphash

import (
	"encoding/binary"
	"math/bits"
)

// Sum64 returns the 64-bit SipHash-2-4 of msg under the 128-bit key
// (k0, k1), where k0 and k1 are the two key halves read as little-endian
// words.
func Sum64(k0, k1 uint64, msg []byte) uint64 {
	v0 := k0 ^ 0x736f6d6570736575
	v1 := k1 ^ 0x646f72616e646f6d
	v2 := k0 ^ 0x6c7967656e657261
	v3 := k1 ^ 0x7465646279746573

	last := uint64(len(msg)) << 56
	for len(msg) >= 8 {
		m := binary.LittleEndian.Uint64(msg)
		v3 ^= m
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0 ^= m
		msg = msg[8:]
	}
	for i, b := range msg {
		last |= uint64(b) << (8 * i)
	}
	return sipFinish(v0, v1, v2, v3, last)
}

// Sum64Word is Sum64 for a message of exactly 8 bytes whose
// little-endian reading is m. It avoids building a byte slice on the hot
// path of the token chain.
func Sum64Word(k0, k1, m uint64) uint64 {
	v0 := k0 ^ 0x736f6d6570736575
	v1 := k1 ^ 0x646f72616e646f6d
	v2 := k0 ^ 0x6c7967656e657261
	v3 := k1 ^ 0x7465646279746573

	v3 ^= m
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= m
	return sipFinish(v0, v1, v2, v3, 8<<56)
}

// sipFinish absorbs the final block b (the trailing bytes plus the length
// byte) and runs the four finalisation rounds.
func sipFinish(v0, v1, v2, v3, b uint64) uint64 {
	v3 ^= b
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= b
	v2 ^= 0xff
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	return v0 ^ v1 ^ v2 ^ v3
}

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
