package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/engine"
	"github.com/rtmate/rtmate/rtmate-server/internal/hub"
	"github.com/rtmate/rtmate/rtmate-server/internal/netpoll"
	"github.com/rtmate/rtmate/rtmate-server/internal/script"
)

// Server is one RTMate node: the HTTP listener, the epoll loop, the worker pool, the hub and
// the engine. Create it with New, run it with Serve, stop it with Shutdown. Safe for
// concurrent use.
type Server struct {
	cfg    atomic.Pointer[config.Config]
	apps   atomic.Pointer[appSet]
	log    *zap.Logger
	nodeID string
	// pusherNode is nodeID in decimal, the first half of Pusher socket ids.
	pusherNode string

	engine    engine.Engine // rawEngine behind an error counter
	hub       *hub.Hub
	poller    *netpoll.Poller
	pool      *pool
	obs       Observer
	pobs      PusherObserver         // obs's Pusher webhook events (pusher_observer.go)
	members   memberLocks            // pusher_member.go
	announcer engine.MemberAnnouncer // nil: memberLocks decide announcements (pusher_member.go)
	occupancy occupancy              // pusher_occupancy.go
	hooks     Hooks

	scriptMetrics *script.Metrics
	workers       int

	table   connTable
	clients clientIndex
	nextID  atomic.Uint64

	rawEngine  engine.Engine               // what Options.Engine gave (Engine returns it)
	queueDrops atomic.Uint64               // outbound frames refused or discarded (slow consumers)
	engineErrs [NumEngineOps]atomic.Uint64 // see engine_errors.go

	ln           net.Listener     // what Serve was given; closed by Shutdown
	lfd          atomic.Int32     // the event loop's duplicate of ln's socket; -1 = none
	acceptPend   atomic.Int32     // accept-slot requests, like Conn.readPend
	acceptWarned atomic.Int64     // Unix nanos of the last "out of descriptors" warning
	httpLn       *handoffListener // plain HTTP connections, handed over by the event loop

	cl clusterOps // cluster.go

	mux      *http.ServeMux
	httpSrv  *http.Server
	stopping atomic.Bool
	done     chan struct{}
	wg       sync.WaitGroup
}

// Options are the parts of a Server that are not configuration.
type Options struct {
	// Engine defaults to engine.NewMemory().
	Engine engine.Engine
	// Observer is told about connections, subscriptions and requests (metrics, webhooks).
	Observer Observer
	// Hooks decide on connections and subscriptions synchronously (connect hooks).
	Hooks Hooks
}

// New builds a server from a validated configuration.
func New(cfg *config.Config, log *zap.Logger, opts Options) (*Server, error) {
	s := &Server{log: log, done: make(chan struct{}), obs: opts.Observer, engine: opts.Engine}
	s.lfd.Store(-1)
	if s.obs == nil {
		s.obs = nopObserver{}
	}
	s.pobs = pusherObserver(s.obs)
	s.hooks = opts.Hooks
	if s.hooks == nil {
		s.hooks = nopHooks{}
	}
	if s.engine == nil {
		s.engine = engine.NewMemory()
	}
	s.rawEngine = s.engine
	counted := countErrors{Engine: s.engine, errs: &s.engineErrs}
	s.engine, s.announcer = counted, counted.announcer()
	s.cfg.Store(cfg)
	s.workers = cfg.Workers
	if s.workers <= 0 {
		s.workers = defaultWorkers(cfg)
	}
	s.scriptMetrics = script.NewMetrics()
	apps, err := buildApps(cfg, nil)
	if err != nil {
		return nil, err
	}
	if err := s.loadScripts(cfg, apps, nil); err != nil {
		return nil, fmt.Errorf("scripts: %w", err)
	}
	s.apps.Store(apps)
	if weak := weakSecrets(cfg); len(weak) > 0 {
		log.Warn("HS256 secrets shorter than 32 bytes can be brute-forced; use longer ones", zap.Strings("apps", weak))
	}

	var id [4]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("node id: %w", err)
	}
	s.nodeID = hex.EncodeToString(id[:])
	s.pusherNode = pusherNodeNumber(s.nodeID)

	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return nil, fmt.Errorf("getrlimit: %w", err)
	}
	s.table.init(int(min(lim.Cur, 1<<22)))
	s.clients.init()

	s.poller, err = netpoll.New()
	if err != nil {
		return nil, err
	}
	s.pool = newPool(s.workers, s.runTask, newWorker)
	coalesce := config.DefaultWriteCoalesce
	if cfg.WriteCoalesce != nil {
		coalesce = *cfg.WriteCoalesce
	}
	s.pool.pace(coalesce)
	s.hub = hub.New(s.pool.scheduleBatch, s.pool.spawnFanout)

	s.mux = http.NewServeMux()
	s.routes(cfg)
	s.httpSrv = &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: cfg.HandshakeTimeout,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          zap.NewStdLog(log.Named("http")),
	}
	return s, nil
}

