//go:build wasip1

// Command wasm-trivial has the cheapest hooks that still take their input, for the
// benchmarks: each reads its ctx and allows; rpc answers 1.
package main

import "github.com/rtmate/rtmate/sdk/go-pdk"

func main() {}

//go:wasmexport on_connect
func onConnect() int32 { _ = pdk.Input(); return 0 }

//go:wasmexport on_subscribe
func onSubscribe() int32 { _ = pdk.Input(); return 0 }

//go:wasmexport on_publish
func onPublish() int32 { _ = pdk.Input(); return 0 }

//go:wasmexport on_rpc
func onRPC() int32 {
	_ = pdk.Input()
	pdk.Output([]byte(`{"data":1}`))
	return 0
}
