package trigger

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/bus"
	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/runs"
	"github.com/datahub-oss/datahub/internal/store"
	"github.com/datahub-oss/datahub/internal/store/storetest"
	"github.com/datahub-oss/datahub/internal/testutil"
)

func TestParseEvent(t *testing.T) {
	for _, tc := range []struct {
		name     string
		settings map[string]any
		want     EventSettings
		err      string
	}{
		{name: "defaults", settings: map[string]any{"env": "dev", "topic": "orders"},
			want: EventSettings{Env: "DEV", Topic: "orders", Max: 1, Wait: 5 * time.Second, Body: "data"}},
		{name: "batch", settings: map[string]any{"env": "DEV", "topic": "orders", "subject": "eu.>", "body": "ignore",
			"batch": map[string]any{"max": 10, "wait": "1s"}},
			want: EventSettings{Env: "DEV", Topic: "orders", Subject: "eu.>", Max: 10, Wait: time.Second, Body: "ignore"}},
		{name: "json numbers", settings: map[string]any{"env": "DEV", "topic": "orders", "batch": map[string]any{"max": float64(5)}},
			want: EventSettings{Env: "DEV", Topic: "orders", Max: 5, Wait: 5 * time.Second, Body: "data"}},
		{name: "missing", settings: map[string]any{}, err: "env is required; topic is required"},
		{name: "bad topic", settings: map[string]any{"env": "DEV", "topic": "Orders"}, err: `topic "Orders"`},
		{name: "bad body", settings: map[string]any{"env": "DEV", "topic": "o", "body": "raw"}, err: `body: "raw"`},
		{name: "bad batch", settings: map[string]any{"env": "DEV", "topic": "o", "batch": map[string]any{"max": 0, "size": 1}}, err: `unknown setting "size"`},
		{name: "bad subject", settings: map[string]any{"env": "DEV", "topic": "o", "subject": "a..b"}, err: `subject "a..b"`},
		{name: "unknown", settings: map[string]any{"env": "DEV", "topic": "o", "cron": "x"}, err: `unknown setting "cron"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := catalog.Trigger{Type: TypeEvent, Settings: tc.settings}
			got, err := ParseEvent(tr)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				if Check(tr) == nil {
					t.Fatal("Check accepted it")
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestEventData(t *testing.T) {
	msgs := []bus.TopicMessage{{Seq: 1, Data: []byte(`{"id": 1}`)}, {Seq: 2, Data: []byte("{\"id\":\n2}")}}
	b, ext, err := eventData(msgs)
	if err != nil || ext != "ndjson" || string(b) != "{\"id\":1}\n{\"id\":2}\n" {
		t.Fatalf("%q %s %v", b, ext, err)
	}
	csv := []bus.TopicMessage{{Seq: 3, Data: []byte("id\n1\n"), Headers: map[string]string{"Content-Type": "text/csv; charset=utf-8"}}}
	if b, ext, err := eventData(csv); err != nil || ext != "csv" || string(b) != "id\n1\n" {
		t.Fatalf("%q %s %v", b, ext, err)
	}
	if _, _, err := eventData(append(msgs, csv...)); err == nil {
		t.Fatal("a CSV message in a batch accepted")
	}
	if _, _, err := eventData([]bus.TopicMessage{{Seq: 4, Data: []byte(`[1]`)}}); err == nil {
		t.Fatal("a JSON array accepted")
	}
}

// TestEventTrigger: three messages published before the consumer runs, batch max 10 wait 1s,
// make one run whose file holds the three; the same batch again requests nothing.
func TestEventTrigger(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		buses := testBuses(t, 2)
		cat := catalog.New(db, catalog.Options{})
		if err := buses[0].EnsureTopic(ctx, bus.TopicConfig{Name: "orders"}); err != nil {
			t.Fatal(err)
		}
		applyAll(t, cat, resources(t.TempDir(), filepath.Join(t.TempDir(), "x.db"),
			"apiVersion: datahub/v1\nkind: Topic\nmetadata: {name: orders}\nspec: {}\n", // an event trigger's topic must exist
			integration("on-orders", `{type: event, env: DEV, topic: orders, subject: "created.>", batch: {max: 10, wait: 1s}}`)))
		for i := range 3 {
			if _, err := buses[0].PublishTopic(ctx, "orders", "created.eu", fmt.Appendf(nil, `{"id": %d}`, i), nil, ""); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := buses[0].PublishTopic(ctx, "orders", "deleted", []byte(`{"id": 9}`), nil, ""); err != nil {
			t.Fatal(err)
		}
		hooks := t.TempDir()
		// Two processes: only the leader consumes, so the batch stays whole.
		var fakes []*fakeRequester
		var scheds []*Scheduler
		for i, b := range buses {
			f := &fakeRequester{}
			fakes = append(fakes, f)
			s, _ := started(t, Config{DB: db, Catalog: cat, Leases: b, Requester: f, Topics: b, HooksDir: hooks, Owner: fmt.Sprint(i)})
			scheds = append(scheds, s)
		}
		all := func() []runs.Request {
			var out []runs.Request
			for _, f := range fakes {
				out = append(out, f.requests()...)
			}
			return out
		}
		testutil.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
			return testutil.Checkf(len(all()) > 0, "no event run requested")
		})
		// A later message makes the next batch: the consumer is ordered, so whatever the first
		// batch requests (a split, a second consumer) is requested before this one's run.
		if _, err := buses[0].PublishTopic(ctx, "orders", "created.eu", []byte(`{"id": 3}`), nil, ""); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
			for _, r := range all() {
				if r.Params["messages"] == "1" {
					return nil
				}
			}
			return fmt.Errorf("the later message's run is not requested: %+v", all())
		})
		reqs := all()
		if len(reqs) != 2 || reqs[0].Params["messages"] != "3" {
			t.Fatalf("%d runs requested, want the batch of 3 then the later one: %+v", len(reqs), reqs)
		}
		r := reqs[0]
		if r.Env != "DEV" || r.Actor != ActorEvent || r.Params["messages"] != "3" {
			t.Fatalf("request %+v", r)
		}
		file := r.Params[runs.ParamFile]
		if filepath.Dir(file) != filepath.Join(hooks, "on-orders") || filepath.Ext(file) != ".ndjson" {
			t.Fatalf("file %q", file)
		}
		b, err := os.ReadFile(file)
		if err != nil || string(b) != "{\"id\":0}\n{\"id\":1}\n{\"id\":2}\n" {
			t.Fatalf("file %q %v", b, err)
		}
		// Redelivered (the ack was lost): the same run, no new request.
		seq := r.Params["seq"]
		var first uint64
		_, _ = fmt.Sscan(seq, &first)
		set, _ := ParseEvent(catalog.Trigger{Type: TypeEvent, Settings: map[string]any{"env": "DEV", "topic": "orders"}})
		again := []bus.TopicMessage{{Seq: first, Data: []byte(`{"id":0}`)}}
		if err := scheds[0].fireEvent(ctx, "on-orders", set, again); err != nil {
			t.Fatal(err)
		}
		if n := len(all()); n != 2 {
			t.Fatalf("redelivery requested %d more runs", n-2)
		}
	})
}
