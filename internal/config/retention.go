package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/datahub-oss/datahub/internal/days"
)

// Age is how long something is kept: a Go duration ("36h") that may start with whole days
// ("7d", "1d12h"). Zero ("0" or "off") keeps it forever.
type Age time.Duration

// Duration is the age as a time.Duration (0: kept forever).
func (a Age) Duration() time.Duration { return time.Duration(a) }

// String renders whole days as "7d", zero as "off", else as a Go duration.
func (a Age) String() string {
	d := time.Duration(a)
	switch {
	case d == 0:
		return "off"
	case d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

// UnmarshalText reads an age from an environment variable or flag.
func (a *Age) UnmarshalText(b []byte) error {
	v, err := ParseAge(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// UnmarshalYAML reads an age from the configuration file, where a bare 0 is a number.
func (a *Age) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a duration such as 7d, 36h or off", n.Line)
	}
	if err := a.UnmarshalText([]byte(n.Value)); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}

// MarshalText writes the age as String does, so that it reads back.
func (a Age) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// ParseAge reads "7d", "1d12h", "36h", "0" or "off".
func ParseAge(s string) (Age, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "0" || t == "off" {
		return 0, nil
	}
	d, err := days.Parse(t)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (e.g. 7d, 36h, or off)", s)
	}
	return Age(d), nil
}

// Retention says how long the hub keeps its own bookkeeping before the janitor (scheduler
// role, hourly) deletes it. Runs (the transaction log) and the audit log are governance
// records and are never deleted.
type Retention struct {
	// HookBodies: bodies of webhook and event-trigger runs under <data>/hooks/.
	HookBodies Age `yaml:"hook_bodies" env:"DATAHUB_RETENTION_HOOK_BODIES"`
	// TriggerHistory: recorded schedule ticks and superseded file versions of file triggers.
	TriggerHistory Age `yaml:"trigger_history" env:"DATAHUB_RETENTION_TRIGGER_HISTORY"`
	// Notifications: the notification log and idle throttle windows.
	Notifications Age `yaml:"notifications" env:"DATAHUB_RETENTION_NOTIFICATIONS"`
	// Rejects: the rejects folders of runs under <data>/rejects/.
	Rejects Age `yaml:"rejects" env:"DATAHUB_RETENTION_REJECTS"`
}

// DefaultRetention is the retention with no settings.
func DefaultRetention() Retention {
	const day = Age(24 * time.Hour)
	return Retention{HookBodies: 7 * day, TriggerHistory: 30 * day, Notifications: 90 * day, Rejects: 30 * day}
}

// minAge is the shortest retention taken: shorter would race with the runs still using what
// it deletes.
const minAge = Age(time.Hour)

func (r Retention) validate() error {
	for _, f := range []struct {
		key string
		v   Age
	}{{"hook_bodies", r.HookBodies}, {"trigger_history", r.TriggerHistory}, {"notifications", r.Notifications}, {"rejects", r.Rejects}} {
		if f.v != 0 && f.v < minAge {
			return fmt.Errorf("retention.%s: %s is shorter than %s (use off to keep forever)", f.key, f.v, minAge)
		}
	}
	return nil
}
