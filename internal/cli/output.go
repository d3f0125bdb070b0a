package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

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

// progressBar redraws one status line on a terminal: rows, bytes, rate, elapsed. The total is
// unknown for most sources, so it is a counter, not a percentage.
type progressBar struct {
	w     io.Writer
	stats func() engine.Stats
	start time.Time
	done  chan struct{}
	wg    sync.WaitGroup
}

func startProgress(w io.Writer, stats func() engine.Stats) *progressBar {
	p := &progressBar{w: w, stats: stats, start: time.Now(), done: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.done:
				p.draw()
				_, _ = io.WriteString(p.w, "\n")
				return
			case <-t.C:
				p.draw()
			}
		}
	}()
	return p
}

func (p *progressBar) draw() {
	s := p.stats()
	el := time.Since(p.start)
	rate := 0.0
	if el > 0 {
		rate = float64(s.RowsRead) / el.Seconds()
	}
	spin := `|/-\`[int(el/(200*time.Millisecond))%4]
	line := fmt.Sprintf("%c rows %s  written %s  rejected %s  %s  %s rows/s  %s",
		spin, groupInt(s.RowsRead), groupInt(s.RowsWritten), groupInt(s.RowsRejected), humanBytes(s.BytesRead),
		groupInt(int64(rate)), el.Truncate(100*time.Millisecond))
	_, _ = fmt.Fprintf(p.w, "\r\x1b[K%s", line)
}

func (p *progressBar) stop() {
	close(p.done)
	p.wg.Wait()
}
