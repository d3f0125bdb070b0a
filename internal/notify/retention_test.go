package notify

import (
	"context"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/store"
	"github.com/datahub-oss/datahub/internal/store/storetest"
)

func TestPrune(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		wh := startHook(t)
		ch := []Channel{{Type: ChannelWebhook, URL: wh.URL, Secret: fileRef(t, "k", "key")}}
		// held: its digest is still due (a long window); flushed: its digest went out.
		held := Rule{Name: "held", Enabled: true, Channels: ch, Throttle: Throttle{Window: Duration(time.Hour), Max: 1}}
		flushed := Rule{Name: "flushed", Enabled: true, Channels: ch, Throttle: Throttle{Window: Duration(time.Minute), Max: 1}}
		fresh := Rule{Name: "fresh", Enabled: true, Channels: ch, Throttle: Throttle{Window: Duration(time.Minute), Max: 1}}
		now := newClock()
		old := &clock{t: now.Now().Add(-100 * 24 * time.Hour)}
		svcOld := New(db, Options{Guard: loopback(t), Rules: StaticRules{held, flushed}, Now: old.Now})
		for range 3 {
			if err := svcOld.Handle(ctx, failedRun(old.Now())); err != nil {
				t.Fatal(err)
			}
			old.Advance(time.Second)
		}
		old.Advance(2 * time.Minute)
		if err := svcOld.FlushDue(ctx); err != nil {
			t.Fatal(err)
		}
		svcNew := New(db, Options{Guard: loopback(t), Rules: StaticRules{fresh}, Now: now.Now})
		if err := svcNew.Handle(ctx, failedRun(now.Now())); err != nil {
			t.Fatal(err)
		}
		before := listAll(t, svcNew, Filter{})
		if c := countStatus(before); c[StatusSent] != 3 || c[StatusSuppressed] != 4 || c[StatusDigested] != 1 {
			t.Fatalf("before pruning: %v", c)
		}

		records, windows, err := Prune(ctx, db, now.Now().Add(-90*24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if records != 5 || windows != 1 {
			t.Fatalf("deleted %d records and %d windows, want 5 and 1", records, windows)
		}
		kept := map[string]int{}
		for _, r := range listAll(t, svcNew, Filter{}) {
			kept[r.Rule+" "+string(r.Status)]++
		}
		if len(kept) != 2 || kept["held suppressed"] != 2 || kept["fresh sent"] != 1 {
			t.Fatalf("kept %v; want the held notifications and the fresh one", kept)
		}
		if records, windows, err := Prune(ctx, db, now.Now().Add(-90*24*time.Hour)); err != nil || records != 0 || windows != 0 {
			t.Fatalf("second pass deleted %d, %d, %v", records, windows, err)
		}

		// The held notifications still go out in their digest.
		sent := len(wh.Requests())
		svcLate := New(db, Options{Guard: loopback(t), Rules: StaticRules{held, flushed}, Now: now.Now})
		if err := svcLate.FlushDue(ctx); err != nil {
			t.Fatal(err)
		}
		if n := len(wh.Requests()) - sent; n != 1 {
			t.Fatalf("%d digests after pruning, want the held rule's", n)
		}
	})
}
