package secretbox

import (
	"bytes"
	"errors"
	"testing"
)

func TestSealOpen(t *testing.T) {
	b, err := New(NewKey())
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("0123456789abcdef")
	s1, s2 := b.Seal(secret, []byte("dev_1")), b.Seal(secret, []byte("dev_1"))
	if bytes.Equal(s1, s2) {
		t.Error("two seals of one secret are equal: nonce reuse")
	}
	if bytes.Contains(s1, secret) {
		t.Error("sealed value contains the plaintext")
	}
	got, err := b.Open(s1, []byte("dev_1"))
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := b.Open(s1, []byte("dev_2")); err == nil {
		t.Error("opened with another owner's aad")
	}
	tampered := append([]byte(nil), s1...)
	tampered[len(tampered)-1] ^= 1
	if _, err := b.Open(tampered, []byte("dev_1")); err == nil {
		t.Error("opened a tampered value")
	}
	other, _ := New(NewKey())
	if _, err := other.Open(s1, []byte("dev_1")); !errors.Is(err, ErrWrongKey) {
		t.Errorf("Open under another key = %v, want ErrWrongKey", err)
	}
}

func TestParseKey(t *testing.T) {
	if _, err := ParseKey("00"); err == nil {
		t.Error("short key accepted")
	}
	k, err := ParseKey("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n")
	if err != nil || len(k) != KeySize || k[31] != 0x1f {
		t.Errorf("ParseKey = %x, %v", k, err)
	}
	if _, err := New(k[:16]); err == nil {
		t.Error("16-byte master key accepted")
	}
}
