//go:build wasip1

package pdk

import "unsafe"

// The Extism kernel (extism:host/env): memory blocks addressed by 64-bit offsets.

//go:wasmimport extism:host/env input_length
func extismInputLength() uint64

//go:wasmimport extism:host/env input_load_u8
func extismInputLoadU8(offset uint64) uint32

//go:wasmimport extism:host/env input_load_u64
func extismInputLoadU64(offset uint64) uint64

//go:wasmimport extism:host/env alloc
func extismAlloc(n uint64) uint64

//go:wasmimport extism:host/env free
func extismFree(offset uint64)

//go:wasmimport extism:host/env store_u8
func extismStoreU8(offset uint64, v uint32)

//go:wasmimport extism:host/env store_u64
func extismStoreU64(offset uint64, v uint64)

//go:wasmimport extism:host/env output_set
func extismOutputSet(offset, n uint64)

//go:wasmimport extism:host/env error_set
func extismErrorSet(offset uint64)

// RTMate's host functions (extism:host/user).

//go:wasmimport extism:host/user log
func rtmateLog(level, msg uint64)

//go:wasmimport extism:host/user now_ms
func rtmateNowMS() uint64

// Input returns the hook's ctx, the JSON text of docs/scripts.md.
func Input() []byte {
	n := extismInputLength()
	buf := make([]byte, n)
	i := uint64(0)
	for ; i+8 <= n; i += 8 {
		v := extismInputLoadU64(i)
		*(*uint64)(unsafe.Pointer(&buf[i])) = v // wasm is little-endian, as the kernel
	}
	for ; i < n; i++ {
		buf[i] = byte(extismInputLoadU8(i))
	}
	return buf
}

// store copies b into a new kernel block and returns its offset.
func store(b []byte) uint64 {
	off := extismAlloc(uint64(len(b)))
	i := 0
	for ; i+8 <= len(b); i += 8 {
		extismStoreU64(off+uint64(i), *(*uint64)(unsafe.Pointer(&b[i])))
	}
	for ; i < len(b); i++ {
		extismStoreU8(off+uint64(i), uint32(b[i]))
	}
	return off
}

// Output sets the hook's result: the JSON text of one object, or nothing (nil, allowed).
func Output(b []byte) {
	if len(b) == 0 {
		return
	}
	extismOutputSet(store(b), uint64(len(b)))
}

// SetError fails the call with msg (the host logs it; the client gets 500 internal error, or
// the request goes on with fail_open). Return non-zero from the hook after it.
func SetError(msg string) {
	extismErrorSet(store([]byte(msg)))
}

// Log writes a line to the server's log with the request's traceId; level is debug, info,
// warn or error.
func Log(level, msg string) {
	l, m := store([]byte(level)), store([]byte(msg))
	rtmateLog(l, m)
	extismFree(l)
	extismFree(m)
}

// NowMS is the server's clock in Unix milliseconds (WASI's clock is a fake one in RTMate).
func NowMS() int64 { return int64(rtmateNowMS()) }
