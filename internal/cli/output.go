package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/ctrlchar"
	"github.com/datahub-oss/datahub/internal/engine"
)

// table prints rows in aligned columns for people. Every cell goes through ctrlchar.Escape:
// names and texts from the store or a server (token and user names, error texts, rows
// written before the hub refused control characters) are shown with their control and
// invisible formatting characters escaped (\x1b, \u202e), so that they can neither drive
// the terminal nor break the columns with a tab or a line feed. JSON, YAML and data output
// never go through it.
type table struct{ tw *tabwriter.Writer }

// newTable starts a table with its header row.
func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	_, _ = io.WriteString(t.tw, strings.Join(header, "\t")+"\n")
	return t
}

// row adds a row; each cell is printed as with fmt.Sprint, escaped.
func (t *table) row(cells ...any) {
	var b strings.Builder
	for i, c := range cells {
		if i > 0 {
			b.WriteByte('\t')
		}
		b.WriteString(ctrlchar.Escape(fmt.Sprint(c)))
	}
	b.WriteByte('\n')
	_, _ = io.WriteString(t.tw, b.String())
}

// flush writes the table out.
func (t *table) flush() error { return t.tw.Flush() }

// safe is a value from the store or a server as a message shows it to people, escaped like
// a table cell.
func safe(s string) string { return ctrlchar.Escape(s) }

// list is the one shape of every list the CLI prints as JSON or YAML, the shape of the API's
// pages: the items, and the cursor of the following page (--cursor), "" on the last page.
// next is always there, empty when there is no more, so that a script reads one shape
// (jq -r .next is "" rather than null), whether or not the list pages.
type list[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next"`
}

// writeList writes items in the one list shape, as JSON or YAML (format); no items is an
// empty list, never null.
func writeList[T any](w io.Writer, format string, items []T, next string) error {
	if items == nil {
		items = []T{}
	}
	return writeAny(w, format, list[T]{Items: items, Next: next})
}

// writeLine writes v as one line of compact JSON, or as YAML: the form of a copy's or a run's
// summary, which scripts read with one line of code.
func writeLine(w io.Writer, format string, v any) error {
	if format == outYAML {
		return writeAny(w, format, v)
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// printSummary writes the human form of a copy's summary.
func printSummary(w io.Writer, s summary) {
	var b strings.Builder
	fmt.Fprintf(&b, "run %s %s\n", s.RunID, strings.ToUpper(string(s.Status)))
	fmt.Fprintf(&b, "  source       %s\n", safe(s.Source))
	fmt.Fprintf(&b, "  destination  %s (%s)\n", safe(s.Destination), s.Mode)
	fmt.Fprintf(&b, "  rows         read %s, written %s, rejected %s\n", groupInt(s.RowsRead), groupInt(s.RowsWritten), groupInt(s.RowsRejected))
	if s.Resumed {
		fmt.Fprintf(&b, "  this part    read %s, written %s, rejected %s (resumed; the rows above are the run's totals)\n",
			groupInt(s.Part.RowsRead), groupInt(s.Part.RowsWritten), groupInt(s.Part.RowsRejected))
	}
	fmt.Fprintf(&b, "  bytes        read %s, written %s\n", humanBytes(s.BytesRead), humanBytes(s.BytesWritten))
	fmt.Fprintf(&b, "  duration     %s (%s rows/s)\n", (time.Duration(s.DurationMS) * time.Millisecond).String(), groupInt(int64(s.RowsPerSecond)))
	if s.FastPath {
		b.WriteString("  path         native stream\n")
	}
	if s.SHA256 != "" {
		fmt.Fprintf(&b, "  sha256       %s\n", s.SHA256)
	}
	if len(s.Schema) > 0 {
		cols := make([]string, len(s.Schema))
		for i, c := range s.Schema {
			cols[i] = safe(c.Name) + " " + c.Type
		}
		fmt.Fprintf(&b, "  columns      %s (created; types inferred)\n", strings.Join(cols, ", "))
	}
	if s.RejectsPath != "" {
		fmt.Fprintf(&b, "  rejects      %s\n", safe(s.RejectsPath))
	}
	if s.Error != "" {
		fmt.Fprintf(&b, "  error        %s\n", safe(s.Error))
	}
	_, _ = io.WriteString(w, b.String())
}

// groupInt writes 1234567 as 1,234,567.
func groupInt(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// humanBytes writes a byte count in binary units.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// progressBar redraws one status line on a terminal: rows, bytes, rate, elapsed, and where the
// source told its size (a file's bytes, a table's row estimate) the percentage done and the
// time left.
type progressBar struct {
	w     io.Writer
	run   progressOf
	start time.Time
	// from is the counters when the bar started (a resumed run's are not zero), for the rate.
	from engine.Stats
	done chan struct{}
	wg   sync.WaitGroup
}

// progressOf is what the bar follows: the engine of a running transfer.
type progressOf interface {
	Stats() engine.Stats
	Size() connector.Size
}

func startProgress(w io.Writer, run progressOf) *progressBar {
	p := &progressBar{w: w, run: run, start: time.Now(), from: run.Stats(), done: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.done:
				p.draw(true)
				_, _ = io.WriteString(p.w, "\n")
				return
			case <-t.C:
				p.draw(false)
			}
		}
	}()
	return p
}

// draw writes the line; the last one (final) may show 100%.
func (p *progressBar) draw(final bool) {
	s := p.run.Stats()
	el := time.Since(p.start)
	rate := 0.0
	if el > 0 {
		rate = float64(s.RowsRead-p.from.RowsRead) / el.Seconds()
	}
	spin := `|/-\`[int(el/(200*time.Millisecond))%4]
	line := fmt.Sprintf("%c %srows %s  written %s  rejected %s  %s  %s rows/s  %s",
		spin, progressDone(p.run.Size(), p.from, s, el, final), groupInt(s.RowsRead), groupInt(s.RowsWritten), groupInt(s.RowsRejected),
		humanBytes(s.BytesRead), groupInt(int64(rate)), el.Truncate(100*time.Millisecond))
	_, _ = fmt.Fprintf(p.w, "\r\x1b[K%s", line)
}

// progressDone is the bar's "42% 1m05s left  " where the size is known: bytes against a
// file's size, else rows against a table's estimate. An estimate can be short of the truth,
// so the percentage stops at 99 until the end (final), and the time left is then not guessed.
func progressDone(size connector.Size, from, now engine.Stats, el time.Duration, final bool) string {
	total, done, done0 := size.Bytes, now.BytesRead, from.BytesRead
	if total <= 0 {
		total, done, done0 = size.Rows, now.RowsRead, from.RowsRead
	}
	if total <= 0 {
		return ""
	}
	pct := min(100*done/total, 99)
	if final {
		return fmt.Sprintf("%d%%  ", min(100*done/total, 100))
	}
	left := ""
	if moved := done - done0; moved > 0 && done < total && el > 0 {
		rest := time.Duration(float64(el) * float64(total-done) / float64(moved))
		left = " " + rest.Round(time.Second).String() + " left"
	}
	return fmt.Sprintf("%d%%%s  ", pct, left)
}

func (p *progressBar) stop() {
	close(p.done)
	p.wg.Wait()
}
