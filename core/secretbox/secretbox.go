// Package secretbox encrypts small secrets at rest (device token keys) with
// AES-256-GCM under a master key. A sealed value names the key that sealed
// it, so a key rotation can tell old from new.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the master key length in bytes.
const KeySize = 32

const (
	version = 1
	idSize  = 4 // bytes of SHA-256(master key) that name the key
)

// Box seals and opens secrets under one master key. Safe for concurrent use.
type Box struct {
	aead cipher.AEAD
	id   [idSize]byte
}

// New returns a Box for a 32-byte master key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secretbox: master key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	b := &Box{aead: aead}
	sum := sha256.Sum256(key)
	copy(b.id[:], sum[:idSize])
	return b, nil
}

// ParseKey reads a master key written as 64 hex characters.
func ParseKey(s string) ([]byte, error) {
	k, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(k) != KeySize {
		return nil, fmt.Errorf("secretbox: master key must be %d hex characters", 2*KeySize)
	}
	return k, nil
}

// NewKey returns a fresh random master key.
func NewKey() []byte {
	k := make([]byte, KeySize)
	_, _ = rand.Read(k) // crypto/rand.Read never fails
	return k
}

// KeyID names the master key (hex of the first bytes of its SHA-256).
func (b *Box) KeyID() string { return hex.EncodeToString(b.id[:]) }

// Seal encrypts plain. aad binds the ciphertext to its owner (e.g. the
// device id), so a sealed key copied to another row does not open.
func (b *Box) Seal(plain, aad []byte) []byte {
	nonce := make([]byte, b.aead.NonceSize())
	_, _ = rand.Read(nonce)
	out := make([]byte, 0, 1+idSize+len(nonce)+len(plain)+b.aead.Overhead())
	out = append(out, version)
	out = append(out, b.id[:]...)
	out = append(out, nonce...)
	return b.aead.Seal(out, nonce, plain, aad)
}

// ErrWrongKey is returned by Open for a value sealed under another master key.
var ErrWrongKey = errors.New("secretbox: sealed under another master key")

// Open decrypts a value made by Seal with the same aad.
func (b *Box) Open(sealed, aad []byte) ([]byte, error) {
	n := b.aead.NonceSize()
	if len(sealed) < 1+idSize+n+b.aead.Overhead() || sealed[0] != version {
		return nil, errors.New("secretbox: not a sealed value")
	}
	if string(sealed[1:1+idSize]) != string(b.id[:]) {
		return nil, ErrWrongKey
	}
	nonce := sealed[1+idSize : 1+idSize+n]
	plain, err := b.aead.Open(nil, nonce, sealed[1+idSize+n:], aad)
	if err != nil {
		return nil, errors.New("secretbox: cannot open: tampered or wrong owner")
	}
	return plain, nil
}
