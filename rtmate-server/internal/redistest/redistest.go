package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a redis-server process owned by one test. Safe for concurrent use.
type Server struct {
	// Addr is 127.0.0.1:port; it stays the same across restarts.
	Addr string

	t   testing.TB
	bin string
	dir string

	// argv, when set, replaces the default command line (sentinels); extra is appended to
	// the default one (cluster nodes, replicas).
	argv  func(port string) []string
	extra []string
	// busPort: a cluster node also listens on port+10000 (the cluster bus), which must be a
	// valid, free port too.
	busPort bool

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// CI reports whether the tests run in CI (CI set to anything but "", "0" or "false"), where a
// missing redis-server is a failure rather than a reason to skip.
func CI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "0" && v != "false"
}

// FlavourEnv selects the server the tests run against: "redis" (the default) or "valkey",
// whose valkey-server and valkey-cli take the same arguments and speak the same protocol.
// scripts/test.sh runs the Redis-backed tests once more with FlavourEnv=valkey.
const FlavourEnv = "RTMATE_TEST_REDIS"

// Flavour is the server family the tests run against: "redis" or "valkey".
func Flavour() string {
	if os.Getenv(FlavourEnv) == "valkey" {
		return "valkey"
	}
	return "redis"
}

// lookTool finds the flavour's server or cli ("server", "cli"), or skips the test (fails it
// in CI) when it is not installed.
func lookTool(t testing.TB, tool string) string {
	t.Helper()
	name := Flavour() + "-" + tool
	bin, err := exec.LookPath(name)
	if err != nil {
		if CI() {
			t.Fatalf("redistest: %s not found and CI is set: install it (scripts/install-test-deps.sh)", name)
		}
		t.Skipf("redistest: %s not installed; skipping (scripts/install-test-deps.sh installs it; with CI=true this fails)", name)
	}
	return bin
}

// Binary returns the path of redis-server (valkey-server with RTMATE_TEST_REDIS=valkey), or
// skips the test (fails it in CI) when there is none.
func Binary(t testing.TB) string {
	t.Helper()
	return lookTool(t, "server")
}

// Start runs redis-server on a free loopback port until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return startWith(t, nil, nil)
}

// StartArgs is Start with extra redis-server arguments ("--replicaof", host, port, …).
func StartArgs(t testing.TB, extra ...string) *Server {
	t.Helper()
	return startWith(t, nil, extra)
}

func startWith(t testing.TB, argv func(port string) []string, extra []string) *Server {
	t.Helper()
	s := &Server{t: t, bin: Binary(t), dir: t.TempDir(), argv: argv, extra: extra}
	for _, a := range extra {
		s.busPort = s.busPort || a == "--cluster-enabled"
	}
	s.startOnFreePort()
	return s
}

// startOnFreePort starts s on a free loopback port (a few tries: another process may take
// the port between the probe and the start) and stops it when the test ends.
func (s *Server) startOnFreePort() {
	s.t.Helper()
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		var port int
		if port, err = freePort(); err != nil {
			continue
		}
		if s.busPort && !busPortFree(port) {
			err = fmt.Errorf("cluster bus port %d+10000 unusable", port)
			attempt-- // not a failure of redis-server: another port will do
			continue
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if err = s.start(); err == nil {
			break
		}
	}
	if err != nil {
		s.t.Fatalf("redistest: start redis-server: %v", err)
	}
	s.t.Cleanup(s.kill)
}

// busPortFree reports whether port+10000 is a port and free now.
func busPortFree(port int) bool {
	if port+10000 > 65535 {
		return false
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+10000)))
	if err != nil {
		return false
	}
	_ = ln.Close()
	return true
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// start launches the process on s.Addr and waits until it answers PING. It loads dump.rdb
// from s.dir when a previous run left one.
func (s *Server) start() error {
	_, port, _ := net.SplitHostPort(s.Addr)
	args := []string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", s.dir, "--dbfilename", "dump.rdb", "--logfile", filepath.Join(s.dir, "redis.log"),
		"--daemonize", "no", "--protected-mode", "yes"}
	args = append(args, s.extra...)
	if s.argv != nil {
		args = s.argv(port)
	}
	cmd := exec.Command(s.bin, args...) // #nosec G204 -- tests start the redis-server found on PATH
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("exec %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("redis-server on %s exited at start: %s", s.Addr, s.logTail())
		default:
		}
		if reply, err := s.Do("PING"); err == nil && reply == "PONG" {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	<-exited
	return fmt.Errorf("redis-server on %s did not answer within 10s: %s", s.Addr, s.logTail())
}

func (s *Server) logTail() string {
	b, err := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	if err != nil {
		return "(no log)"
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// Stop shuts Redis down; with keepData it saves dump.rdb first, which StartAgain loads.
func (s *Server) Stop(keepData bool) {
	s.t.Helper()
	mode := "NOSAVE"
	if keepData {
		mode = "SAVE"
	}
	_, _ = s.Do("SHUTDOWN", mode) // the connection closes instead of a reply
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		s.t.Fatalf("redistest: redis-server on %s did not shut down within 10s", s.Addr)
	}
	if !keepData {
		_ = os.Remove(filepath.Join(s.dir, "dump.rdb"))
	}
	s.mu.Lock()
	s.cmd = nil
	s.mu.Unlock()
}

// StartAgain starts a stopped server on the same address.
func (s *Server) StartAgain() {
	s.t.Helper()
	var err error
	// The port was just released; another process could grab it, but on loopback in a test
	// that is rare enough for a few retries.
	for attempt := 0; attempt < 5; attempt++ {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("redistest: restart redis-server: %v", err)
}

// Restart stops and starts Redis on the same address, keeping its data or not.
func (s *Server) Restart(keepData bool) {
	s.t.Helper()
	s.Stop(keepData)
	s.StartAgain()
}

// Kill stops the process with SIGKILL, as a crash would (StartAgain brings it back with
// its files).
func (s *Server) Kill() { s.kill() }

// Dir is the server's working directory (logs, dump.rdb, nodes.conf).
func (s *Server) Dir() string { return s.dir }

func (s *Server) kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Kill()
		<-exited
	}
}

// Do sends one command on a fresh connection and returns its reply in a simple text form:
// status and bulk strings as they are, integers in decimal, arrays as space-separated
// elements, nil as "(nil)". A Redis error reply is returned as an error.
func (s *Server) Do(args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", s.Addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	return readReply(bufio.NewReader(c))
}

// MustDo is Do that fails the test on an error.
func (s *Server) MustDo(args ...string) string {
	s.t.Helper()
	r, err := s.Do(args...)
	if err != nil {
		s.t.Fatalf("redistest: %s: %v", strings.Join(args, " "), err)
	}
	return r
}

func readReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", errors.New(line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", err
		}
		if n < 0 {
			return "(nil)", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", err
		}
		parts := make([]string, 0, max(n, 0))
		for i := 0; i < n; i++ {
			p, err := readReply(r)
			if err != nil {
				return "", err
			}
			parts = append(parts, p)
		}
		return strings.Join(parts, " "), nil
	}
	return "", fmt.Errorf("unexpected reply %q", line)
}