// Handle mounts an HTTP handler on the server's port (the API, metrics, the demo page).
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Config returns the configuration in force.
func (s *Server) Config() *config.Config { return s.cfg.Load() }

// Engine returns the engine the server publishes through.
func (s *Server) Engine() engine.Engine { return s.rawEngine }

// NodeID identifies this node in client ids and logs.
func (s *Server) NodeID() string { return s.nodeID }

// Serve runs the server on ln, a TCP listener, until Shutdown: WebSocket handshakes on the
// event loop, every other request through net/http. It returns nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.initCluster()
	s.setAdvertised(ln.Addr().String())
	if err := s.engine.Start(ctx, s); err != nil {
		return fmt.Errorf("start engine: %w", err)
	}
	if err := s.startCluster(ctx); err != nil {
		return fmt.Errorf("subscribe to the cluster control channels: %w", err)
	}
	s.httpLn = newHandoffListener(ln.Addr())
	if err := s.listen(ln); err != nil {
		return err
	}
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		if err := s.poller.Run(s.onEvent); err != nil {
			s.log.Error("poller stopped", zap.Error(err))
		}
	}()
	go func() {
		defer s.wg.Done()
		s.sweep()
	}()
	err := s.httpSrv.Serve(s.httpLn)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("serve http: %w", err)
}

// runTask is what a worker does with one task.
func (s *Server) runTask(w *worker, t task) {
	switch t.kind {
	case taskRead:
		t.conn.runRead(w)
	case taskFlush:
		t.conn.runFlush(w)
	case taskFlushBatch:
		for _, c := range *t.batch {
			c.runFlush(w)
		}
		s.pool.releaseBatch(t.batch)
	case taskAccept:
		s.runAccept()
	case taskFanout:
		t.fan.Run()
	}
	w.trim()
}

// onEvent runs on the poller goroutine: it only schedules.
func (s *Server) onEvent(key uint64, ev netpoll.Event) {
	if key == listenKey {
		s.scheduleAccept()
		return
	}
	c := s.table.get(key)
	if c == nil {
		return
	}
	if ev&netpoll.Readable != 0 {
		c.scheduleRead()
	}
	if ev&netpoll.Writable != 0 && c.outPending.Load() {
		c.scheduleFlush()
	}
}

