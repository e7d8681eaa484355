package buildinfo

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i+1 < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	tests := []struct {
		name                  string
		version, commit, date string
		bi                    *debug.BuildInfo
		want                  Info
	}{
		{
			name:    "stamped by the linker wins over build info",
			version: "v1.2.3", commit: "abc123", date: "2026-12-01T10:00:00Z",
			bi: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
				Settings: vcs("vcs.revision", "fff", "vcs.time", "2020-01-01T00:00:00Z")},
			want: Info{Version: "v1.2.3", Commit: "abc123", Date: "2026-12-01T10:00:00Z", GoVersion: "go1.26.8"},
		},
		{
			name: "work tree build with VCS stamping",
			bi: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
				Settings: vcs("vcs.revision", "5e76b47", "vcs.time", "2026-12-02T10:00:00Z", "vcs.modified", "false")},
			want: Info{Version: "devel", Commit: "5e76b47", Date: "2026-12-02T10:00:00Z", GoVersion: "go1.26.8"},
		},
		{
			name: "modified tree is marked dirty",
			bi: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
				Settings: vcs("vcs.revision", "5e76b47", "vcs.modified", "true")},
			want: Info{Version: "devel", Commit: "5e76b47-dirty", Date: Unknown, GoVersion: "go1.26.8"},
		},
		{
			name: "-buildvcs=false records no vcs settings",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			want: Info{Version: "devel", Commit: Unknown, Date: Unknown, GoVersion: "go1.26.8"},
		},
		{
			name: "go install of a tagged module version",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.0"}},
			want: Info{Version: "v1.4.0", Commit: Unknown, Date: Unknown, GoVersion: "go1.26.8"},
		},
		{
			name: "no build info at all",
			want: Info{Version: Unknown, Commit: Unknown, Date: Unknown, GoVersion: runtime.Version()},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := resolve(tt.version, tt.commit, tt.date, tt.bi)
			tt.want.Platform = runtime.GOOS + "/" + runtime.GOARCH
			if got != tt.want {
				t.Errorf("resolve = %+v\nwant      %+v", got, tt.want)
			}
		})
	}
}

func TestLine(t *testing.T) {
	i := Info{Version: "v1.2.3", Commit: "abc", Date: "2026-12-01T10:00:00Z", GoVersion: "go1.26.8", Platform: "linux/amd64"}
	want := "rtmate-server v1.2.3 (commit abc, built 2026-12-01T10:00:00Z, go1.26.8 linux/amd64)"
	if got := i.Line("rtmate-server"); got != want {
		t.Errorf("Line = %q, want %q", got, want)
	}
	if got := i.String(); got != strings.TrimPrefix(want, "rtmate-server ") {
		t.Errorf("String = %q", got)
	}
}

func TestIsVersionFlag(t *testing.T) {
	tests := []struct {
		args []string
		want bool
	}{
		{[]string{"-version"}, true},
		{[]string{"--version"}, true},
		{[]string{"version"}, false},
		{[]string{"-version", "x"}, false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := IsVersionFlag(tt.args); got != tt.want {
			t.Errorf("IsVersionFlag(%q) = %v, want %v", tt.args, got, tt.want)
		}
	}
}

// TestLinkerStamp builds a program with -ldflags -X, as scripts/release.sh does, and checks
// that the stamped values are what Get reports.
func TestLinkerStamp(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	dir := t.TempDir()
	main := filepath.Join(dir, "main.go")
	src := "package main\n\nimport (\n\t\"fmt\"\n\n\t\"github.com/rtmate/rtmate/rt-common/buildinfo\"\n)\n\nfunc main() { fmt.Println(buildinfo.Get().Line(\"x\")) }\n"
	if err := os.WriteFile(main, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "x")
	const pkg = "github.com/rtmate/rtmate/rt-common/buildinfo"
	ldflags := "-X " + pkg + ".version=v9.8.7 -X " + pkg + ".commit=deadbeef -X " + pkg + ".date=2026-01-02T03:04:05Z"
	build := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags, "-o", bin, main) // #nosec G204 -- fixed arguments
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).Output() // #nosec G204 -- the binary built above
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	want := "x v9.8.7 (commit deadbeef, built 2026-01-02T03:04:05Z, " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + ")\n"
	if string(out) != want {
		t.Errorf("output %q, want %q", out, want)
	}
}
