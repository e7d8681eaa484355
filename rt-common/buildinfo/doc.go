// Package buildinfo says which build of an RTMate binary is running: its version, commit,
// build date and Go version. Entry points: Get (the resolved Info) and Info.String (the line
// every command prints for -version).
//
// scripts/release.sh stamps the values with the linker:
//
//	go build -ldflags "-X github.com/rtmate/rtmate/rt-common/buildinfo.version=v1.2.3
//	    -X github.com/rtmate/rtmate/rt-common/buildinfo.commit=<sha>
//	    -X github.com/rtmate/rtmate/rt-common/buildinfo.date=2026-12-01T10:00:00Z"
//
// Without stamping (go build, go install, go run) Get falls back to what the toolchain
// recorded in the binary (runtime/debug.ReadBuildInfo: the module version and the vcs.revision
// and vcs.time settings), and to "unknown" for what it did not record, e.g. with
// -buildvcs=false.
package buildinfo
