package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/gobwas/ws"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sys/unix"
)

// The listening socket belongs to the event loop. A worker accepts with accept4(2), the poller
// watches the new socket, and its first bytes decide what it is: a WebSocket handshake on /ws
// is answered right there by gobwas/ws's Upgrader, with no goroutine, no net.Conn and no
// net/http request; anything else goes to net/http, replayed through handoffListener. Going
// through net/http for every handshake cost ~60 µs of server CPU per connection (a goroutine
// and its stack growth, request parsing, the hijack, registering the socket with Go's poller
// and taking it away again), half of what a connect+auth cost in all.

// listenKey marks the listening socket's events; connection keys carry an fd in their low
// 32 bits, and fds never reach 2^32-2.
const listenKey = ^uint64(0) - 1

// acceptBudget is how many connections one accept task takes before it yields to reads.
const acceptBudget = 64

// Handshake limits. A request line longer than maxRequestLine is not ours to judge: net/http
// answers it. A WebSocket handshake header larger than maxHandshakeBytes is refused with 431.
const (
	maxRequestLine    = 8 << 10
	maxHandshakeBytes = readBufSize
)

// listen takes ln's socket into the event loop.
func (s *Server) listen(ln net.Listener) error {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return fmt.Errorf("server: need a TCP listener, got %T", ln)
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return fmt.Errorf("listener: %w", err)
	}
	fd := -1
	var dupErr error
	if err := rc.Control(func(f uintptr) { fd, dupErr = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return fmt.Errorf("listener: %w", err)
	}
	if dupErr != nil {
		return fmt.Errorf("listener: dup: %w", dupErr)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return fmt.Errorf("listener: nonblock: %w", err)
	}
	s.ln = ln
	s.lfd.Store(int32(fd))
	if err := s.poller.Add(fd, listenKey); err != nil {
		s.lfd.Store(-1)
		unix.Close(fd)
		return err
	}
	return nil
}

func (s *Server) scheduleAccept() {
	if s.acceptPend.Add(1) == 1 {
		s.pool.push(task{kind: taskAccept})
	}
}

// runAccept holds the accept slot until no request is left, like Conn.runRead.
func (s *Server) runAccept() {
	for {
		n := s.acceptPend.Load()
		if !s.acceptSome() {
			s.pool.push(task{kind: taskAccept})
			return
		}
		if s.acceptPend.Add(-n) == 0 {
			return
		}
	}
}

// acceptSome accepts up to acceptBudget connections; drained is false when more may wait.
// Only the accept slot touches the listening descriptor, so it is also the one to close it.
func (s *Server) acceptSome() (drained bool) {
	lfd := int(s.lfd.Load())
	if lfd < 0 {
		return true
	}
	if s.stopping.Load() {
		if err := s.poller.Del(lfd); err != nil {
			s.log.Debug("poller del listener", zap.Error(err))
		}
		unix.Close(lfd)
		s.lfd.Store(-1)
		return true
	}
	for range acceptBudget {
		fd, _, err := unix.Accept4(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		switch {
		case err == nil:
			s.adopt(fd)
		case errors.Is(err, unix.EAGAIN):
			return true
		case errors.Is(err, unix.EINTR), errors.Is(err, unix.ECONNABORTED):
		case errors.Is(err, unix.EMFILE), errors.Is(err, unix.ENFILE),
			errors.Is(err, unix.ENOBUFS), errors.Is(err, unix.ENOMEM):
			// The backlog keeps the connection; no new edge will come for it, so try again
			// once some descriptor may have been freed.
			if now := time.Now().UnixNano(); now-s.acceptWarned.Load() > int64(time.Second) {
				s.acceptWarned.Store(now)
				s.log.Warn("accept: out of descriptors or memory; retrying", zap.Error(err))
			}
			time.AfterFunc(100*time.Millisecond, s.scheduleAccept)
			return true
		default:
			s.log.Error("accept", zap.Error(err))
			return true
		}
	}
	return false
}

// adopt registers a new socket. Its handshake is read by the read slot when bytes arrive;
// epoll reports bytes that came before the registration as well.
func (s *Server) adopt(fd int) {
	// Go's net package sets TCP_NODELAY on every connection; replies and pushes are small
	// writes that must not wait for Nagle.
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		s.log.Debug("TCP_NODELAY", zap.Error(err))
	}
	now := time.Now().UnixNano()
	c := &Conn{srv: s, fd: fd, openedAt: now}
	c.lastSeen.Store(now)
	s.table.put(c)
	if err := s.poller.Add(fd, c.key); err != nil {
		s.log.Error("poller add", zap.Error(err))
		s.table.remove(c)
		unix.Close(fd)
	}
}

