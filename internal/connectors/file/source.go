package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/format"
)

// source reads a file through its format's reader, or the standard input when in is set.
type source struct {
	*target
	in io.Reader // the standard input ("-"), instead of the file
	f  *os.File
	rd format.Reader
}

var (
	_ connector.Source     = (*source)(nil)
	_ connector.TextSource = (*source)(nil)
)

// SelfTyped reports whether the file's format types its values (JSON) or leaves them text (CSV).
func (s *source) SelfTyped() bool { return s.codec.Typed }

// Open opens the file and reads what the format needs for the schema, then positions the
// reader after from (nil: at the start).
func (s *source) Open(ctx context.Context, from connector.Position) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.rd != nil {
		return connector.Errorf(connector.CodeInternal, s.e.Redacted(), "", fmt.Errorf("source opened twice"))
	}
	if s.in != nil {
		return s.openStdin(from)
	}
	f, _, err := s.store.openRead(s.rel)
	if err != nil {
		return err
	}
	open := func(off int64) (io.ReadCloser, error) {
		return io.NopCloser(io.NewSectionReader(f, off, math.MaxInt64-off)), nil
	}
	rd, err := format.NewReader(s.codec, open, s.opts, s.e.BatchSize, from)
	if err != nil {
		_ = f.Close()
		return s.readError(err)
	}
	s.f, s.rd = f, rd
	return nil
}

// openStdin reads the standard input from where it stands: it cannot seek to a position.
func (s *source) openStdin(from connector.Position) error {
	if from != nil {
		return connector.Errorf(connector.CodeUsage, s.e.Redacted(), "start a new run",
			fmt.Errorf("cannot resume from standard input: what was read is gone"))
	}
	open := func(off int64) (io.ReadCloser, error) {
		if off != 0 {
			return nil, fmt.Errorf("standard input cannot be read from offset %d", off)
		}
		return io.NopCloser(s.in), nil
	}
	rd, err := format.NewReader(s.codec, open, s.opts, s.e.BatchSize, nil)
	if err != nil {
		return s.readError(err)
	}
	s.rd = rd
	return nil
}

// readError classes an error of the format reader: the file's own failures are internal,
// anything else means the content cannot be read in this format.
func (s *source) readError(err error) error {
	var pe *fs.PathError
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.As(err, &pe):
		return connector.Errorf(connector.CodeInternal, s.e.Redacted(), "", fmt.Errorf("reading %s: %w", s.path, err))
	}
	return connector.Errorf(connector.CodeInvalidData, s.e.Redacted(), "check the format and its options ("+s.codec.Name+")",
		fmt.Errorf("%s: %w", s.path, err))
}

// Schema describes the records: CSV columns are nullable strings, JSON columns are inferred.
func (s *source) Schema(ctx context.Context) (connector.Schema, error) {
	if s.rd == nil {
		return connector.Schema{}, connector.Errorf(connector.CodeInternal, s.e.Redacted(), "", fmt.Errorf("schema asked before Open"))
	}
	return s.rd.Schema(), nil
}

// Read returns the next batch; files need no acknowledgement, their positions suffice.
func (s *source) Read(ctx context.Context) (*connector.Batch, connector.AckFunc, error) {
	if s.rd == nil {
		return nil, nil, connector.Errorf(connector.CodeInternal, s.e.Redacted(), "", fmt.Errorf("read before Open"))
	}
	b, err := s.rd.Read(ctx)
	if err != nil {
		if errors.Is(err, connector.ErrEndOfInput) {
			return nil, nil, err
		}
		return nil, nil, s.readError(err)
	}
	return b, connector.NopAck, nil
}

// Close closes the file; calling it twice is harmless.
func (s *source) Close(ctx context.Context) error {
	var err error
	if s.rd != nil {
		_ = s.rd.Close()
		s.rd = nil
	}
	if s.f != nil {
		err = s.f.Close()
		s.f = nil
	}
	if s.store != nil {
		_ = s.store.Close()
	}
	return err
}
