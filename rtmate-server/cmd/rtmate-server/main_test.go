package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildServer builds this command once per test binary, stamped like a release.
func buildServer(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the server binary")
	}
	bin := filepath.Join(t.TempDir(), "rtmate-server")
	const pkg = "github.com/rtmate/rtmate/rt-common/buildinfo"
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin,
		"-ldflags", "-X "+pkg+".version=v0.0.0-test -X "+pkg+".commit=abc1234 -X "+pkg+".date=2026-12-02T00:00:00Z", ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// runBin starts bin with args and returns its exit code, stdout and stderr.
func runBin(t *testing.T, bin string, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, args...) // #nosec G204 -- the binary this test built
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return exit.ExitCode(), stdout.String(), stderr.String()
	case err != nil:
		t.Fatalf("run %v: %v", args, err)
	}
	return 0, stdout.String(), stderr.String()
}

func TestBinary(t *testing.T) {
	bin := buildServer(t)
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// The RTMATE_* overrides of the developer's shell must not leak into the checks.
	noEnv := []string{"RTMATE_LISTEN=", "RTMATE_LOG_LEVEL=", "RTMATE_LOG_FORMAT=", "RTMATE_REDIS_ADDRESS="}
	good := write("good.yaml", "listen: 127.0.0.1:0\nlog: {format: json}\napps: [{id: a, secret: s}]\n")
	bad := write("bad.yaml", `
listne: 127.0.0.1:0
engine: {type: redis}
apps:
  - id: a
    keys: [{public_key_file: missing.pem}]
    limits: {max_message_size: -1, auth_timeout: -5s}
`)

	write("broken.lua", "function on_publish(ctx)\n  return {\nend\n")
	badScript := write("bad-script.yaml", "listen: 127.0.0.1:0\napps: [{id: a, secret: s, scripts: [{name: m, file: broken.lua, hooks: [publish]}]}]\n")

	t.Run("-version", func(t *testing.T) {
		code, out, _ := runBin(t, bin, nil, "-version")
		want := "rtmate-server v0.0.0-test (commit abc1234, built 2026-12-02T00:00:00Z, go"
		if code != 0 || !strings.HasPrefix(out, want) {
			t.Fatalf("exit %d, output %q; want 0 and a line starting %q", code, out, want)
		}
	})

	checks := []struct {
		name string
		file string
		code int
		want []string // lines of stderr, each containing these
	}{
		{"deploy example", filepath.Join("..", "..", "..", "deploy", "rtmate.yaml"), 0, nil},
		{"good", good, 0, nil},
		{"every problem", bad, 1, []string{
			"field listne not found", "engine.redis.address is required", "limits: max_message_size",
			"limits: auth_timeout", "public_key_file", "5 problem(s)",
		}},
		{"missing file", filepath.Join(dir, "nope.yaml"), 1, []string{"no such file", "1 problem(s)"}},
		{"script that does not compile", badScript, 1, []string{"broken.lua", "1 problem(s)"}},
	}
	for _, tt := range checks {
		t.Run("-check-config "+tt.name, func(t *testing.T) {
			code, out, errOut := runBin(t, bin, noEnv, "-check-config", tt.file)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out, errOut)
			}
			if tt.code == 0 && !strings.HasSuffix(out, ": ok\n") {
				t.Errorf("stdout %q, want FILE: ok", out)
			}
			lines := strings.Split(strings.TrimSpace(errOut), "\n")
			if tt.code != 0 && len(lines) != len(tt.want) {
				t.Fatalf("stderr has %d lines, want %d:\n%s", len(lines), len(tt.want), errOut)
			}
			for i, w := range tt.want {
				if !strings.Contains(lines[i], w) {
					t.Errorf("stderr line %d = %q, want it to contain %q", i, lines[i], w)
				}
			}
		})
	}

	t.Run("-healthcheck against the running server", func(t *testing.T) {
		addr, stop := startServer(t, bin, noEnv, good)
		if code, _, errOut := runBin(t, bin, nil, "-healthcheck", "http://"+addr+"/healthz"); code != 0 {
			t.Fatalf("healthy server: exit %d: %s", code, errOut)
		}
		if code, _, errOut := runBin(t, bin, nil, "-healthcheck", "http://"+addr+"/no-such-page"); code != 1 || !strings.Contains(errOut, "404") {
			t.Fatalf("404: exit %d: %s", code, errOut)
		}
		stop()
		if code, _, errOut := runBin(t, bin, nil, "-healthcheck", "http://"+addr+"/healthz"); code != 1 || !strings.Contains(errOut, "refused") {
			t.Fatalf("stopped server: exit %d: %s", code, errOut)
		}
	})
}

// startServer runs bin -config cfg and returns its address (from the "listening" log line)
// and a function that stops it with SIGTERM and checks that it exits 0.
func startServer(t *testing.T, bin string, env []string, cfg string) (string, func()) {
	t.Helper()
	cmd := exec.Command(bin, "-config", cfg) // #nosec G204 -- the binary this test built
	cmd.Env = append(os.Environ(), env...)
	logs, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(logs)
		for sc.Scan() {
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
				addrc <- line.Addr
			}
		}
		done <- cmd.Wait()
	}()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Errorf("SIGTERM: %v", err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server exited with %v after SIGTERM", err)
			}
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("server still running 20 s after SIGTERM")
		}
	}
	t.Cleanup(stop)
	select {
	case addr := <-addrc:
		return addr, stop
	case err := <-done:
		t.Fatalf("server exited before listening: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no listening line within 30 s")
	}
	return "", nil
}