// handshake consumes bytes of a connection that is not a WebSocket yet. It returns the bytes
// that followed a successful upgrade's request (the client's first frames, if it did not
// wait) and whether the connection is now a WebSocket. Read slot only.
func (c *Conn) handshake(w *worker, data []byte) (rest []byte, upgraded bool) {
	buf := data
	if c.hs != nil {
		c.hs = append(c.hs, data...)
		buf = c.hs
	}
	route, end := routeRequest(buf, c.srv.cfg.Load().ConformanceEcho)
	switch route {
	case routeMore:
		if c.hs == nil {
			c.hs = append(make([]byte, 0, 2*len(data)), data...)
		}
		return nil, false
	case routeHTTP:
		c.handoff(buf)
		return nil, false
	case routeTooLarge:
		c.reject("431 Request Header Fields Too Large")
		return nil, false
	}
	req, rest := buf[:end], buf[end:]
	if c.srv.stopping.Load() {
		c.reject("503 Service Unavailable")
		return nil, false
	}
	w.hsConn.reset(req, c.fd)
	w.origin = w.origin[:0]
	if _, err := w.upgrader.Upgrade(&w.hsConn); err != nil {
		// The Upgrader answered with the status the error calls for (400, 405, 426).
		c.srv.logHandshake(c.fd, err)
		c.releaseNow()
		return nil, false
	}
	c.hs = nil
	c.srv.initConn(c, string(w.origin), route == routeEcho)
	c.upgraded.Store(true)
	c.srv.obs.ConnOpened()
	if route == routePusher {
		key, proto := pusherTarget(req)
		c.srv.pusherOpen(c, key, proto)
	}
	return rest, true
}

// reject answers a handshake with an empty error response and drops the connection.
func (c *Conn) reject(status string) {
	resp := "HTTP/1.1 " + status + "\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
	_, _ = unix.Write(c.fd, []byte(resp)) // best effort: the connection goes either way
	c.srv.logHandshake(c.fd, errors.New(status))
	c.releaseNow()
}

func (s *Server) logHandshake(fd int, err error) {
	if ce := s.log.Check(zapcore.DebugLevel, "handshake failed"); ce != nil {
		remote := "?"
		if sa, perr := unix.Getpeername(fd); perr == nil {
			if in, ok := sa.(*unix.SockaddrInet4); ok {
				remote = (&net.TCPAddr{IP: in.Addr[:], Port: in.Port}).String()
			} else if in, ok := sa.(*unix.SockaddrInet6); ok {
				remote = (&net.TCPAddr{IP: in.Addr[:], Port: in.Port}).String()
			}
		}
		ce.Write(zap.String("remote", remote), zap.Error(err))
	}
}

// handoff gives a plain HTTP connection to net/http, with the bytes already read. Read slot
// only; the Conn is dead afterwards.
func (c *Conn) handoff(buf []byte) {
	s := c.srv
	if err := s.poller.Del(c.fd); err != nil {
		s.log.Debug("poller del", zap.Error(err))
	}
	s.table.remove(c)
	c.mu.Lock()
	c.released = true
	c.mu.Unlock()
	c.hs = nil
	f := os.NewFile(uintptr(c.fd), "http")
	nc, err := net.FileConn(f) // a duplicate, registered with Go's poller
	if cerr := f.Close(); cerr != nil {
		s.log.Debug("close handed-off socket", zap.Error(cerr))
	}
	if err != nil {
		s.log.Error("hand off to net/http", zap.Error(err))
		return
	}
	if !s.httpLn.deliver(&prefixConn{Conn: nc, pre: bytes.Clone(buf)}) {
		nc.Close()
	}
}

// route is what the first bytes of a connection ask for.
type route uint8

const (
	routeMore     route = iota // the request line, or a WebSocket request's header, is incomplete
	routeHTTP                  // anything but a WebSocket handshake on our paths: net/http's
	routeWS                    // GET /ws
	routeEcho                  // GET /ws/echo, when the conformance echo is on
	routeTooLarge              // a WebSocket handshake header over maxHandshakeBytes
	routePusher                // GET /app/{key}: the Pusher protocol (pusher_conn.go)
)

