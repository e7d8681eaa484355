package client_test

import (
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	auth "github.com/rtmate/rtmate/rtmate-auth"
	"github.com/rtmate/rtmate/rtmate-client/client"
	"github.com/rtmate/rtmate/rtmate-client/internal/servertest"
)

// TestE2ERPC runs the real server with examples/scripts/rpc.lua.
func TestE2ERPC(t *testing.T) {
	root, err := servertest.RepoRoot()
	if err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	cfg := "apps:\n  - id: " + auth.DevAppID + "\n    secret: " + auth.DevSecret + "\n" +
		"    scripts:\n      - name: rpc\n        file: " + filepath.Join(root, "examples", "scripts", "rpc.lua") +
		"\n        hooks: [rpc]\n        timeout: 1s\n"
	path := filepath.Join(dir, "rtmate.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := servertest.Start(t, servertest.WithArgs("-config", path))
	ctx := ctx10(t)
	c := dial(t, devConfig(t, srv.URL, "alice", newRecorder()))

	got, err := c.RPC(ctx, "add", map[string]int{"a": 1, "b": 2})
	if err != nil || string(got) != `{"sum":3}` {
		t.Fatalf("add: %s, %v", got, err)
	}
	_, err = c.RPC(ctx, "nope", nil)
	var e *client.Error
	if !errors.Is(err, client.ErrInvalidParams) || !errors.As(err, &e) || e.Reason != "unknown method nope" {
		t.Fatalf("unknown method: %v", err)
	}
	if _, err := c.RPC(ctx, "bad method", nil); !errors.Is(err, client.ErrInvalidMethod) {
		t.Fatalf("bad method name: %v", err)
	}
}

// TestE2EScriptReloadOnSIGHUP changes a script and sends the real server SIGHUP: the new
// script answers; a broken one keeps the previous; the metrics count the calls.
func TestE2EScriptReloadOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "r.lua")
	write := func(path, src string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(script, `function on_rpc(ctx) return {data="v1"} end`)
	path := filepath.Join(dir, "rtmate.yaml")
	write(path, "apps:\n  - id: "+auth.DevAppID+"\n    secret: "+auth.DevSecret+"\n"+
		"    scripts:\n      - {name: r, file: r.lua, hooks: [rpc], timeout: 1s}\n")
	srv := servertest.Start(t, servertest.WithArgs("-config", path))
	ctx := ctx10(t)
	c := dial(t, devConfig(t, srv.URL, "alice", newRecorder()))
	answer := func() string {
		t.Helper()
		got, err := c.RPC(ctx, "m", nil)
		if err != nil {
			t.Fatal(err)
		}
		return string(got)
	}
	if got := answer(); got != `"v1"` {
		t.Fatalf("before reload: %s", got)
	}
	hup := func() {
		t.Helper()
		if err := syscall.Kill(srv.Pid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	write(script, `function on_rpc(ctx) return {data="v2"} end`)
	hup()
	deadline := time.Now().Add(10 * time.Second) // a failure bound: the reload is asynchronous
	for answer() != `"v2"` {
		if time.Now().After(deadline) {
			t.Fatal("SIGHUP did not load the changed script")
		}
		time.Sleep(20 * time.Millisecond)
	}
	write(script, "function on_rpc(ctx) return {\n")
	hup()
	for !strings.Contains(srv.Log(), "script reload failed") {
		if time.Now().After(deadline) {
			t.Fatal("no log line for the failed reload")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := answer(); got != `"v2"` {
		t.Fatalf("after a broken script: %s, want v2 kept", got)
	}
	resp, err := http.Get(srv.HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`rtmate_script_calls_total{app="demo-app",hook="rpc",result="ok",script="r"}`,
		`rtmate_script_load_errors_total{app="demo-app"} 1`, `rtmate_script_duration_seconds_bucket{app="demo-app",hook="rpc"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
