// Package trigger starts runs of Integrations on their own: on a schedule (cron with a time
// zone, or @every) and when a file arrives in a watched folder. One Scheduler among every
// `serve` process sharing a store and a bus fires them: it holds the bus lease
// scheduler.leader, and each firing is also claimed in the store (trigger_ticks,
// trigger_files) so a leader change at the wrong moment cannot fire a tick or a file twice.
package trigger

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // time zones work on machines without a zoneinfo database

	"github.com/robfig/cron/v3"

	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/runs"
)

// The trigger types the Scheduler fires; manual integrations run only on request, webhook
// and event triggers are fired elsewhere.
const (
	TypeSchedule = "schedule"
	TypeFile     = "file"
	TypeManual   = "manual"
)

// Defaults of the file trigger's settings.
const (
	DefaultStableFor = 5 * time.Second
	DefaultPollEvery = 2 * time.Second
)

// ScheduleSettings are the settings of a schedule trigger:
//
//	trigger:
//	  type: schedule
//	  cron: "0 2 * * *"        # 5 or 6 fields (seconds optional), @hourly..., @every 30s
//	  timezone: Europe/Zurich  # default UTC; or CRON_TZ=... in cron
//	  env: DEV                 # required: the environment runs go to
//	  catchUp: true            # default: one run on start-up for ticks missed while down
type ScheduleSettings struct {
	Cron     string
	Timezone string
	Env      string
	CatchUp  bool
	// Schedule computes the fire times.
	Schedule Schedule
}

// FileSettings are the settings of a file trigger:
//
//	trigger:
//	  type: file
//	  env: DEV
//	  path: inbox/*.csv   # relative to the source endpoint's folder; glob in the file name
//	  stableFor: 5s       # size and modification time unchanged this long before firing
//	  pollEvery: 2s
type FileSettings struct {
	Env       string
	Path      string
	StableFor time.Duration
	PollEvery time.Duration
}

// Dir and Pattern split Path into the folder listed and the name pattern matched in it.
func (f FileSettings) Dir() string {
	d := path.Dir(f.Path)
	if d == "" {
		return "."
	}
	return d
}

// Pattern is the file name pattern (path.Match syntax).
func (f FileSettings) Pattern() string { return path.Base(f.Path) }

// settings reads a trigger's settings with strict keys.
type settings struct {
	m    map[string]any
	errs []string
}

func (s *settings) str(key string, required bool) string {
	v, ok := s.m[key]
	if !ok || v == nil {
		if required {
			s.errs = append(s.errs, key+" is required")
		}
		return ""
	}
	str, ok := v.(string)
	if !ok {
		s.errs = append(s.errs, fmt.Sprintf("%s: want a string, got %v", key, v))
		return ""
	}
	return strings.TrimSpace(str)
}

func (s *settings) boolean(key string, def bool) bool {
	v, ok := s.m[key]
	if !ok || v == nil {
		return def
	}
	switch b := v.(type) {
	case bool:
		return b
	case string:
		if p, err := strconv.ParseBool(b); err == nil {
			return p
		}
	}
	s.errs = append(s.errs, fmt.Sprintf("%s: want true or false, got %v", key, v))
	return def
}

func (s *settings) duration(key string, def, minimum time.Duration) time.Duration {
	v, ok := s.m[key]
	if !ok || v == nil {
		return def
	}
	var d time.Duration
	var err error
	switch x := v.(type) {
	case string:
		d, err = time.ParseDuration(x)
	case json.Number: // seconds
		var f float64
		f, err = x.Float64()
		d = time.Duration(f * float64(time.Second))
	case int:
		d = time.Duration(x) * time.Second
	case int64:
		d = time.Duration(x) * time.Second
	case float64:
		d = time.Duration(x * float64(time.Second))
	default:
		err = errors.New("want a duration such as 5s")
	}
	if err == nil && d < minimum {
		err = fmt.Errorf("at least %s", minimum)
	}
	if err != nil {
		s.errs = append(s.errs, fmt.Sprintf("%s: %v", key, err))
		return def
	}
	return d
}

// done reports unknown keys and collected problems.
func (s *settings) done(typ string, known ...string) error {
	var unknown []string
	for k := range s.m {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		s.errs = append(s.errs, fmt.Sprintf("unknown setting %q (a %s trigger takes %s)", k, typ, strings.Join(known, ", ")))
	}
	if len(s.errs) == 0 {
		return nil
	}
	return fmt.Errorf("%s trigger: %s", typ, strings.Join(s.errs, "; "))
}