// upgrade is the WebSocket handshake for requests that reached net/http: targets the event
// loop does not route itself (see routeRequest), such as absolute-form URIs.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request, echo bool) {
	if s.stopping.Load() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	cfg := s.cfg.Load()
	nc, rw, _, err := ws.HTTPUpgrader{Timeout: cfg.HandshakeTimeout}.Upgrade(r, w)
	if err != nil {
		if nc != nil {
			nc.Close()
		}
		s.log.Debug("upgrade failed", zap.String("remote", r.RemoteAddr), zap.Error(err))
		return
	}
	if pc, ok := nc.(*prefixConn); ok {
		nc = pc.Conn // net/http has consumed the replayed bytes
	}
	tcp, ok := nc.(*net.TCPConn)
	if !ok {
		nc.Close()
		s.log.Error("upgrade: not a TCP connection", zap.String("type", fmt.Sprintf("%T", nc)))
		return
	}
	fd, err := detachFD(tcp)
	if err != nil {
		s.log.Error("upgrade: no fd", zap.Error(err))
		return
	}
	now := time.Now().UnixNano()
	c := &Conn{srv: s, fd: fd, openedAt: now}
	c.lastSeen.Store(now)
	s.initConn(c, r.Header.Get("Origin"), echo)
	c.upgraded.Store(true)
	// put sets c.key before it publishes c; assigning it again here would race with the
	// poller's table.get for a stale event on the same fd.
	s.table.put(c)

	// Bytes the client sent right after its request were read by net/http; hand them to the
	// read slot before the poller can schedule it.
	if n := rw.Reader.Buffered(); n > 0 {
		early, _ := rw.Reader.Peek(n)
		c.readPend.Add(1)
		wk := newWorker()
		c.w = wk
		if err := c.rd.Feed(append([]byte(nil), early...), c); err != nil {
			c.onStreamError(err)
		}
		c.w = nil
		c.readPend.Add(-1)
	}
	s.obs.ConnOpened()
	if err := s.poller.Add(fd, c.key); err != nil {
		s.log.Error("poller add", zap.Error(err))
		c.requestRelease()
		return
	}
}

// initConn sets up a connection that has just become a WebSocket. Before upgraded is set, so
// that the sweeper and the API see these fields complete.
func (s *Server) initConn(c *Conn, origin string, echo bool) {
	cfg := s.cfg.Load()
	c.echo = echo
	c.origin = origin
	c.clientID = s.nodeID + "-" + strconv.FormatUint(s.nextID.Add(1), 36)
	c.maxQueue = cfg.Defaults.MaxQueueBytes
	c.rd.MaxMessage = cfg.Defaults.MaxMessageSize
	if echo {
		c.rd.MaxMessage = max(c.rd.MaxMessage, 16<<20) // conformance cases send up to 16 MiB
		c.maxQueue = max(c.maxQueue, 64<<20)
	}
}

// detachFD takes the socket away from Go's runtime: it keeps a duplicate of the descriptor and
// closes the net.Conn. The event loop does its own polling and I/O on it, and Go's netFD, its
// addresses and its runtime poll descriptor (together ~450 bytes of an idle connection's
// ~1.7 KiB) are freed. The net.Conn is closed on every path.
func detachFD(c *net.TCPConn) (int, error) {
	defer func() { _ = c.Close() }() // the duplicate is what lives on
	fd, err := rawFD(c)
	if err != nil {
		return 0, err
	}
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("dup: %w", err)
	}
	if err := unix.SetNonblock(dup, true); err != nil {
		unix.Close(dup)
		return 0, fmt.Errorf("nonblock: %w", err)
	}
	return dup, nil
}

func rawFD(c *net.TCPConn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("syscall conn: %w", err)
	}
	fd := -1
	if err := rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return 0, fmt.Errorf("control: %w", err)
	}
	return fd, nil
}

// forget unregisters a released connection and closes its socket. Read slot only.
func (s *Server) forget(c *Conn) {
	if err := s.poller.Del(c.fd); err != nil && !errors.Is(err, syscall.EBADF) {
		s.log.Debug("poller del", zap.Error(err))
	}
	s.table.remove(c)
	if err := unix.Close(c.fd); err != nil {
		s.log.Debug("close socket", zap.Error(err))
	}
}

// Shutdown stops accepting, closes every connection with 1001, drains outbound queues until
// ctx ends, then releases whatever is left.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.stopping.CompareAndSwap(false, true) {
		return errors.New("server: already shut down")
	}
	s.scheduleAccept() // the accept slot sees stopping and closes the listening socket
	if s.ln != nil {
		_ = s.ln.Close() // the caller's descriptor of the same socket; nothing else to do on error
	}
	hctx, cancel := context.WithTimeout(ctx, time.Second)
	_ = s.httpSrv.Shutdown(hctx) // plain HTTP only: WebSockets are not net/http's
	cancel()

	s.table.each(func(c *Conn) { c.requestClose(CloseGoingAway) })
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
wait:
	for s.table.count() > 0 {
		select {
		case <-ctx.Done():
			break wait
		case <-tick.C:
		}
	}
	s.table.each(func(c *Conn) { c.requestRelease() })
	for i := 0; i < 100 && s.table.count() > 0; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	close(s.done)
	if err := s.poller.Close(); err != nil {
		s.log.Warn("close poller", zap.Error(err))
	}
	s.wg.Wait()
	s.pool.close()
	s.apps.Load().closeScripts(nil)
	if err := s.engine.Close(); err != nil {
		return fmt.Errorf("close engine: %w", err)
	}
	return nil
}

