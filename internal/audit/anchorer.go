package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"
)

// DefaultAnchorEvery is how often an Anchorer writes the head out when not told.
const DefaultAnchorEvery = 5 * time.Minute

// Anchorer writes the chain's head out of the store: appended to an anchor file and handed to
// Publish (the bus), at start and then every Every when the head moved. Before each write it
// checks that the chain still holds the file's last anchor (same key): if not, the chain was
// rolled back or rewritten, and it logs that and writes nothing, so the file keeps the
// evidence. Several processes may run one (each with its own data folder's file): anchors are
// observations of the store, and duplicates on the bus are harmless.
type Anchorer struct {
	Log  *Log
	File string
	// Every is the interval (DefaultAnchorEvery when 0); Keep how many anchors the file keeps.
	Every time.Duration
	Keep  int
	// Publish, when set, also sends each anchor written (e.g. as an audit.anchor event).
	Publish func(ctx context.Context, a Anchor) error
	Logger  *slog.Logger
}

// ErrAnchorMismatch means the chain no longer holds the last anchor written.
var ErrAnchorMismatch = errors.New("the audit chain no longer matches its last anchor")

// Run writes an anchor now and then every Every until ctx ends.
func (a *Anchorer) Run(ctx context.Context) error {
	every := a.Every
	if every <= 0 {
		every = DefaultAnchorEvery
	}
	a.tick(ctx, true)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			a.tick(ctx, false)
		}
	}
}

func (a *Anchorer) tick(ctx context.Context, force bool) {
	log := a.Logger
	if log == nil {
		log = slog.Default()
	}
	an, wrote, err := a.Once(ctx, force)
	switch {
	case err != nil && ctx.Err() == nil:
		log.Error("audit anchor not written", "file", a.File, "err", err)
	case wrote:
		log.Debug("audit anchor written", "file", a.File, "seq", an.Seq, "hash", an.Hash)
	}
}

// Once writes the head as an anchor (file, then Publish) when it differs from the file's last
// anchor, or always when force is set; wrote tells whether it did.
func (a *Anchorer) Once(ctx context.Context, force bool) (an Anchor, wrote bool, err error) {
	h, err := a.Log.head(ctx)
	if err != nil {
		return Anchor{}, false, err
	}
	an = Anchor{Seq: h.seq, Hash: h.hash, At: a.Log.now().UTC().Truncate(time.Millisecond), Scheme: h.scheme, KeyID: h.keyID}
	af, err := ReadAnchorFile(a.File)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return Anchor{}, false, err
	}
	if last, ok := af.Latest(h.keyID); ok && last.Scheme == h.scheme {
		if err := a.holds(ctx, last, h); err != nil {
			return Anchor{}, false, err
		}
		if !force && last.Seq == h.seq && last.Hash == h.hash {
			return last, false, nil
		}
	}
	if err := AddAnchor(a.File, an, a.Keep); err != nil {
		return Anchor{}, false, err
	}
	if a.Publish != nil {
		if err := a.Publish(ctx, an); err != nil {
			return an, true, fmt.Errorf("publish audit anchor %s: %w", an, err)
		}
	}
	return an, true, nil
}

// holds checks that the chain with head h still holds anchor last: at least as long, and the
// same hash at its seq.
func (a *Anchorer) holds(ctx context.Context, last Anchor, h head) error {
	if h.seq < last.Seq {
		return fmt.Errorf("%w: the chain ends at seq %d, but the anchor of %s in %s records seq %d: the tail was rolled back (run `datahub audit verify`)",
			ErrAnchorMismatch, h.seq, last.At.Format(time.RFC3339), a.File, last.Seq)
	}
	if last.Seq == 0 {
		return nil
	}
	var got string
	if err := a.Log.db.QueryRow(ctx, `SELECT hash FROM audit_entries WHERE seq = ?`, last.Seq).Scan(&got); err != nil || got != last.Hash {
		return fmt.Errorf("%w: entry %d differs from (or is missing since) the anchor of %s in %s: the chain was rewritten (run `datahub audit verify`)",
			ErrAnchorMismatch, last.Seq, last.At.Format(time.RFC3339), a.File)
	}
	return nil
}
