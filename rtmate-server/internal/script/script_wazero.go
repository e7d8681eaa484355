package script

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

// Wasm hooks are Extism plug-ins run on wazero with RTMate's own implementation of the
// Extism kernel ABI (the extism:host/env imports: memory blocks, input, output, errors,
// logs), so plug-ins built with any Extism PDK run unchanged.
//
// Why not github.com/extism/go-sdk itself: measured on this machine (BenchmarkRun, CPU time
// per call), a trivial publish hook cost 212 µs and 160 KB in 88 allocations per call
// through go-sdk v1.7.1, against a budget of 20 µs. go-sdk runs its kernel as a second Wasm
// module and looks every exported function up by name on each call (input_length,
// input_load_u64 × n/8, output_set, ...), and wazero builds a new call engine with its own
// stack for each lookup. Here the kernel is Go code, the hook functions are looked up once
// per instance, and a call allocates next to nothing (docs/performance.md).

// wasmPageSize is WebAssembly's memory page.
const wasmPageSize = 64 << 10

// wasmLoadTimeout bounds a plug-in's initialisation (its _initialize: Go's runtime start,
// ~10 ms compiled); the interpreter under -race needs seconds.
var wasmLoadTimeout = map[bool]time.Duration{false: 2 * time.Second, true: time.Minute}[raceEnabled]

// wasmCache shares compiled machine code between the plug-ins of the process: the same file
// taken by several scripts or apps, or unchanged across a reload, is compiled once. It
// grows by each distinct module loaded, which only reloads with changed plug-ins add to.
var wasmCache = wazero.NewCompilationCache()

// newWasmRuntimeConfig is wazero's compiler (machine code), except in binaries built with
// -race: there the compiler itself is instrumented and needs minutes for a Go plug-in of a few
// MB on a busy machine, so race-enabled tests run the interpreter. The semantics are the same;
// the tests without -race run the compiler.
func newWasmRuntimeConfig() wazero.RuntimeConfig {
	if raceEnabled {
		return wazero.NewRuntimeConfigInterpreter()
	}
	return wazero.NewRuntimeConfig()
}

// wasmProgram is a compiled plug-in: compiled once per (re)load, with its own runtime and
// host modules; every instance (one per worker) has its own linear memory and kernel
// state. Safe for concurrent use. The runtime is closed once the program is closed and its
// last instance is gone, so that a reload never kills a call in flight.
type wasmProgram struct {
	path     string
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	hooks    [NumHooks]bool
	memory   int64
	maxData  int

	mu      sync.Mutex
	live    int
	closing bool
}

var (
	_ program  = (*wasmProgram)(nil)
	_ instance = (*wasmInstance)(nil)
)

// compileWasm compiles a plug-in. It gets WASI without a file system, environment,
// arguments or network, with a fake clock and deterministic random numbers (wazero's
// defaults); its memory is capped at memory bytes.
func compileWasm(path string, src []byte, memory int64, maxData int) (*wasmProgram, error) {
	ctx := context.Background()
	pages := uint32((memory + wasmPageSize - 1) / wasmPageSize) // #nosec G115 -- config caps memory at 1 GiB
	rt := wazero.NewRuntimeWithConfig(ctx, newWasmRuntimeConfig().
		WithCloseOnContextDone(true).WithMemoryLimitPages(pages).WithCompilationCache(wasmCache))
	p := &wasmProgram{path: path, rt: rt, memory: memory, maxData: maxData}
	fail := func(err error) (*wasmProgram, error) {
		_ = rt.Close(ctx) // the load error is the one to report
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		return fail(fmt.Errorf("wasi: %w", err))
	}
	if err := instantiateKernel(ctx, rt); err != nil {
		return fail(err)
	}
	compiled, err := rt.CompileModule(ctx, src)
	if err != nil {
		return fail(err)
	}
	p.compiled = compiled
	exports := compiled.ExportedFunctions()
	for h := range NumHooks {
		def, ok := exports[hookFuncs[h]]
		if ok && (len(def.ParamTypes()) != 0 || len(def.ResultTypes()) > 1) {
			return fail(fmt.Errorf("export %s must take nothing and return at most an i32", hookFuncs[h]))
		}
		p.hooks[h] = ok
	}
	inst, err := p.build()
	if err != nil {
		_ = rt.Close(ctx)
		return nil, err
	}
	inst.close()
	return p, nil
}

