package script

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// Lua limits, the same for every script: deep enough for real code, shallow enough that a
// runaway recursion fails at once instead of growing the Go heap and stack.
const (
	luaCallStack   = 200
	luaRegistry    = 1024
	luaRegistryMax = 64 * 1024
)

// luaProgram is a compiled .lua file. Safe for concurrent use: states are built from the
// shared, read-only FunctionProto.
type luaProgram struct {
	path    string
	proto   *lua.FunctionProto
	memory  int64
	hooks   [NumHooks]bool
	maxData int
}

var _ program = (*luaProgram)(nil)

// compileLua parses and compiles src, then runs it once in a sandbox to find its hooks: a
// syntax error or an error in the top-level code fails here, naming the file and line.
func compileLua(path string, src []byte, memory int64, maxData int) (*luaProgram, error) {
	chunk, err := parse.Parse(bytes.NewReader(src), path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	proto, err := lua.Compile(chunk, path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	p := &luaProgram{path: path, proto: proto, memory: memory, maxData: maxData}
	inst, err := p.build()
	if err != nil {
		return nil, err
	}
	defer inst.close()
	for h := range NumHooks {
		p.hooks[h] = inst.fns[h] != nil
	}
	return p, nil
}

func (p *luaProgram) defines(h Hook) bool { return p.hooks[h] }
func (p *luaProgram) close()              {}

func (p *luaProgram) newInstance() (instance, error) { return p.build() }

// luaInstance is one sandboxed state. Not safe for concurrent use.
type luaInstance struct {
	p      *luaProgram
	L      *lua.LState
	j      luaJSON
	fns    [NumHooks]*lua.LFunction
	dl     deadline
	budget int64    // bytes the string library may still build in this call
	env    *callEnv // the running call, for log()
	added  []lua.LValue
	data   []byte
}

var _ instance = (*luaInstance)(nil)

func (p *luaProgram) build() (*luaInstance, error) {
	L := lua.NewState(lua.Options{
		SkipOpenLibs:        true,
		CallStackSize:       luaCallStack,
		RegistrySize:        luaRegistry,
		RegistryMaxSize:     luaRegistryMax,
		RegistryGrowStep:    luaRegistry,
		MinimizeStackMemory: true,
	})
	inst := &luaInstance{p: p, L: L}
	inst.dl.init()
	inst.j = luaJSON{L: L, arrayMT: L.NewTable(), null: L.NewUserData()}
	// Scripts may neither read nor change the marker every array of the state shares.
	inst.j.arrayMT.RawSetString("__metatable", lua.LString("array"))
	if err := inst.sandbox(); err != nil {
		L.Close()
		return nil, err
	}
	// The top-level code runs under the same limits as a call: a script cannot hang the
	// (re)load with an endless loop at file scope.
	inst.budget = p.memory
	L.SetContext(&inst.dl)
	inst.dl.arm(time.Second)
	L.Push(L.NewFunctionFromProto(p.proto))
	err := L.PCall(0, 0, nil)
	fired := inst.dl.disarm()
	if err != nil {
		L.Close()
		if fired {
			return nil, fmt.Errorf("%s: top-level code ran over 1s", p.path)
		}
		return nil, fmt.Errorf("%s: %w", p.path, err)
	}
	g := L.G.Global
	for h := range NumHooks {
		if fn, ok := g.RawGetString(hookFuncs[h]).(*lua.LFunction); ok {
			inst.fns[h] = fn
		}
	}
	// Globals a call creates are dropped after it, so that one call cannot leave data for
	// the next connection; __newindex fires only for names that did not exist at load.
	mt := L.NewTable()
	mt.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		inst.added = append(inst.added, L.CheckAny(2))
		g.RawSet(L.CheckAny(2), L.CheckAny(3))
		return 0
	}))
	// Locked, so that setmetatable(_G, …) cannot switch the tracking off; rawset on _G is
	// tracked too (sandbox).
	mt.RawSetString("__metatable", lua.LString("locked"))
	g.Metatable = mt
	return inst, nil
}

