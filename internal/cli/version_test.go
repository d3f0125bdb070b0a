package cli

import (
	"context"
	"encoding/json"
	"runtime/debug"
	"strings"
	"testing"
)

// TestVersionFromBuildInfo: the module version, the short commit with its "-dirty" mark and
// the commit time come from the build information; stamps given with -X win; a datahub built
// by another module (the service package) reports the datahub module it requires.
func TestVersionFromBuildInfo(t *testing.T) {
	vcs := []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "cb6076f1a2b3c4d5e6f708192a3b4c5d6e7f8091"},
		{Key: "vcs.time", Value: "2026-12-04T18:30:00Z"}, {Key: "vcs.modified", Value: "true"}}
	for _, tc := range []struct {
		name  string
		stamp versionInfo
		bi    debug.BuildInfo
		want  versionInfo
	}{
		{"clone", versionInfo{}, debug.BuildInfo{Main: debug.Module{Path: modulePath, Version: "v0.0.0-20261204183000-cb6076f1a2b3+dirty"}, Settings: vcs},
			versionInfo{Version: "v0.0.0-20261204183000-cb6076f1a2b3+dirty", Commit: "cb6076f1a2b3", Dirty: true, Date: "2026-12-04T18:30:00Z"}},
		{"go install @latest", versionInfo{}, debug.BuildInfo{Main: debug.Module{Path: modulePath, Version: "v0.3.0"}},
			versionInfo{Version: "v0.3.0"}},
		{"no VCS", versionInfo{}, debug.BuildInfo{Main: debug.Module{Path: modulePath, Version: "(devel)"}},
			versionInfo{}},
		{"outside module", versionInfo{}, debug.BuildInfo{Main: debug.Module{Path: "example.com/mydatahub", Version: "v9.9.9"},
			Deps: []*debug.Module{{Path: modulePath, Version: "v0.3.1"}}}, versionInfo{Version: "v0.3.1"}},
		{"release stamp", versionInfo{Version: "v0.4.0", Commit: "0123abc-dirty", Date: "2026-12-05T00:00:00Z"},
			debug.BuildInfo{Main: debug.Module{Path: modulePath, Version: "(devel)"}, Settings: vcs},
			versionInfo{Version: "v0.4.0", Commit: "0123abc-dirty", Date: "2026-12-05T00:00:00Z"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.stamp
			fromBuildInfo(&got, &tc.bi)
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestVersionCommand: `version`, `--version`, `version -o json` and `version --json` print
// the same facts.
func TestVersionCommand(t *testing.T) {
	defer func(v, c, d string) { Version, Commit, Date = v, c, d }(Version, Commit, Date)
	Version, Commit, Date = "v1.2.3", "abc1234-dirty", "2026-12-04T19:00:00Z"
	code, text, errb := run(t, "version")
	if code != 0 || !strings.HasPrefix(text, "datahub v1.2.3\n") || !strings.Contains(text, "commit    abc1234-dirty\n") ||
		!strings.Contains(text, "date      2026-12-04T19:00:00Z\n") {
		t.Fatalf("version: exit %d %q %s", code, text, errb)
	}
	if code, flag, _ := run(t, "--version"); code != 0 || flag != text {
		t.Errorf("--version: exit %d %q, want %q", code, flag, text)
	}
	for _, args := range [][]string{{"version", "-o", "json"}, {"version", "--json"}} {
		code, out, errb := runIn(context.Background(), t, "", args...)
		var v versionInfo
		if err := json.Unmarshal([]byte(out), &v); code != 0 || err != nil {
			t.Fatalf("%v: exit %d %q %s %v", args, code, out, errb, err)
		}
		if v.Version != "v1.2.3" || v.Commit != "abc1234" || !v.Dirty || v.Date != "2026-12-04T19:00:00Z" || v.Go == "" || v.Platform == "" {
			t.Errorf("%v: %+v", args, v)
		}
	}
	if code, _, errb := run(t, "version", "-o", "xml"); code != ExitUsage {
		t.Errorf("-o xml: exit %d %s, want a usage error", code, errb)
	}
}
