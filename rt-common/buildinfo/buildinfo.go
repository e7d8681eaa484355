package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Set at link time by scripts/release.sh (-ldflags -X); empty in other builds.
var (
	version string
	commit  string
	date    string
)

// Unknown stands for a value neither the linker nor the toolchain recorded.
const Unknown = "unknown"

// Info describes one build. Every field is non-empty (Unknown when not recorded).
type Info struct {
	// Version is the release version ("v1.2.3"), the module version of a go install, or
	// "devel" for a build from a work tree.
	Version string `json:"version"`
	// Commit is the VCS revision, with a "-dirty" suffix when the tree had local changes.
	Commit string `json:"commit"`
	// Date is the build date in RFC 3339, UTC; a release sets it to the commit time so that
	// two builds of one commit are byte-identical.
	Date string `json:"date"`
	// GoVersion is the toolchain that built the binary ("go1.26.8").
	GoVersion string `json:"goVersion"`
	// Platform is GOOS/GOARCH.
	Platform string `json:"platform"`
}

// Get returns the running binary's build information. It is safe for concurrent use.
func Get() Info {
	bi, _ := debug.ReadBuildInfo() // nil when the binary was built without module support
	return resolve(version, commit, date, bi)
}

// resolve prefers the linker-stamped values and falls back to bi.
func resolve(version, commit, date string, bi *debug.BuildInfo) Info {
	info := Info{
		Version:   version,
		Commit:    commit,
		Date:      date,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
	if bi != nil {
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
		if info.Version == "" {
			// A workspace or work-tree build records "(devel)"; go install mod@v1.2.3 records v1.2.3.
			if v := bi.Main.Version; v != "" && v != "(devel)" {
				info.Version = v
			} else {
				info.Version = "devel"
			}
		}
		var rev, vcsTime string
		var modified bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				vcsTime = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if info.Commit == "" && rev != "" {
			info.Commit = rev
			if modified {
				info.Commit += "-dirty"
			}
		}
		if info.Date == "" {
			info.Date = vcsTime
		}
	}
	for _, f := range []*string{&info.Version, &info.Commit, &info.Date} {
		if *f == "" {
			*f = Unknown
		}
	}
	return info
}

// String is the -version line: "NAME VERSION (commit COMMIT, built DATE, GOVERSION PLATFORM)".
func (i Info) String() string { return i.Line("") }

// Line is String with the command's name in front; an empty name is left out.
func (i Info) Line(name string) string {
	var b strings.Builder
	if name != "" {
		b.WriteString(name)
		b.WriteByte(' ')
	}
	fmt.Fprintf(&b, "%s (commit %s, built %s, %s %s)", i.Version, i.Commit, i.Date, i.GoVersion, i.Platform)
	return b.String()
}

// IsVersionFlag reports whether args (without the program name) ask only for the version:
// "-version" or "--version". Commands whose first argument is a subcommand use it before
// dispatching.
func IsVersionFlag(args []string) bool {
	return len(args) == 1 && (args[0] == "-version" || args[0] == "--version")
}
