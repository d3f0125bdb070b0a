package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/client"
)

// printChanges writes one line per resource applied (created, updated, unchanged); for a dry
// run, an updated resource's line is followed by the fields that would change. The API's
// dry-run answer says only whether a document changes (its digests), so the fields are
// computed here against the version the server holds.
func printChanges(ctx context.Context, w io.Writer, c *client.Client, changes []client.Change, docs []catalog.Resource, bodies []json.RawMessage, dryRun bool) error {
	suffix := ""
	if dryRun {
		suffix = " (dry run)"
	}
	var b strings.Builder
	for _, ch := range changes {
		fmt.Fprintf(&b, "%s/%s %s (v%d)%s\n", ch.Kind, ch.Name, ch.Action, ch.Version, suffix)
		if !dryRun || ch.Action != string(catalog.Updated) {
			continue
		}
		i := slices.IndexFunc(docs, func(r catalog.Resource) bool { return string(r.Kind) == ch.Kind && r.Metadata.Name == ch.Name })
		if i < 0 {
			continue
		}
		live, err := c.GetResource(ctx, ch.Kind, ch.Name)
		if err != nil {
			fmt.Fprintf(&b, "  (the fields that change are not shown: %s)\n", safe(err.Error()))
			continue
		}
		lines, err := fieldChanges(live.Raw, bodies[i])
		if err != nil {
			return err
		}
		for _, l := range lines {
			b.WriteString("  " + safe(l) + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// fieldChanges lists the leaf fields of metadata and spec that differ between two documents:
// "~ path: old -> new", "+ path: new", "- path: old", in path order.
func fieldChanges(before, after []byte) ([]string, error) {
	flat := func(doc []byte) (map[string]string, error) {
		var m map[string]any
		if err := json.Unmarshal(doc, &m); err != nil {
			return nil, fmt.Errorf("read a resource to compare: %w", err)
		}
		out := map[string]string{}
		for _, k := range []string{"metadata", "spec"} {
			if v, ok := m[k]; ok {
				flatten(k, v, out)
			}
		}
		return out, nil
	}
	old, err := flat(before)
	if err != nil {
		return nil, err
	}
	cur, err := flat(after)
	if err != nil {
		return nil, err
	}
	paths := slices.Sorted(maps.Keys(old))
	for p := range cur {
		if _, ok := old[p]; !ok {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	var lines []string
	for _, p := range paths {
		o, inOld := old[p]
		n, inNew := cur[p]
		switch {
		case inOld && inNew && o != n:
			lines = append(lines, fmt.Sprintf("~ %s: %s -> %s", p, shorten(o, 60), shorten(n, 60)))
		case inNew && !inOld:
			lines = append(lines, fmt.Sprintf("+ %s: %s", p, shorten(n, 60)))
		case inOld && !inNew:
			lines = append(lines, fmt.Sprintf("- %s: %s", p, shorten(o, 60)))
		}
	}
	return lines, nil
}

// flatten writes the leaves of v under path: objects by key (path.key), arrays by index
// (path[i]), each leaf as JSON; an empty object or array is a leaf of its own.
func flatten(path string, v any, out map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			out[path] = "{}"
		}
		for k, e := range x {
			flatten(path+"."+k, e, out)
		}
	case []any:
		if len(x) == 0 {
			out[path] = "[]"
		}
		for i, e := range x {
			flatten(path+"["+strconv.Itoa(i)+"]", e, out)
		}
	default:
		b, _ := json.Marshal(x)
		out[path] = string(b)
	}
}
