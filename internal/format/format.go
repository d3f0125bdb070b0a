// Package format holds the codecs between bytes and record batches (CSV, NDJSON, JSON arrays),
// independent of where the bytes live: the local file connector uses them today, the SFTP and
// object-store connectors reuse them. Codecs register themselves from their packages' init
// functions; a connector blank-imports the ones it offers.
package format

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/datahub-oss/datahub/connector"
)

// Options steer a codec. Fields that do not apply to a format are ignored by it.
type Options struct {
	// Format is the codec name ("csv", "ndjson", "json").
	Format string
	// Delimiter separates CSV fields (',' by default).
	Delimiter byte
	// Quote encloses CSV fields that hold delimiters, quotes or line breaks ('"' by default).
	Quote byte
	// Header says the first CSV record names the columns (true by default); without one the
	// columns are called c1..cN.
	Header bool
	// Null is the unquoted CSV text that means NULL ("" by default, as in PostgreSQL's CSV:
	// an unquoted empty field is NULL and a quoted empty field "" is the empty string).
	Null string
	// Sample is how many objects NDJSON and JSON readers look at to infer the schema.
	Sample int
	// Appending tells a writer that it continues a file that already holds records: the CSV
	// writer then writes no header.
	Appending bool
}

// DefaultSample is the number of objects sampled for JSON schema inference.
const DefaultSample = 1000

// Defaults returns the default options of a format.
func Defaults(name string) Options {
	return Options{Format: name, Delimiter: ',', Quote: '"', Header: true, Sample: DefaultSample}
}

// Position is where a text reader stands: the byte offset of the next record, the line it
// starts on and its record number (1-based, header excluded). It travels as JSON inside a
// connector.Position.
type Position struct {
	Offset int64 `json:"offset"`
	Line   int64 `json:"line"`
	Record int64 `json:"record"`
}

// Encode renders the position as an opaque connector position.
func (p Position) Encode() connector.Position {
	b, _ := json.Marshal(p)
	return b
}

// DecodePosition reads a position made by Encode; nil gives nil.
func DecodePosition(p connector.Position) (*Position, error) {
	if len(p) == 0 {
		return nil, nil
	}
	var out Position
	if err := json.Unmarshal(p, &out); err != nil || out.Offset < 0 || out.Line < 1 || out.Record < 1 {
		return nil, fmt.Errorf("invalid file position %q", truncate(string(p), 80))
	}
	return &out, nil
}

// Reader turns bytes into batches.
type Reader interface {
	// Schema describes the rows Read returns.
	Schema() connector.Schema
	// Read returns the next batch (rows, their lines, rejects, bytes consumed and the position
	// after it), or connector.ErrEndOfInput when the input is exhausted. A batch may hold only
	// rejects. It returns ctx.Err() when ctx is cancelled.
	Read(ctx context.Context) (*connector.Batch, error)
	// Close releases what the reader opened; calling it twice is harmless.
	Close() error
}

// Writer turns batches into bytes.
type Writer interface {
	// Write encodes the batch's rows, whose values have the logical types of the writer's schema.
	Write(b *connector.Batch) error
	// Flush hands everything encoded so far to the underlying io.Writer.
	Flush() error
	// Close finishes the document (a JSON array's closing bracket) and flushes. It does not
	// close the underlying io.Writer.
	Close() error
}

// Opener opens the bytes of an object starting at offset.
type Opener func(offset int64) (io.ReadCloser, error)

// Codec is a format as codecs register it.
type Codec struct {
	Name string
	// Extensions are the file name endings that select the codec, with their option defaults.
	Extensions map[string]func(*Options)
	// NewReader reads records. Without a position it streams everything from head. With one,
	// head is the start of the object (read only as far as needed for the schema: a header or
	// the inference sample) and rest starts at from.Offset.
	NewReader func(head, rest io.Reader, o Options, batchSize int, from *Position) (Reader, error)
	// NewWriter writes records of schema s to w.
	NewWriter func(w io.Writer, s connector.Schema, o Options) (Writer, error)
	// Header reads the column names a file of this format starts with, for formats that have
	// a header (nil otherwise); appending checks it against the columns to write.
	Header func(r io.Reader, o Options) ([]string, error)
	// CanAppend says records can be added to the end of an existing file.
	CanAppend bool
	// Typed says the format types values itself (JSON numbers, booleans, objects), so that
	// only its strings that read as dates, timestamps or UUIDs are typed by inference.
	Typed bool
}

var (
	mu     sync.RWMutex
	codecs = map[string]*Codec{}
	byExt  = map[string]*Codec{}
)

// Register adds a codec; a duplicate name or extension panics (a programming error).
func Register(c Codec) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := codecs[c.Name]; dup {
		panic("format: duplicate codec " + c.Name)
	}
	cp := &c
	codecs[c.Name] = cp
	for ext := range c.Extensions {
		if _, dup := byExt[ext]; dup {
			panic("format: duplicate extension " + ext)
		}
		byExt[ext] = cp
	}
}

// Lookup returns the codec registered under name.
func Lookup(name string) (*Codec, bool) {
	mu.RLock()
	defer mu.RUnlock()
	c, ok := codecs[strings.ToLower(name)]
	return c, ok
}

// Names lists the registered codecs, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(codecs))
	for n := range codecs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// ByExtension returns the codec for a file name's extension (case-insensitive) and the
