#!/usr/bin/env bash
# build-wasm-example.sh builds examples/scripts/wasm-go/plugin.wasm, the Go Extism plug-in of
# the script examples, with the standard compiler (no TinyGo, no upstream PDK needed).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../examples/scripts/wasm-go"
GOOS=wasip1 GOARCH=wasm GOWORK=off go build -buildmode=c-shared -trimpath -o plugin.wasm .
echo "built $(pwd)/plugin.wasm"
