package audit

import (
	"testing"
	"time"
)

func goldenEntry() Entry {
	return Entry{
		Seq:          42,
		At:           time.Date(2025, 3, 4, 5, 6, 7, 890, time.UTC),
		Actor:        "alice",
		Action:       "resource.apply",
		TargetKind:   "Integration",
		TargetName:   "orders-to-dwh",
		Remote:       "192.0.2.7:51234",
		Details:      `{"version":3}`,
		BeforeDigest: Digest([]byte("before")),
		AfterDigest:  Digest([]byte("after")),
		PrevHash:     ZeroHash,
	}
}

// The encoding is a stored format: a change here breaks every existing chain.
func TestHashGolden(t *testing.T) {
	const want = "b43fe69d652a41a8fb06dc83ff964612d976b209dd3f4e90b419c126bd1cf8f7"
	if got := ComputeHash(goldenEntry()); got != want {
		t.Fatalf("ComputeHash = %s, want %s (the canonical encoding changed)", got, want)
	}
}

// Moving bytes between neighbouring fields changes the hash.
func TestHashUnambiguous(t *testing.T) {
	base := goldenEntry()
	seen := map[string]string{ComputeHash(base): "base"}
	variants := map[string]func(e *Entry){
		"actor/action":   func(e *Entry) { e.Actor, e.Action = "alicer", "esource.apply" },
		"kind/name":      func(e *Entry) { e.TargetKind, e.TargetName = "Integrationo", "rders-to-dwh" },
		"name/remote":    func(e *Entry) { e.TargetName, e.Remote = "orders-to-dwh1", "92.0.2.7:51234" },
		"before/after":   func(e *Entry) { e.BeforeDigest, e.AfterDigest = e.AfterDigest, e.BeforeDigest },
		"empty/empty":    func(e *Entry) { e.Remote, e.TargetName = "", "orders-to-dwh192.0.2.7:51234" },
		"seq":            func(e *Entry) { e.Seq = 43 },
		"at":             func(e *Entry) { e.At = e.At.Add(time.Nanosecond) },
		"prev":           func(e *Entry) { e.PrevHash = "1" + ZeroHash[1:] },
		"details spaces": func(e *Entry) { e.Details = `{"version": 3}` },
	}
	for name, mod := range variants {
		e := base
		mod(&e)
		h := ComputeHash(e)
		if other, dup := seen[h]; dup {
			t.Errorf("%s hashes like %s", name, other)
		}
		seen[h] = name
	}
	// The hash does not cover itself.
	e := base
	e.Hash = "anything"
	if ComputeHash(e) != ComputeHash(base) {
		t.Error("Hash is covered by the hash")
	}
}