// sandbox opens base, table, string and math, and removes what reaches outside.
func (inst *luaInstance) sandbox() error {
	L := inst.L
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}, {lua.StringLibName, lua.OpenString}, {lua.MathLibName, lua.OpenMath}} {
		if err := L.CallByParam(lua.P{Fn: L.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return fmt.Errorf("open %s: %w", lib.name, err)
		}
	}
	g := L.G.Global
	for _, name := range []string{"dofile", "loadfile", "load", "loadstring", "require", "module", "collectgarbage",
		"getfenv", "setfenv", "newproxy", "_printregs", "print", "_GOPHER_LUA_VERSION"} {
		g.RawSetString(name, lua.LNil)
	}
	// math.randomseed would let one call fix the numbers the next one draws.
	if m, ok := g.RawGetString("math").(*lua.LTable); ok {
		m.RawSetString("randomseed", lua.LNil)
	}
	// pcall and xpcall must not catch the timeout: the script would loop on.
	for _, name := range []string{"pcall", "xpcall"} {
		orig := g.RawGetString(name)
		g.RawSetString(name, L.NewFunction(func(L *lua.LState) int {
			L.Insert(orig, 1)
			L.Call(L.GetTop()-1, lua.MultRet)
			if inst.dl.fired() {
				L.RaiseError("%s", ErrTimeout)
			}
			return L.GetTop()
		}))
	}
	rawset := g.RawGetString("rawset")
	g.RawSetString("rawset", L.NewFunction(func(L *lua.LState) int {
		if t, ok := L.Get(1).(*lua.LTable); ok && t == g && t.RawGet(L.Get(2)) == lua.LNil {
			inst.added = append(inst.added, L.Get(2))
		}
		L.Insert(rawset, 1)
		L.Call(L.GetTop()-1, 1)
		return 1
	}))
	str, ok := g.RawGetString("string").(*lua.LTable)
	if !ok {
		return errors.New("no string library")
	}
	inst.guardStrings(str)
	if tab, ok := g.RawGetString("table").(*lua.LTable); ok {
		inst.guardConcat(tab)
	}
	g.RawSetString("log", L.NewFunction(inst.hostLog))
	g.RawSetString("now_ms", L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LNumber(time.Now().UnixMilli()))
		return 1
	}))
	g.RawSetString("null", inst.j.null)
	// array(t) marks t as a JSON array, so that an empty one encodes as [] and not {}.
	g.RawSetString("array", L.NewFunction(func(L *lua.LState) int {
		t := L.CheckTable(1)
		t.Metatable = inst.j.arrayMT
		L.Push(t)
		return 1
	}))
	return nil
}

// spend charges n bytes to the call's string budget (the script's memory setting).
func (inst *luaInstance) spend(L *lua.LState, fn string, n int64) {
	if n < 0 || n > inst.budget {
		L.RaiseError("%s: the result is over the script's memory limit (%d bytes left)", fn, inst.budget)
	}
	inst.budget -= n
}

// guardStrings puts a price on the string functions that can build large strings from small
// inputs (string bombs).
func (inst *luaInstance) guardStrings(str *lua.LTable) {
	L := inst.L
	rep := str.RawGetString("rep")
	str.RawSetString("rep", L.NewFunction(func(L *lua.LState) int {
		s := L.CheckString(1)
		n := L.CheckInt64(2)
		if n > 0 {
			if len(s) > 0 && n > inst.budget/int64(len(s)) {
				inst.spend(L, "string.rep", -1)
			}
			inst.spend(L, "string.rep", int64(len(s))*n)
		}
		L.Insert(rep, 1)
		L.Call(L.GetTop()-1, 1)
		return 1
	}))
	format := str.RawGetString("format")
	str.RawSetString("format", L.NewFunction(func(L *lua.LState) int {
		f := L.CheckString(1)
		if err := checkFormat(f); err != nil {
			L.RaiseError("string.format: %v", err)
		}
		inst.spend(L, "string.format", int64(len(f)))
		L.Insert(format, 1)
		L.Call(L.GetTop()-1, 1)
		return 1
	}))
	gsub := str.RawGetString("gsub")
	str.RawSetString("gsub", L.NewFunction(func(L *lua.LState) int {
		s := L.CheckString(1)
		if r, ok := L.Get(3).(lua.LString); ok {
			// Each match is replaced by at most len(r) bytes (captures are parts of s).
			inst.spend(L, "string.gsub", int64(len(s))*(int64(len(r))+1))
		}
		L.Insert(gsub, 1)
		L.Call(L.GetTop()-1, lua.MultRet)
		return L.GetTop()
	}))
}

func (inst *luaInstance) guardConcat(tab *lua.LTable) {
	L := inst.L
	concat := tab.RawGetString("concat")
	tab.RawSetString("concat", L.NewFunction(func(L *lua.LState) int {
		t := L.CheckTable(1)
		sep := int64(len(L.OptString(2, "")))
		var n int64
		for i := 1; i <= t.Len(); i++ {
			n += int64(len(lua.LVAsString(t.RawGetInt(i)))) + sep
			if n > inst.budget {
				break
			}
		}
		inst.spend(L, "table.concat", n)
		L.Insert(concat, 1)
		L.Call(L.GetTop()-1, 1)
		return 1
	}))
}

