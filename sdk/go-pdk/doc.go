// Package pdk is a small Extism plug-in development kit for Go, for RTMate script hooks
// (docs/scripts.md) written in Go and built with the standard compiler:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugin.wasm .
//
// A hook is an exported function named for it (//go:wasmexport on_publish) that returns 0;
// it reads the ctx JSON with Input and writes its result JSON with Output (no output = nil,
// allowed). It speaks the Extism ABI (the extism:host/env imports), so plug-ins built with
// upstream PDKs (github.com/extism/go-pdk, Rust, JS, ...) work unchanged; this one exists
// because the upstream Go PDK cannot be fetched here.
//
// Entry points: Input, Output, SetError, Log, NowMS.
package pdk
