package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/bus"
	"github.com/datahub-oss/datahub/internal/catalog"
	_ "github.com/datahub-oss/datahub/internal/connectors/file" // file deliveries open its store
	"github.com/datahub-oss/datahub/internal/delivery"
	"github.com/datahub-oss/datahub/internal/testutil"
)

func TestFilePath(t *testing.T) {
	at := time.Date(2026, 3, 4, 23, 30, 0, 0, time.FixedZone("x", -2*3600)) // 2026-03-05 UTC
	m := func(id, subject string) bus.TopicMessage {
		return bus.TopicMessage{Topic: "orders", Subject: subject, Seq: 42, Time: at, MessageID: id}
	}
	long := strings.Repeat("é", 120)
	for _, tc := range []struct {
		name, tmpl string
		m          bus.TopicMessage
		want       string
	}{
		{"default", "", m("m-1", "eu.created"), "orders/2026-03-05/m-1"},
		{"every token", "{topic}/{subject}/{date}/{seq}-{message_id}.json", m("m-1", "eu.created"), "orders/eu.created/2026-03-05/42-m-1.json"},
		{"no id", "", m("", ""), "orders/2026-03-05/orders-42"},
		{"slashes", "{message_id}", m("a/b\\c", ""), "a_b_c"},
		{"dot dot", "{subject}/{message_id}", m("../../etc/passwd", ".."), "__/______etc_passwd"},
		{"hidden", "{message_id}", m(".env", ""), "_env"},
		{"control", "{message_id}", m("a\x00b\nc\x7f", ""), "a_b_c_"},
		{"empty subject", "{subject}/{seq}", m("x", ""), "_/42"},
		{"invalid utf-8", "{message_id}", m("a\xffb", ""), "a_b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := delivery.FilePath(tc.tmpl, tc.m); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("long", func(t *testing.T) {
		a, b := delivery.FilePath("{message_id}", m(long+"a", "")), delivery.FilePath("{message_id}", m(long+"b", ""))
		if a == b || len(a) > 160 || !strings.HasPrefix(a, "éé") || !utf8Valid(a) {
			t.Errorf("long ids: %q, %q", a, b)
		}
	})
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "?") == s }

const fileDocs = `apiVersion: datahub/v1
kind: Topic
metadata: {name: orders}
spec: {}
---
apiVersion: datahub/v1
kind: Subscription
metadata: {name: files}
spec:
  topic: orders
  delivery: {type: file, endpoint: outbox, env: DEV, path: PATH}
  retry: {maxDeliver: 5, initial: 10ms, max: 50ms}
`

// fileFixture runs an engine whose file subscription writes into root; endpoints resolves
// the endpoint (failFirst times failing first, to force redeliveries).
type fileFixture struct {
	b    *bus.Bus
	eng  *delivery.Engine
	root string

	mu        sync.Mutex
	failFirst int
	calls     int
}

func setupFile(t *testing.T, pathTmpl string, failFirst int) *fileFixture {
	t.Helper()
	b, err := bus.Open(t.Context(), bus.Config{DataDir: t.TempDir(), Name: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = b.Close(ctx)
	})
	f := &fileFixture{b: b, root: filepath.Join(t.TempDir(), "outbox"), failFirst: failFirst}
	if err := os.Mkdir(f.root, 0o750); err != nil {
		t.Fatal(err)
	}
	cat := &fakeCatalog{}
	cat.set(t, strings.Replace(fileDocs, "PATH", fmt.Sprintf("%q", pathTmpl), 1))
	f.eng = &delivery.Engine{Bus: b, Catalog: cat, Interval: 50 * time.Millisecond,
		Endpoints: func(_ context.Context, name, env, table string) (connector.Endpoint, []string, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.calls++
			if name != "outbox" || env != "DEV" || table != "" {
				return connector.Endpoint{}, nil, fmt.Errorf("unexpected endpoint %s %s %q", name, env, table)
			}
			if f.calls <= f.failFirst {
				return connector.Endpoint{}, nil, errors.New("endpoint unavailable")
			}
			return connector.Endpoint{URL: f.root}, nil, nil
		}}
	if err := f.eng.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = f.eng.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return f
}

