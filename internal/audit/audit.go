// Package audit is the hub's append-only, hash-chained audit log: every change, approval, login
// and run request is an entry whose hash (a keyed MAC) covers its fields and the previous
// entry's hash.
//
// # What verification detects, and what it cannot
//
// Verify recomputes every hash and follows the chain. It detects an entry edited in place (its
// hash no longer matches), an entry deleted from the middle (a gap in seq and a prev_hash that
// does not match), entries reordered or renumbered (hash or prev_hash mismatch), and entries
// deleted from the end: the audit_head row, updated in the same transaction as every append,
// remembers the last seq and hash, so a log shorter than its head is reported.
//
// # The key, and what it protects against
//
// Entries are chained with HMAC-SHA256 under a key derived from the master key (KeyFor), which
// never enters the store, so a writer of the store alone cannot recompute the chain after an
// edit: an edit, even with every later hash "recomputed" with plain SHA-256, is reported. The
// store records the scheme and the master key id next to the head. Stores from before the
// keyed chain hold a plain SHA-256 chain; a keyed hub verifies it and re-keys every entry in
// one transaction at start (EnsureKeyed), recording an audit.rekey entry. Rotating the master
// key re-keys the chain in the transaction that re-encrypts the secrets (RotateTx).
//
// What a key cannot prevent is a rollback: deleting the last entries and moving the head back
// leaves a shorter chain that verifies. Anchors close that gap: the head (seq, hash, time) is
// written periodically outside the store, to a file and as an event on the bus (Anchorer),
// and VerifyAnchor checks the chain still holds an anchor: a chain shorter than the anchored
// seq, or differing at it, is reported. Anchors also catch a chain rewritten as a plain one
// and then re-keyed by a restart: a hub refuses to re-key a plain chain when its anchor file
// holds a keyed anchor, and an anchor kept elsewhere (the bus, a copy of the file) no longer
// matches. Whoever holds the master key can rewrite the chain; only anchors kept out of their
// reach show that. Without the key and an anchor, the guarantees are those of a plain hash
// chain: evidence against mistakes, not against a store writer.
//
// # Secrets
//
// Entries are kept forever and shown to auditors: Details must never hold secret values or
// whole resource bodies. Callers record digests (Digest, BeforeDigest, AfterDigest) and names,
// e.g. {"secret": "pg.password"} and the digest of the new value, never the value itself.
package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"strings"
	"time"

	"github.com/datahub-oss/datahub/internal/store"
)

// ZeroHash is the prev_hash of the first entry.
var ZeroHash = strings.Repeat("0", 64)

// Entry is one audit record.
type Entry struct {
	// Seq is assigned by the log: 1, 2, 3 ... without gaps.
	Seq int64 `json:"seq"`
	// At is set by the log when the entry is appended.
	At time.Time `json:"at"`
	// Actor is who acted: a user name, a token's name, or "system".
	Actor string `json:"actor"`
	// Action is what was done, as dotted lower case words: resource.apply, run.request,
	// auth.login, token.create, role.change, secret.put ...
	Action string `json:"action"`
	// TargetKind and TargetName name what was acted on (e.g. Integration, orders-to-dwh).
	TargetKind string `json:"target_kind,omitempty"`
	TargetName string `json:"target_name,omitempty"`
	// Remote is the client's address, when the action came over the network.
	Remote string `json:"remote,omitempty"`
	// Details is a JSON object with whatever else matters. Never secrets: pass names and
	// digests, not values. Stored compacted; empty means {}.
	Details string `json:"details,omitempty"`
	// BeforeDigest and AfterDigest identify the target's state before and after (see Digest).
	BeforeDigest string `json:"before_digest,omitempty"`
	AfterDigest  string `json:"after_digest,omitempty"`
	// PrevHash is the previous entry's Hash (ZeroHash for the first); Hash is the entry's
	// hash under the chain's key (ChainKey.Hash; ComputeHash for the plain scheme).
	PrevHash string `json:"prev_hash"`
	Hash     string `json:"hash"`
}

// Digest is the digest of a state for BeforeDigest and AfterDigest: "sha256:" and the hex
// SHA-256 of b. Callers digest a canonical form (e.g. the stored resource body), so equal
// states give equal digests.
func Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// hashDomain starts every hashed encoding, so these hashes cannot collide with any other
// SHA-256 use, and a future encoding can change it.
const hashDomain = "datahub audit entry v1"

// ComputeHash returns the entry's hash: the hex SHA-256 of its canonical encoding, which is
//
//	field(hashDomain) || uint64be(seq) || field(store.Time(at)) || field(actor) ||
//	field(action) || field(target_kind) || field(target_name) || field(remote) ||
//	field(details) || field(before_digest) || field(after_digest) || field(prev_hash)
//
// where field(s) is the byte length of s as a big-endian uint64 followed by the bytes of s.
// Every field has a fixed position and an explicit length, so no two different entries
// encode alike (no shifting bytes between adjacent fields). The time is hashed in its stored
// text form, so what is verified is exactly what is stored. Hash itself is not covered.
// This is the plain scheme's hash; the keyed scheme MACs the same encoding (ChainKey.Hash).
func ComputeHash(e Entry) string { return hashWith(e, storeTime(e), nil) }

func storeTime(e Entry) string { return store.Time(e.At) }

// hashWith hashes e with its time given as stored text; Verify passes the text it read, so a
// rewritten time that parses to the same instant still counts as an edit. With a key it is
// HMAC-SHA256 under that key, else SHA-256.
func hashWith(e Entry, at string, key []byte) string {
	var h hash.Hash
	if key == nil {
		h = sha256.New()
	} else {
		h = hmac.New(sha256.New, key)
	}
	var n [8]byte
	field := func(s string) {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	field(hashDomain)
	binary.BigEndian.PutUint64(n[:], uint64(e.Seq)) //nolint:gosec // a bit pattern, not arithmetic; seq is positive
	h.Write(n[:])
	field(at)
	field(e.Actor)
	field(e.Action)
	field(e.TargetKind)
	field(e.TargetName)
	field(e.Remote)
	field(e.Details)
	field(e.BeforeDigest)
	field(e.AfterDigest)
	field(e.PrevHash)
	return hex.EncodeToString(h.Sum(nil))
}
