package servertest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildMu  sync.Mutex
	binDir   string
	binaries = map[string]string{} // module dir + package → binary
)

// Main runs the tests and removes the binaries they built.
func Main(m *testing.M) {
	code := m.Run()
	buildMu.Lock()
	if binDir != "" {
		_ = os.RemoveAll(binDir) // a temporary directory; nothing to do if it stays
	}
	buildMu.Unlock()
	os.Exit(code)
}

// RepoRoot finds the workspace root (the directory holding go.work) above the working
// directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		if _, err := os.Stat(filepath.Join(dir, "rtmate-server", "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("servertest: no go.work above the working directory")
		}
		dir = parent
	}
}

// Build compiles the main package pkg (like "./cmd/rtmate") of the module in moduleDir
// (relative to the workspace root) once per test process and returns the binary's path.
// Building inside the module directory keeps it working with GOWORK=off, since every
// module's go.mod carries replace lines to its siblings.
func Build(t testing.TB, moduleDir, pkg string) string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, moduleDir)
	if _, err := os.Stat(filepath.Join(dir, pkg)); err != nil {
		t.Skipf("servertest: %s/%s not present yet: %v", moduleDir, pkg, err)
	}
	key := dir + "|" + pkg
	buildMu.Lock()
	defer buildMu.Unlock()
	if bin, ok := binaries[key]; ok {
		return bin
	}
	if binDir == "" {
		if binDir, err = os.MkdirTemp("", "rtmate-e2e-"); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(binDir, fmt.Sprintf("%s-%d", filepath.Base(pkg), len(binaries)))
	cmd := exec.Command("go", "build", "-o", bin, pkg) // #nosec G204 -- tests build the project's own packages
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("servertest: go build %s in %s: %v\n%s", pkg, dir, err, out)
	}
	binaries[key] = bin
	return bin
}

// Server is a running rtmate-server process. Not safe for concurrent use.
type Server struct {
	// Addr is host:port; URL the WebSocket endpoint; HTTP the base URL of the HTTP API.
	Addr, URL, HTTP string

	t       testing.TB
	bin     string
	args    []string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
}

// Option adjusts how the server is started.
type Option func(*Server)

// WithArgs adds command-line arguments (after -listen).
func WithArgs(args ...string) Option { return func(s *Server) { s.args = append(s.args, args...) } }

// Start builds and starts rtmate-server on a free port of 127.0.0.1 and waits until it
// answers HTTP. RTMATE_SERVER_BIN names a prebuilt binary to use instead of building. It stops when the test ends; on failure its log is printed.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	bin := os.Getenv("RTMATE_SERVER_BIN")
	if bin == "" {
		bin = Build(t, "rtmate-server", "./cmd/rtmate-server")
	}
	s := &Server{t: t, bin: bin}
	s.Addr = FreeAddr(t)
	s.URL = "ws://" + s.Addr + "/ws"
	s.HTTP = "http://" + s.Addr
	s.logPath = filepath.Join(t.TempDir(), "rtmate-server.log")
	for _, o := range opts {
		o(s)
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			s.dumpLog()
		}
	})
	s.start()
	return s
}

// FreeAddr returns a loopback address whose port was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

func (s *Server) start() {
	s.t.Helper()
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644) // #nosec G302 -- a test log in a temporary directory
	if err != nil {
		s.t.Fatal(err)
	}
	args := append([]string{"-listen", s.Addr}, s.args...)
	cmd := exec.Command(s.bin, args...) // #nosec G204 -- the server binary the tests just built
	cmd.Stdout, cmd.Stderr = logf, logf
	// The server must not outlive a test binary that crashes.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		s.t.Fatalf("servertest: start %s: %v", s.bin, err)
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(s.exited)
	}()
	if err := s.waitReady(15 * time.Second); err != nil {
		s.Stop()
		s.dumpLog()
		s.t.Fatalf("servertest: %v", err)
	}
}

func (s *Server) waitReady(timeout time.Duration) error {
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("rtmate-server exited during startup (%v)", s.cmd.ProcessState)
		default:
		}
		resp, err := hc.Get(s.HTTP + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("rtmate-server did not answer %s/healthz within %v", s.HTTP, timeout)
}

// Pid returns the server process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Stop sends SIGTERM (a graceful shutdown: clients see close 1001) and waits up to 10 s,
// then kills. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// Restart stops the server and starts it again on the same address.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

// Log returns what the server has logged so far.
func (s *Server) Log() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func (s *Server) dumpLog() {
	f, err := os.Open(s.logPath)
	if err != nil {
		return
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > 60 {
		lines = lines[len(lines)-60:]
	}
	s.t.Logf("rtmate-server log (last %d lines):\n%s", len(lines), strings.Join(lines, "\n"))
}

// Signal sends sig to the server process (SIGUSR1 drains it, for instance).
func (s *Server) Signal(sig os.Signal) error { return s.cmd.Process.Signal(sig) }

// WaitExit waits up to timeout for the process to exit by itself and reports whether it did.
func (s *Server) WaitExit(timeout time.Duration) bool {
	select {
	case <-s.exited:
		return true
	case <-time.After(timeout):
		return false
	}
}

// StartAgain starts a server that exited (after a drain, say) on the same address.
func (s *Server) StartAgain() {
	s.t.Helper()
	s.start()
}
