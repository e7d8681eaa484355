package script

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	extism "github.com/extism/go-sdk"
	"github.com/tetratelabs/wazero"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

// wasmPageSize is WebAssembly's memory page.
const wasmPageSize = 64 << 10

// wasmLoadTimeout bounds a plug-in's initialisation (its _initialize, Go's runtime start).
const wasmLoadTimeout = 2 * time.Second

// wasmProgram is a compiled Extism plug-in: the module is compiled once per (re)load by
// wazero, and every instance (one per worker) gets its own linear memory. Safe for
// concurrent use. The runtime is closed once the program is closed and its last instance
// is gone, so that a reload never kills a call in flight.
type wasmProgram struct {
	path     string
	compiled *extism.CompiledPlugin
	hooks    [NumHooks]bool
	found    bool // hooks is filled
	maxData  int

	mu      sync.Mutex
	live    int
	closing bool
}

var (
	_ program  = (*wasmProgram)(nil)
	_ instance = (*wasmInstance)(nil)
)

var extismLogLevel sync.Once

// wasmCache shares compiled machine code between the plug-ins of the process: the same file
// taken by several scripts or apps, or unchanged across a reload, is compiled once. It
// grows by each distinct module loaded, which only reloads with changed plug-ins add to.
var wasmCache = wazero.NewCompilationCache()

// warmInput is the ctx of the call that initialises a new instance (see build).
var warmInput = []byte(`{"hook":"init"}`)

// envKey carries the call's callEnv to the host functions.
type envKey struct{}

// compileWasm compiles an Extism plug-in with WASI but no file system, no environment, no
// arguments, no network (no allowed hosts) and no configuration; its memories are capped at
// memory bytes.
func compileWasm(path string, src []byte, memory int64, maxData int) (*wasmProgram, error) {
	// Extism drops plug-in log lines below a process-wide level, off by default. Info keeps
	// its own per-call debug line out.
	extismLogLevel.Do(func() { extism.SetLogLevel(extism.LogLevelInfo) })
	pages := uint32((memory + wasmPageSize - 1) / wasmPageSize) // #nosec G115 -- config caps memory at 1 GiB
	ctx := context.Background()
	rc := wazero.NewRuntimeConfig().WithCloseOnContextDone(true).WithMemoryLimitPages(pages).WithCompilationCache(wasmCache)
	manifest := extism.Manifest{
		Wasm:   []extism.Wasm{extism.WasmData{Data: src, Name: "main"}},
		Memory: &extism.ManifestMemory{MaxPages: pages, MaxVarBytes: -1},
	}
	cp, err := extism.NewCompiledPlugin(ctx, manifest, extism.PluginConfig{RuntimeConfig: rc, EnableWasi: true}, hostFunctions())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	p := &wasmProgram{path: path, compiled: cp, maxData: maxData}
	inst, err := p.build()
	if err != nil {
		_ = cp.Close(ctx) // the compile error is the one to report
		return nil, err
	}
	inst.close()
	return p, nil
}

func (p *wasmProgram) defines(h Hook) bool            { return p.hooks[h] }
func (p *wasmProgram) newInstance() (instance, error) { return p.build() }

func (p *wasmProgram) build() (*wasmInstance, error) {
	ctx, cancel := context.WithTimeout(context.Background(), wasmLoadTimeout)
	defer cancel()
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return nil, errors.New("the plug-in was unloaded")
	}
	p.live++
	p.mu.Unlock()
	// The default module config has no mounts, no environment, no arguments, discards
	// stdout and stderr, and gives WASI a fake clock and deterministic random numbers.
	plugin, err := p.compiled.Instance(ctx, extism.PluginInstanceConfig{ModuleConfig: wazero.NewModuleConfig()})
	if err != nil {
		p.release()
		return nil, fmt.Errorf("%s: instantiate: %w", p.path, err)
	}
	if !p.found {
		// The first instance, built by compileWasm alone: nothing reads hooks concurrently yet.
		for h := range NumHooks {
			p.hooks[h] = plugin.FunctionExists(hookFuncs[h])
		}
		p.found = true
	}
	inst := &wasmInstance{p: p, plugin: plugin}
	plugin.SetLogger(func(level extism.LogLevel, msg string) {
		if env := inst.env; env != nil {
			env.s.log(env.in, level.String(), clipLog(msg))
		}
	})
	// Extism starts the guest's runtime (a WASI reactor's _initialize: Go's runtime, for
	// one) on an instance's first call, which would count against a hook's few
	// milliseconds. So a new instance makes that first call here, under the load budget:
	// its first hook with the ctx {"hook":"init"}, whose result is ignored.
	for h := range NumHooks {
		if !p.hooks[h] {
			continue
		}
		if _, _, err := plugin.CallWithContext(ctx, hookFuncs[h], warmInput); err != nil && ctx.Err() != nil {
			inst.close()
			return nil, fmt.Errorf("%s: initialising the plug-in took over %v", p.path, wasmLoadTimeout)
		}
		break
	}
	return inst, nil
}