// Reload swaps in a new configuration: apps, keys and limits change for new requests; the
// connections of an app that is gone are closed with 4004.
func (s *Server) Reload(cfg *config.Config) error {
	prev := s.apps.Load()
	apps, err := buildApps(cfg, prev)
	if err != nil {
		return err
	}
	if err := s.loadScripts(cfg, apps, prev); err != nil {
		return err
	}
	s.cfg.Store(cfg)
	s.apps.Store(apps)
	prev.closeScripts(apps)
	s.table.each(func(c *Conn) {
		if c.authed.Load() && apps.app(c.appID) == nil {
			c.requestClose(CloseDisconnected)
		}
	})
	return nil
}

// Stats is a snapshot of the node for /readyz, metrics and tests.
type Stats struct {
	Connections   int
	Channels      int
	Subscriptions int
	// QueueDrops counts outbound frames never written because a connection's queue was over
	// its bound: the frame refused, then whatever the slow consumer still had queued.
	QueueDrops uint64
	// EngineErrors counts failed engine calls by operation (index with EngineOp).
	EngineErrors [NumEngineOps]uint64
}

// Stats returns current counts.
func (s *Server) Stats() Stats {
	ch, subs := s.hub.Stats()
	st := Stats{Connections: s.table.count(), Channels: ch, Subscriptions: subs, QueueDrops: s.queueDrops.Load()}
	for i := range s.engineErrs {
		st.EngineErrors[i] = s.engineErrs[i].Load()
	}
	return st
}

// connTable maps epoll keys to connections. It is indexed by fd, so lookups on the poller's
// hot path are one atomic load; the key's high half is a generation that tells a reused fd
// from the connection that had it before.
type connTable struct {
	slots []atomic.Pointer[Conn]
	gen   atomic.Uint32
	n     atomic.Int64
}

func (t *connTable) init(size int) { t.slots = make([]atomic.Pointer[Conn], size) }

func (t *connTable) put(c *Conn) uint64 {
	g := t.gen.Add(1)
	c.key = uint64(uint32(c.fd)) | uint64(g)<<32
	if c.fd >= len(t.slots) {
		panic(fmt.Sprintf("fd %d beyond RLIMIT_NOFILE %d", c.fd, len(t.slots)))
	}
	t.slots[c.fd].Store(c)
	t.n.Add(1)
	return c.key
}

func (t *connTable) get(key uint64) *Conn {
	fd := int(uint32(key))
	if fd >= len(t.slots) {
		return nil
	}
	c := t.slots[fd].Load()
	if c == nil || c.key != key {
		return nil
	}
	return c
}

func (t *connTable) remove(c *Conn) {
	if t.slots[c.fd].CompareAndSwap(c, nil) {
		t.n.Add(-1)
	}
}

func (t *connTable) count() int { return int(t.n.Load()) }

func (t *connTable) each(f func(*Conn)) {
	for i := range t.slots {
		if c := t.slots[i].Load(); c != nil {
			f(c)
		}
	}
}

// defaultWorkers is one worker per CPU: more workers than CPUs only time-slice the fan-out
// flushes against the read that accepts the next publication, which then waits for the
// previous fan-out, and coalescing never happens (10k subscribers at 200 msgs/s: 8 workers on
// 2 CPUs delivered 0.13M msgs/s at one frame per writev; 2 workers 1.7M/s at ~28). Apps with a
// synchronous connect hook park a worker for up to its timeout, so they get four per CPU.
func defaultWorkers(cfg *config.Config) int {
	n := runtime.GOMAXPROCS(0)
	for i := range cfg.Apps {
		if wh := cfg.Apps[i].Webhook; wh != nil && wh.ConnectHook != "" {
			return 4 * n
		}
	}
	return max(2, n)
}
