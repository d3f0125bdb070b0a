// Package secret keeps the hub's secrets encrypted at rest and resolves the references that
// resources use instead of inline values (secret:NAME, env:NAME, file:PATH).
//
// Encryption is AES-256-GCM under a master key that never enters the database: it comes from
// DATAHUB_MASTER_KEY (base64 of 32 bytes) or from <data>/master.key, which is created on first
// start with mode 0600. Each ciphertext names the key that sealed it (by key id) and binds the
// secret's name as GCM additional data, so a ciphertext copied to another name does not open.
//
// Rotation: generate a key (NewKey), call Service.Rotate, which re-encrypts every secret in one
// transaction, then WriteKeyFile (or update DATAHUB_MASTER_KEY everywhere the hub runs). Until
// the new key is written, it exists only in the caller's memory: a rotate command should print
// or stage it before calling Rotate, so a crash between the two steps cannot lose it.
//
// Redaction: a Redactor learns every value this package resolves or decrypts and scrubs it
// from text (logs, errors, run records) as "xxxxx". Values shorter than 4 bytes are not
// scrubbed: replacing every "abc" or "42" in a log would hide far more than it protects, and a
// secret that short protects nothing anyway.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the master key's length in bytes (AES-256).
const KeySize = 32

const (
	// version is the ciphertext format's first byte; a new format gets a new number.
	version   byte = 1
	keyIDSize      = 8
	nonceSize      = 12
	tagSize        = 16
	headerLen      = 1 + keyIDSize
	// minCiphertext is the shortest well-formed ciphertext: header, nonce and an empty value's tag.
	minCiphertext = headerLen + nonceSize + tagSize
)

// ErrDecrypt means a ciphertext did not open: it was altered, or it belongs to another secret
// name. (A ciphertext sealed by another master key gives a WrongKeyError instead.)
var ErrDecrypt = errors.New("message authentication failed: the ciphertext was altered or belongs to another name")

// WrongKeyError means a ciphertext was sealed by a master key that is not loaded.
type WrongKeyError struct {
	// Want is the id of the key that sealed the ciphertext, Have the ids of the loaded keys.
	Want string
	Have []string
}

func (e *WrongKeyError) Error() string {
	return fmt.Sprintf("encrypted with master key %s, but the loaded master key is %s (was the key rotated or replaced? set DATAHUB_MASTER_KEY or restore master.key)",
		e.Want, strings.Join(e.Have, ", "))
}

// Key is a 32-byte master key. Its id is derived from the key (the first 8 bytes of a SHA-256
// over a fixed label and the key), so it names the key in ciphertexts and messages without
// revealing it. String and GoString print the id only, so a Key that reaches a log is harmless.
type Key struct {
	id  [keyIDSize]byte
	raw [KeySize]byte
}

// NewKey returns a fresh random key.
func NewKey() (Key, error) {
	var b [KeySize]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Key{}, fmt.Errorf("generate master key: %w", err)
	}
	return keyFrom(b), nil
}

// KeyFromBytes makes a key from exactly 32 bytes.
func KeyFromBytes(b []byte) (Key, error) {
	if len(b) != KeySize {
		return Key{}, fmt.Errorf("a master key is %d bytes, got %d", KeySize, len(b))
	}
	return keyFrom([KeySize]byte(b)), nil
}

// ParseKey reads a key written by Encode (base64 of 32 bytes, padded or not). Errors never
// quote the input.
func ParseKey(s string) (Key, error) {
	s = strings.TrimSpace(s)
	var b []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err = enc.DecodeString(s); err == nil {
			break
		}
	}
	if err != nil {
		return Key{}, errors.New("not valid base64")
	}
	return KeyFromBytes(b)
}

func keyFrom(b [KeySize]byte) Key {
	h := sha256.New()
	h.Write([]byte("datahub master key id\x00"))
	h.Write(b[:])
	k := Key{raw: b}
	copy(k.id[:], h.Sum(nil))
	return k
}

// ID is the key's public id, 16 hex digits.
func (k Key) ID() string { return hex.EncodeToString(k.id[:]) }

// Encode is the key as base64, the form of master.key and DATAHUB_MASTER_KEY.
func (k Key) Encode() string { return base64.StdEncoding.EncodeToString(k.raw[:]) }

