package script

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rtmate/rtmate/rt-common/protocol"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/testwasm"
)

// loadWasm loads the plug-in at path as the only script, taking hooks.
func loadWasm(t testing.TB, path string, hooks []string, adjust func(*config.Script)) *Set {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return loadOne(t, "p.wasm", string(src), hooks, adjust)
}

func TestWasmExample(t *testing.T) {
	if raceEnabled {
		// -race runs plug-ins in wazero's interpreter, instrumented: the example's
		// encoding/json then needs more than a script's longest timeout (1s).
		// scripts/test.sh runs this test without -race.
		t.Skip("the Wasm example runs without -race")
	}
	path := testwasm.Build(t, filepath.Join("..", "..", "..", "examples", "scripts", "wasm-go"))
	set := loadWasm(t, path, []string{"publish", "rpc"}, nil)
	tests := []struct {
		name   string
		in     Input
		code   protocol.WsBizCode
		reason string
		data   string
	}{
		{name: "moderation", in: Input{Hook: HookPublish, Channel: "c", Data: []byte(`{"text":"Darn it, HECK no; darned","n":1}`)}, data: `{"n":1,"text":"**** it, **** no; darned"}`},
		{name: "untouched", in: Input{Hook: HookPublish, Channel: "c", Data: []byte(`{ "text": "fine" }`)}},
		{name: "add", in: Input{Hook: HookRPC, Method: "add", Data: []byte(`{"a":1,"b":2}`)}, data: `{"sum":3}`},
		{name: "unknown", in: Input{Hook: HookRPC, Method: "x", Data: []byte(`null`)}, code: protocol.InvalidParams, reason: "unknown method x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			out, err := set.Run(context.Background(), &in)
			if protocol.CodeOf(err) != tt.code {
				t.Fatalf("code %v, want %v: %v", protocol.CodeOf(err), tt.code, err)
			}
			if r, _ := ReasonOf(err); r != tt.reason {
				t.Fatalf("reason %q, want %q", r, tt.reason)
			}
			if !jsonEqual(out.Data, tt.data) {
				t.Fatalf("data %s, want %s", out.Data, tt.data)
			}
		})
	}
}

func TestWasmFailures(t *testing.T) {
	path := testwasm.Build(t, filepath.Join("..", "..", "test", "testdata", "wasm-bombs"))
	set := loadWasm(t, path, []string{"rpc"}, func(s *config.Script) { s.Timeout = 50 * time.Millisecond })
	for _, name := range []string{"infinite-loop", "deep-recursion", "memory-bomb", "string-bomb", "table-bomb", "trap", "bad-output", "error"} {
		t.Run(name, func(t *testing.T) {
			in := Input{Hook: HookRPC, Method: name, Data: []byte(`null`)}
			start := time.Now()
			_, err := set.Run(context.Background(), &in)
			took := time.Since(start)
			var f *Failure
			if protocol.CodeOf(err) != protocol.Internal || !errors.As(err, &f) {
				t.Fatalf("got %v, want a 500 failure", err)
			}
			// The next instance's start is in the time too: seconds for the interpreter
			// that -race builds use.
			if bound := map[bool]time.Duration{false: 3 * time.Second, true: time.Minute}[raceEnabled]; took > bound {
				t.Fatalf("failed after %v", took)
			}
			t.Logf("%s: %v after %v", name, strings.SplitN(err.Error(), "\n", 2)[0], took)
		})
	}
	// The plug-in still answers: failed instances were replaced.
	if _, err := set.Run(context.Background(), &Input{Hook: HookRPC, Method: "fine", Data: []byte(`null`)}); err != nil {
		t.Fatal(err)
	}
}
