package script

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rtmate/rtmate/rt-common/protocol"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
)

func TestLuaHooks(t *testing.T) {
	src := `
function on_connect(ctx)
  if ctx.claims.banned then return {allow=false, reason="banned"} end
  if ctx.claims.alias then return {user_id=ctx.claims.alias} end
  return nil
end
function on_subscribe(ctx)
  if ctx.channel == "secret" then return {allow=false, reason="no " .. ctx.user_id} end
  return {}
end
function on_publish(ctx)
  local d = ctx.data
  if type(d) == "table" and d.text then d.text = string.upper(d.text) end
  return {data=d}
end
function on_rpc(ctx)
  if ctx.method == "add" then return {data={sum=ctx.data.a + ctx.data.b}} end
  if ctx.method == "empty" then return {data={list=array({}), obj={}}} end
  return {error={code=400, reason="unknown method " .. ctx.method}}
end`
	set := loadOne(t, "h.lua", src, []string{"connect", "subscribe", "publish", "rpc"}, nil)
	tests := []struct {
		name     string
		in       Input
		wantCode protocol.WsBizCode
		reason   string
		userID   string
		data     string
	}{
		{name: "connect allowed", in: Input{Hook: HookConnect, Claims: []byte(`{"sub":"u"}`)}},
		{name: "connect rejected", in: Input{Hook: HookConnect, Claims: []byte(`{"banned":true}`)}, wantCode: protocol.Forbidden, reason: "banned"},
		{name: "connect user id", in: Input{Hook: HookConnect, Claims: []byte(`{"alias":"bob"}`)}, userID: "bob"},
		{name: "subscribe allowed", in: Input{Hook: HookSubscribe, Channel: "news"}},
		{name: "subscribe rejected", in: Input{Hook: HookSubscribe, Channel: "secret", UserID: "al"}, wantCode: protocol.Forbidden, reason: "no al"},
		{name: "publish rewrite", in: Input{Hook: HookPublish, Data: []byte(`{"text":"hi","n":[1,2.5,null]}`)}, data: `{"text":"HI","n":[1,2.5,null]}`},
		{name: "publish scalar", in: Input{Hook: HookPublish, Data: []byte(`"x\u00e9\n"`)}, data: `"xé\n"`},
		{name: "rpc answer", in: Input{Hook: HookRPC, Method: "add", Data: []byte(`{"a":1,"b":2}`)}, data: `{"sum":3}`},
		{name: "rpc empty array", in: Input{Hook: HookRPC, Method: "empty", Data: []byte(`null`)}, data: `{"list":[],"obj":{}}`},
		{name: "rpc error", in: Input{Hook: HookRPC, Method: "nope", Data: []byte(`{}`)}, wantCode: protocol.InvalidParams, reason: "unknown method nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			out, err := set.Run(context.Background(), &in)
			if got := protocol.CodeOf(err); got != tt.wantCode {
				t.Fatalf("code %v, want %v (%v)", got, tt.wantCode, err)
			}
			if r, _ := ReasonOf(err); r != tt.reason {
				t.Fatalf("reason %q, want %q", r, tt.reason)
			}
			if out.UserID != tt.userID {
				t.Fatalf("user id %q, want %q", out.UserID, tt.userID)
			}
			if !jsonEqual(out.Data, tt.data) {
				t.Fatalf("data %s, want %s", out.Data, tt.data)
			}
		})
	}
}

func TestLuaSandbox(t *testing.T) {
	src := `
function on_rpc(ctx)
  local prev = (leaked ~= nil) or (leaked_raw ~= nil) -- what an earlier call left behind
  local missing = array({})
  for _, name in ipairs({"os", "io", "debug", "package", "coroutine", "dofile", "loadfile", "load",
      "loadstring", "require", "collectgarbage", "getfenv", "setfenv", "print", "module", "newproxy"}) do
    if _G[name] ~= nil then missing[#missing+1] = name end
  end
  leaked = ctx.data   -- a new global: dropped after the call
  rawset(_G, "leaked_raw", 1) -- dropped too
  local ok = pcall(setmetatable, _G, nil) -- refused: the tracking stays on
  if ok then return {data="setmetatable(_G) worked"} end
  return {data={present=missing, seen=seen_before ~= nil, prev=prev}}
end`
	set := loadOne(t, "s.lua", src, []string{"rpc"}, nil)
	for i := 0; i < 3; i++ {
		in := Input{Hook: HookRPC, Method: "m", Data: []byte(`{"secret":1}`)}
		out, err := set.Run(context.Background(), &in)
		if err != nil {
			t.Fatal(err)
		}
		if !jsonEqual(out.Data, `{"present":[],"seen":false,"prev":false}`) {
			t.Fatalf("call %d: %s", i, out.Data)
		}
	}
}

