//go:build linux

package netpoll

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Event is the readiness reported for one registered descriptor.
type Event uint32

// Readiness bits.
const (
	Readable Event = 1 << iota
	Writable
	Hangup // peer closed its side, or an error is pending: the next read reports which
)

// Handler receives readiness. It runs on the poller goroutine and must not block: it should
// only schedule work. Key is what Add was given.
type Handler func(key uint64, ev Event)

// Poller wraps one epoll instance. Safe for concurrent use; Run is called once.
type Poller struct {
	epfd   int
	wakeFd int // eventfd that interrupts Run on Close
}

// New creates a poller.
func New() (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("netpoll: epoll_create1: %w", err)
	}
	wfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("netpoll: eventfd: %w", err)
	}
	p := &Poller{epfd: epfd, wakeFd: wfd}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	setKey(&ev, wakeKey)
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wfd, &ev); err != nil {
		p.closeFds()
		return nil, fmt.Errorf("netpoll: register eventfd: %w", err)
	}
	return p, nil
}

// wakeKey cannot collide with a connection key: keys carry an fd in their low 32 bits and
// fds are far below 2^32-1.
const wakeKey = ^uint64(0)

// setKey stores the 64-bit key in the event's data union (Fd and Pad are its two halves).
func setKey(ev *unix.EpollEvent, key uint64) {
	ev.Fd = int32(uint32(key))
	ev.Pad = int32(uint32(key >> 32))
}

func getKey(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

// Add registers fd for edge-triggered read and write readiness.
func (p *Poller) Add(fd int, key uint64) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET}
	setKey(&ev, key)
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("netpoll: add fd %d: %w", fd, err)
	}
	return nil
}

// Del unregisters fd. It must be called before the fd is closed, so that a reused fd number
// never receives a stale registration.
func (p *Poller) Del(fd int) error {
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("netpoll: del fd %d: %w", fd, err)
	}
	return nil
}

// Run waits for readiness and calls h until Close. It locks no OS thread of its own beyond
// the one blocked in epoll_wait.
func (p *Poller) Run(h Handler) error {
	events := make([]unix.EpollEvent, 512)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return fmt.Errorf("netpoll: epoll_wait: %w", err)
		}
		for i := 0; i < n; i++ {
			ev := &events[i]
			key := getKey(ev)
			if key == wakeKey {
				p.closeFds()
				return nil
			}
			var e Event
			if ev.Events&(unix.EPOLLIN|unix.EPOLLPRI) != 0 {
				e |= Readable
			}
			if ev.Events&unix.EPOLLOUT != 0 {
				e |= Writable
			}
			if ev.Events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
				e |= Hangup | Readable
			}
			h(key, e)
		}
	}
}

// Close makes Run return; the epoll descriptor is released by Run.
func (p *Poller) Close() error {
	var one = [8]byte{1}
	if _, err := unix.Write(p.wakeFd, one[:]); err != nil {
		return fmt.Errorf("netpoll: wake: %w", err)
	}
	return nil
}

func (p *Poller) closeFds() {
	unix.Close(p.wakeFd)
	unix.Close(p.epfd)
}
