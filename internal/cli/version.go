package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// modulePath is the module whose version datahub reports, also when it is a dependency of
// another module's binary (built with the service package).
const modulePath = "github.com/datahub-oss/datahub"

// Build stamps, set by release builds (scripts/release.sh) with
//
//	-ldflags "-X github.com/datahub-oss/datahub/internal/cli.Version=v0.9.0 -X ...cli.Commit=... -X ...cli.Date=..."
//
// Each one left empty is taken from the build information the Go toolchain records
// (runtime/debug.ReadBuildInfo): the module's version (a tag for `go install ...@latest`, a
// pseudo-version from a clone), the VCS commit and its time. The date is the commit's unless
// a release stamps the build's own: a plain `go build` records no clock, which keeps builds
// reproducible.
var (
	Version string
	Commit  string
	Date    string
)

// versionInfo is what `datahub version` prints; its JSON form is a stable interface.
type versionInfo struct {
	Version  string `json:"version"`
	Commit   string `json:"commit,omitempty"`
	Dirty    bool   `json:"dirty,omitempty"`
	Date     string `json:"date,omitempty"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

// currentVersion reads the build stamps and the build information.
func currentVersion() versionInfo {
	v := versionInfo{Version: Version, Commit: Commit, Date: Date, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		fromBuildInfo(&v, bi)
	}
	if v.Version == "" {
		v.Version = "dev"
	}
	// A stamped commit says "-dirty" itself (git describe --dirty); keep one form.
	if c, ok := strings.CutSuffix(v.Commit, "-dirty"); ok {
		v.Commit, v.Dirty = c, true
	}
	return v
}

// fromBuildInfo fills what the stamps left empty.
func fromBuildInfo(v *versionInfo, bi *debug.BuildInfo) {
	if bi.GoVersion != "" {
		v.Go = bi.GoVersion
	}
	if v.Version == "" {
		mod := &bi.Main
		if mod.Path != modulePath {
			for _, d := range bi.Deps {
				if d.Path == modulePath {
					mod = d
					break
				}
			}
		}
		if mod.Path == modulePath && mod.Version != "" && mod.Version != "(devel)" {
			v.Version = mod.Version
		}
	}
	if v.Commit != "" {
		return // a release stamp: the build information may describe another checkout
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
			if len(v.Commit) > 12 {
				v.Commit = v.Commit[:12]
			}
		case "vcs.modified":
			v.Dirty = s.Value == "true"
		case "vcs.time":
			if v.Date == "" {
				v.Date = s.Value
			}
		}
	}
}

// text is the human form: the version on the first line, then what it was built from.
func (v versionInfo) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "datahub %s\n", v.Version)
	if v.Commit != "" {
		c := v.Commit
		if v.Dirty {
			c += "-dirty"
		}
		fmt.Fprintf(&b, "  commit    %s\n", c)
	}
	if v.Date != "" {
		fmt.Fprintf(&b, "  date      %s\n", v.Date)
	}
	fmt.Fprintf(&b, "  go        %s\n", v.Go)
	fmt.Fprintf(&b, "  platform  %s\n", v.Platform)
	return b.String()
}

func newVersionCmd(g *globals) *cobra.Command {
	var o output
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, the commit and the date it was built from",
		Long: `Print datahub's version, the commit it was built from ("-dirty" when the checkout had
changes), the date (of the build for release binaries, else of the commit), and the Go
version and platform. --version prints the same.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			format, err := o.get()
			if err != nil {
				return err
			}
			v := currentVersion()
			if format == outTable {
				_, err = fmt.Fprint(g.stdout, v.text())
				return err
			}
			return writeAny(g.stdout, format, v)
		},
	}
	addOutputFlags(cmd.Flags(), &o)
	return cmd
}