// Derive returns a 32-byte key for one purpose, named by info (a fixed, versioned string such
// as "datahub audit chain v1"): HKDF-SHA256 of the master key with no salt. Keys derived for
// different purposes are independent, and none reveals the master key.
func (k Key) Derive(info string) ([]byte, error) {
	if k.IsZero() {
		return nil, errors.New("derive a key: no master key")
	}
	b, err := hkdf.Key(sha256.New, k.raw[:], nil, info, KeySize)
	if err != nil {
		return nil, fmt.Errorf("derive a key for %q: %w", info, err)
	}
	return b, nil
}

// IsZero tells whether k is the zero Key (no key).
func (k Key) IsZero() bool { return k == Key{} }

func (k Key) String() string { return "master key " + k.ID() }

// GoString keeps %#v from printing the key bytes.
func (k Key) GoString() string { return "secret.Key{id: " + k.ID() + "}" }

func (k Key) aead() (cipher.AEAD, error) {
	block, err := aes.NewCipher(k.raw[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Keyring seals with one primary key and opens with the primary or any older key it holds, so
// a hub can read what an interrupted rotation left behind. It is immutable and safe for
// concurrent use.
type Keyring struct {
	primary Key
	keys    map[[keyIDSize]byte]cipher.AEAD
	ids     []string
}

// NewKeyring returns a keyring that seals with primary and opens with primary and older.
func NewKeyring(primary Key, older ...Key) (*Keyring, error) {
	if primary.IsZero() {
		return nil, errors.New("keyring: no master key")
	}
	r := &Keyring{primary: primary, keys: map[[keyIDSize]byte]cipher.AEAD{}}
	for _, k := range append([]Key{primary}, older...) {
		if _, ok := r.keys[k.id]; ok {
			continue
		}
		a, err := k.aead()
		if err != nil {
			return nil, fmt.Errorf("keyring: %s: %w", k, err)
		}
		r.keys[k.id] = a
		r.ids = append(r.ids, k.ID())
	}
	return r, nil
}

// Primary is the key that Encrypt uses.
func (r *Keyring) Primary() Key { return r.primary }

// Encrypt seals plaintext for the secret called name. The layout is
//
//	version (1 byte, = 1) | key id (8 bytes) | nonce (12 bytes, random) | GCM ciphertext and tag
//
// and the GCM additional data is the version and key id followed by the name, so neither the
// header nor the name can be changed without the ciphertext failing to open.
func (r *Keyring) Encrypt(name string, plaintext []byte) ([]byte, error) {
	out := make([]byte, headerLen+nonceSize, headerLen+nonceSize+len(plaintext)+tagSize)
	out[0] = version
	copy(out[1:headerLen], r.primary.id[:])
	if _, err := rand.Read(out[headerLen:]); err != nil {
		return nil, fmt.Errorf("encrypt: nonce: %w", err)
	}
	a := r.keys[r.primary.id]
	return a.Seal(out, out[headerLen:], plaintext, additional(out[:headerLen], name)), nil
}

// Decrypt opens a ciphertext made by Encrypt for the same name. It returns ErrDecrypt for a
// tampered or misplaced ciphertext and a *WrongKeyError when the sealing key is not loaded.
func (r *Keyring) Decrypt(name string, ciphertext []byte) ([]byte, error) {
	if len(ciphertext) < minCiphertext {
		return nil, fmt.Errorf("ciphertext too short (%d bytes)", len(ciphertext))
	}
	if ciphertext[0] != version {
		return nil, fmt.Errorf("unknown ciphertext version %d", ciphertext[0])
	}
	id := [keyIDSize]byte(ciphertext[1:headerLen])
	a, ok := r.keys[id]
	if !ok {
		return nil, &WrongKeyError{Want: hex.EncodeToString(id[:]), Have: append([]string(nil), r.ids...)}
	}
	nonce := ciphertext[headerLen : headerLen+nonceSize]
	pt, err := a.Open(nil, nonce, ciphertext[headerLen+nonceSize:], additional(ciphertext[:headerLen], name))
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// KeyIDOf returns the id of the key that sealed a ciphertext, or "" when it is malformed.
func KeyIDOf(ciphertext []byte) string {
	if len(ciphertext) < minCiphertext || ciphertext[0] != version {
		return ""
	}
	return hex.EncodeToString(ciphertext[1:headerLen])
}

func additional(header []byte, name string) []byte {
	ad := make([]byte, 0, len(header)+len(name))
	ad = append(ad, header...)
	return append(ad, name...)
}
