package bench

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/gobwas/ws"
	"github.com/rtmate/rtmate/rt-common/protocol"
)

// With -protocol pusher the connections that only receive (idle and fanout subscribers,
// connect's connections) speak the Pusher Channels protocol 7 on /app/{key}; publishers stay
// native, so a fan-out measures the server's delivery to Pusher connections of the same
// publications. Their pushes read {"event":"message","channel":…,"data":<the native data>}.

// Protocols of Config.Protocol.
const (
	ProtocolRTMate = "rtmate"
	ProtocolPusher = "pusher"
)

// pusherHeadFor is how a Pusher push of the tool's own publication on ch starts.
func pusherHeadFor(ch string) string {
	return `{"event":"message","channel":"` + ch + benchHead
}

var (
	pusherPingMsg = []byte(`{"event":"pusher:ping"`)
	pusherPongMsg = []byte(`{"event":"pusher:pong","data":{}}`)
)

// usesPusher reports whether connection r speaks the Pusher protocol.
func (c *Config) usesPusher(r role) bool { return c.Protocol == ProtocolPusher && !r.publish }

// pusherURL is the node's Pusher endpoint for raw, a native /ws URL.
func (c *Config) pusherURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("bad url %q: %w", raw, err)
	}
	u.Path = "/app/" + c.PusherKey
	u.RawQuery = "protocol=7&client=rtmate-bench&version=1"
	return u.String(), nil
}

// pusherSetup waits for connection_established and subscribes to c.ch (when it subscribes).
func (c *benchConn) pusherSetup(ctx context.Context, buf []byte) error {
	if err := c.awaitPusher(ctx, nil, "pusher:connection_established", buf); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if !c.role.subscribe {
		return nil
	}
	msg := []byte(`{"event":"pusher:subscribe","data":{"channel":`)
	msg = protocol.AppendString(msg, c.ch)
	msg = append(msg, "}}"...)
	if err := c.awaitPusher(ctx, msg, "pusher_internal:subscription_succeeded", buf); err != nil {
		return fmt.Errorf("subscribe %s: %w", c.ch, err)
	}
	return nil
}

// awaitPusher writes msg (nil: none) and reads until the event named want, or an error.
func (c *benchConn) awaitPusher(ctx context.Context, msg []byte, want string, buf []byte) error {
	deadline := time.Now().Add(10 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if msg != nil {
		if err := c.write(msg); err != nil {
			return err
		}
	}
	if err := c.nc.SetReadDeadline(deadline); err != nil {
		return err
	}
	pw := &pusherWaiter{c: c, want: []byte(`"event":"` + want + `"`)}
	if err := c.rx.drain(pw); err != nil {
		return err
	}
	for !pw.done {
		if _, _, err := c.rx.receive(buf, c.nc.Read, pw); err != nil {
			return err
		}
	}
	if pw.err != nil {
		return pw.err
	}
	if err := c.nc.SetReadDeadline(time.Time{}); err != nil {
		return fmt.Errorf("clear the read deadline: %w", err)
	}
	return nil
}

// pusherWaiter is the frame sink of a Pusher setup step.
type pusherWaiter struct {
	c    *benchConn
	want []byte
	done bool
	err  error
}

func (pw *pusherWaiter) onFrame(op ws.OpCode, p []byte, _ int64) bool {
	switch op {
	case ws.OpClose:
		code, reason := ws.ParseCloseFrameData(p)
		pw.done, pw.err = true, fmt.Errorf("server closed the connection: %d %s", code, reason)
		return false
	case ws.OpPing:
		if err := pw.c.writeFrame(ws.OpPong, p); err != nil {
			pw.done, pw.err = true, fmt.Errorf("answer a ping: %w", err)
			return false
		}
	case ws.OpText:
		switch {
		case bytes.Contains(p, pw.want):
			pw.done = true
			return false
		case bytes.Contains(p, []byte(`"event":"pusher:error"`)), bytes.Contains(p, []byte(`"event":"pusher:subscription_error"`)):
			pw.done, pw.err = true, fmt.Errorf("server answered %.200s", p)
			return false
		}
	}
	return true
}

// answerPusherPing answers the server's keepalive; it reports whether p was one.
func (c *benchConn) answerPusherPing(p []byte) bool {
	if !c.pusher || !bytes.HasPrefix(p, pusherPingMsg) {
		return false
	}
	if err := c.write(pusherPongMsg); err != nil && c.readErr == nil {
		c.readErr = fmt.Errorf("answer a pusher:ping: %w", err)
	}
	return true
}
