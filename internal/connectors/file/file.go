// Package file is the connector for local files in the formats of internal/format: CSV (and
// TSV), NDJSON and JSON arrays.
//
// Endpoints are plain paths ("./in.csv", "/data/out.ndjson") or file URLs: "file:///abs/x.csv"
// is /abs/x.csv, and "file://" followed by anything else is that path as written, so
// "file://rel.csv" is rel.csv relative to the working directory (not a host name);
// "file://localhost/abs/x.csv" is /abs/x.csv. File URLs are percent-decoded, plain paths are
// not. A query ("?delimiter=;") carries options in both forms, so a plain path cannot contain
// '?'. When Endpoint.Root is set, relative paths are relative to it, and a path outside it
// (through .. or a symbolic link) is refused.
//
// The format comes from the extension (.csv, .tsv, .ndjson, .jsonl, .json), overridden by
// Endpoint.Format and by the option format. Files are read and written as UTF-8 only.
//
// Reading streams the file through the format's reader; positions are byte offsets, so CSV,
// NDJSON and JSON-array reads resume exactly (the header or the schema sample is read again
// from the start of the file). Writing in replace mode goes to ".name.datahub-tmp-<run>" in
// the same folder, synced and renamed over the target at Commit; a run that fails or is
// killed leaves the old file as it was. Append adds to the end of an existing CSV (whose
// header must match the columns) or NDJSON file, creating it when missing; JSON arrays cannot
// be appended to, and files have no keys to upsert on.
//
// The path "-" (IsStdio) is the standard input as a source and the standard output as a
// destination, in the format Endpoint.Format or the option format names (there is no
// extension to tell it). The streams come from the context (WithStdio), so only a process
// that hands its own over, datahub copy, can use them. Both are read and written once,
// streaming: a run on them cannot be resumed, and replace and append both just write.
//
// An append run with a run id (SinkOptions.RunID) keeps ".name.datahub-pos-<run>" next to
// the file: written when it opens the file and atomically replaced at every Flush with a
// source position, it holds the file's size once the flushed rows were synced and that
// position. Another attempt of the same run (datahub copy --resume) cuts the file back to
// that size, so rows written after the last Flush by an attempt killed with SIGKILL are not
// repeated, and reads the source from the position (the sink is a connector.PositionStore).
// It refuses a file that has become shorter than the recorded size. Commit removes the
// sidecar; a Close without Commit keeps it.
package file

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/format"
	_ "github.com/datahub-oss/datahub/internal/format/csv"    // the csv and tsv codec
	_ "github.com/datahub-oss/datahub/internal/format/json"   // the JSON array codec
	_ "github.com/datahub-oss/datahub/internal/format/ndjson" // the ndjson codec
)

// spec declares the connector; its options are parsed by the registry (connector.Options).
var spec = connector.Spec{
	Name:    "file",
	Schemes: []string{"file"},
	Paths:   true,
	Summary: "Local files: CSV, TSV, NDJSON and JSON arrays",
	Example: "./data/customers.csv?delimiter=;",
	Options: []connector.Option{
		{Name: "format", Type: connector.OptEnum, Help: "file format, when the extension does not tell it", Enum: []string{"csv", "tsv", "ndjson", "jsonl", "json"}},
		{Name: "delimiter", Type: connector.OptChar, Help: "CSV field delimiter: one character, or tab (default , and tab for .tsv files)"},
		{Name: "quote", Type: connector.OptChar, Help: "CSV quote character", Default: `"`},
		{Name: "header", Type: connector.OptBool, Help: "the CSV file starts with a header row naming the columns (false: columns c1..cN)", Default: "true"},
		{Name: "null", Type: connector.OptString, Help: `unquoted CSV text that means NULL (e.g. NULL or \N); a quoted "" is always the empty string`},
		{Name: "encoding", Type: connector.OptEnum, Help: "text encoding; only UTF-8 is supported (a byte order mark is skipped)", Default: "utf-8", Enum: []string{"utf-8", "utf8"}},
	},
}

