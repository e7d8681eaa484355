package bench

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// A worker's subscriber sockets are served, once set up, by a few poll loops rather than a
// goroutine each: a goroutine per connection cost a netpoll wakeup, a scheduler round and
// a layered read per arrival, as much CPU per delivery as the server spent (10k
// subscribers, ~1.8M deliveries/s). A loop owns an epoll instance and one large buffer,
// reads whole socket buffers into it and parses the frames in place; a connection keeps
// only the bytes of an incomplete trailing frame (wsReceiver.carry).

// pollBufSize is each loop's read buffer: a whole socket receive queue in one read.
const pollBufSize = 256 << 10

// pollEvents is how many readiness events one epoll_wait returns at most.
const pollEvents = 512

// pollBackstopMs bounds each epoll_wait, so that a loop notices stop even if its wake-up
// write failed.
const pollBackstopMs = 1000

// wakeIndex is the epoll key of a loop's eventfd; connections are keyed by their index in
// pollLoop.conns.
const wakeIndex = -1

// pollGroup is a worker's set of poll loops. add, start and stop are called from one
// goroutine, in that order.
type pollGroup struct {
	loops   []*pollLoop
	next    int
	started bool
}

type pollLoop struct {
	w        *worker
	epfd     int
	wakeFd   int
	stopping atomic.Bool
	conns    []*benchConn // by epoll key; nil once ended
	buf      []byte
}

// newPollGroup creates n loops (at least one) for w's connections.
func newPollGroup(w *worker, n int) (*pollGroup, error) {
	g := &pollGroup{}
	for range max(n, 1) {
		l, err := newPollLoop(w)
		if err != nil {
			g.closeAll()
			return nil, err
		}
		g.loops = append(g.loops, l)
	}
	return g, nil
}

func newPollLoop(w *worker) (*pollLoop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	wfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		closeFd(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	l := &pollLoop{w: w, epfd: epfd, wakeFd: wfd}
	if err := l.register(wfd, wakeIndex); err != nil {
		l.closeFds()
		return nil, fmt.Errorf("register the eventfd: %w", err)
	}
	return l, nil
}

// register watches fd for reading, edge-triggered: level-triggered epoll checks every
// socket it reported again in the next epoll_wait, which cost a fifth of the loops' time.
// See serve for how a socket is read.
func (l *pollLoop) register(fd, key int) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(key)}
	return unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
}

// add detaches c's socket from Go's runtime and gives it to a loop. On error c stays on
// c.nc, for a goroutine to read (when closing c.nc is what failed, that reader reports the
// connection lost at once).
func (g *pollGroup) add(c *benchConn) error {
	l := g.loops[g.next%len(g.loops)]
	fd, err := dupSocket(c.nc)
	if err != nil {
		return err
	}
	if err := l.register(fd, len(l.conns)); err != nil {
		closeFd(fd)
		return fmt.Errorf("epoll_ctl add: %w", err)
	}
	// Closing the net.Conn takes the original descriptor out of Go's netpoll; the duplicate
	// keeps the socket open.
	if err := c.nc.Close(); err != nil {
		closeFd(fd) // the only descriptor left: closing it also unregisters it
		return fmt.Errorf("close the net.Conn: %w", err)
	}
	g.next++
	c.nc, c.fd = nil, fd
	l.conns = append(l.conns, c)
	return nil
}

// dupSocket returns a non-blocking, close-on-exec duplicate of nc's descriptor.
func dupSocket(nc net.Conn) (int, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("%T has no descriptor", nc)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("syscall conn: %w", err)
	}
	fd, dupErr := -1, error(nil)
	if err := raw.Control(func(s uintptr) { fd, dupErr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, fmt.Errorf("control: %w", err)
	}
	if dupErr != nil {
		return -1, fmt.Errorf("dup: %w", dupErr)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		closeFd(fd)
		return -1, fmt.Errorf("set non-blocking: %w", err)
	}
	return fd, nil
}

// start runs the loops, counted in wg.
func (g *pollGroup) start(wg *sync.WaitGroup) {
	g.started = true
	for _, l := range g.loops {
		wg.Go(l.run)
	}
}

// stop makes the loops end their connections, release their descriptors and return (at
// once if they never started).
func (g *pollGroup) stop() error {
	if !g.started {
		g.closeAll()
		return nil
	}
	var errs []error
	for _, l := range g.loops {
		l.stopping.Store(true)
		var one = [8]byte{1}
		if _, err := unix.Write(l.wakeFd, one[:]); err != nil {
			errs = append(errs, fmt.Errorf("wake a poll loop (it stops within %d ms anyway): %w", pollBackstopMs, err))
		}
	}
	return errors.Join(errs...)
}

