package bench

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Scenario names.
const (
	ScenarioIdle    = "idle"    // N connections authenticated and subscribed, held for Duration
	ScenarioFanout  = "fanout"  // N subscribers on one channel, one publisher at Rate
	ScenarioRooms   = "rooms"   // Rooms rooms of RoomSize members, each member publishing at Rate
	ScenarioConnect = "connect" // N connect+auth as fast as Concurrency allows
)

// idleChannels is how many channels the idle scenario spreads its subscriptions over.
const idleChannels = 100

// Config describes one run. Zero values mean the documented defaults (see setDefaults).
type Config struct {
	Scenario string `json:"scenario"`
	URL      string `json:"url"`    // default ws://127.0.0.1:3000/ws; loopback only; a comma-separated list spreads connections over several nodes
	AppID    string `json:"app_id"` // default demo-app
	// Secret is the app's HS256 secret used to mint one token per connection (default the
	// development secret); Token, when set, is used by every connection instead.
	Secret string `json:"secret,omitempty"`
	Token  string `json:"token,omitempty"`

	Conns    int `json:"conns"`     // idle, connect, fanout: connections (fanout: subscribers); default 100
	Rooms    int `json:"rooms"`     // rooms: number of rooms; default 10
	RoomSize int `json:"room_size"` // rooms: members per room; default 10
	// Rate is messages per second per publisher (fanout: the one publisher; rooms: each
	// member). 0 in fanout means as fast as acknowledgements allow, Window at a time.
	// Default 100 (fanout), 1 (rooms).
	Rate   float64 `json:"rate"`
	Window int     `json:"window"` // unacknowledged publishes allowed when Rate is 0; default 16
	Size   int     `json:"size"`   // bytes of each publication's data; default 64

	Duration    time.Duration `json:"duration"`    // measured phase; default 10s
	Drain       time.Duration `json:"drain"`       // wait at most this long for the last responses and deliveries; default 10s
	Timeout     time.Duration `json:"timeout"`     // hard bound on the whole run; default Duration + Drain + 2m
	Concurrency int           `json:"concurrency"` // connections dialling at once per process; default 64
	Procs       int           `json:"procs"`       // worker processes; default 1 (in process)
	ReadBuffer  int           `json:"read_buffer"` // read buffer of a connection being set up or publishing; default 16 KiB (subscribers share their poll loop's)
	Channel     string        `json:"channel"`     // channel name prefix; default "bench-<random>"
	Presence    bool          `json:"presence"`    // use presence channels (join/leave pushes and member tracking)
	// Protocol is rtmate (default) or pusher: receiving connections speak the Pusher protocol
	// on /app/{PusherKey} (pusher.go). PusherKey defaults to demo-key.
	Protocol  string `json:"protocol"`
	PusherKey string `json:"pusher_key"`

	ServerPID int `json:"server_pid,omitempty"` // when set, the server's RSS and CPU are measured
}

func (c *Config) setDefaults() error {
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	defD := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	if c.Scenario == "" {
		c.Scenario = ScenarioFanout
	}
	if c.URL == "" {
		c.URL = "ws://127.0.0.1:3000/ws"
	}
	if c.AppID == "" {
		c.AppID = "demo-app"
	}
	if c.Protocol == "" {
		c.Protocol = ProtocolRTMate
	}
	if c.PusherKey == "" {
		c.PusherKey = "demo-key"
	}
	switch {
	case c.Protocol != ProtocolRTMate && c.Protocol != ProtocolPusher:
		return fmt.Errorf("unknown protocol %q (want rtmate or pusher)", c.Protocol)
	case c.Protocol == ProtocolPusher && c.Presence:
		return errors.New("protocol pusher: presence channels need signed subscriptions, which the tool does not make")
	case c.Protocol == ProtocolPusher && c.Scenario == ScenarioRooms:
		return errors.New("protocol pusher: rooms members publish, and publishers stay native; use fanout or idle")
	}
	def(&c.Conns, 100)
	def(&c.Rooms, 10)
	def(&c.RoomSize, 10)
	def(&c.Window, 16)
	def(&c.Size, 64)
	def(&c.Concurrency, 64)
	def(&c.Procs, 1)
	def(&c.ReadBuffer, 16<<10)
	defD(&c.Duration, 10*time.Second)
	defD(&c.Drain, 10*time.Second)
	defD(&c.Timeout, c.Duration+c.Drain+2*time.Minute)
	if c.Rate < 0 {
		return errors.New("rate must not be negative")
	}
	switch c.Scenario {
	case ScenarioIdle, ScenarioConnect:
	case ScenarioFanout:
		// Rate 0 is meaningful (ack-paced); the flag layer supplies the default 100.
	case ScenarioRooms:
		if c.Rate == 0 {
			return errors.New("rooms needs a rate above 0 (messages per second per member)")
		}
	default:
		return fmt.Errorf("unknown scenario %q (want idle, fanout, rooms or connect)", c.Scenario)
	}
	if c.Procs < 1 || c.Procs > 64 {
		return errors.New("procs must be between 1 and 64")
	}
	if c.ReadBuffer < 1024 {
		return errors.New("read buffer must be at least 1024 bytes")
	}
	if c.Total() < c.Procs {
		c.Procs = max(1, c.Total())
	}
	return c.validateURLs()
}

