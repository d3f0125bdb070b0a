// Package days reads the durations people write in resources, settings and flags: Go's
// ("36h", "90m") with whole days in front ("7d", "1d12h"). time.ParseDuration has no day unit
// because a day is not always 24 hours; here it is, as retention and lifetimes mean it.
package days

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Max is the longest duration read: 100 years.
const Max = 100 * 365 * 24 * time.Hour

// Parse reads "7d", "1d12h", "36h" or "90m" (not negative, at most Max). The error quotes s
// and shows the forms; callers add what the value is for.
func Parse(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	bad := fmt.Errorf("%q is not a duration (e.g. 7d, 1d12h, 36h)", s)
	if t == "" {
		return 0, bad
	}
	var d time.Duration
	if n, rest, ok := strings.Cut(t, "d"); ok {
		days, err := strconv.ParseInt(n, 10, 64)
		if err != nil || days < 0 || days > int64(Max/(24*time.Hour)) {
			return 0, bad
		}
		d, t = time.Duration(days)*24*time.Hour, rest
	}
	if t != "" {
		r, err := time.ParseDuration(t)
		if err != nil || r < 0 || r > Max-d {
			return 0, bad
		}
		d += r
	}
	return d, nil
}
