package runstatus

import (
	"slices"
	"testing"
)

func TestStatuses(t *testing.T) {
	final := map[Status]bool{Succeeded: true, Partial: true, Failed: true, Canceled: true}
	resumable := map[Status]bool{Failed: true, Canceled: true}
	if len(All()) != 7 {
		t.Fatalf("All() = %v", All())
	}
	for _, s := range All() {
		if s.Final() != final[s] || s.Resumable() != resumable[s] || !s.Valid() {
			t.Errorf("%s: final %v, resumable %v, valid %v", s, s.Final(), s.Resumable(), s.Valid())
		}
		if p, err := Parse(string(s)); err != nil || p != s {
			t.Errorf("Parse(%q) = %q, %v", s, p, err)
		}
	}
	for _, bad := range []string{"", "done", "Succeeded", "cancelled"} {
		if _, err := Parse(bad); err == nil || Status(bad).Valid() || Status(bad).Final() {
			t.Errorf("%q accepted", bad)
		}
	}
	all := All()
	all[0] = "changed"
	if All()[0] != Queued {
		t.Error("All() shares its slice with its callers")
	}
	if got := Strings(); !slices.Equal(got, []string{"queued", "running", "succeeded", "failed", "partial", "canceled", "cancel_requested"}) {
		t.Errorf("Strings() = %v", got)
	}
}