// files returns every file a delivery finished under dir, by slash path relative to dir, with
// its content.
func files(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if strings.Contains(d.Name(), ".datahub-tmp-") {
			return nil // a delivery still writing: not a delivered file yet
		}
		b, err := os.ReadFile(p) // #nosec G304 -- a test's own temporary folder
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func body(i int) []byte {
	// Bytes as sent: binary, a NUL, no trailing newline for even i, CRLF for odd ones.
	b := fmt.Appendf(nil, "\xff\x00message %d", i)
	if i%2 == 1 {
		b = append(b, "\r\n"...)
	}
	return b
}

// TestFileDelivery: 20 messages (the first deliveries failing, so some are redelivered)
// become 20 files holding their exact bytes, one per message id, and no temporary file.
func TestFileDelivery(t *testing.T) {
	t.Parallel()
	f := setupFile(t, "", 3)
	const n = 20
	for i := range n {
		if _, err := f.b.PublishTopic(t.Context(), "orders", "created", body(i), nil, fmt.Sprintf("m-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	testutil.WaitFor(t, 20*time.Second, "20 files", func() bool { return len(files(t, f.root)) >= n })
	// A stray or temporary file has no later message to show it: a short watch.
	testutil.Never(t, 200*time.Millisecond, 20*time.Millisecond, func() error {
		return testutil.Checkf(len(files(t, f.root)) == n, "%d files, want %d", len(files(t, f.root)), n)
	})
	got := files(t, f.root)
	if len(got) != n {
		t.Fatalf("%d files, want %d: %v", len(got), n, keys(got))
	}
	datePath := regexp.MustCompile(`^orders/\d{4}-\d{2}-\d{2}/(m-\d+)$`)
	seen := map[string]bool{}
	for p, content := range got {
		sm := datePath.FindStringSubmatch(p)
		if sm == nil {
			t.Errorf("unexpected file %s", p)
			continue
		}
		var i int
		_, _ = fmt.Sscanf(sm[1], "m-%d", &i)
		seen[sm[1]] = true
		if content != string(body(i)) {
			t.Errorf("%s holds %q, want %q", p, content, body(i))
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct message ids", len(seen))
	}
	if dl, _ := f.b.ListDeadLetters(t.Context(), "files", 0, 10); len(dl) != 0 {
		t.Errorf("dead letters: %+v", dl)
	}
}

// TestFileRedelivery: delivering the same message again (as the bus does when an ack is
// lost) overwrites its file: still one file, with the message's bytes.
func TestFileRedelivery(t *testing.T) {
	t.Parallel()
	f := setupFile(t, "{topic}/{message_id}.bin", 0)
	spec := &catalog.SubscriptionSpec{Topic: "orders", Delivery: catalog.SubscriptionDelivery{Type: "file", Endpoint: "outbox", Env: "DEV", Path: "{topic}/{message_id}.bin"}}
	h := f.eng.Handler("files", spec)
	m := bus.TopicMessage{Topic: "orders", Subject: "created", Seq: 9, Time: time.Now(), MessageID: "m-9", Data: body(9), Delivered: 1}
	for attempt := range 3 {
		m.Delivered = uint64(attempt + 1)
		if err := h(t.Context(), m); err != nil {
			t.Fatalf("delivery %d: %v", attempt+1, err)
		}
		got := files(t, f.root)
		if len(got) != 1 || got["orders/m-9.bin"] != string(body(9)) {
			t.Fatalf("after delivery %d: %q", attempt+1, got)
		}
	}
}

// TestFileStaysInsideRoot: message ids with "..", '/' and a symbolic link to outside the
// folder cannot make a file outside it (the bus refuses such subjects; TestFilePath covers
// them).
func TestFileStaysInsideRoot(t *testing.T) {
	t.Parallel()
	f := setupFile(t, "{subject}/{message_id}", 0)
	outside := filepath.Dir(f.root)
	for _, id := range []string{"..", "../../escape", "../", "/etc/x", "a/../../b"} {
		if _, err := f.b.PublishTopic(t.Context(), "orders", "in", []byte(id), nil, id); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]string{"in/__": "..", "in/______escape": "../../escape", "in/___": "../", "in/_etc_x": "/etc/x", "in/a_______b": "a/../../b"}
	testutil.WaitFor(t, 20*time.Second, "5 files", func() bool { return len(files(t, f.root)) >= len(want) })
	got := files(t, f.root)
	if len(got) != len(want) {
		t.Fatalf("files %v, want %v", keys(got), keys(want))
	}
	for p, content := range want {
		if got[p] != content {
			t.Errorf("%s holds %q, want %q", p, got[p], content)
		}
	}
	entries, _ := os.ReadDir(outside)
	if len(entries) != 1 || entries[0].Name() != "outbox" {
		t.Errorf("the folder around the root holds %v", entries)
	}

	// A link inside the root to a folder outside it is refused, for good.
	away := t.TempDir()
	if err := os.Symlink(away, filepath.Join(f.root, "link")); err != nil {
		t.Fatal(err)
	}
	spec := &catalog.SubscriptionSpec{Topic: "orders", Delivery: catalog.SubscriptionDelivery{Type: "file", Endpoint: "outbox", Env: "DEV", Path: "{subject}/{message_id}"}}
	err := f.eng.Handler("files", spec)(t.Context(), bus.TopicMessage{Topic: "orders", Subject: "link", MessageID: "x", Data: []byte("x"), Time: time.Now()})
	if !errors.Is(err, bus.ErrPermanent) {
		t.Errorf("writing through a link out of the root: %v", err)
	}
	if entries, _ := os.ReadDir(away); len(entries) != 0 {
		t.Errorf("wrote outside the root: %v", entries)
	}
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