func TestLuaFailures(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		timeout bool
	}{
		{"infinite loop", `while true do end`, true},
		{"loop under pcall", `while true do pcall(function() while true do end end) end`, true},
		{"deep recursion", `local function f(n) return f(n+1)+1 end return f(1)`, false},
		{"string.rep bomb", `return {data=string.rep("x", 1e9)}`, false},
		{"concat bomb", `local s = "x" for i=1,64 do s = s .. s end return {data=s}`, true},
		{"table bomb", `local t = {} local i = 0 while true do i = i + 1 t[i] = {i} end`, true},
		{"format bomb", `return {data=string.format("%999999999d", 1)}`, false},
		{"table.concat bomb", `local t, s = {}, string.rep("y", 1e6) for i=1,100 do t[i] = s end return {data=table.concat(t)}`, false},
		{"runtime error", `error("boom")`, false},
		{"bad output", `return 42`, false},
		{"bad data", `return {data=function() end}`, false},
		{"data too large", `return {data=string.rep("z", 70000)}`, false},
		{"nan", `return {data=0/0}`, false},
		{"bad error code", `return {error={code=500, reason="x"}}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "function on_rpc(ctx) " + tt.body + " end"
			set := loadOne(t, "f.lua", src, []string{"rpc"}, func(s *config.Script) { s.Timeout = 10 * time.Millisecond })
			in := Input{Hook: HookRPC, Method: "m", Data: []byte(`{}`)}
			start := time.Now()
			_, err := set.Run(context.Background(), &in)
			took := time.Since(start)
			if protocol.CodeOf(err) != protocol.Internal {
				t.Fatalf("got %v, want a 500 failure", err)
			}
			var f *Failure
			if !errors.As(err, &f) || f.Script != "s" || f.Hook != HookRPC {
				t.Fatalf("cause %v is not the script's failure", err)
			}
			// The others may time out too on a loaded machine (-race): failing is what counts.
			if tt.timeout && !errors.Is(err, ErrTimeout) {
				t.Fatalf("timeout %v, want %v: %v", errors.Is(err, ErrTimeout), tt.timeout, err)
			}
			if took > time.Second {
				t.Fatalf("failed after %v", took)
			}
			// The next call gets a fresh state and works.
			ok := loadOne(t, "ok.lua", `function on_rpc(ctx) return {data=1} end`, []string{"rpc"}, nil)
			if _, err := ok.Run(context.Background(), &Input{Hook: HookRPC, Data: []byte(`1`)}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLuaFailOpen(t *testing.T) {
	set := loadOne(t, "f.lua", `function on_publish(ctx) error("x") end`, []string{"publish"}, func(s *config.Script) { s.FailOpen = true })
	in := Input{Hook: HookPublish, Data: []byte(`{"a":1}`)}
	out, err := set.Run(context.Background(), &in)
	if err != nil || out.Data != nil {
		t.Fatalf("fail_open: %v %s", err, out.Data)
	}
}

func TestLuaLoadErrors(t *testing.T) {
	tests := []struct {
		name, src string
		hooks     []string
		want      string
	}{
		{"syntax", "function on_publish(ctx)\n  return {\nend", []string{"publish"}, "bad.lua line:3"},
		{"top-level error", "local x = nil\nx.y = 1", []string{"publish"}, "bad.lua:2"},
		{"missing hook", "function on_publish(ctx) end", []string{"rpc"}, "needs a function on_rpc"},
		{"endless top level", "while true do end", []string{"rpc"}, "top-level code ran over"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "bad.lua"), []byte(tt.src), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load("t", []config.Script{{Name: "s", File: "bad.lua", Hooks: tt.hooks, Timeout: time.Millisecond}}, dir, nil, Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestLuaChain(t *testing.T) {
	dir := t.TempDir()
	for name, src := range map[string]string{
		"a.lua": `function on_publish(ctx) return {data={step=1, was=ctx.data}} end`,
		"b.lua": `function on_publish(ctx) ctx.data.step = ctx.data.step + 1 return {data=ctx.data} end`,
		"c.lua": `function on_publish(ctx) if ctx.data.step > 5 then return {allow=false, reason="r"} end end`,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var scripts []config.Script
	for _, n := range []string{"a", "b", "c"} {
		scripts = append(scripts, config.Script{Name: n, File: n + ".lua", Hooks: []string{"publish"}, Timeout: 50 * time.Millisecond, Memory: 1 << 20})
	}
	set, err := Load("t", scripts, dir, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	in := Input{Hook: HookPublish, Data: []byte(`"x"`)}
	out, err := set.Run(context.Background(), &in)
	if err != nil || !jsonEqual(out.Data, `{"step":2,"was":"x"}`) {
		t.Fatalf("chain: %v %s", err, out.Data)
	}
	// A reload with nothing changed takes the compiled scripts over.
	next, err := Load("t", scripts, dir, set, Options{})
	if err != nil || next.scripts[0] != set.scripts[0] {
		t.Fatalf("reload recompiled unchanged scripts: %v", err)
	}
}
