//go:build wasip1

// Command wasm-bombs is a plug-in that misbehaves on purpose, for the failure tests: its
// publish hook runs the bomb named by the channel, its rpc hook the one named by the method.
package main

import (
	"strings"

	"github.com/rtmate/rtmate/sdk/go-pdk"
)

func main() {}

var sink any

func recurse(n int) int { return recurse(n+1) + 1 }

func bomb(name string) int32 {
	switch name {
	case "infinite-loop":
		for i := 0; ; i++ {
			sink = i
		}
	case "deep-recursion":
		return int32(recurse(0))
	case "memory-bomb":
		var keep [][]byte
		for {
			keep = append(keep, make([]byte, 1<<20))
			sink = keep
		}
	case "string-bomb":
		s := "xy"
		for {
			s += s
			sink = s
		}
	case "table-bomb":
		m := map[int]string{}
		for i := 0; ; i++ {
			m[i] = strings.Repeat("t", 64)
			sink = m
		}
	case "trap":
		var p *[4]int
		return int32(p[1])
	case "bad-output":
		pdk.Output([]byte(`[1,2]`))
		return 0
	case "error":
		pdk.SetError("failed on purpose")
		return 1
	}
	return 0
}

// field finds a string field of the ctx without encoding/json: the quiet calls of the
// failure tests must stay cheap even in the interpreter that -race builds use.
func field(ctx, key string) string {
	i := strings.Index(ctx, `"`+key+`":"`)
	if i < 0 {
		return ""
	}
	rest := ctx[i+len(key)+4:]
	if j := strings.IndexByte(rest, '"'); j >= 0 {
		return rest[:j]
	}
	return ""
}

//go:wasmexport on_publish
func onPublish() int32 { return bomb(field(string(pdk.Input()), "channel")) }

//go:wasmexport on_rpc
func onRPC() int32 { return bomb(field(string(pdk.Input()), "method")) }
