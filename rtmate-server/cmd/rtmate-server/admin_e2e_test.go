package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const e2eAdminToken = "e2e-admin-token-0123456789"

// e2eServer is the real binary running with the admin API.
type e2eServer struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{} // closed when the process has exited; err is then set
	err  error
}

// runServer starts bin with the config file and waits for its "listening" log line.
func runServer(t *testing.T, bin, config string) *e2eServer {
	t.Helper()
	cmd := exec.Command(bin, "-config", config) // #nosec G204 -- the binary this test built
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &e2eServer{cmd: cmd, done: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var line struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
				addr <- line.Addr
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	go func() { s.err = cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = cmd.Process.Kill() // the test failed before stopping it
			<-s.done
		}
	})
	select {
	case s.addr = <-addr:
	case <-s.done:
		t.Fatalf("server exited: %v", s.err)
	case <-time.After(30 * time.Second):
		t.Fatal("server did not start")
	}
	return s
}

func adminCall(t *testing.T, addr, method, path string, body any, out any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+addr+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e2eAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		var env struct{ Data json.RawMessage }
		if err := json.Unmarshal(raw, &env); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(env.Data, out); err != nil {
			t.Fatal(err)
		}
	}
}

// TestUsageSurvivesSIGKILL kills the real server process with SIGKILL and checks that the
// restarted one still has the app and all usage flushed before the kill: at most the last
// flush interval (1 s here) is lost.
func TestUsageSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server binary")
	}
	bin := buildServer(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "rtmate.yaml")
	yaml := fmt.Sprintf("listen: 127.0.0.1:0\nlog: {format: json, level: info}\ndata_dir: %s\nadmin:\n  token: %s\n  usage_flush_interval: 1s\n",
		filepath.Join(dir, "data"), e2eAdminToken)
	if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	s := runServer(t, bin, config)
	adminCall(t, s.addr, "POST", "/admin/api/apps", map[string]any{"id": "tenant"}, nil)
	for i := range 5 {
		adminCall(t, s.addr, "POST", "/admin/api/apps/tenant/publish", map[string]any{"channel": "c", "data": i}, nil)
	}
	time.Sleep(2500 * time.Millisecond) // two flushes
	for i := range 2 {
		adminCall(t, s.addr, "POST", "/admin/api/apps/tenant/publish", map[string]any{"channel": "c", "data": i}, nil)
	}
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-s.done

	s2 := runServer(t, bin, config)
	var u struct {
		Total struct {
			MessagesIn int64 `json:"messages_in"`
		} `json:"total"`
	}
	adminCall(t, s2.addr, "GET", "/admin/api/apps/tenant/usage", nil, &u)
	if u.Total.MessagesIn < 5 || u.Total.MessagesIn > 7 {
		t.Fatalf("messages_in after SIGKILL = %d, want 5 (flushed) to 7 (all)", u.Total.MessagesIn)
	}
	var apps struct {
		Apps []struct{ ID, Source string } `json:"apps"`
	}
	adminCall(t, s2.addr, "GET", "/admin/api/apps", nil, &apps)
	if len(apps.Apps) != 1 || apps.Apps[0].ID != "tenant" || apps.Apps[0].Source != "api" {
		t.Fatalf("apps after SIGKILL = %+v", apps.Apps)
	}

	// A clean stop flushes: what was published just before SIGTERM is counted.
	adminCall(t, s2.addr, "POST", "/admin/api/apps/tenant/publish", map[string]any{"channel": "c", "data": 1}, nil)
	if err := s2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-s2.done
	if s2.err != nil {
		t.Fatalf("clean stop: %v", s2.err)
	}
	s3 := runServer(t, bin, config)
	before := u.Total.MessagesIn
	adminCall(t, s3.addr, "GET", "/admin/api/apps/tenant/usage", nil, &u)
	if u.Total.MessagesIn != before+1 {
		t.Fatalf("after SIGTERM messages_in = %d, want %d", u.Total.MessagesIn, before+1)
	}
	if !strings.HasPrefix(s3.addr, "127.0.0.1:") {
		t.Fatalf("addr %q", s3.addr)
	}
}
