package script

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rtmate/rtmate/rtmate-server/internal/config"
)

// loadOne writes src to a file named file in a temporary directory and loads it as the only
// script of app "t", taking hooks.
func loadOne(t testing.TB, file, src string, hooks []string, adjust func(*config.Script)) *Set {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, file), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	sc := config.Script{Name: "s", File: file, Hooks: hooks, Timeout: time.Second, Memory: config.DefaultScriptMemory}
	if adjust != nil {
		adjust(&sc)
	}
	set, err := Load("t", []config.Script{sc}, dir, nil, Options{Workers: 2})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	t.Cleanup(func() { set.Close() })
	return set
}

// jsonEqual compares JSON texts by value: Lua tables have no key order. Byte-exact encodings
// (arrays, scalars) are compared exactly as well.
func jsonEqual(got []byte, want string) bool {
	if got == nil || want == "" {
		return got == nil && want == ""
	}
	var a, b any
	if json.Unmarshal(got, &a) != nil || json.Unmarshal([]byte(want), &b) != nil {
		return false
	}
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