func (s *settings) env() string {
	e := s.str("env", true)
	if e == "" {
		return ""
	}
	n, err := runs.NormalizeEnv(e)
	if err != nil {
		s.errs = append(s.errs, "env: "+strings.TrimPrefix(err.Error(), runs.ErrInvalid.Error()+": "))
	}
	return n
}

// ParseSchedule reads a schedule trigger.
func ParseSchedule(t catalog.Trigger) (ScheduleSettings, error) {
	s := &settings{m: t.Settings}
	out := ScheduleSettings{Cron: s.str("cron", true), Timezone: s.str("timezone", false), Env: s.env(), CatchUp: s.boolean("catchUp", true)}
	if out.Cron != "" {
		sch, err := ParseCron(out.Cron, out.Timezone)
		if err != nil {
			s.errs = append(s.errs, err.Error())
		}
		out.Schedule = sch
	}
	return out, s.done(TypeSchedule, "cron", "timezone", "env", "catchUp")
}

// ParseFile reads a file trigger.
func ParseFile(t catalog.Trigger) (FileSettings, error) {
	s := &settings{m: t.Settings}
	out := FileSettings{Env: s.env(), Path: s.str("path", true),
		StableFor: s.duration("stableFor", DefaultStableFor, 0), PollEvery: s.duration("pollEvery", DefaultPollEvery, 100*time.Millisecond)}
	if out.Path != "" {
		p := path.Clean(strings.ReplaceAll(out.Path, `\`, "/"))
		switch {
		case path.IsAbs(p) || p == ".." || strings.HasPrefix(p, "../"):
			s.errs = append(s.errs, fmt.Sprintf("path %q: must stay inside the source endpoint's folder", out.Path))
		case strings.ContainsAny(path.Dir(p), `*?[`):
			s.errs = append(s.errs, fmt.Sprintf("path %q: a glob may only be in the file name", out.Path))
		default:
			if _, err := path.Match(path.Base(p), ""); err != nil {
				s.errs = append(s.errs, fmt.Sprintf("path %q: %v", out.Path, err))
			}
		}
		out.Path = p
	}
	return out, s.done(TypeFile, "env", "path", "stableFor", "pollEvery")
}

// cronParser takes 5 fields, or 6 with seconds first, and descriptors (@hourly, @every 30s).
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Schedule computes a trigger's fire times. Every fire time is the same in every process
// (an @every interval is aligned to the Unix epoch, not to when a process started), so that
// two schedulers name a tick alike and the tick table can refuse the second.
type Schedule struct {
	cron  cron.Schedule
	every time.Duration
}

// ParseCron reads a cron expression in time zone tz ("" for UTC, or CRON_TZ=... in expr).
func ParseCron(expr, tz string) (Schedule, error) {
	expr = strings.TrimSpace(expr)
	if tz != "" {
		if strings.HasPrefix(expr, "CRON_TZ=") || strings.HasPrefix(expr, "TZ=") {
			return Schedule{}, fmt.Errorf("cron %q: give the time zone either as CRON_TZ= or as timezone, not both", expr)
		}
		if _, err := time.LoadLocation(tz); err != nil {
			return Schedule{}, fmt.Errorf("timezone %q: unknown time zone", tz)
		}
		expr = "CRON_TZ=" + tz + " " + expr
	}
	s, err := cronParser.Parse(expr)
	if err != nil {
		return Schedule{}, fmt.Errorf("cron %q: %w", expr, err)
	}
	if c, ok := s.(cron.ConstantDelaySchedule); ok {
		return Schedule{every: c.Delay}, nil
	}
	return Schedule{cron: s}, nil
}

// Next is the first fire time strictly after t, in UTC; zero when there is none (a date that
// never comes, such as 30 February).
func (s Schedule) Next(t time.Time) time.Time {
	switch {
	case s.every > 0:
		return t.UTC().Truncate(s.every).Add(s.every)
	case s.cron != nil:
		n := s.cron.Next(t)
		if n.IsZero() {
			return n
		}
		return n.UTC()
	}
	return time.Time{}
}

// maxScan bounds the walk over fire times when looking for the last one before a time.
const maxScan = 100_000

// Last is the latest fire time in (after, upTo], or zero when there is none.
func (s Schedule) Last(after, upTo time.Time) time.Time {
	if s.every > 0 {
		l := upTo.UTC().Truncate(s.every)
		if !l.After(after) {
			return time.Time{}
		}
		return l
	}
	var last time.Time
	t := after
	for range maxScan {
		n := s.Next(t)
		if n.IsZero() || n.After(upTo) {
			return last
		}
		last, t = n, n
	}
	// A very frequent cron missed for very long: jump near the end and look again.
	return s.Last(upTo.Add(-24*time.Hour), upTo)
}
