package test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rtmate/rtmate/rt-common/protocol"
	auth "github.com/rtmate/rtmate/rtmate-auth"
	"github.com/rtmate/rtmate/rtmate-server/internal/api"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/server"
	"github.com/rtmate/rtmate/rtmate-server/internal/testserver"
	"github.com/rtmate/rtmate/rtmate-server/internal/testwasm"
)

// examplesDir holds examples/scripts, tested here end to end.
var examplesDir = filepath.Join("..", "..", "examples", "scripts")

// withScripts gives the development app scripts, file names relative to dir.
func withScripts(dir string, scripts ...config.Script) func(*config.Config) {
	return func(cfg *config.Config) {
		abs, err := filepath.Abs(dir)
		if err != nil {
			panic(err)
		}
		cfg.Dir = abs
		for i := range scripts {
			if scripts[i].Timeout == 0 {
				// A failure bound for scripts expected to succeed, on two cores shared
				// with other builds; the failure tests set their own few milliseconds.
				scripts[i].Timeout = time.Second
			}
		}
		devApp(cfg).Scripts = scripts
	}
}

// writeScripts writes files into a temporary directory and returns it.
func writeScripts(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// signClaims signs an HS256 token for the development app with any claims (custom ones
// such as admins, which auth.Sign's typed claims cannot carry).
func signClaims(t testing.TB, claims map[string]any) string {
	t.Helper()
	claims["app_id"] = auth.DevAppID
	claims["exp"] = time.Now().Add(time.Hour).Unix()
	head := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	body, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	signing := head + "." + base64.RawURLEncoding.EncodeToString(body)
	mac := hmac.New(sha256.New, []byte(auth.DevSecret))
	mac.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// failWith requires an error response with want's code and message and data.
func failWith(t testing.TB, m msg, want protocol.WsBizCode, data string) {
	t.Helper()
	if m.Code != want.Code() || m.Message != want.Message() {
		t.Fatalf("got %s, want %d %s", m, want.Code(), want.Message())
	}
	if string(m.Data) != data {
		t.Fatalf("got %s, want data %s", m, data)
	}
}

func exampleScripts() []config.Script {
	return []config.Script{
		{Name: "moderation", File: "moderation.lua", Hooks: []string{"publish"}},
		{Name: "acl", File: "acl.lua", Hooks: []string{"subscribe"}},
		{Name: "rpc", File: "rpc.lua", Hooks: []string{"rpc"}},
	}
}

func TestScriptExamplesLua(t *testing.T) {
	srv := start(t, withScripts(examplesDir, exampleScripts()...))
	testExamples(t, srv)
}

// testExamples checks moderation, acl and rpc, whatever language implements them.
func testExamples(t *testing.T, srv *testserver.Server) {
	t.Run("moderation", func(t *testing.T) {
		alice, bob := authed(t, srv, "alice"), authed(t, srv, "bob")
		bob.subscribe("chat")
		for _, tt := range []struct{ in, want string }{
			{`{"text":"Darn it, HECK no; darned heckle","n":1}`, `"text":"**** it, **** no; darned heckle"`},
			{`{ "text" : "fine words",  "n": [1, 2] }`, `{ "text" : "fine words",  "n": [1, 2] }`},
			{`"darn"`, `"darn"`},
			{`{"text":7}`, `{"text":7}`},
		} {
			alice.publish("chat", tt.in)
			got := bob.message("chat")
			if !strings.Contains(string(got.Data), tt.want) {
				t.Fatalf("published %s, subscriber got %s, want it to contain %s", tt.in, got.Data, tt.want)
			}
		}
		// History keeps what subscribers got.
		var h streamData
		bob.ok(protocol.EventHistory, obj{"channel": "chat"}).decode(t, &h)
		if len(h.Publications) != 4 || !strings.Contains(string(h.Publications[0].Data), `**** it`) {
			t.Fatalf("history %+v does not hold the rewritten data", h.Publications)
		}
	})
	t.Run("acl", func(t *testing.T) {
		admin := dial(t, srv.URL, nil)
		admin.auth(auth.DevAppID, signClaims(t, map[string]any{"sub": "root", "admins": []string{"root", "ops"}}))
		admin.subscribe("private-ops")
		admin.subscribe("public")
		user := dial(t, srv.URL, nil)
		user.auth(auth.DevAppID, signClaims(t, map[string]any{"sub": "eve", "admins": []string{"root"}}))
		failWith(t, user.call(protocol.EventSubscribe, obj{"channel": "private-ops"}), protocol.Forbidden, `{"reason":"private channels are for admins"}`)
		user.subscribe("public")
		plain := authed(t, srv, "carol") // no admins claim at all
		failWith(t, plain.call(protocol.EventSubscribe, obj{"channel": "private-x"}), protocol.Forbidden, `{"reason":"private channels are for admins"}`)
	})
	t.Run("rpc", func(t *testing.T) {
		c := authed(t, srv, "alice")
		c.sendRaw(`{"event":"rpc","payload":{"method":"add","data":{"a":1,"b":2}},"id":7}`)
		m := c.next()
		if m.Code != 200 || m.Message != "success" || m.event() != "rpc" || string(m.ID) != "7" || string(m.Data) != `{"method":"add","data":{"sum":3}}` {
			t.Fatalf("rpc add: %s", m)
		}
		var tm struct {
			Method string `json:"method"`
			Data   struct {
				NowMS int64 `json:"now_ms"`
			} `json:"data"`
		}
		c.ok("rpc", obj{"method": "time"}).decode(t, &tm)
		if d := time.Since(time.UnixMilli(tm.Data.NowMS)); tm.Method != "time" || d < -time.Minute || d > time.Minute {
			t.Fatalf("rpc time: %+v", tm)
		}
		failWith(t, c.call("rpc", obj{"method": "nope"}), protocol.InvalidParams, `{"reason":"unknown method nope"}`)
		failWith(t, c.call("rpc", obj{"method": "add", "data": obj{"a": "x"}}), protocol.InvalidParams, `{"reason":"add needs numbers a and b"}`)
		for _, bad := range []any{"", strings.Repeat("m", 65), "a b", "é", 5, nil} {
			failWith(t, c.call("rpc", obj{"method": bad}), protocol.InvalidParams, "null")
		}
		failWith(t, dial(t, srv.URL, nil).call("rpc", obj{"method": "add"}), protocol.Unauthenticated, "null")
	})
}

func TestScriptRPCWithoutScript(t *testing.T) {
	srv := start(t, nil)
	c := authed(t, srv, "alice")
	failWith(t, c.call("rpc", obj{"method": "add"}), protocol.UnsupportedEvent, "null")
}

func TestScriptRPCRateLimited(t *testing.T) {
	srv := start(t, func(cfg *config.Config) {
		withScripts(examplesDir, exampleScripts()...)(cfg)
		devApp(cfg).Limits.Rate = 1
		devApp(cfg).Limits.Burst = 2
	})
	c := authed(t, srv, "alice")
	for i := 0; i < 5; i++ {
		if m := c.call("rpc", obj{"method": "time"}); m.Code != 200 {
			failWith(t, m, protocol.RateLimited, "null")
			return
		}
	}
	t.Fatal("5 rpc calls at 1/s with a burst of 2 were never limited")
}

func TestScriptConnect(t *testing.T) {
	dir := writeScripts(t, map[string]string{"connect.lua": `
function on_connect(ctx)
  if ctx.claims.banned then return {allow=false, reason="banned: " .. ctx.user_id} end
  if ctx.claims.nick then return {user_id=ctx.claims.nick} end
end`})
	srv := start(t, withScripts(dir, config.Script{Name: "connect", File: "connect.lua", Hooks: []string{"connect"}}))
	c := dial(t, srv.URL, nil)
	failWith(t, c.call(protocol.EventAuth, obj{"appId": auth.DevAppID, "token": signClaims(t, map[string]any{"sub": "mallory", "banned": true})}),
		protocol.Forbidden, `{"reason":"banned: mallory"}`)
	failWith(t, c.call(protocol.EventSubscribe, obj{"channel": "x"}), protocol.Unauthenticated, "null")
	// The connection stays open, unauthenticated, and may authenticate again.
	c.auth(auth.DevAppID, signClaims(t, map[string]any{"sub": "u1", "nick": "Neo"}))
	c.user = "Neo"
	c.subscribe("presence-room")
	c.push(protocol.PushJoin)
	if got := c.presence("presence-room").members(); len(got) != 1 || got[0] != c.clientID+"/Neo" {
		t.Fatalf("presence %v, want the script's user id Neo", got)
	}
}

func TestScriptPublishAPI(t *testing.T) {
	dir := writeScripts(t, map[string]string{"pub.lua": `
function on_publish(ctx)
  if ctx.channel == "closed" then return {allow=false, reason="closed by " .. ctx.source} end
  return {data={src=ctx.source, from=ctx.client_id, orig=ctx.data}}
end`})
	srv := start(t, withScripts(dir, config.Script{Name: "pub", File: "pub.lua", Hooks: []string{"publish"}}))
	srv.Handle("/api/", api.New(srv.Server, zap.NewNop()))
	sub := authed(t, srv, "bob")
	sub.subscribe("news")
	post := func(path, body string) (int, string) {
		req, err := http.NewRequest(http.MethodPost, srv.HTTP+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+auth.DevAPIKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post("/api/publish", `{"appId":"demo-app","channel":"news","data":[1]}`); code != 200 {
		t.Fatalf("api publish: %d %s", code, body)
	}
	if got := sub.message("news"); !jsonIs(got.Data, `{"src":"api","from":"server","orig":[1]}`) {
		t.Fatalf("api publication arrived as %s", got.Data)
	}
	code, body := post("/api/broadcast", `{"appId":"demo-app","channels":["news","closed"],"data":1}`)
	if code != 403 || !strings.Contains(body, `"data":{"reason":"closed by api"}`) {
		t.Fatalf("api broadcast to a rejected channel: %d %s", code, body)
	}
	sub.publish("news", `"hi"`)
	if got := sub.message("news"); !jsonIs(got.Data, `{"src":"client","from":"`+sub.clientID+`","orig":"hi"}`) {
		t.Fatalf("client publication arrived as %s", got.Data)
	}
	// Nothing of the refused broadcast went out: the next push is the one just published.
	failWith(t, sub.call(protocol.EventMessageSend, obj{"channel": "closed", "data": 1}), protocol.Forbidden, `{"reason":"closed by client"}`)
}

func jsonIs(got []byte, want string) bool {
	var a, b any
	if json.Unmarshal(got, &a) != nil || json.Unmarshal([]byte(want), &b) != nil {
		return false
	}
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// luaBombs are scripts that must fail within about their timeout without harming anything.
var luaBombs = map[string]string{
	"infinite loop":  `while true do end`,
	"pcall loop":     `while true do pcall(function() while true do end end) end`,
	"deep recursion": `local function f(n) return f(n + 1) + 1 end return f(1)`,
	"memory bomb":    `local t = {} for i = 1, 1e9 do t[i] = {i, i, i} end`,
	"string bomb":    `return {data = string.rep("x", 2^31)}`,
	"concat bomb":    `local s = "xy" while true do s = s .. s end`,
	"table bomb":     `local t = {} while true do t[#t + 1] = t end`,
	"trap":           `local x = nil return x.y.z`,
}

func TestScriptFailuresLua(t *testing.T) {
	files := map[string]string{}
	var scripts []config.Script
	for name, body := range luaBombs {
		file := strings.ReplaceAll(name, " ", "_") + ".lua"
		files[file] = "function on_rpc(ctx) " + body + " end\nfunction on_publish(ctx) if ctx.channel == " +
			`"` + strings.ReplaceAll(name, " ", "-") + `"` + " then " + body + " end end"
		scripts = append(scripts, config.Script{Name: strings.ReplaceAll(name, " ", "_"), File: file, Hooks: []string{"publish"}, Timeout: 20 * time.Millisecond})
	}
	srv := testFailures(t, writeScripts(t, files), scripts, luaBombs)
	reg := prometheus.NewRegistry()
	reg.MustRegister(srv.ScriptMetrics())
	for _, tt := range []struct {
		script, result string
	}{{"infinite_loop", "timeout"}, {"trap", "error"}, {"string_bomb", "error|timeout"}, {"infinite_loop", "ok"}} {
		got := 0.0
		for _, r := range strings.Split(tt.result, "|") {
			got += scriptCalls(t, reg, tt.script, "publish", r)
		}
		if got < 1 {
			t.Errorf("rtmate_script_calls_total{script=%q,result=%q} = %v, want at least 1", tt.script, tt.result, got)
		}
	}
}

// scriptCalls reads rtmate_script_calls_total for script, hook and result.
func scriptCalls(t testing.TB, reg *prometheus.Registry, script, hook, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "rtmate_script_calls_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["script"] == script && labels["hook"] == hook && labels["result"] == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

var wasmBombs = map[string]string{
	"infinite loop": "", "deep recursion": "", "memory bomb": "", "string bomb": "", "table bomb": "", "trap": "",
}

func TestScriptFailuresWasm(t *testing.T) {
	path := testwasm.Build(t, filepath.Join("testdata", "wasm-bombs"))
	srv := testFailures(t, filepath.Dir(path), []config.Script{{Name: "bombs", File: filepath.Base(path), Hooks: []string{"publish"}, Timeout: wasmBombTimeout}}, wasmBombs)
	reg := prometheus.NewRegistry()
	reg.MustRegister(srv.ScriptMetrics())
	if got := scriptCalls(t, reg, "bombs", "publish", "timeout") + scriptCalls(t, reg, "bombs", "publish", "error"); got < float64(len(wasmBombs)) {
		t.Errorf("%v failed calls counted, want %d", got, len(wasmBombs))
	}
}

func TestScriptExamplesWasm(t *testing.T) {
	if raceBuild {
		// -race runs plug-ins in wazero's interpreter, instrumented: encoding/json in the
		// Go plug-in then needs more than the longest timeout a script may have (1s).
		// scripts/test.sh runs this test without -race.
		t.Skip("Wasm examples end to end run without -race")
	}
	path := testwasm.Build(t, filepath.Join(examplesDir, "wasm-go"))
	dir := writeScripts(t, nil)
	for _, f := range []string{path, filepath.Join(examplesDir, "acl.lua")} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	srv := start(t, withScripts(dir,
		config.Script{Name: "moderation", File: "plugin.wasm", Hooks: []string{"publish"}},
		config.Script{Name: "acl", File: "acl.lua", Hooks: []string{"subscribe"}},
		config.Script{Name: "rpc", File: "plugin.wasm", Hooks: []string{"rpc"}},
	))
	testExamples(t, srv)
}

// testFailures publishes to each bomb's channel (every script takes publish and fires only on
// its own channel) while another app's connections exchange messages: each bomb must answer
// 500 within about its timeout, and the other app must see every message on time.
func testFailures(t *testing.T, dir string, scripts []config.Script, bombs map[string]string) *testserver.Server {
	srv := start(t, func(cfg *config.Config) {
		withScripts(dir, scripts...)(cfg)
		withAppB(cfg)
		unlimited(cfg)
	})
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	// The other app keeps talking for the whole test.
	other := dial(t, srv.URL, nil)
	other.auth(appB, testserver.Token(t, appB, appBSecret, "o", time.Hour, nil))
	other.subscribe("calm")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var otherErr error
	var worst time.Duration
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			start := time.Now()
			if err := other.tryPublish("calm", "1"); err != nil {
				otherErr = err
				return
			}
			if _, err := other.tryNextPush(); err != nil {
				otherErr = err
				return
			}
			worst = max(worst, time.Since(start))
			// Under the connection's 100 requests/s: with 2 ms, a fast round trip made this
			// loop the flood the rate limit is for, and it was refused (429), not harmed.
			time.Sleep(10 * time.Millisecond)
		}
	}()

	c := authed(t, srv, "alice")
	for name := range bombs {
		t.Run(name, func(t *testing.T) {
			ch := strings.ReplaceAll(name, " ", "-")
			start := time.Now()
			m := c.call(protocol.EventMessageSend, obj{"channel": ch, "data": obj{"a": 1}})
			took := time.Since(start)
			failWith(t, m, protocol.Internal, "null")
			// 20ms timeout: "about" allows scheduling on two busy cores, not seconds. Under
			// -race, Wasm runs in wazero's interpreter, and the replacement of a failed
			// instance (Go's runtime start) takes seconds.
			if took > failBound {
				t.Fatalf("failed after %v", took)
			}
		})
	}
	// Unharmed: the same connection publishes to a quiet channel.
	c.subscribe("quiet")
	c.publish("quiet", `{"ok":true}`)
	c.message("quiet")
	close(stop)
	wg.Wait()
	if otherErr != nil {
		t.Fatalf("the other app's connection failed: %v", otherErr)
	}
	t.Logf("the other app's slowest round trip during the bombs: %v", worst)

	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 64<<20 {
		t.Fatalf("heap grew by %d MiB after the bombs", grown>>20)
	}
	return srv
}

func TestScriptFailOpen(t *testing.T) {
	dir := writeScripts(t, map[string]string{"slow.lua": `function on_publish(ctx) while true do end end
function on_subscribe(ctx) error("broken") end`})
	srv := start(t, withScripts(dir, config.Script{Name: "slow", File: "slow.lua", Hooks: []string{"publish", "subscribe"}, Timeout: 5 * time.Millisecond, FailOpen: true}))
	c := authed(t, srv, "alice")
	c.subscribe("x")
	c.publish("x", `{"v":1}`)
	if got := c.message("x"); string(got.Data) != `{"v":1}` {
		t.Fatalf("fail_open published %s", got.Data)
	}
}

func TestScriptReload(t *testing.T) {
	dir := writeScripts(t, map[string]string{"r.lua": `function on_rpc(ctx) return {data="v1"} end`})
	cfg := testserver.Config(t, withScripts(dir, config.Script{Name: "r", File: "r.lua", Hooks: []string{"rpc"}}))
	srv := testserver.Start(t, cfg, server.Options{})
	c := authed(t, srv, "alice")
	answer := func() string {
		var d struct{ Data string }
		c.ok("rpc", obj{"method": "m"}).decode(t, &d)
		return d.Data
	}
	if got := answer(); got != "v1" {
		t.Fatalf("answer %q", got)
	}
	write := func(src string) {
		if err := os.WriteFile(filepath.Join(dir, "r.lua"), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`function on_rpc(ctx) return {data="v2"} end`)
	if err := srv.Reload(testserver.Config(t, withScripts(dir, config.Script{Name: "r", File: "r.lua", Hooks: []string{"rpc"}}))); err != nil {
		t.Fatal(err)
	}
	if got := answer(); got != "v2" {
		t.Fatalf("after reload: %q, want v2", got)
	}
	// A script that does not compile keeps the previous one in force.
	write("function on_rpc(ctx) return {data=\n")
	if err := srv.Reload(testserver.Config(t, withScripts(dir, config.Script{Name: "r", File: "r.lua", Hooks: []string{"rpc"}}))); err != nil {
		t.Fatal(err)
	}
	if got := answer(); got != "v2" {
		t.Fatalf("after a failed reload: %q, want v2 kept", got)
	}
}

func TestScriptStartError(t *testing.T) {
	dir := writeScripts(t, map[string]string{"bad.lua": "function on_rpc(ctx)\n  return {\nend\n"})
	cfg := testserver.Config(t, withScripts(dir, config.Script{Name: "bad", File: "bad.lua", Hooks: []string{"rpc"}}))
	_, err := server.New(cfg, zap.NewNop(), server.Options{})
	if err == nil || !strings.Contains(err.Error(), "bad.lua") || !strings.Contains(err.Error(), "line:3") {
		t.Fatalf("start with a bad script: %v, want an error naming bad.lua and line 3", err)
	}
}
