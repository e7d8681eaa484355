package server

import "time"

func nowNano() int64 { return time.Now().UnixNano() }

// sweepEvery is the resolution of every connection timer. One pass over the connection table
// replaces a runtime timer per connection (and its memory).
const sweepEvery = 250 * time.Millisecond

// sweep enforces the auth timeout, token expiry, write timeout, close handshake timeout,
// keepalive pings, the pong timeout and the dead-connection timeout.
func (s *Server) sweep() {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		cfg := s.cfg.Load()
		apps := s.apps.Load()
		now := time.Now()
		nowN, nowS := now.UnixNano(), now.Unix()
		s.table.each(func(c *Conn) {
			if !c.upgraded.Load() {
				if nowN-c.openedAt > int64(cfg.HandshakeTimeout) {
					c.requestRelease() // slow or silent handshake
				}
				return
			}
			lim := &cfg.Defaults
			authed := c.authed.Load()
			if authed {
				if a := apps.app(c.appID); a != nil {
					lim = &a.limits
				}
			}
			switch {
			case c.closingSince.Load() != 0:
				if nowN-c.closingSince.Load() > closeHandshakeGrace*int64(time.Second) {
					c.requestRelease()
				}
				return
			case !authed && !c.echo && nowN-c.openedAt > int64(lim.AuthTimeout):
				c.requestClose(CloseAuthTimeout)
				return
			case authed && c.exp.Load() != 0 && nowS >= c.exp.Load():
				c.requestClose(CloseTokenExpired)
				return
			}
			if b := c.blockedSince.Load(); b != 0 && nowN-b > int64(lim.WriteTimeout) {
				c.requestClose(CloseSlowConsumer)
				return
			}
			idle := nowN - c.lastSeen.Load()
			pingedAt := c.pingedAt.Load()
			switch {
			case idle > int64(cfg.IdleTimeout),
				pingedAt != 0 && nowN-pingedAt > int64(cfg.PongTimeout):
				// Dead, half-open or stalled (mid-frame or mid-fragment, which the frame
				// reader alone cannot tell from a slow peer): nobody would read a close frame.
				c.requestRelease()
			case pingedAt == 0 && idle > int64(cfg.PingInterval):
				c.pingedAt.Store(nowN)
				c.sendFrame(c.pingFrame(), true)
			}
		})
	}
}