// validateURLs checks that every node is on loopback.
func (c *Config) validateURLs() error {
	for _, u := range c.urls() {
		if err := checkLoopback(u); err != nil {
			return err
		}
	}
	return nil
}

// urls splits URL: several nodes (a Redis cluster of RTMate servers) take connections in turn.
func (c *Config) urls() []string { return strings.Split(c.URL, ",") }

// urlFor is the node connection idx talks to: round-robin over urls, so with a fan-out the
// publisher and the subscribers sit on different nodes and every delivery crosses Redis or not
// in a known proportion.
func (c *Config) urlFor(idx int) string {
	us := c.urls()
	return us[idx%len(us)]
}

// checkLoopback refuses targets outside 127.0.0.0/8 and ::1: the tool is for this machine.
func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("bad url %q: %w", raw, err)
	}
	if u.Scheme != "ws" {
		return fmt.Errorf("url %q: want ws:// (loopback, no TLS)", raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("url %q: the load tool only targets loopback addresses", raw)
	}
	return nil
}

// role is what one connection does, decided from its global index alone so that every
// worker process agrees on the whole plan without talking to the others.
type role struct {
	channel   int  // channel subscribed to and published on; -1 for none
	subscribe bool // receives the channel's publications
	publish   bool // publishes at Rate (or ack-paced)
	source    int  // the "k" of its publications
	slotBase  int  // sources on its channel are slotBase … slotBase+slots-1
	slots     int
}

// Total is the number of connections of the run.
func (c *Config) Total() int {
	switch c.Scenario {
	case ScenarioFanout:
		return c.Conns + 1 // the publisher
	case ScenarioRooms:
		return c.Rooms * c.RoomSize
	}
	return c.Conns
}

func (c *Config) roleOf(i int) role {
	switch c.Scenario {
	case ScenarioFanout:
		if i == c.Conns {
			return role{channel: 0, publish: true, source: i, slotBase: c.Conns, slots: 1}
		}
		return role{channel: 0, subscribe: true, source: -1, slotBase: c.Conns, slots: 1}
	case ScenarioRooms:
		room := i / c.RoomSize
		return role{channel: room, subscribe: true, publish: true, source: i, slotBase: room * c.RoomSize, slots: c.RoomSize}
	case ScenarioIdle:
		return role{channel: i % min(c.Conns, idleChannels), subscribe: true, source: -1}
	}
	return role{channel: -1, source: -1}
}

// channelName names channel ch of the run.
func (c *Config) channelName(ch int) string {
	p := c.Channel
	if c.Presence {
		p = "presence-" + p
	}
	switch c.Scenario {
	case ScenarioFanout:
		return p + "-fanout"
	case ScenarioRooms:
		return fmt.Sprintf("%s-room-%d", p, ch)
	}
	return fmt.Sprintf("%s-idle-%d", p, ch)
}

// expected returns how many deliveries the acknowledged publications per channel should
// have produced: each reaches every subscriber of its channel (a room member receives its
// own messages too, as the protocol says).
func (c *Config) expected(ackedByChannel map[int]int64) int64 {
	var n int64
	for _, acked := range ackedByChannel {
		switch c.Scenario {
		case ScenarioFanout:
			n += acked * int64(c.Conns)
		case ScenarioRooms:
			n += acked * int64(c.RoomSize)
		}
	}
	return n
}

// shares returns the connection indexes [from, to) of each worker. A fanout's publisher gets
// a worker process of its own: sharing a Go scheduler with thousands of subscriber reads, its
// acknowledgements waited behind them for hundreds of milliseconds, and the tool's own
// scheduling capped the publish rate (10k subscribers, -rate 0: 174 publications/s at a
// window of 64).
func (c *Config) shares() [][2]int {
	n := c.Total()
	if c.Scenario == ScenarioFanout {
		n = c.Conns
	}
	out := make([][2]int, 0, c.Procs+1)
	for w := range c.Procs {
		from, to := share(n, w, c.Procs)
		out = append(out, [2]int{from, to})
	}
	if c.Scenario == ScenarioFanout {
		out = append(out, [2]int{c.Conns, c.Total()})
	}
	return out
}

// share returns the global connection indexes [from, to) of worker w of procs.
func share(total, w, procs int) (from, to int) {
	return w * total / procs, (w + 1) * total / procs
}
