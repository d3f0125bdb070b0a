package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Anchor is the chain's head as it was at a time, kept outside the store (a file, the bus):
// a later chain that is shorter than Seq, or whose entry Seq has another hash, was rolled back
// or rewritten (VerifyAnchor).
type Anchor struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
	// At is when the anchor was taken (zero for one given as SEQ:HASH).
	At time.Time `json:"at"`
	// Scheme and KeyID are the chain's scheme and master key id then ("" for SEQ:HASH).
	Scheme string `json:"scheme,omitempty"`
	KeyID  string `json:"key_id,omitempty"`
}

// String is the anchor as SEQ:HASH, the form ParseAnchor reads.
func (a Anchor) String() string { return strconv.FormatInt(a.Seq, 10) + ":" + a.Hash }

var anchorRE = regexp.MustCompile(`^([0-9]{1,18}):([0-9a-f]{64})$`)

// ParseAnchor reads an anchor written as SEQ:HASH (a seq and its entry's 64 hex digit hash).
func ParseAnchor(s string) (Anchor, error) {
	m := anchorRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return Anchor{}, errors.New("an anchor is SEQ:HASH, a seq and the 64 lower-case hex digits of that entry's hash (e.g. from audit-anchor.json)")
	}
	seq, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return Anchor{}, fmt.Errorf("anchor seq: %w", err)
	}
	if seq == 0 && m[2] != ZeroHash {
		return Anchor{}, errors.New("anchor 0 (the empty chain) has the zero hash")
	}
	return Anchor{Seq: seq, Hash: m[2]}, nil
}

// AnchorFormat names the anchor file's format; a new layout gets a new name.
const AnchorFormat = "datahub audit anchors v1"

// AnchorFileName is the anchor file's default name in the data folder.
const AnchorFileName = "audit-anchor.json"

// DefaultKeep is how many anchors an anchor file keeps, newest last.
const DefaultKeep = 100

// AnchorFile is the anchor file's content: the last anchors, oldest first.
type AnchorFile struct {
	Format  string   `json:"format"`
	Anchors []Anchor `json:"anchors"`
}

// Latest is the newest anchor of the file taken under keyID (any key when keyID is ""), and
// whether there is one.
func (f AnchorFile) Latest(keyID string) (Anchor, bool) {
	for i := len(f.Anchors) - 1; i >= 0; i-- {
		if keyID == "" || f.Anchors[i].KeyID == keyID {
			return f.Anchors[i], true
		}
	}
	return Anchor{}, false
}

// maxAnchorFile bounds what ReadAnchorFile reads: DefaultKeep anchors take about 20 KiB.
const maxAnchorFile = 4 << 20

// ReadAnchorFile reads an anchor file; a missing file is an empty AnchorFile and an error
// wrapping fs.ErrNotExist.
func ReadAnchorFile(path string) (AnchorFile, error) {
	f, err := os.Open(path) //nolint:gosec // the operator's anchor file, from the settings or the CLI
	if err != nil {
		return AnchorFile{Format: AnchorFormat}, fmt.Errorf("read audit anchor file: %w", err)
	}
	defer func() { _ = f.Close() }()
	b, err := io.ReadAll(io.LimitReader(f, maxAnchorFile+1))
	if err != nil {
		return AnchorFile{}, fmt.Errorf("read audit anchor file %s: %w", path, err)
	}
	if len(b) > maxAnchorFile {
		return AnchorFile{}, fmt.Errorf("audit anchor file %s is larger than %d bytes: not an anchor file", path, maxAnchorFile)
	}
	var af AnchorFile
	if err := json.Unmarshal(b, &af); err != nil {
		return AnchorFile{}, fmt.Errorf("audit anchor file %s: %w", path, err)
	}
	if af.Format != AnchorFormat {
		return AnchorFile{}, fmt.Errorf("audit anchor file %s: format %q, want %q", path, af.Format, AnchorFormat)
	}
	for i, a := range af.Anchors {
		if _, err := ParseAnchor(a.String()); err != nil {
			return AnchorFile{}, fmt.Errorf("audit anchor file %s: anchor %d: %w", path, i+1, err)
		}
	}
	return af, nil
}

// Encode renders the file: indented JSON, one anchor per line, ending in a newline.
func (f AnchorFile) Encode() ([]byte, error) {
	var b strings.Builder
	b.WriteString("{\n  \"format\": ")
	fb, err := json.Marshal(f.Format)
	if err != nil {
		return nil, err
	}
	b.Write(fb)
	b.WriteString(",\n  \"anchors\": [")
	for i, a := range f.Anchors {
		ab, err := json.Marshal(a)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("\n    ")
		b.Write(ab)
	}
	if len(f.Anchors) > 0 {
		b.WriteString("\n  ")
	}
	b.WriteString("]\n}\n")
	return []byte(b.String()), nil
}

// AddAnchor appends a to the anchor file at path, keeping the last keep anchors (DefaultKeep
// when keep <= 0). The file is replaced whole: written to a temporary file in the same folder,
// synced, renamed over the old one and the folder synced, so a crash leaves the old file or
// the new one, never a torn one. An unreadable existing file is refused, not overwritten: it
// may be the evidence someone wants gone.
func AddAnchor(path string, a Anchor, keep int) error {
	if keep <= 0 {
		keep = DefaultKeep
	}
	af, err := ReadAnchorFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	af.Format = AnchorFormat
	af.Anchors = append(af.Anchors, a)
	if n := len(af.Anchors); n > keep {
		af.Anchors = append([]Anchor(nil), af.Anchors[n-keep:]...)
	}
	b, err := af.Encode()
	if err != nil {
		return fmt.Errorf("write audit anchor file %s: %w", path, err)
	}
	return writeFileAtomic(path, b)
}

func writeFileAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("write audit anchor file %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write audit anchor file %s: %w", path, err)
	}
	done := false
	defer func() {
		if !done {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(b); err != nil {
		return fmt.Errorf("write audit anchor file %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write audit anchor file %s: sync: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write audit anchor file %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write audit anchor file %s: %w", path, err)
	}
	done = true
	if d, err := os.Open(dir); err == nil { //nolint:gosec // the anchor file's own folder
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