func (p *wasmProgram) release() {
	p.mu.Lock()
	p.live--
	done := p.closing && p.live == 0
	p.mu.Unlock()
	if done {
		_ = p.compiled.Close(context.Background()) // nothing is left to use it
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
		_ = p.compiled.Close(context.Background()) // nothing is left to use it
	}
}

// wasmInstance is one plug-in instance. Not safe for concurrent use.
type wasmInstance struct {
	p      *wasmProgram
	plugin *extism.Plugin
	env    *callEnv
	in     []byte
	closed bool
}

func (w *wasmInstance) call(ctx context.Context, in *Input, out *Output, env *callEnv) error {
	w.in = appendInput(w.in[:0], in)
	cctx, cancel := context.WithTimeout(context.WithValue(ctx, envKey{}, env), env.s.timeout)
	w.env = env
	rc, output, err := w.plugin.CallWithContext(cctx, hookFuncs[in.Hook], w.in)
	w.env = nil
	timedOut := cctx.Err() == context.DeadlineExceeded
	cancel()
	switch {
	case timedOut:
		return ErrTimeout
	case err != nil:
		return fmt.Errorf("plug-in failed: %w", err)
	case rc != 0:
		return fmt.Errorf("%s returned %d", hookFuncs[in.Hook], rc)
	}
	return decodeOutput(output, out, w.p.maxData)
}

func (w *wasmInstance) close() {
	if w.closed {
		return
	}
	w.closed = true
	_ = w.plugin.Close(context.Background()) // a dead instance may fail to close; it is gone either way
	w.p.release()
}

// appendInput encodes a hook's ctx as the JSON the contract gives plug-ins.
func appendInput(dst []byte, in *Input) []byte {
	str := func(dst []byte, key, v string) []byte {
		dst = append(dst, `,"`...)
		dst = append(dst, key...)
		dst = append(dst, `":`...)
		return protocol.AppendString(dst, v)
	}
	raw := func(dst []byte, key string, v []byte) []byte {
		dst = append(dst, `,"`...)
		dst = append(dst, key...)
		dst = append(dst, `":`...)
		return append(dst, v...)
	}
	dst = append(dst, `{"hook":`...)
	dst = protocol.AppendString(dst, in.Hook.String())
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

// hostFunctions are what plug-ins may import from extism:host/user besides Extism's own
// kernel: log(level, message) and now_ms(). Both take and return Extism memory offsets.
func hostFunctions() []extism.HostFunction {
	logFn := extism.NewHostFunctionWithStack("log", func(ctx context.Context, p *extism.CurrentPlugin, stack []uint64) {
		env, _ := ctx.Value(envKey{}).(*callEnv)
		level, err1 := readClipped(p, stack[0], 16)
		msg, err2 := readClipped(p, stack[1], 4096)
		if env == nil || err1 != nil || err2 != nil {
			return // a bad offset only loses the line
		}
		env.s.log(env.in, level, msg)
	}, []extism.ValueType{extism.ValueTypeI64, extism.ValueTypeI64}, nil)
	nowFn := extism.NewHostFunctionWithStack("now_ms", func(_ context.Context, _ *extism.CurrentPlugin, stack []uint64) {
		stack[0] = uint64(time.Now().UnixMilli()) // #nosec G115 -- after 1970
	}, nil, []extism.ValueType{extism.ValueTypeI64})
	return []extism.HostFunction{logFn, nowFn}
}

// readClipped reads an Extism memory block of at most max bytes (longer ones are cut).
func readClipped(p *extism.CurrentPlugin, offset uint64, max uint64) (string, error) {
	n, err := p.Length(offset)
	if err != nil {
		return "", fmt.Errorf("length of block %d: %w", offset, err)
	}
	n = min(n, max)
	b, ok := p.Memory().Read(uint32(offset), uint32(n)) // #nosec G115 -- Extism offsets are 32-bit in practice; Read checks bounds
	if !ok {
		return "", errors.New("block " + strconv.FormatUint(offset, 10) + " out of memory")
	}
	return string(b), nil
}
