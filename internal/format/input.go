package format

import (
	"errors"
	"io"
	"unicode/utf8"
)

// Buffer sizes of Input.
const (
	// ReadBufferSize is the starting size of an Input's buffer: large reads keep system calls
	// out of the per-record cost.
	ReadBufferSize = 1 << 20
	// MaxRecordSize bounds one record (a CSV record, an NDJSON line, a JSON array element):
	// beyond it a reader gives up instead of buffering the rest of a damaged file.
	MaxRecordSize = 64 << 20
	// MaxRawSize bounds the raw text a Reject carries.
	MaxRawSize = 4 << 10
)

// ErrRecordTooLarge is returned by Input.Fill when a record does not fit in MaxRecordSize.
var ErrRecordTooLarge = errors.New("record larger than 64 MiB")

// Input is a growable read buffer over an io.Reader that knows the absolute offset of every
// byte it holds. Readers scan Buf[Pos:End] directly and call Fill when a record runs past End.
type Input struct {
	r io.Reader
	// Buf[Pos:End] is the data read and not yet consumed.
	Buf      []byte
	Pos, End int
	base     int64 // offset of Buf[0] in the object
	eof      bool
	err      error
	max      int
}

// NewInput reads r, whose first byte is at offset in the object.
func NewInput(r io.Reader, offset int64) *Input {
	return &Input{r: r, Buf: make([]byte, ReadBufferSize), base: offset, max: MaxRecordSize}
}

// Offset returns the object offset of Buf[i].
func (in *Input) Offset(i int) int64 { return in.base + int64(i) }

// EOF reports whether the underlying reader is exhausted (Buf[Pos:End] may still hold data).
func (in *Input) EOF() bool { return in.eof }

// Fill reads more data after End, moving the unconsumed bytes to the front of the buffer (so
// indexes into Buf shift by the returned amount) and growing it when it is full. It returns
// io.EOF when nothing more will come, ErrRecordTooLarge when the unconsumed bytes already fill
// MaxRecordSize, or the read error.
func (in *Input) Fill() (shift int, err error) {
	if in.eof {
		return 0, io.EOF
	}
	if in.err != nil {
		return 0, in.err
	}
	if in.Pos > 0 {
		shift = in.Pos
		n := copy(in.Buf, in.Buf[in.Pos:in.End])
		in.base += int64(in.Pos)
		in.Pos, in.End = 0, n
	}
	if in.End == len(in.Buf) {
		if len(in.Buf) >= in.max {
			return shift, ErrRecordTooLarge
		}
		size := len(in.Buf) * 2
		if size < ReadBufferSize {
			size = ReadBufferSize
		}
		if size > in.max {
			size = in.max
		}
		nb := make([]byte, size)
		copy(nb, in.Buf[:in.End])
		in.Buf = nb
	}
	for tries := 0; tries < 100; tries++ {
		n, err := in.r.Read(in.Buf[in.End:])
		in.End += n
		if err == io.EOF {
			in.eof = true
			if n > 0 {
				return shift, nil
			}
			return shift, io.EOF
		}
		if err != nil {
			in.err = err
			return shift, err
		}
		if n > 0 {
			return shift, nil
		}
	}
	in.err = io.ErrNoProgress
	return shift, in.err
}

// SkipBOM drops a UTF-8 byte order mark at the start of the input.
func (in *Input) SkipBOM() error {
	for in.End-in.Pos < 3 && !in.eof {
		if _, err := in.Fill(); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
	}
	b := in.Buf[in.Pos:in.End]
	if len(b) >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF {
		in.Pos += 3
	}
	return nil
}

// RawText turns a record's bytes into the Raw text of a Reject, cut at MaxRawSize.
func RawText(b []byte) string {
	if len(b) <= MaxRawSize {
		return string(b)
	}
	n := MaxRawSize
	for n > MaxRawSize-utf8.UTFMax && !utf8.RuneStart(b[n]) {
		n--
	}
	return string(b[:n]) + "…"
}
