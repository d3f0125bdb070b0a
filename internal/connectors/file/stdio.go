package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/format"
)

// StdioPath is the endpoint that names the standard input (as a source) or the standard
// output (as a destination) instead of a file. Options may follow it ("-?delimiter=;"); a
// file really called "-" is written ./- or file:-.
const StdioPath = "-"

// IsStdio reports whether the endpoint URL raw is "-": the standard input or output.
func IsStdio(raw string) bool {
	if connector.Scheme(raw) != "" {
		return false
	}
	p, _, _ := strings.Cut(raw, "?")
	return p == StdioPath
}

// stdio holds the streams a "-" endpoint reads and writes. Each can be taken once: a stream
// cannot be rewound, so a second source on the same standard input (a retry, a resume) would
// silently miss the records the first one consumed, and is refused instead.
type stdio struct {
	mu      sync.Mutex
	in      io.Reader
	out     io.Writer
	inUsed  bool
	outUsed bool
}

type stdioKey struct{}

// WithStdio returns a context whose transfers read "-" from in and write "-" to out.
//
// Why the context and not the Endpoint: only the process that owns the streams (datahub copy
// in a shell) hands them over. A server or a worker has no such context, so a "-" that got
// past the policy (which refuses it in Endpoint resources) fails there instead of reading the
// server's own standard input.
func WithStdio(ctx context.Context, in io.Reader, out io.Writer) context.Context {
	return context.WithValue(ctx, stdioKey{}, &stdio{in: in, out: out})
}

// stdioOf returns the streams of ctx, or an error saying that "-" needs them.
func stdioOf(ctx context.Context, e connector.Endpoint) (*stdio, error) {
	s, _ := ctx.Value(stdioKey{}).(*stdio)
	if s == nil {
		return nil, connector.Errorf(connector.CodeUsage, e.Redacted(), "name a file; \"-\" works in datahub copy only",
			errors.New("standard input and output are not available here"))
	}
	return s, nil
}

// take hands out the input (or the output) once.
func (s *stdio) take(e connector.Endpoint, output bool) (io.Reader, io.Writer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	used, name := &s.inUsed, "standard input"
	if output {
		used, name = &s.outUsed, "standard output"
	}
	if *used {
		return nil, nil, connector.Errorf(connector.CodeUsage, e.Redacted(), "",
			fmt.Errorf("%s was used already and cannot be read or written again from the start", name))
	}
	*used = true
	return s.in, s.out, nil
}

// stdioFormat works out the codec of a "-" endpoint, which has no extension to tell it.
func stdioFormat(e connector.Endpoint) (*format.Codec, format.Options, error) {
	opts, err := spec.ParseOptions(e)
	if err != nil {
		return nil, format.Options{}, err
	}
	get := formatGetter(opts)
	if e.Format == "" && get("format") == "" {
		return nil, format.Options{}, connector.Errorf(connector.CodeUsage, e.Redacted(),
			"give --from-format or --to-format (csv, tsv, ndjson, json)", errors.New(`"-" has no extension to tell its format`))
	}
	c, o, err := format.ParseOptions(StdioPath, e.Format, get)
	if err != nil {
		return nil, format.Options{}, connector.Errorf(connector.CodeUsage, e.Redacted(), "", err)
	}
	return c, o, nil
}

// openStdio takes the stream of a "-" endpoint (the output for a sink) and its format.
func openStdio(ctx context.Context, e connector.Endpoint, output bool) (*format.Codec, format.Options, io.Reader, io.Writer, error) {
	std, err := stdioOf(ctx, e)
	if err != nil {
		return nil, format.Options{}, nil, nil, err
	}
	c, o, err := stdioFormat(e)
	if err != nil {
		return nil, format.Options{}, nil, nil, err
	}
	in, out, err := std.take(e, output)
	if err != nil {
		return nil, format.Options{}, nil, nil, err
	}
	return c, o, in, out, nil
}

// newStdioSource reads the standard input of ctx.
func newStdioSource(ctx context.Context, e connector.Endpoint) (connector.Source, error) {
	c, o, in, _, err := openStdio(ctx, e, false)
	if err != nil {
		return nil, err
	}
	return &source{target: &target{e: e, path: "standard input", codec: c, opts: o}, in: in}, nil
}

// newStdioSink writes the standard output of ctx.
func newStdioSink(ctx context.Context, e connector.Endpoint) (connector.Sink, error) {
	c, o, _, out, err := openStdio(ctx, e, true)
	if err != nil {
		return nil, err
	}
	return &stdoutSink{e: e, codec: c, opts: o, out: out}, nil
}

// stdoutSink streams records to the standard output. A stream has no old content to replace
// or append to, so both modes write the records as they come; what was written stays written,
// whatever happens later (there is no temporary file to rename).
type stdoutSink struct {
	e     connector.Endpoint
	codec *format.Codec
	opts  format.Options
	out   io.Writer
	w     format.Writer
	done  bool
}

var _ connector.Sink = (*stdoutSink)(nil)

// Open starts the document (a CSV header, a JSON array's bracket).
func (k *stdoutSink) Open(ctx context.Context, s connector.Schema, opts connector.SinkOptions) (connector.Schema, error) {
	if err := ctx.Err(); err != nil {
		return connector.Schema{}, err
	}
	if err := s.Validate(); err != nil {
		return connector.Schema{}, connector.Errorf(connector.CodeSchema, k.e.Redacted(), "", err)
	}
	if opts.Mode == connector.ModeUpsert {
		return connector.Schema{}, connector.Errorf(connector.CodeUnsupported, k.e.Redacted(), "use --mode append",
			errors.New("standard output has no keys to upsert on"))
	}
	if k.w != nil {
		return connector.Schema{}, connector.Errorf(connector.CodeInternal, k.e.Redacted(), "", errors.New("sink opened twice"))
	}
	w, err := k.codec.NewWriter(k.out, s, k.opts)
	if err != nil {
		return connector.Schema{}, connector.Errorf(connector.CodeUsage, k.e.Redacted(), "", err)
	}
	k.w = w
	return s, nil
}

func (k *stdoutSink) ready() error {
	if k.w == nil || k.done {
		return connector.Errorf(connector.CodeInternal, k.e.Redacted(), "", errors.New("sink used before Open or after Commit"))
	}
	return nil
}

func (k *stdoutSink) writeError(err error) error {
	return connector.Errorf(connector.CodeInternal, k.e.Redacted(), "", fmt.Errorf("writing standard output: %w", err))
}

// Write encodes the batch; the format writer buffers, Flush hands the bytes on.
func (k *stdoutSink) Write(ctx context.Context, b *connector.Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := k.ready(); err != nil {
		return err
	}
	if err := k.w.Write(b); err != nil {
		return k.writeError(err)
	}
	return nil
}

// Flush writes out what is buffered, so that a reader down the pipe sees records as they come.
func (k *stdoutSink) Flush(ctx context.Context, _ connector.Position) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := k.ready(); err != nil {
		return err
	}
	if err := k.w.Flush(); err != nil {
		return k.writeError(err)
	}
	return nil
}

// Commit finishes the document.
func (k *stdoutSink) Commit(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if k.done {
		return nil
	}
	if err := k.ready(); err != nil {
		return err
	}
	k.done = true
	if err := k.w.Close(); err != nil {
		return k.writeError(err)
	}
	return nil
}

// Close leaves the standard output open: it belongs to the process.
func (k *stdoutSink) Close(context.Context) error { return nil }
