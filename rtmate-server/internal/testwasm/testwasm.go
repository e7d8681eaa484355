// Package testwasm builds Go Extism plug-ins for tests with the standard compiler.
//
// Entry point: Build.
package testwasm

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	wasmMu    sync.Mutex
	wasmBuilt = map[string]string{}
)

// Build builds the Go Extism plug-in in dir (a wasip1 main package with its own go.mod)
// with the standard compiler, the command scripts/build-wasm-example.sh runs, and returns
// the .wasm file's path. Each dir is built once per test binary; Go's build cache makes
// later runs fast.
func Build(t testing.TB, dir string) string {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	wasmMu.Lock()
	defer wasmMu.Unlock()
	if p, ok := wasmBuilt[abs]; ok {
		return p
	}
	out, err := os.MkdirTemp("", "rtmate-wasm-")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(out, "plugin.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-o", path, ".") // #nosec G204 -- fixed arguments
	cmd.Dir = abs
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOWORK=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build wasm plug-in %s: %v\n%s", dir, err, b)
	}
	wasmBuilt[abs] = path
	return path
}