func (p *wasmProgram) defines(h Hook) bool            { return p.hooks[h] }
func (p *wasmProgram) newInstance() (instance, error) { return p.build() }

func (p *wasmProgram) build() (*wasmInstance, error) {
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return nil, errors.New("the plug-in was unloaded")
	}
	p.live++
	p.mu.Unlock()
	inst := &wasmInstance{p: p}
	inst.dl.init()
	inst.dl.value = inst
	inst.k.limit = p.memory
	// An anonymous module may be instantiated any number of times; the start functions run
	// below, under the load budget and with the kernel in the context.
	inst.dl.arm(wasmLoadTimeout)
	mod, err := p.rt.InstantiateModule(&inst.dl, p.compiled, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err == nil {
		inst.mod = mod
		for _, start := range []string{"_initialize", "__wasm_call_ctors"} {
			if f := mod.ExportedFunction(start); f != nil {
				_, err = f.Call(&inst.dl)
				break
			}
		}
	}
	fired := inst.dl.disarm()
	if err != nil {
		inst.close()
		if fired {
			return nil, fmt.Errorf("%s: initialising the plug-in took over %v", p.path, wasmLoadTimeout)
		}
		return nil, fmt.Errorf("%s: instantiate: %w", p.path, err)
	}
	for h := range NumHooks {
		if p.hooks[h] {
			inst.fns[h] = mod.ExportedFunction(hookFuncs[h])
		}
	}
	return inst, nil
}

func (p *wasmProgram) release() {
	p.mu.Lock()
	p.live--
	done := p.closing && p.live == 0
	p.mu.Unlock()
	if done {
		_ = p.rt.Close(context.Background()) // nothing is left to use it
	}
}

func (p *wasmProgram) close() {
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return
	}
	p.closing = true
	done := p.live == 0
	p.mu.Unlock()
	if done {
		_ = p.rt.Close(context.Background()) // nothing is left to use it
	}
}

// wasmInstance is one plug-in instance. Not safe for concurrent use.
type wasmInstance struct {
	p      *wasmProgram
	mod    api.Module
	fns    [NumHooks]api.Function
	dl     deadline // the call's context: its timeout, and the kernel for the host functions
	k      kernel
	env    *callEnv
	in     []byte
	closed bool
}

func (w *wasmInstance) call(_ context.Context, in *Input, out *Output, env *callEnv) error {
	fn := w.fns[in.Hook]
	if fn == nil {
		return errNoSuchHook
	}
	w.in = appendInput(w.in[:0], in)
	if err := w.k.start(w.in); err != nil {
		return err
	}
	w.env = env
	w.dl.arm(env.s.timeout)
	res, err := fn.Call(&w.dl)
	fired := w.dl.disarm()
	w.env = nil
	var exit *sys.ExitError
	switch {
	case fired:
		return ErrTimeout
	case errors.As(err, &exit):
		return fmt.Errorf("plug-in exited with code %d", exit.ExitCode())
	case err != nil:
		return fmt.Errorf("trap: %w", err)
	case w.k.errOff != 0:
		msg, _ := w.k.block(w.k.errOff)
		return fmt.Errorf("plug-in error: %s", clipLog(string(msg)))
	case len(res) == 1 && uint32(res[0]) != 0:
		return fmt.Errorf("%s returned %d", hookFuncs[in.Hook], uint32(res[0]))
	}
	output, err := w.k.output()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadOutput, err)
	}
	if err := decodeOutput(output, out, w.p.maxData); err != nil {
		return err
	}
	if out.Data != nil {
		out.Data = append([]byte(nil), out.Data...) // the kernel's memory is reused
	}
	return nil
}

