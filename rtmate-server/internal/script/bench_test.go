package script

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/rtmate/rtmate/rtmate-server/internal/testwasm"
)

// trivialLua has the cheapest hooks: allow, and rpc answers 1.
const trivialLua = `
function on_connect(ctx) return nil end
function on_subscribe(ctx) return nil end
function on_publish(ctx) return nil end
function on_rpc(ctx) return {data=1} end`

// BenchmarkRun is one hook call through Set.Run: instance from the pool, ctx built, call,
// result decoded, metrics counted. Run with
//
//	go test -run '^$' -bench BenchmarkRun -benchmem ./rtmate-server/internal/script/
func BenchmarkRun(b *testing.B) {
	hooks := []string{"connect", "subscribe", "publish", "rpc"}
	src, err := os.ReadFile(testwasm.Build(b, filepath.Join("testdata", "wasm-trivial")))
	if err != nil {
		b.Fatal(err)
	}
	sets := []struct {
		lang string
		set  *Set
	}{
		{"lua", loadOne(b, "t.lua", trivialLua, hooks, nil)},
		{"wasm", loadOne(b, "t.wasm", string(src), hooks, nil)},
	}
	inputs := []Input{
		{Hook: HookConnect, App: "shop", ClientID: "n1-1", UserID: "alice", Claims: []byte(`{"app_id":"shop","sub":"alice","exp":1999999999}`)},
		{Hook: HookSubscribe, App: "shop", ClientID: "n1-1", UserID: "alice", Channel: "chat"},
		{Hook: HookPublish, App: "shop", ClientID: "n1-1", UserID: "alice", Channel: "chat", Data: []byte(`{"text":"hello","n":1}`), Source: "client"},
		{Hook: HookRPC, App: "shop", ClientID: "n1-1", UserID: "alice", Method: "add", Data: []byte(`{"a":1,"b":2}`)},
	}
	for _, s := range sets {
		for _, proto := range inputs {
			b.Run(s.lang+"/"+proto.Hook.String(), func(b *testing.B) {
				b.ReportAllocs()
				cpu := processCPU()
				for b.Loop() {
					in := proto
					if _, err := s.set.Run(context.Background(), &in); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}

// processCPU is the process's user and system CPU time in nanoseconds. On a machine shared
// with other builds, CPU time per operation is the honest cost: wall time per operation also
// counts the time the benchmark waited for a core.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return int64(time.Duration(ru.Utime.Nano() + ru.Stime.Nano()))
}
