package server

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/testwasm"
)

// BenchmarkDispatchPublishScript is one messageSend through the whole read path (as
// BenchmarkDispatch) with no script, a trivial Lua publish hook, the moderation example, and a
// trivial Wasm hook: the difference is what a hook costs the server per publication.
//
//	go test -run '^$' -bench DispatchPublishScript -benchmem -cpu 1 ./rtmate-server/internal/server/
func BenchmarkDispatchPublishScript(b *testing.B) {
	dir := b.TempDir()
	write := func(name, src string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	write("trivial.lua", `function on_publish(ctx) return nil end`)
	mod, err := os.ReadFile(filepath.Join("..", "..", "..", "examples", "scripts", "moderation.lua"))
	if err != nil {
		b.Fatal(err)
	}
	write("moderation.lua", string(mod))
	wasm, err := os.ReadFile(testwasm.Build(b, filepath.Join("..", "script", "testdata", "wasm-trivial")))
	if err != nil {
		b.Fatal(err)
	}
	write("trivial.wasm", string(wasm))
	cases := []struct{ name, file string }{{"none", ""}, {"lua-trivial", "trivial.lua"}, {"lua-moderation", "moderation.lua"}, {"wasm-trivial", "trivial.wasm"}}
	req := clientFrame(`{"event":"messageSend","payload":{"channel":"bench","data":{"text":"hello darn world","n":1}},"id":3}`)
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			s := benchServerWith(b, 0, func(cfg *config.Config) {
				if tc.file != "" {
					cfg.Dir = dir
					cfg.Apps[0].Scripts = []config.Script{{Name: "s", File: tc.file, Hooks: []string{"publish"}, Timeout: time.Second}}
				}
			})
			c, peer := benchConn(b, s, true)
			w := newWorker()
			rd := newFrameReader(peer)
			step := func() {
				if _, err := unix.Write(peer, req); err != nil {
					b.Fatal(err)
				}
				c.readSlot(w)
				rd.waitFrames(b, 1)
			}
			for i := 0; i < 100; i++ {
				step()
			}
			b.ReportAllocs()
			cpu := processCPU()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				step()
			}
			b.StopTimer()
			b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
			if c.failed || c.closingRd {
				b.Fatal("the connection failed during the benchmark")
			}
		})
	}
}

// processCPU is the process's user and system CPU time in nanoseconds: on a machine shared
// with other builds, the cost the server pays per operation.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