func (w *wasmInstance) close() {
	if w.closed {
		return
	}
	w.closed = true
	w.dl.stop()
	if w.mod != nil {
		_ = w.mod.Close(context.Background()) // a dead instance may fail to close; it is gone either way
	}
	w.p.release()
}

// appendInput encodes a hook's ctx as the JSON the contract gives plug-ins.
func appendInput(dst []byte, in *Input) []byte {
	str := func(dst []byte, key, v string) []byte {
		dst = append(dst, `,"`...)
		dst = append(dst, key...)
		dst = append(dst, `":`...)
		return appendJSONString(dst, v)
	}
	raw := func(dst []byte, key string, v []byte) []byte {
		dst = append(dst, `,"`...)
		dst = append(dst, key...)
		dst = append(dst, `":`...)
		return append(dst, v...)
	}
	dst = append(dst, `{"hook":`...)
	dst = appendJSONString(dst, in.Hook.String())
	dst = str(dst, "app", in.App)
	dst = str(dst, "client_id", in.ClientID)
	dst = str(dst, "user_id", in.UserID)
	if in.Hook == HookConnect {
		dst = str(dst, "origin", in.Origin)
	}
	if in.Claims != nil {
		dst = raw(dst, "claims", in.Claims)
	}
	if in.Channel != "" {
		dst = str(dst, "channel", in.Channel)
	}
	if in.Data != nil {
		dst = raw(dst, "data", in.Data)
	}
	if in.Source != "" {
		dst = str(dst, "source", in.Source)
	}
	if in.Method != "" {
		dst = str(dst, "method", in.Method)
	}
	return append(dst, '}')
}

func clipLog(s string) string {
	if len(s) > 4096 {
		return s[:4096]
	}
	return s
}

// kernel is the Extism kernel's state for one instance: memory blocks addressed by offsets
// (0 is never a block), the call's input and output, and its error. Blocks live in one
// arena that each call starts afresh, bounded by the script's memory setting.
type kernel struct {
	mem    []byte
	blocks map[uint64]uint64 // offset → length
	limit  int64
	inOff  uint64
	inLen  uint64
	outOff uint64
	outLen uint64
	errOff uint64
}

var errKernelMemory = errors.New("kernel memory over the script's memory limit")

// start resets the kernel for a call and stores its input.
func (k *kernel) start(input []byte) error {
	if cap(k.mem) > 1<<20 {
		k.mem = nil // a large call must not pin its arena
	}
	k.mem = append(k.mem[:0], 0) // offset 0 is null
	if k.blocks == nil {
		k.blocks = make(map[uint64]uint64, 8)
	}
	clear(k.blocks)
	k.outOff, k.outLen, k.errOff = 0, 0, 0
	off, err := k.alloc(uint64(len(input)))
	if err != nil {
		return err
	}
	copy(k.mem[off:], input)
	k.inOff, k.inLen = off, uint64(len(input))
	return nil
}

func (k *kernel) alloc(n uint64) (uint64, error) {
	if n > uint64(k.limit) || uint64(len(k.mem))+n > uint64(k.limit) { // #nosec G115 -- limit is positive
		return 0, errKernelMemory
	}
	off := uint64(len(k.mem))
	k.mem = append(k.mem, make([]byte, n)...)
	if n == 0 {
		k.mem = append(k.mem, 0) // a distinct offset even for an empty block
	}
	k.blocks[off] = n
	return off, nil
}

// span returns mem[off:off+n] when it lies inside the arena.
func (k *kernel) span(off, n uint64) ([]byte, bool) {
	if off == 0 || off > uint64(len(k.mem)) || n > uint64(len(k.mem))-off {
		return nil, false
	}
	return k.mem[off : off+n], true
}

func (k *kernel) block(off uint64) ([]byte, bool) {
	n, ok := k.blocks[off]
	if !ok {
		return nil, false
	}
	return k.span(off, n)
}

func (k *kernel) output() ([]byte, error) {
	if k.outOff == 0 {
		return nil, nil
	}
	b, ok := k.span(k.outOff, k.outLen)
	if !ok {
		return nil, errors.New("output_set outside kernel memory")
	}
	return b, nil
}