// routeRequest decides from a connection's first bytes who handles it. For routeWS and
// routeEcho, end is the length of the request through its blank line. Only origin-form
// targets that are exactly the path (plus a query) take the fast path; everything else,
// odd spellings included, reaches the same handlers through net/http's mux.
func routeRequest(buf []byte, echo bool) (r route, end int) {
	nl := bytes.IndexByte(buf, '\n')
	switch {
	case nl > maxRequestLine || (nl < 0 && len(buf) > maxRequestLine):
		return routeHTTP, 0
	case nl < 0:
		return routeMore, 0
	}
	line := bytes.TrimSuffix(buf[:nl], []byte{'\r'})
	method, rest, ok1 := bytes.Cut(line, []byte{' '})
	target, _, ok2 := bytes.Cut(rest, []byte{' '})
	if !ok1 || !ok2 || string(method) != "GET" {
		return routeHTTP, 0
	}
	origin, absolute := originForm(target)
	path, _, _ := bytes.Cut(origin, []byte{'?'})
	switch {
	case absolute && !bytes.HasPrefix(path, []byte("/app/")):
		return routeHTTP, 0 // net/http serves the absolute form of its own paths
	case string(path) == "/ws":
		r = routeWS
	case echo && string(path) == "/ws/echo":
		r = routeEcho
	case bytes.HasPrefix(path, []byte("/app/")) && len(path) > len("/app/"):
		// Pusher clients behind some proxies send the absolute form; net/http has no
		// Pusher handler, so it takes the fast path in both forms.
		r = routePusher
	default:
		return routeHTTP, 0
	}
	end = headerEnd(buf, nl+1)
	switch {
	case end > maxHandshakeBytes || (end < 0 && len(buf) > maxHandshakeBytes):
		return routeTooLarge, 0
	case end < 0:
		return routeMore, 0
	}
	return r, end
}

// originForm returns the origin form (path and query) of a request target; absolute is true
// when target was in absolute form ("http://host/path?query"), whose path then starts at the
// first slash after the authority ("" when there is none).
func originForm(target []byte) (origin []byte, absolute bool) {
	if len(target) == 0 || target[0] == '/' {
		return target, false
	}
	i := bytes.Index(target, []byte("://"))
	if i <= 0 {
		return target, false
	}
	rest := target[i+3:]
	j := bytes.IndexByte(rest, '/')
	if j < 0 {
		return nil, true
	}
	return rest[j:], true
}

// headerEnd returns the length of the request through the empty line that ends its header
// (CRLF or bare LF line ends, as net/http accepts), searching lines from offset from; -1 if
// the header is incomplete.
func headerEnd(buf []byte, from int) int {
	for i := from; i < len(buf); {
		nl := bytes.IndexByte(buf[i:], '\n')
		if nl < 0 {
			return -1
		}
		if nl == 0 || (nl == 1 && buf[i] == '\r') {
			return i + nl + 1
		}
		i += nl + 1
	}
	return -1
}

// hsConn is the Upgrader's view of a connection: it reads the request already received
// and writes straight to the socket. A fresh socket's send buffer always has room for the
// ~130-byte response, so a short write is an error rather than something to wait for.
type hsConn struct {
	r  bytes.Reader
	fd int
}

func (h *hsConn) reset(req []byte, fd int) { h.r.Reset(req); h.fd = fd }

func (h *hsConn) Read(p []byte) (int, error) { return h.r.Read(p) }

func (h *hsConn) Write(p []byte) (int, error) {
	n, err := unix.Write(h.fd, p)
	if err != nil {
		return max(n, 0), fmt.Errorf("handshake response: %w", err)
	}
	if n < len(p) {
		return n, io.ErrShortWrite
	}
	return n, nil
}

// newUpgrader builds a worker's Upgrader: it records the Origin header in the worker's
// scratch, so a handshake allocates no closure.
func newUpgrader(w *worker) ws.Upgrader {
	return ws.Upgrader{
		ReadBufferSize: maxHandshakeBytes,
		OnHeader: func(key, value []byte) error {
			if string(key) == "Origin" {
				w.origin = append(w.origin[:0], value...)
			}
			return nil
		},
	}
}

// prefixConn replays bytes the event loop read before it handed the connection off.
type prefixConn struct {
	net.Conn
	pre []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.pre) > 0 {
		n := copy(b, p.pre)
		p.pre = p.pre[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

// handoffListener is the net.Listener net/http serves: its connections come from the event
// loop rather than from accept(2).
type handoffListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newHandoffListener(addr net.Addr) *handoffListener {
	return &handoffListener{addr: addr, conns: make(chan net.Conn, 64), done: make(chan struct{})}
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return l.addr }

// deliver queues c for net/http; false once the listener is closed.
func (l *handoffListener) deliver(c net.Conn) bool {
	select {
	case <-l.done:
		return false
	default:
	}
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}
