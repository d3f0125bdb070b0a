package catalog

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"gopkg.in/yaml.v3"
)

// Render writes a resource as one YAML document (without the leading ---). The fields come
// in their declaration order (apiVersion, kind, metadata, spec; within spec as documented) and
// map keys sorted, so equal resources render identically.
//
// It goes through the canonical JSON: yaml.v3 reads JSON into nodes in field order, which
// gives the same document the digest is taken of, and the emitter quotes whatever would not
// read back as the same string.
func Render(r *Resource) ([]byte, error) {
	js, err := r.Canonical()
	if err != nil {
		return nil, err
	}
	var n yaml.Node
	if err := yaml.Unmarshal(js, &n); err != nil {
		return nil, fmt.Errorf("render %s: %w", r.Key(), err)
	}
	blockStyle(&n)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, fmt.Errorf("render %s: %w", r.Key(), err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("render %s: %w", r.Key(), err)
	}
	return buf.Bytes(), nil
}

// blockStyle drops the JSON flow and quoting styles so the emitter writes ordinary block YAML.
func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// writeDocuments writes resources as a multi-document YAML stream.
func writeDocuments(w io.Writer, rs []Resource) error {
	for i := range rs {
		b, err := Render(&rs[i])
		if err != nil {
			return err
		}
		if _, err := io.WriteString(w, "---\n"); err != nil {
			return err
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// Diff compares the YAML renderings of two resources line by line and returns a unified diff
// ("" when they render the same). It is hand-written, a plain LCS over lines, because
// resources are a few dozen lines long, the standard library's diff is internal, and a
// dependency for this would be more to trust than the hundred lines here.
func Diff(a, b Resource) string {
	at, bt := renderOrNote(&a), renderOrNote(&b)
	if at == bt {
		return ""
	}
	return unified("a/"+label(&a), "b/"+label(&b), splitLines(at), splitLines(bt))
}

func label(r *Resource) string { return string(r.Kind) + "/" + r.Metadata.Name }

func renderOrNote(r *Resource) string {
	b, err := Render(r)
	if err != nil {
		return "# " + err.Error() + "\n"
	}
	return string(b)
}

func splitLines(s string) []string {
	ls := strings.SplitAfter(s, "\n")
	if ls[len(ls)-1] == "" {
		ls = ls[:len(ls)-1]
	}
	return ls
}

// maxDiffCells bounds the LCS table; beyond it the diff shows every line as replaced, which
// is still correct, only less precise.
const maxDiffCells = 4 << 20

type diffOp struct {
	kind byte // ' ', '-', '+'
	line string
}

// lineDiff returns an edit script from a to b.
func lineDiff(a, b []string) []diffOp {
	// Common prefix and suffix cost nothing and usually leave a small middle.
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	var ops []diffOp
	for _, l := range a[:pre] {
		ops = append(ops, diffOp{' ', l})
	}
	am, bm := a[pre:len(a)-suf], b[pre:len(b)-suf]
	if (len(am)+1)*(len(bm)+1) > maxDiffCells {
		for _, l := range am {
			ops = append(ops, diffOp{'-', l})
		}
		for _, l := range bm {
			ops = append(ops, diffOp{'+', l})
		}
	} else {
		// lcs[i][j] is the LCS length of am[i:] and bm[j:].
		w := len(bm) + 1
		lcs := make([]int, (len(am)+1)*w)
		for i := len(am) - 1; i >= 0; i-- {
			for j := len(bm) - 1; j >= 0; j-- {
				if am[i] == bm[j] {
					lcs[i*w+j] = lcs[(i+1)*w+j+1] + 1
				} else {
					lcs[i*w+j] = max(lcs[(i+1)*w+j], lcs[i*w+j+1])
				}
			}
		}
		i, j := 0, 0
		for i < len(am) || j < len(bm) {
			switch {
			case i < len(am) && j < len(bm) && am[i] == bm[j]:
				ops = append(ops, diffOp{' ', am[i]})
				i++
				j++
			case i < len(am) && (j == len(bm) || lcs[(i+1)*w+j] >= lcs[i*w+j+1]):
				// Removals before additions, as diff(1) shows them.
				ops = append(ops, diffOp{'-', am[i]})
				i++
			default:
				ops = append(ops, diffOp{'+', bm[j]})
				j++
			}
		}
	}
	for _, l := range a[len(a)-suf:] {
		ops = append(ops, diffOp{' ', l})
	}
	return ops
}

// unified renders an edit script as unified-diff hunks with three lines of context.
func unified(aName, bName string, a, b []string) string {
	const context = 3
	ops := lineDiff(a, b)
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", aName, bName)
	// aLine[k] and bLine[k] are the 0-based positions in a and b before op k.
	aLine := make([]int, len(ops)+1)
	bLine := make([]int, len(ops)+1)
	for k, op := range ops {
		aLine[k+1], bLine[k+1] = aLine[k], bLine[k]
		if op.kind != '+' {
			aLine[k+1]++
		}
		if op.kind != '-' {
			bLine[k+1]++
		}
	}
	for k := 0; k < len(ops); {
		if ops[k].kind == ' ' {
			k++
			continue
		}
		start := max(0, k-context)
		// Extend the hunk while the next change is within twice the context.
		end := k
		for {
			for end < len(ops) && ops[end].kind != ' ' {
				end++
			}
			next := end
			for next < len(ops) && ops[next].kind == ' ' {
				next++
			}
			if next < len(ops) && next-end <= 2*context {
				end = next
				continue
			}
			end = min(len(ops), end+context)
			break
		}
		aN, bN := aLine[end]-aLine[start], bLine[end]-bLine[start]
		fmt.Fprintf(&out, "@@ -%s +%s @@\n", hunkRange(aLine[start], aN), hunkRange(bLine[start], bN))
		for _, op := range ops[start:end] {
			out.WriteByte(op.kind)
			out.WriteString(op.line)
			if !strings.HasSuffix(op.line, "\n") {
				out.WriteString("\n\\ No newline at end of file\n")
			}
		}
		k = end
	}
	return out.String()
}

func hunkRange(start, n int) string {
	if n == 0 {
		return fmt.Sprintf("%d,0", start)
	}
	if n == 1 {
		return fmt.Sprintf("%d", start+1)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}
