// Package netpoll is a minimal edge-triggered epoll readiness loop, so that an idle
// connection costs no goroutine and no buffer: the server learns that a socket has data (or
// room) and hands it to a bounded worker pool.
//
// Entry points: New, (*Poller).Add, (*Poller).Del, (*Poller).Run, (*Poller).Close.
package netpoll
