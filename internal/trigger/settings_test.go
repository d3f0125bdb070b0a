package trigger

import (
	"strings"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/catalog"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestScheduleNext(t *testing.T) {
	tests := []struct {
		name, cron, tz, from, want string
	}{
		{"daily in winter (CET)", "0 2 * * *", "Europe/Zurich", "2024-01-15T12:00:00Z", "2024-01-16T01:00:00Z"},
		{"daily in summer (CEST)", "0 2 * * *", "Europe/Zurich", "2024-07-01T12:00:00Z", "2024-07-02T00:00:00Z"},
		{"CRON_TZ weekdays over a weekend", "CRON_TZ=America/New_York 30 9 * * 1-5", "", "2024-07-05T14:00:00Z", "2024-07-08T13:30:00Z"},
		{"hourly in a half-hour zone", "@hourly", "Asia/Kolkata", "2024-07-01T12:10:00Z", "2024-07-01T12:30:00Z"},
		{"UTC by default", "0 2 * * *", "", "2024-07-01T12:00:00Z", "2024-07-02T02:00:00Z"},
		{"seconds field", "*/15 * * * * *", "", "2024-07-01T12:00:07Z", "2024-07-01T12:00:15Z"},
		{"every is aligned to the epoch", "@every 30s", "", "2024-07-01T12:00:10Z", "2024-07-01T12:00:30Z"},
		{"every on a boundary is the next one", "@every 30s", "Europe/Zurich", "2024-07-01T12:00:30Z", "2024-07-01T12:01:00Z"},
		{"every 2h", "@every 2h", "", "2024-07-01T13:59:59Z", "2024-07-01T14:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseCron(tt.cron, tt.tz)
			if err != nil {
				t.Fatal(err)
			}
			got := s.Next(mustTime(t, tt.from))
			if !got.Equal(mustTime(t, tt.want)) || got.Location() != time.UTC {
				t.Errorf("Next(%s) = %s, want %s", tt.from, got, tt.want)
			}
		})
	}
}

func TestScheduleLast(t *testing.T) {
	tests := []struct {
		name, cron, after, upTo, want string
	}{
		{"several missed: the latest", "0 2 * * *", "2024-07-01T00:00:00Z", "2024-07-04T12:00:00Z", "2024-07-04T02:00:00Z"},
		{"none missed", "0 2 * * *", "2024-07-04T02:00:00Z", "2024-07-04T12:00:00Z", ""},
		{"every", "@every 1m", "2024-07-04T02:00:00Z", "2024-07-04T02:03:30Z", "2024-07-04T02:03:00Z"},
		{"every, none", "@every 1m", "2024-07-04T02:03:00Z", "2024-07-04T02:03:30Z", ""},
		{"every second for a year", "* * * * * *", "2023-07-04T00:00:00Z", "2024-07-04T02:03:30Z", "2024-07-04T02:03:30Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseCron(tt.cron, "")
			if err != nil {
				t.Fatal(err)
			}
			got := s.Last(mustTime(t, tt.after), mustTime(t, tt.upTo))
			if tt.want == "" {
				if !got.IsZero() {
					t.Errorf("got %s, want none", got)
				}
				return
			}
			if !got.Equal(mustTime(t, tt.want)) {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestParseSettings(t *testing.T) {
	tests := []struct {
		name     string
		trigger  catalog.Trigger
		wantErrs []string
	}{
		{"schedule ok", catalog.Trigger{Type: "schedule", Settings: map[string]any{"cron": "0 2 * * *", "timezone": "Europe/Zurich", "env": "dev", "catchUp": false}}, nil},
		{"schedule without env", catalog.Trigger{Type: "schedule", Settings: map[string]any{"cron": "@every 30s"}}, []string{"env is required"}},
		{"bad zone", catalog.Trigger{Type: "schedule", Settings: map[string]any{"cron": "@daily", "timezone": "Mars/Olympus", "env": "DEV"}}, []string{`timezone "Mars/Olympus"`}},
		{"two zones", catalog.Trigger{Type: "schedule", Settings: map[string]any{"cron": "CRON_TZ=UTC @daily", "timezone": "Europe/Zurich", "env": "DEV"}}, []string{"not both"}},
		{"bad cron and env and a typo", catalog.Trigger{Type: "schedule", Settings: map[string]any{"cron": "61 * * * *", "env": "QA", "timeZone": "UTC"}},
			[]string{"cron", "env:", `unknown setting "timeZone"`}},
		{"file ok", catalog.Trigger{Type: "file", Settings: map[string]any{"env": "DEV", "path": "inbox/*.csv", "stableFor": "1s", "pollEvery": "500ms"}}, nil},
		{"file escapes", catalog.Trigger{Type: "file", Settings: map[string]any{"env": "DEV", "path": "../etc/*"}}, []string{"inside"}},
		{"file glob in folder", catalog.Trigger{Type: "file", Settings: map[string]any{"env": "DEV", "path": "*/a.csv"}}, []string{"file name"}},
		{"file bad durations", catalog.Trigger{Type: "file", Settings: map[string]any{"env": "DEV", "path": "a", "stableFor": "soon", "pollEvery": "1ms"}}, []string{"stableFor", "pollEvery"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.trigger.Type == TypeSchedule {
				var s ScheduleSettings
				s, err = ParseSchedule(tt.trigger)
				if err == nil && (s.Env != "DEV" || s.CatchUp) {
					t.Errorf("settings %+v", s)
				}
			} else {
				var f FileSettings
				f, err = ParseFile(tt.trigger)
				if err == nil && (f.Dir() != "inbox" || f.Pattern() != "*.csv" || f.StableFor != time.Second || f.PollEvery != 500*time.Millisecond) {
					t.Errorf("settings %+v", f)
				}
			}
			if len(tt.wantErrs) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tt.wantErrs {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func FuzzParseCron(f *testing.F) {
	for _, s := range []string{"0 2 * * *", "@every 30s", "CRON_TZ=Europe/Zurich 0 0 * * 1-5", "*/5 * * * * *", "@hourly"} {
		f.Add(s)
	}
	from := time.Date(2024, 7, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, expr string) {
		s, err := ParseCron(expr, "")
		if err != nil {
			return
		}
		if n := s.Next(from); !n.IsZero() && !n.After(from) {
			t.Fatalf("Next(%s) = %s, not after", from, n)
		}
	})
}
