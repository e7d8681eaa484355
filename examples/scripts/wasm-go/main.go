//go:build wasip1

// Command wasm-go is the moderation and rpc examples (../moderation.lua, ../rpc.lua) as one
// Go Extism plug-in. Build it with ../../../scripts/build-wasm-example.sh, or here:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugin.wasm .
package main

import (
	"encoding/json"
	"strings"

	"github.com/rtmate/rtmate/sdk/go-pdk"
)

// main is required by the compiler; a c-shared module runs only its exports.
func main() {}

type publishCtx struct {
	Data json.RawMessage `json:"data"`
}

type rpcCtx struct {
	Method string          `json:"method"`
	Data   json.RawMessage `json:"data"`
}

var banned = map[string]bool{"darn": true, "heck": true}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// mask replaces every whole word of banned (a maximal run of ASCII letters and digits, as
// Lua's %w+) with ****.
func mask(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if !isWordByte(s[i]) {
			b.WriteByte(s[i])
			i++
			continue
		}
		j := i
		for j < len(s) && isWordByte(s[j]) {
			j++
		}
		if banned[strings.ToLower(s[i:j])] {
			b.WriteString("****")
		} else {
			b.WriteString(s[i:j])
		}
		i = j
	}
	return b.String()
}

//go:wasmexport on_publish
func onPublish() int32 {
	var ctx publishCtx
	if err := json.Unmarshal(pdk.Input(), &ctx); err != nil {
		pdk.SetError("bad ctx: " + err.Error())
		return 1
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(ctx.Data, &obj) != nil {
		return 0 // not an object: untouched
	}
	// A Pusher event arrives as the native data it maps to, {"event":…,"data":{…}}
	// (docs/pusher.md): its text is in data.data.
	msg := obj
	_, isEvent := obj["event"]
	var inner map[string]json.RawMessage
	if isEvent && json.Unmarshal(obj["data"], &inner) == nil && inner != nil {
		msg = inner
	} else {
		isEvent = false
	}
	var text string
	if raw, ok := msg["text"]; !ok || json.Unmarshal(raw, &text) != nil {
		return 0
	}
	masked := mask(text)
	if masked == text {
		return 0 // nothing to change: the original bytes go out
	}
	msg["text"], _ = json.Marshal(masked)
	if isEvent {
		obj["data"], _ = json.Marshal(inner)
	}
	out, _ := json.Marshal(map[string]any{"data": obj})
	pdk.Output(out)
	return 0
}

type rpcError struct {
	Code   int    `json:"code"`
	Reason string `json:"reason"`
}

func answer(v any) int32 {
	out, err := json.Marshal(v)
	if err != nil {
		pdk.SetError(err.Error())
		return 1
	}
	pdk.Output(out)
	return 0
}

//go:wasmexport on_rpc
func onRPC() int32 {
	var ctx rpcCtx
	if err := json.Unmarshal(pdk.Input(), &ctx); err != nil {
		pdk.SetError("bad ctx: " + err.Error())
		return 1
	}
	switch ctx.Method {
	case "add":
		var args struct{ A, B *float64 }
		if json.Unmarshal(ctx.Data, &args) != nil || args.A == nil || args.B == nil {
			return answer(map[string]any{"error": rpcError{400, "add needs numbers a and b"}})
		}
		return answer(map[string]any{"data": map[string]float64{"sum": *args.A + *args.B}})
	case "time":
		return answer(map[string]any{"data": map[string]int64{"now_ms": pdk.NowMS()}})
	}
	pdk.Log("info", "unknown method "+ctx.Method)
	return answer(map[string]any{"error": rpcError{400, "unknown method " + ctx.Method}})
}
