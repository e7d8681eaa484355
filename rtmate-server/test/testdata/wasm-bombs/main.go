//go:build wasip1

// Command wasm-bombs is a plug-in that misbehaves on purpose, for the failure tests: its
// publish hook runs the bomb named by the channel, its rpc hook the one named by the method.
package main

import (
	"encoding/json"
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

//go:wasmexport on_publish
func onPublish() int32 {
	var ctx struct{ Channel string }
	_ = json.Unmarshal(pdk.Input(), &ctx)
	return bomb(ctx.Channel)
}

//go:wasmexport on_rpc
func onRPC() int32 {
	var ctx struct{ Method string }
	_ = json.Unmarshal(pdk.Input(), &ctx)
	return bomb(ctx.Method)
}
