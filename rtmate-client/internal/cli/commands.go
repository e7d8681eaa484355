package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/rtmate/rtmate/rt-common/protocol"
	"github.com/rtmate/rtmate/rtmate-client/client"
)

// subscribe prints pushes until ctx ends (exit 0), -n messages were printed, or the client
// is closed for good. Handlers run one at a time, so the writes need no lock.
func subscribe(ctx context.Context, c *client.Client, o *options, channels []string, st Streams, states <-chan client.StateChange) error {
	done := make(chan error, 1)
	finish := func(err error) {
		select {
		case done <- err:
		default:
		}
	}
	printed := 0
	writeLine := func(line []byte) {
		if _, err := st.Out.Write(append(line, '\n')); err != nil {
			finish(fmt.Errorf("write output: %w", err))
		}
	}
	h := client.Handlers{
		OnMessage: func(p protocol.Publication) {
			var line []byte
			if o.full {
				line, _ = json.Marshal(p) // a Publication always encodes
			} else {
				var buf bytes.Buffer
				// Compact: a publisher may have sent indented JSON; one message, one line.
				if err := json.Compact(&buf, p.Data); err != nil {
					finish(fmt.Errorf("message on %s: %w", p.Channel, err))
					return
				}
				line = buf.Bytes()
			}
			writeLine(line)
			printed++
			if o.count > 0 && printed >= o.count {
				finish(nil)
			}
		},
		OnError: func(err error) { finish(err) },
	}
	if o.presence {
		presenceLine := func(event string) func(protocol.PresenceEvent) {
			return func(ev protocol.PresenceEvent) {
				line, _ := json.Marshal(struct {
					Event string `json:"event"`
					protocol.PresenceEvent
				}{event, ev})
				writeLine(line)
			}
		}
		h.OnJoin, h.OnLeave = presenceLine(protocol.PushJoin), presenceLine(protocol.PushLeave)
	}
	for _, ch := range channels {
		sctx, cancel := context.WithTimeout(ctx, o.timeout)
		_, err := c.Subscribe(sctx, ch, h)
		cancel()
		if err != nil {
			return fmt.Errorf("subscribe %s: %w", ch, err)
		}
		fmt.Fprintf(st.Err, "rtmate: subscribed to %s\n", ch)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-done:
			return err
		case ch := <-states:
			if ch.To == client.StateClosed {
				return fmt.Errorf("disconnected for good: %w", ch.Err)
			}
		}
	}
}

// publish sends one JSON value, or with "-" every line of stdin in order.
func publish(ctx context.Context, c *client.Client, o *options, channel, data string, st Streams) error {
	one := func(raw []byte) error {
		if !json.Valid(raw) {
			return usagef("%.80q is not valid JSON (quote strings: '\"hello\"')", raw)
		}
		res, err := c.Publish(ctx, channel, json.RawMessage(raw))
		if err != nil {
			return fmt.Errorf("publish to %s: %w", channel, err)
		}
		if o.verbose {
			fmt.Fprintf(st.Err, "rtmate: published to %s, offset %d\n", channel, res.Offset)
		}
		return nil
	}
	if data != "-" {
		return one([]byte(data))
	}
	sc := bufio.NewScanner(st.In)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if err := one(line); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && err != io.EOF {
		return fmt.Errorf("read stdin: %w", err)
	}
	return nil
}

func presence(ctx context.Context, c *client.Client, _ *options, channel string, st Streams) error {
	pd, err := c.Presence(ctx, channel)
	if err != nil {
		return fmt.Errorf("presence %s: %w", channel, err)
	}
	if pd.Members == nil {
		pd.Members = []protocol.Member{}
	}
	line, err := json.Marshal(pd)
	if err != nil {
		return err
	}
	_, err = st.Out.Write(append(line, '\n'))
	return err
}

func history(ctx context.Context, c *client.Client, o *options, channel string, st Streams) error {
	h, err := c.History(ctx, channel, client.HistoryOptions{Since: o.since, Limit: o.limit})
	if err != nil {
		return fmt.Errorf("history %s: %w", channel, err)
	}
	if o.verbose {
		fmt.Fprintf(st.Err, "rtmate: %s epoch %s offset %d, %d publication(s)\n", channel, h.Epoch, h.Offset, len(h.Publications))
	}
	w := bufio.NewWriter(st.Out)
	for _, p := range h.Publications {
		line, err := json.Marshal(p)
		if err != nil {
			return err
		}
		// bufio.Writer keeps its first error; Flush reports it.
		_, _ = w.Write(append(line, '\n'))
	}
	return w.Flush()
}
