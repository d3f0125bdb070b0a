package audit

import (
	"errors"
	"fmt"

	"github.com/datahub-oss/datahub/internal/secret"
)

// The chain schemes, as recorded in audit_head.scheme.
const (
	// SchemePlain is the first, keyless chain: each hash is a SHA-256 of the entry, which
	// anyone who can write the store can recompute. Stores made before the keyed chain hold
	// it until a keyed hub starts on them and re-keys it (EnsureKeyed).
	SchemePlain = "sha256"
	// SchemeKeyed chains entries with HMAC-SHA256 under a ChainKey derived from the master key.
	SchemeKeyed = "hmac-sha256-v1"
)

// KeyInfo is the HKDF info string that derives the chain key from the master key. It is
// versioned: a new derivation gets a new string (and a new scheme).
const KeyInfo = "datahub audit chain v1"

// ErrChainKey means the chain in the store is keyed with another key than this process has,
// or this process has no key for a keyed chain: it can neither append nor verify.
var ErrChainKey = errors.New("the audit chain's key does not match this process's master key")

// ChainKey is the key that entries are chained under: derived from the master key (KeyFor),
// and named by the master key's public id, which the store records next to the chain's head.
// The zero ChainKey means the plain, keyless scheme.
type ChainKey struct {
	id  string
	mac []byte
}

// KeyFor derives the chain key of a master key (HKDF-SHA256 with KeyInfo).
func KeyFor(master secret.Key) (ChainKey, error) {
	b, err := master.Derive(KeyInfo)
	if err != nil {
		return ChainKey{}, fmt.Errorf("audit chain key: %w", err)
	}
	return ChainKey{id: master.ID(), mac: b}, nil
}

// ID is the id of the master key the chain key was derived from ("" for the plain scheme).
func (k ChainKey) ID() string { return k.id }

// IsZero tells whether k is the zero ChainKey (the plain scheme).
func (k ChainKey) IsZero() bool { return k.mac == nil }

// Scheme is the scheme entries chained under k use.
func (k ChainKey) Scheme() string {
	if k.IsZero() {
		return SchemePlain
	}
	return SchemeKeyed
}

// Hash is the entry's hash under k: the HMAC-SHA256 (SHA-256 for the zero key) of the
// canonical encoding described at ComputeHash.
func (k ChainKey) Hash(e Entry) string { return hashWith(e, storeTime(e), k.mac) }

// String names the key without revealing it.
func (k ChainKey) String() string {
	if k.IsZero() {
		return "no key (plain SHA-256 chain)"
	}
	return "the chain key of master key " + k.id
}

// GoString keeps %#v from printing the key bytes.
func (k ChainKey) GoString() string { return "audit.ChainKey{id: " + k.id + "}" }

// describe names a scheme and key id as a store records them.
func describe(scheme, keyID string) string {
	if scheme == SchemePlain {
		return "a plain SHA-256 chain (no key)"
	}
	return fmt.Sprintf("%s under master key %s", scheme, keyID)
}