// options that extension implies (.tsv: tab-delimited CSV).
func ByExtension(name string) (*Codec, Options, bool) {
	ext := strings.ToLower(path.Ext(strings.ReplaceAll(name, `\`, "/")))
	mu.RLock()
	c, ok := byExt[ext]
	mu.RUnlock()
	if !ok {
		return nil, Options{}, false
	}
	o := Defaults(c.Name)
	if f := c.Extensions[ext]; f != nil {
		f(&o)
	}
	return c, o, true
}

// ParseOptions works out the format and its options for the object called name: the format
// comes from override when given, else from the extension; option values come from get
// (format, delimiter, quote, header, null, encoding). Options that do not apply to the format
// are ignored. Errors are usage errors meant for people.
func ParseOptions(name, override string, get func(string) string) (*Codec, Options, error) {
	if f := get("format"); f != "" {
		override = f
	}
	var (
		c  *Codec
		o  Options
		ok bool
	)
	if override != "" {
		if c, ok = Lookup(override); ok {
			o = Defaults(c.Name)
			if c2, o2, ok := ByExtension(name); ok && c2 == c {
				o = o2 // keep what the extension implies for its own format (.tsv)
			}
		} else if c, o, ok = ByExtension("." + override); !ok {
			// An extension's name also names its format: tsv, jsonl.
			return nil, o, fmt.Errorf("unknown format %q (want one of %s)", override, strings.Join(Names(), ", "))
		}
	} else if c, o, ok = ByExtension(name); !ok {
		return nil, o, fmt.Errorf("cannot tell the format of %q from its extension (known: %s); add ?format=%s",
			name, strings.Join(extensions(), ", "), strings.Join(Names(), "|"))
	}
	if e := strings.ToLower(strings.TrimSpace(get("encoding"))); e != "" && e != "utf-8" && e != "utf8" {
		return nil, o, fmt.Errorf("encoding %q is not supported: files are read and written as UTF-8 (a BOM is skipped)", get("encoding"))
	}
	if v := get("delimiter"); v != "" {
		d, err := oneByte("delimiter", v)
		if err != nil {
			return nil, o, err
		}
		o.Delimiter = d
	}
	if v := get("quote"); v != "" {
		q, err := oneByte("quote", v)
		if err != nil {
			return nil, o, err
		}
		o.Quote = q
	}
	if v := get("header"); v != "" {
		h, err := connector.ParseBool(v)
		if err != nil {
			return nil, o, fmt.Errorf("option header: %v (want true or false)", err)
		}
		o.Header = h
	}
	if v := get("null"); v != "" {
		o.Null = v
	}
	if c.Name == "csv" {
		if err := o.ValidateCSV(); err != nil {
			return nil, o, err
		}
	}
	return c, o, nil
}

// ValidateCSV checks that delimiter, quote and null string can be told apart.
func (o Options) ValidateCSV() error {
	switch {
	case o.Delimiter == o.Quote:
		return fmt.Errorf("delimiter and quote are both %q", o.Delimiter)
	case o.Delimiter == '\r' || o.Delimiter == '\n' || o.Quote == '\r' || o.Quote == '\n':
		return fmt.Errorf("delimiter and quote cannot be line breaks")
	case strings.IndexByte(o.Null, o.Delimiter) >= 0 || strings.IndexByte(o.Null, o.Quote) >= 0 ||
		strings.ContainsAny(o.Null, "\r\n"):
		return fmt.Errorf("null string %q cannot contain the delimiter, the quote or a line break", o.Null)
	}
	return nil
}

func oneByte(opt, v string) (byte, error) {
	switch strings.ToLower(v) {
	case "tab", `\t`:
		return '\t', nil
	case "comma":
		return ',', nil
	case "semicolon":
		return ';', nil
	case "pipe":
		return '|', nil
	}
	if len(v) != 1 || v[0] >= 0x80 || v[0] == '\r' || v[0] == '\n' {
		return 0, fmt.Errorf("option %s must be one ASCII character (or tab), not %q", opt, v)
	}
	return v[0], nil
}

func extensions() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(byExt))
	for e := range byExt {
		out = append(out, e)
	}
	sort.Strings(out)
	return out
}

// NewReader opens a reader of codec c over the object open reaches, positioned at from
// (nil: the start).
func NewReader(c *Codec, open Opener, o Options, batchSize int, from connector.Position) (Reader, error) {
	pos, err := DecodePosition(from)
	if err != nil {
		return nil, err
	}
	if batchSize <= 0 {
		batchSize = 10000
	}
	head, err := open(0)
	if err != nil {
		return nil, err
	}
	fr := &fileReader{closers: []io.Closer{head}}
	var rest io.Reader
	if pos != nil {
		rc, err := open(pos.Offset)
		if err != nil {
			_ = fr.Close()
			return nil, err
		}
		fr.closers = append(fr.closers, rc)
		rest = rc
	}
	r, err := c.NewReader(head, rest, o, batchSize, pos)
	if err != nil {
		_ = fr.Close()
		return nil, err
	}
	fr.Reader = r
	if pos != nil {
		// The head served only the schema; let go of it now.
		_ = head.Close()
		fr.closers = fr.closers[1:]
	}
	return fr, nil
}

type fileReader struct {
	Reader
	closers []io.Closer
}

func (f *fileReader) Close() error {
	var first error
	for _, c := range f.closers {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	f.closers = nil
	return first
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