func init() {
	// The constructors are set here: they read spec, which a composite literal cannot refer to.
	spec.NewSource = func(ctx context.Context, e connector.Endpoint) (connector.Source, error) {
		if IsStdio(e.URL) {
			return newStdioSource(ctx, e)
		}
		t, err := newTarget(e)
		if err != nil {
			return nil, err
		}
		return &source{target: t}, nil
	}
	spec.NewSink = func(ctx context.Context, e connector.Endpoint) (connector.Sink, error) {
		if IsStdio(e.URL) {
			return newStdioSink(ctx, e)
		}
		t, err := newTarget(e)
		if err != nil {
			return nil, err
		}
		return &sink{target: t}, nil
	}
	spec.NewStore = openStore
	connector.Register(spec)
}

// openStore opens a folder endpoint as a store: its Root when it has one, else its URL.
// Callers pass the endpoint through the hub's policy first (policy.CheckEndpoint).
func openStore(_ context.Context, e connector.Endpoint) (connector.Store, func() error, error) {
	dir := e.Root
	if dir == "" {
		dir = e.URL
	}
	dir, err := PathOf(dir)
	if err != nil {
		return nil, nil, connector.Errorf(connector.CodeUsage, connector.Redact(e.URL), "write a folder path or a file: URL", err)
	}
	st, err := NewStore(dir)
	if err != nil {
		return nil, nil, err
	}
	return st, st.Close, nil
}

// formatGetter hands the parsed options to the format package in the form it reads; an
// option the endpoint did not set is "", so the format's own defaults (tab for .tsv) apply.
func formatGetter(o connector.Options) func(string) string {
	return func(name string) string {
		if spec.Option(name) == nil || !o.IsSet(name) {
			return ""
		}
		switch name {
		case "delimiter", "quote":
			return string(o.Char(name))
		case "header":
			return strconv.FormatBool(o.Bool(name))
		}
		return o.String(name)
	}
}

// target is what source and sink share: the file, its store and its format.
type target struct {
	e     connector.Endpoint
	path  string // as the user wrote it (after URL decoding), for messages
	rel   string // the path as the store takes it
	store *Store
	codec *format.Codec
	opts  format.Options
}

func newTarget(e connector.Endpoint) (*target, error) {
	p, err := PathOf(e.URL)
	if err != nil {
		return nil, connector.Errorf(connector.CodeUsage, e.Redacted(), "", err)
	}
	opts, err := spec.ParseOptions(e)
	var oe *connector.OptionError
	if errors.As(err, &oe) && oe.Option == "encoding" {
		// Another encoding is a real one this connector does not read, not a typo.
		return nil, connector.Errorf(connector.CodeUnsupported, e.Redacted(), "convert the file to UTF-8", oe)
	}
	if err != nil {
		return nil, err
	}
	c, o, err := format.ParseOptions(p, e.Format, formatGetter(opts))
	if err != nil {
		code := connector.CodeUsage
		if strings.HasPrefix(err.Error(), "encoding") {
			code = connector.CodeUnsupported
		}
		return nil, connector.Errorf(code, e.Redacted(), "", err)
	}
	t := &target{e: e, path: p, codec: c, opts: o, store: Unconfined()}
	if e.Root != "" {
		if t.store, err = NewStore(e.Root); err != nil {
			return nil, err
		}
	}
	t.store.endpoint = e.Redacted()
	if t.rel, err = t.store.rel(p); err != nil {
		_ = t.store.Close()
		return nil, err
	}
	return t, nil
}

// PathOf returns the local path an endpoint URL names (see the package documentation).
func PathOf(raw string) (string, error) {
	p := raw
	if connector.Scheme(raw) == "file" {
		rest := raw[len("file:"):]
		if i := strings.IndexAny(rest, "?#"); i >= 0 {
			rest = rest[:i]
		}
		if strings.HasPrefix(rest, "//") {
			rest = rest[2:]
			if strings.HasPrefix(strings.ToLower(rest), "localhost/") {
				rest = rest[len("localhost"):]
			}
		}
		var err error
		if p, err = url.PathUnescape(rest); err != nil {
			return "", fmt.Errorf("bad file URL: %v", err)
		}
	} else if i := strings.IndexByte(raw, '?'); i >= 0 {
		p = raw[:i]
	}
	if p == "" {
		return "", fmt.Errorf("no file path in %q", raw)
	}
	return p, nil
}
