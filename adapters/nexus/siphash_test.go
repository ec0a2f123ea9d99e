package nexus

import (
	"encoding/binary"
	"testing"
)

// TestSipHash24 checks sipHash24 against the reference vectors of the
// SipHash paper (key 00..0f, message 00..n-1).
func TestSipHash24(t *testing.T) {
	var key [16]byte
	for i := range key {
		key[i] = byte(i)
	}
	k0 := binary.LittleEndian.Uint64(key[0:8])
	k1 := binary.LittleEndian.Uint64(key[8:16])
	msg := make([]byte, 16)
	for i := range msg {
		msg[i] = byte(i)
	}
	tests := []struct {
		n    int
		want uint64
	}{
		{0, 0x726fdb47dd0e0e31},
		{1, 0x74f839c593dc67fd},
		{8, 0x93f5f5799a932462},
		{15, 0xa129ca6149be45e5},
	}
	for _, tt := range tests {
		if got := sipHash24(k0, k1, msg[:tt.n]); got != tt.want {
			t.Errorf("sipHash24(msg[:%d]) = %#016x, want %#016x", tt.n, got, tt.want)
		}
	}
}