// trap aborts the guest: wazero turns a host function's panic into the call's error.
func trap(format string, args ...any) { panic(fmt.Errorf(format, args...)) }

// kernelOf finds the calling instance: the context is its deadline.
func kernelOf(ctx context.Context) *wasmInstance {
	w, ok := ctx.Value(kernelKey{}).(*wasmInstance)
	if !ok {
		trap("extism kernel called outside a hook")
	}
	return w
}

type kernelKey struct{}

// instantiateKernel defines extism:host/env (the Extism kernel ABI, as go-sdk v1.7.1 exports
// it) and extism:host/user (RTMate's log and now_ms).
func instantiateKernel(ctx context.Context, rt wazero.Runtime) error {
	i64, i32 := api.ValueTypeI64, api.ValueTypeI32
	env := rt.NewHostModuleBuilder("extism:host/env")
	def := func(b wazero.HostModuleBuilder, name string, params, results []api.ValueType, f func(w *wasmInstance, stack []uint64)) {
		b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, _ api.Module, stack []uint64) {
			f(kernelOf(ctx), stack)
		}), params, results).Export(name)
	}
	load := func(w *wasmInstance, off, n uint64) []byte {
		b, ok := w.k.span(off, n)
		if !ok {
			trap("load of %d bytes at %d outside kernel memory", n, off)
		}
		return b
	}
	def(env, "alloc", []api.ValueType{i64}, []api.ValueType{i64}, func(w *wasmInstance, s []uint64) {
		off, err := w.k.alloc(s[0])
		if err != nil {
			trap("alloc %d: %v", s[0], err)
		}
		s[0] = off
	})
	def(env, "free", []api.ValueType{i64}, nil, func(w *wasmInstance, s []uint64) { delete(w.k.blocks, s[0]) })
	def(env, "length", []api.ValueType{i64}, []api.ValueType{i64}, func(w *wasmInstance, s []uint64) { s[0] = w.k.blocks[s[0]] })
	def(env, "length_unsafe", []api.ValueType{i64}, []api.ValueType{i64}, func(w *wasmInstance, s []uint64) { s[0] = w.k.blocks[s[0]] })
	def(env, "load_u8", []api.ValueType{i64}, []api.ValueType{i32}, func(w *wasmInstance, s []uint64) { s[0] = uint64(load(w, s[0], 1)[0]) })
	def(env, "load_u64", []api.ValueType{i64}, []api.ValueType{i64}, func(w *wasmInstance, s []uint64) {
		s[0] = binary.LittleEndian.Uint64(load(w, s[0], 8))
	})
	def(env, "store_u8", []api.ValueType{i64, i32}, nil, func(w *wasmInstance, s []uint64) { load(w, s[0], 1)[0] = byte(s[1]) })
	def(env, "store_u64", []api.ValueType{i64, i64}, nil, func(w *wasmInstance, s []uint64) {
		binary.LittleEndian.PutUint64(load(w, s[0], 8), s[1])
	})
	inputAt := func(w *wasmInstance, i, n uint64) []byte {
		if i > w.k.inLen || n > w.k.inLen-i {
			trap("input load of %d bytes at %d past the input's %d", n, i, w.k.inLen)
		}
		return load(w, w.k.inOff+i, n)
	}
	def(env, "input_load_u8", []api.ValueType{i64}, []api.ValueType{i32}, func(w *wasmInstance, s []uint64) { s[0] = uint64(inputAt(w, s[0], 1)[0]) })
	def(env, "input_load_u64", []api.ValueType{i64}, []api.ValueType{i64}, func(w *wasmInstance, s []uint64) {
		s[0] = binary.LittleEndian.Uint64(inputAt(w, s[0], 8))
	})
	def(env, "input_length", nil, []api.ValueType{i64}, func(w *wasmInstance, s []uint64) { s[0] = w.k.inLen })
	def(env, "input_offset", nil, []api.ValueType{i64}, func(w *wasmInstance, s []uint64) { s[0] = w.k.inOff })
	def(env, "input_set", []api.ValueType{i64, i64}, nil, func(w *wasmInstance, s []uint64) {
		load(w, s[0], s[1])
		w.k.inOff, w.k.inLen = s[0], s[1]
	})
	def(env, "output_set", []api.ValueType{i64, i64}, nil, func(w *wasmInstance, s []uint64) {
		load(w, s[0], s[1])
		w.k.outOff, w.k.outLen = s[0], s[1]
	})
	def(env, "output_length", nil, []api.ValueType{i64}, func(w *wasmInstance, s []uint64) { s[0] = w.k.outLen })
	def(env, "output_offset", nil, []api.ValueType{i64}, func(w *wasmInstance, s []uint64) { s[0] = w.k.outOff })
	def(env, "error_set", []api.ValueType{i64}, nil, func(w *wasmInstance, s []uint64) { w.k.errOff = s[0] })
	def(env, "error_get", nil, []api.ValueType{i64}, func(w *wasmInstance, s []uint64) { s[0] = w.k.errOff })
	def(env, "reset", nil, nil, func(w *wasmInstance, _ []uint64) {
		in := append([]byte(nil), w.in...)
		if err := w.k.start(in); err != nil {
			trap("reset: %v", err)
		}
	})
	def(env, "memory_bytes", nil, []api.ValueType{i64}, func(w *wasmInstance, s []uint64) { s[0] = uint64(len(w.k.mem)) })
	// No configuration, no variables (they would carry data from one connection's call to
	// another's), no network.
	def(env, "config_get", []api.ValueType{i64}, []api.ValueType{i64}, func(_ *wasmInstance, s []uint64) { s[0] = 0 })
	def(env, "var_get", []api.ValueType{i64}, []api.ValueType{i64}, func(_ *wasmInstance, s []uint64) { s[0] = 0 })
	def(env, "var_set", []api.ValueType{i64, i64}, nil, func(_ *wasmInstance, _ []uint64) {})
	def(env, "http_request", []api.ValueType{i64, i64}, []api.ValueType{i64}, func(_ *wasmInstance, _ []uint64) {
		trap("http_request: plug-ins have no network")
	})
	def(env, "http_status_code", nil, []api.ValueType{i32}, func(_ *wasmInstance, s []uint64) { s[0] = 0 })
	def(env, "http_headers", nil, []api.ValueType{i64}, func(_ *wasmInstance, s []uint64) { s[0] = 0 })
	def(env, "get_log_level", nil, []api.ValueType{i32}, func(_ *wasmInstance, s []uint64) { s[0] = 1 }) // debug: the server's logger filters
	for _, lvl := range []struct{ fn, level string }{
		{"log_trace", "debug"}, {"log_debug", "debug"}, {"log_info", "info"}, {"log_warn", "warn"}, {"log_error", "error"},
	} {
		def(env, lvl.fn, []api.ValueType{i64}, nil, func(w *wasmInstance, s []uint64) {
			if msg, ok := w.k.block(s[0]); ok && w.env != nil {
				w.env.s.log(w.env.in, lvl.level, clipLog(string(msg)))
			}
		})
	}
	if _, err := env.Instantiate(ctx); err != nil {
		return fmt.Errorf("extism:host/env: %w", err)
	}
	user := rt.NewHostModuleBuilder("extism:host/user")
	def(user, "log", []api.ValueType{i64, i64}, nil, func(w *wasmInstance, s []uint64) {
		level, ok1 := w.k.block(s[0])
		msg, ok2 := w.k.block(s[1])
		if ok1 && ok2 && w.env != nil {
			w.env.s.log(w.env.in, string(level), clipLog(string(msg)))
		}
	})
	def(user, "now_ms", nil, []api.ValueType{i64}, func(_ *wasmInstance, s []uint64) {
		s[0] = uint64(time.Now().UnixMilli()) // #nosec G115 -- after 1970
	})
	if _, err := user.Instantiate(ctx); err != nil {
		return fmt.Errorf("extism:host/user: %w", err)
	}
	return nil
}

func appendJSONString(dst []byte, s string) []byte { return protocol.AppendString(dst, s) }