func (g *pollGroup) closeAll() {
	for _, l := range g.loops {
		l.shutdown()
	}
}

func (l *pollLoop) run() {
	defer l.shutdown()
	l.buf = make([]byte, pollBufSize)
	// What arrived with the setup comes first.
	for i, c := range l.conns {
		if err := c.rx.drain(c); err != nil || c.readErr != nil {
			l.end(i, err)
			continue
		}
		c.publishFresh()
	}
	events := make([]unix.EpollEvent, pollEvents)
	for !l.stopping.Load() {
		n, err := unix.EpollWait(l.epfd, events, pollBackstopMs)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			l.endAll(fmt.Errorf("epoll_wait: %w", err))
			return
		}
		for _, ev := range events[:n] {
			if ev.Fd != wakeIndex {
				l.serve(int(ev.Fd), ev.Events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0)
			}
		}
	}
}

// serve reads connection i until its receive queue is empty: until a read does not fill
// the room it was given, since a TCP read returns short only when the queue is empty and
// bytes arriving later raise a new edge. A FIN or an error already queued behind the
// bytes raises none, so when the event reports one (hangup), reading goes on until the
// read that says so.
func (l *pollLoop) serve(i int, hangup bool) {
	c := l.conns[i]
	if c == nil {
		return
	}
	for {
		n, full, err := c.rx.receive(l.buf, c.readFd, c)
		if err != nil || c.readErr != nil {
			l.end(i, err)
			return
		}
		c.publishFresh()
		if !full && (!hangup || n == 0) {
			return
		}
	}
}

// readFd reads the detached socket: (0, nil) when it has nothing after all, io.EOF when the
// peer has closed it.
func (c *benchConn) readFd(p []byte) (int, error) {
	for {
		n, err := unix.Read(c.fd, p)
		switch {
		case err == nil && n == 0:
			return 0, io.EOF
		case err == nil:
			return n, nil
		case errors.Is(err, unix.EINTR):
		case errors.Is(err, unix.EAGAIN):
			return 0, nil
		default:
			return 0, fmt.Errorf("read: %w", err)
		}
	}
}

// end closes connection i: err (or the close frame's, already in c.readErr) is why, and
// it counts as lost unless the worker is stopping.
func (l *pollLoop) end(i int, err error) {
	c := l.conns[i]
	if c.readErr == nil {
		c.readErr = err
	}
	c.lost = !l.w.stopping.Load()
	// The loop's descriptor is the socket's only one: closing it also unregisters it.
	closeFd(c.fd)
	c.fd = -1
	l.conns[i] = nil
	c.flushAll()
	c.done.Store(true)
}

func (l *pollLoop) endAll(err error) {
	for i, c := range l.conns {
		if c != nil {
			l.end(i, err)
		}
	}
}

// shutdown ends the remaining connections and releases the loop's descriptors.
func (l *pollLoop) shutdown() {
	l.endAll(errors.New("closed by the worker"))
	l.closeFds()
}

func (l *pollLoop) closeFds() {
	closeFd(l.wakeFd)
	closeFd(l.epfd)
}

// closeFd closes a descriptor this package owns. Linux releases the descriptor even when
// close reports an error (EINTR, EIO), and there is nothing to retry, so the error is
// of no use.
func closeFd(fd int) {
	_ = unix.Close(fd)
}

// writeFd writes all of b to a detached, non-blocking socket, waiting for room when the
// socket's send buffer is full. Only pongs go this way, which are rare and small, so the
// wait (it holds up the whole loop) practically never happens.
func writeFd(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		switch {
		case err == nil:
			b = b[n:]
		case errors.Is(err, unix.EINTR):
		case errors.Is(err, unix.EAGAIN):
			if err := waitWritable(fd); err != nil {
				return err
			}
		default:
			return fmt.Errorf("write: %w", err)
		}
	}
	return nil
}

// writeTimeoutMs matches the 10 s write deadline of connections still on a net.Conn.
const writeTimeoutMs = 10_000

func waitWritable(fd int) error {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	for {
		n, err := unix.Poll(pfd, writeTimeoutMs)
		switch {
		case errors.Is(err, unix.EINTR):
		case err != nil:
			return fmt.Errorf("poll: %w", err)
		case n == 0:
			return fmt.Errorf("write: no room in the send buffer for %d ms", writeTimeoutMs)
		default:
			return nil
		}
	}
}
