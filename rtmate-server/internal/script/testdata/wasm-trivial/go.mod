module github.com/rtmate/rtmate/rtmate-server/internal/script/testdata/wasm-trivial

go 1.26.0

require github.com/rtmate/rtmate/sdk/go-pdk v0.0.0

replace github.com/rtmate/rtmate/sdk/go-pdk => ../../../../../sdk/go-pdk