// checkFormat refuses widths and precisions over two digits, as Lua 5.1 does: Go's fmt would
// honour "%999999999d" with a gigabyte of padding.
func checkFormat(f string) error {
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			continue
		}
		i++
		for i < len(f) && strings.IndexByte("-+ #0", f[i]) >= 0 {
			i++
		}
		for _, part := range []bool{true, false} {
			digits := 0
			for i < len(f) && f[i] >= '0' && f[i] <= '9' {
				i++
				digits++
			}
			if digits > 2 {
				return fmt.Errorf("invalid format (width or precision too long) in %q", f)
			}
			if part && i < len(f) && f[i] == '.' {
				i++
				continue
			}
			break
		}
	}
	return nil
}

func (inst *luaInstance) hostLog(L *lua.LState) int {
	level := L.CheckString(1)
	msg := L.CheckString(2)
	if len(msg) > 4096 {
		msg = msg[:4096]
	}
	if env := inst.env; env != nil {
		env.s.log(env.in, level, msg)
	}
	return 0
}

func (inst *luaInstance) call(_ context.Context, in *Input, out *Output, env *callEnv) error {
	fn := inst.fns[in.Hook]
	if fn == nil {
		return errNoSuchHook
	}
	L := inst.L
	arg, err := inst.ctxTable(in)
	if err != nil {
		return fmt.Errorf("%w: ctx: %w", ErrBadOutput, err)
	}
	inst.env, inst.budget = env, inst.p.memory
	inst.dl.arm(env.s.timeout)
	L.Push(fn)
	L.Push(arg)
	err = L.PCall(1, 1, nil)
	fired := inst.dl.disarm()
	inst.env = nil
	if fired {
		return ErrTimeout
	}
	if err != nil {
		return fmt.Errorf("%w", err)
	}
	ret := L.Get(-1)
	L.Pop(1)
	inst.dropAdded()
	inst.data, err = inst.j.fromLua(ret, out, inst.p.maxData, inst.data)
	if err == nil && out.Data != nil {
		out.Data = bytes.Clone(out.Data) // the instance reuses its scratch
	}
	return err
}

// ctxTable builds the call's ctx: a fresh table, so that nothing a previous call stored in
// its ctx is seen by the next one.
func (inst *luaInstance) ctxTable(in *Input) (*lua.LTable, error) {
	t := inst.L.CreateTable(0, 8)
	set := func(k, v string) {
		if v != "" {
			t.RawSetString(k, lua.LString(v))
		}
	}
	t.RawSetString("hook", lua.LString(in.Hook.String()))
	t.RawSetString("app", lua.LString(in.App))
	t.RawSetString("client_id", lua.LString(in.ClientID))
	t.RawSetString("user_id", lua.LString(in.UserID))
	set("channel", in.Channel)
	set("source", in.Source)
	set("method", in.Method)
	if in.Hook == HookConnect {
		t.RawSetString("origin", lua.LString(in.Origin))
	}
	for _, f := range []struct {
		name string
		b    []byte
	}{{"claims", in.Claims}, {"data", in.Data}} {
		if f.b == nil {
			continue
		}
		v, err := inst.j.decode(f.b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
		t.RawSetString(f.name, v)
	}
	return t, nil
}

func (inst *luaInstance) dropAdded() {
	if len(inst.added) == 0 {
		return
	}
	g := inst.L.G.Global
	for _, k := range inst.added {
		g.RawSet(k, lua.LNil)
	}
	clear(inst.added)
	inst.added = inst.added[:0]
}

func (inst *luaInstance) close() {
	inst.dl.stop()
	inst.L.Close()
}

// deadline is a reusable context for LState.SetContext: gopher-lua checks Done before every
// instruction. Re-arming one timer costs far less than a context.WithTimeout per call.
type deadline struct {
	done  chan struct{}
	timer *time.Timer
	hit   atomic.Bool
	value any // what Value(kernelKey{}) returns: the Wasm instance of the call
}

var _ context.Context = (*deadline)(nil)

func (d *deadline) init() {
	d.done = make(chan struct{})
	d.timer = time.AfterFunc(time.Hour, func() {
		d.hit.Store(true)
		close(d.done)
	})
	d.timer.Stop()
}

func (d *deadline) arm(timeout time.Duration) { d.timer.Reset(timeout) }

// disarm stops the timer and reports whether it fired. After it fired, Done stays closed:
// the instance is closed, not reused.
func (d *deadline) disarm() bool {
	if d.timer.Stop() {
		return false
	}
	for !d.hit.Load() { // firing right now: wait until Done is closed
		runtime.Gosched()
	}
	return true
}

func (d *deadline) fired() bool { return d.hit.Load() }
func (d *deadline) stop()       { d.timer.Stop() }

func (d *deadline) Deadline() (time.Time, bool) { return time.Time{}, false }
func (d *deadline) Done() <-chan struct{}       { return d.done }
func (d *deadline) Value(key any) any {
	if _, ok := key.(kernelKey); ok {
		return d.value
	}
	return nil
}
func (d *deadline) Err() error {
	if d.hit.Load() {
		return context.DeadlineExceeded
	}
	return nil
}
