package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/rtmate/rtmate/rt-common/protocol"
	"github.com/rtmate/rtmate/rtmate-server/internal/engine"
)

// Cluster-wide operations. With an engine that keeps a node registry (the Redis engine),
// nodes know each other and talk over a control channel: requests go to every node on
// $rtmate/control, each node answers on the requester's $rtmate/reply.<node id>. The app id
// "$rtmate" cannot be configured (app ids are [A-Za-z0-9_.-]), so these never meet an app's
// channels. With the memory engine there is one node and everything is local.
//
// Messages are JSON objects with a version, "v". A node handles the versions and types it
// knows and ignores, logs and counts anything else (ControlIgnored), so that nodes of two
// releases can run side by side during a rolling upgrade: a new request type is answered by
// new nodes and reported missing from old ones, never crashes them.

// controlApp is the pseudo app of the control channels.
const controlApp = "$rtmate"

// ControlVersion is the version of the control messages this node sends and understands.
const ControlVersion = 1

// gatherTimeout bounds how long a cluster-wide request waits for the other nodes; nodes
// that did not answer by then are reported as missing.
const gatherTimeout = 2 * time.Second

// maxControlInFlight bounds the control requests a node serves at once; more are dropped
// (and counted), so a flood of requests cannot pile up goroutines.
const maxControlInFlight = 32

var controlChan = engine.ChannelKey{App: controlApp, Name: "control"}

// nodeRegistry is what the cluster operations need from an engine ((*engine.Redis) has it).
type nodeRegistry interface {
	NodeID() string
	SetNodeStatus(fn func() []byte)
	Nodes(ctx context.Context) ([]engine.NodeRecord, error)
	Peers() []engine.NodeRecord
}

var _ nodeRegistry = (*engine.Redis)(nil)

// ctlMsg is a control message, request or reply.
type ctlMsg struct {
	V    int    `json:"v"`
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
	From string `json:"from"`
	// Requests.
	App    string `json:"app,omitempty"`
	Prefix string `json:"prefix,omitempty"`
	// Names asks "channels" for these channels only (the Pusher API's per-channel counts);
	// a node that predates it answers for Prefix, a superset the requester filters.
	Names    []string `json:"names,omitempty"`
	ClientID string   `json:"client_id,omitempty"`
	UserID   string   `json:"user_id,omitempty"`
	// Replies.
	Channels     []ctlChannel `json:"channels,omitempty"`
	Disconnected int          `json:"disconnected,omitempty"`
	Usage        *UsageReport `json:"usage,omitempty"`
	Error        string       `json:"error,omitempty"`
}

type ctlChannel struct {
	Name        string `json:"n"`
	Subscribers int    `json:"s"`
}

// NodeStatus is what a node publishes about itself in the registry at every heartbeat.
type NodeStatus struct {
	Address     string `json:"address"`
	Version     string `json:"version"`
	StartedAt   int64  `json:"started_at"` // unix seconds
	Connections int64  `json:"connections"`
	// Apps holds per-app counts: connections and channel subscriptions on this node.
	Apps           map[string]AppCounts `json:"apps"`
	ControlVersion int                  `json:"control_version"`
	ControlIgnored uint64               `json:"control_ignored"`
	Draining       bool                 `json:"draining"`
	// Console is the admin console's figures of this node (admin.nodeFigures), carried here
	// so that the console lists the same nodes as GET /api/nodes, with one heartbeat and one
	// expiry rule. Absent when the admin API is off or the node predates it; readers of
	// either version ignore the fields they do not know.
	Console json.RawMessage `json:"console,omitempty"`
}

// AppCounts are one app's numbers on one node.
type AppCounts struct {
	Connections   int64 `json:"connections"`
	Subscriptions int   `json:"subscriptions"`
}

// NodeInfo is one live node as GET /api/nodes lists it.
type NodeInfo struct {
	ID        string
	Heartbeat time.Time
	Self      bool
	Status    NodeStatus
}

type clusterOps struct {
	reg     nodeRegistry // nil: a single node
	started time.Time
	version string
	addr    atomic.Pointer[string]

	mu      sync.Mutex
	pending map[string]chan ctlMsg

	sem      chan struct{}
	ignored  atomic.Uint64
	dropped  atomic.Uint64
	draining atomic.Bool

	console atomic.Pointer[func() []byte]

	remoteMu   sync.Mutex
	remoteAt   time.Time
	remoteConn map[string]int64
}

// buildVersion is the module version and VCS revision the binary was built from.
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += "+" + s.Value[:12]
		}
	}
	return v
}

// initCluster sets the node's registry status before the engine starts (its first heartbeat
// already registers the node).
func (s *Server) initCluster() {
	s.cl.started = time.Now()
	s.cl.version = buildVersion()
	s.cl.pending = make(map[string]chan ctlMsg)
	s.cl.sem = make(chan struct{}, maxControlInFlight)
	if reg, ok := s.rawEngine.(nodeRegistry); ok {
		s.cl.reg = reg
		reg.SetNodeStatus(s.nodeStatusJSON)
	}
}

// startCluster subscribes to the control channels once the engine runs.
func (s *Server) startCluster(ctx context.Context) error {
	if s.cl.reg == nil {
		return nil
	}
	for _, ch := range []engine.ChannelKey{controlChan, s.replyChan(s.cl.reg.NodeID())} {
		if err := s.engine.Subscribe(ctx, ch); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) replyChan(node string) engine.ChannelKey {
	return engine.ChannelKey{App: controlApp, Name: "reply." + node}
}

func (s *Server) setAdvertised(addr string) { s.cl.addr.Store(&addr) }

func (s *Server) localStatus() NodeStatus {
	st := NodeStatus{
		Version: s.cl.version, StartedAt: s.cl.started.Unix(), Apps: make(map[string]AppCounts),
		ControlVersion: ControlVersion, ControlIgnored: s.cl.ignored.Load(), Draining: s.cl.draining.Load(),
	}
	if a := s.cl.addr.Load(); a != nil {
		st.Address = *a
	}
	if fn := s.cl.console.Load(); fn != nil {
		st.Console = (*fn)()
	}
	for id, a := range s.apps.Load().apps {
		subs := 0
		for _, c := range s.hub.Channels(id, "") {
			subs += c.Subscribers
		}
		n := a.usage.Connections.Load()
		st.Connections += n
		if n > 0 || subs > 0 {
			st.Apps[id] = AppCounts{Connections: n, Subscriptions: subs}
		}
	}
	return st
}

func (s *Server) nodeStatusJSON() []byte {
	b, err := json.Marshal(s.localStatus())
	if err != nil {
		s.log.Warn("encode node status", zap.Error(err))
		return []byte("{}")
	}
	return b
}

// remoteConnections is how many connections of app the other nodes reported at their last
// heartbeats (parsed at most once a second).
func (s *Server) remoteConnections(app string) int64 {
	if s.cl.reg == nil {
		return 0
	}
	s.cl.remoteMu.Lock()
	defer s.cl.remoteMu.Unlock()
	if time.Since(s.cl.remoteAt) > time.Second {
		counts := make(map[string]int64)
		for _, p := range s.cl.reg.Peers() {
			var st NodeStatus
			if json.Unmarshal(p.Status, &st) != nil {
				continue
			}
			for id, c := range st.Apps {
				counts[id] += c.Connections
			}
		}
		s.cl.remoteConn, s.cl.remoteAt = counts, time.Now()
	}
	return s.cl.remoteConn[app]
}

// clusterConnections is the app's connection count over the cluster, for max_connections:
// exact for this node, as of the last heartbeat for the others.
func (s *Server) clusterConnections(a *appState) int64 {
	return a.usage.Connections.Load() + s.remoteConnections(a.cfg.ID)
}

// SetConsoleStatus makes this node's registry entry carry fn's result (a JSON document) as
// NodeStatus.Console; fn runs at every heartbeat and when AllNodes lists this node.
func (s *Server) SetConsoleStatus(fn func() []byte) { s.cl.console.Store(&fn) }

// AllNodes lists every live node, this one first, with all their counts (the admin console:
// no tenant filter). With the memory engine it is this node alone.
func (s *Server) AllNodes(ctx context.Context) ([]NodeInfo, error) {
	self := NodeInfo{ID: s.nodeID, Heartbeat: time.Now(), Self: true, Status: s.localStatus()}
	if s.cl.reg == nil {
		return []NodeInfo{self}, nil
	}
	self.ID = s.cl.reg.NodeID()
	recs, err := s.cl.reg.Nodes(ctx)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	return append([]NodeInfo{self}, s.peerInfos(recs, self.ID)...), nil
}

// peerInfos decodes the registry's records other than self's; an undecodable status is
// logged and skipped.
func (s *Server) peerInfos(recs []engine.NodeRecord, self string) []NodeInfo {
	var out []NodeInfo
	for _, r := range recs {
		if r.ID == self {
			continue
		}
		var st NodeStatus
		if err := json.Unmarshal(r.Status, &st); err != nil {
			s.log.Warn("undecodable node registry status", zap.String("node", r.ID), zap.Error(err))
			continue
		}
		out = append(out, NodeInfo{ID: r.ID, Heartbeat: r.Heartbeat, Status: st})
	}
	return out
}

// Nodes lists the live nodes, this one first, with app's counts only (one tenant never
// sees another's numbers).
func (s *Server) Nodes(appID string) ([]NodeInfo, error) {
	if s.apps.Load().app(appID) == nil {
		return nil, protocol.Errorf(protocol.AppNotFound, "app %q", appID)
	}
	filter := func(st NodeStatus) NodeStatus {
		c := st.Apps[appID]
		st.Apps = map[string]AppCounts{appID: c}
		st.Connections = c.Connections
		st.Console = nil // every app's figures: the admin's, not a tenant's
		return st
	}
	self := NodeInfo{ID: s.nodeID, Heartbeat: time.Now(), Self: true, Status: filter(s.localStatus())}
	if s.cl.reg == nil {
		return []NodeInfo{self}, nil
	}
	self.ID = s.cl.reg.NodeID()
	ctx, cancel := context.WithTimeout(context.Background(), gatherTimeout)
	defer cancel()
	recs, err := s.cl.reg.Nodes(ctx)
	if err != nil {
		return nil, protocol.NewError(protocol.Internal, err)
	}
	out := []NodeInfo{self}
	for _, n := range s.peerInfos(recs, self.ID) {
		n.Status = filter(n.Status)
		out = append(out, n)
	}
	return out, nil
}

// Gathered tells how complete a cluster-wide answer is.
type Gathered struct {
	// Nodes is how many nodes contributed, this one included; 0 without a node registry
	// (the memory engine: one node, nothing to gather).
	Nodes int
	// Missing are the live nodes that did not answer within the timeout.
	Missing []string
}

// ClusterChannels is Channels over every node: subscriber counts are summed per channel.
func (s *Server) ClusterChannels(appID, prefix string) ([]ChannelInfo, Gathered, error) {
	local, err := s.Channels(appID, prefix)
	if err != nil {
		return nil, Gathered{}, err
	}
	replies, g := s.gather(ctlMsg{Type: "channels", App: appID, Prefix: prefix})
	if len(replies) == 0 {
		return local, g, nil
	}
	sum := sumChannels(local, replies, func(string) bool { return true })
	out := make([]ChannelInfo, 0, len(sum))
	for name, n := range sum {
		out = append(out, ChannelInfo{Name: name, Subscribers: n})
	}
	slices.SortFunc(out, func(x, y ChannelInfo) int { return strings.Compare(x.Name, y.Name) })
	return out, g, nil
}

// ClusterChannelCounts is channelCounts over every node: each named channel's
// subscriptions, summed, for the channels that have any.
func (s *Server) ClusterChannelCounts(appID string, names []string) ([]ChannelInfo, Gathered, error) {
	local, err := s.channelCounts(appID, names)
	if err != nil {
		return nil, Gathered{}, err
	}
	replies, g := s.gather(ctlMsg{Type: "channels", App: appID, Prefix: commonPrefix(names), Names: names})
	if len(replies) == 0 {
		return local, g, nil
	}
	// An older node answers for the prefix: only the names count.
	sum := sumChannels(local, replies, func(name string) bool { return slices.Contains(names, name) })
	out := make([]ChannelInfo, 0, len(sum))
	for _, n := range names {
		if c, ok := sum[n]; ok && c > 0 {
			out = append(out, ChannelInfo{Name: n, Subscribers: c})
			delete(sum, n) // a name given twice is counted once
		}
	}
	return out, g, nil
}

// sumChannels adds up this node's and the replies' subscriber counts per channel, for the
// channels keep admits.
func sumChannels(local []ChannelInfo, replies []ctlMsg, keep func(string) bool) map[string]int {
	sum := make(map[string]int, len(local))
	for _, c := range local {
		sum[c.Name] += c.Subscribers
	}
	for _, r := range replies {
		for _, c := range r.Channels {
			if keep(c.Name) {
				sum[c.Name] += c.Subscribers
			}
		}
	}
	return sum
}

// channelCounts is the subscriptions on this node of each named channel that has any.
func (s *Server) channelCounts(appID string, names []string) ([]ChannelInfo, error) {
	if s.apps.Load().app(appID) == nil {
		return nil, protocol.Errorf(protocol.AppNotFound, "app %q", appID)
	}
	var out []ChannelInfo
	for _, n := range names {
		if c := s.hub.Count(engine.ChannelKey{App: appID, Name: n}); c > 0 {
			out = append(out, ChannelInfo{Name: n, Subscribers: c})
		}
	}
	return out, nil
}

// commonPrefix is the longest prefix of every name.
func commonPrefix(names []string) string {
	if len(names) == 0 {
		return ""
	}
	p := names[0]
	for _, n := range names[1:] {
		i := 0
		for i < len(p) && i < len(n) && p[i] == n[i] {
			i++
		}
		p = p[:i]
	}
	return p
}

// ClusterDisconnect is Disconnect on every node; it returns the total closed.
func (s *Server) ClusterDisconnect(appID, clientID, userID string) (int, Gathered, error) {
	n, err := s.Disconnect(appID, clientID, userID)
	if err != nil {
		return 0, Gathered{}, err
	}
	replies, g := s.gather(ctlMsg{Type: "disconnect", App: appID, ClientID: clientID, UserID: userID})
	for _, r := range replies {
		n += r.Disconnected
	}
	return n, g, nil
}

// ClusterUsage is AppUsage summed over every node. Since is the earliest node's; the peak is
// the sum of the nodes' peaks (an upper bound of the cluster's peak).
func (s *Server) ClusterUsage(appID string) (UsageReport, Gathered, error) {
	u, err := s.AppUsage(appID)
	if err != nil {
		return u, Gathered{}, err
	}
	replies, g := s.gather(ctlMsg{Type: "usage", App: appID})
	for _, r := range replies {
		o := r.Usage
		if o == nil {
			continue
		}
		if o.Since.Before(u.Since) {
			u.Since = o.Since
		}
		u.Connections += o.Connections
		u.ConnectionsPeak += o.ConnectionsPeak
		u.ConnectionSeconds += o.ConnectionSeconds
		u.MessagesIn += o.MessagesIn
		u.MessagesOut += o.MessagesOut
		u.BytesIn += o.BytesIn
		u.BytesOut += o.BytesOut
	}
	return u, g, nil
}

// gather sends req to every other live node and collects their replies until all answered
// or gatherTimeout passed.
func (s *Server) gather(req ctlMsg) ([]ctlMsg, Gathered) {
	if s.cl.reg == nil {
		return nil, Gathered{}
	}
	g := Gathered{Nodes: 1}
	self := s.cl.reg.NodeID()
	ctx, cancel := context.WithTimeout(context.Background(), gatherTimeout)
	defer cancel()
	recs, err := s.cl.reg.Nodes(ctx)
	if err != nil {
		s.log.Warn("cluster request: node registry unreadable; answering for this node only", zap.Error(err))
		return nil, g
	}
	want := make(map[string]bool)
	for _, r := range recs {
		if r.ID != self {
			want[r.ID] = true
		}
	}
	if len(want) == 0 {
		return nil, g
	}
	var id [8]byte
	_, _ = rand.Read(id[:]) // crypto/rand never fails on Linux
	req.V, req.ID, req.From = ControlVersion, hex.EncodeToString(id[:]), self
	replies := make(chan ctlMsg, len(want))
	s.cl.mu.Lock()
	s.cl.pending[req.ID] = replies
	s.cl.mu.Unlock()
	defer func() {
		s.cl.mu.Lock()
		delete(s.cl.pending, req.ID)
		s.cl.mu.Unlock()
	}()
	if err := s.sendControl(ctx, controlChan, req); err != nil {
		s.log.Warn("cluster request: send", zap.String("type", req.Type), zap.Error(err))
		for n := range want {
			g.Missing = append(g.Missing, n)
		}
		slices.Sort(g.Missing)
		return nil, g
	}
	var out []ctlMsg
	for len(want) > 0 {
		select {
		case r := <-replies:
			if !want[r.From] {
				continue
			}
			delete(want, r.From)
			if r.Error != "" {
				g.Missing = append(g.Missing, r.From)
				continue
			}
			out = append(out, r)
			g.Nodes++
		case <-ctx.Done():
			for n := range want {
				g.Missing = append(g.Missing, n)
			}
			want = nil
		}
	}
	slices.Sort(g.Missing)
	if len(g.Missing) > 0 {
		s.log.Warn("cluster request: nodes did not answer", zap.String("type", req.Type), zap.Strings("nodes", g.Missing))
	}
	return out, g
}

func (s *Server) sendControl(ctx context.Context, ch engine.ChannelKey, m ctlMsg) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	pub := engine.Publication{Kind: engine.KindMessage, Data: b, ClientID: APIClientID}
	_, err = s.engine.Publish(ctx, ch, &pub, engine.HistoryOptions{})
	return err
}

// onControl handles a control message; it runs on the engine's delivery path, so requests
// are served on their own goroutines (at most maxControlInFlight).
func (s *Server) onControl(k engine.ChannelKey, pub *engine.Publication) {
	if s.cl.reg == nil || pub.Kind != engine.KindMessage {
		return
	}
	m, err := parseControl(pub.Data)
	if err != nil {
		s.ignoreControl(k, pub.Data, m.V, m.Type, err)
		return
	}
	self := s.cl.reg.NodeID()
	switch m.Type {
	case "reply":
		s.cl.mu.Lock()
		ch := s.cl.pending[m.ID]
		s.cl.mu.Unlock()
		if ch != nil {
			select {
			case ch <- m:
			default:
			}
		}
		return
	default: // a request (parseControl admits only the known types)
		if m.From == self || k != controlChan {
			return
		}
	}
	select {
	case s.cl.sem <- struct{}{}:
	default:
		s.cl.dropped.Add(1)
		s.log.Warn("too many cluster requests in flight; dropping one", zap.String("type", m.Type), zap.String("from", m.From))
		return
	}
	go func() {
		defer func() { <-s.cl.sem }()
		rep := ctlMsg{V: ControlVersion, Type: "reply", ID: m.ID, From: self}
		var err error
		switch m.Type {
		case "channels":
			var chans []ChannelInfo
			if m.Names != nil {
				chans, err = s.channelCounts(m.App, m.Names)
			} else {
				chans, err = s.Channels(m.App, m.Prefix)
			}
			if err == nil {
				rep.Channels = make([]ctlChannel, len(chans))
				for i, c := range chans {
					rep.Channels[i] = ctlChannel{Name: c.Name, Subscribers: c.Subscribers}
				}
			}
		case "disconnect":
			rep.Disconnected, err = s.Disconnect(m.App, m.ClientID, m.UserID)
		case "terminate":
			rep.Disconnected, err = s.pusherTerminateLocal(m.App, m.UserID)
		case "usage":
			var u UsageReport
			if u, err = s.AppUsage(m.App); err == nil {
				rep.Usage = &u
			}
		}
		if err != nil {
			rep.Error = err.Error()
		}
		ctx, cancel := context.WithTimeout(context.Background(), gatherTimeout)
		defer cancel()
		if err := s.sendControl(ctx, s.replyChan(m.From), rep); err != nil {
			s.log.Warn("cluster request: reply", zap.String("type", m.Type), zap.String("to", m.From), zap.Error(err))
		}
	}()
}

// errControl* say why a control message is ignored.
var (
	errControlVersion = errors.New("unknown control message version")
	errControlType    = errors.New("unknown control message type")
	errControlField   = errors.New("control message field missing or too long")
)

// maxControlField bounds the identifiers a control message carries.
const maxControlField = 128

// maxControlNames bounds the channels one "channels" request names: the Pusher API's 100
// channels of a trigger.
const maxControlNames = 100

// parseControl decodes a control message from another node (or anything that published on
// the control channels) and checks what this node relies on; an error means "ignore it".
func parseControl(data []byte) (ctlMsg, error) {
	var m ctlMsg
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("decode: %w", err)
	}
	if m.V != ControlVersion {
		return m, errControlVersion
	}
	switch m.Type {
	case "reply", "channels", "disconnect", "usage", "terminate":
	default:
		return m, errControlType
	}
	if len(m.Names) > maxControlNames {
		return m, errControlField
	}
	for _, n := range m.Names {
		if len(n) > protocol.MaxChannelLen {
			return m, errControlField
		}
	}
	if m.From == "" || m.ID == "" || len(m.From) > maxControlField || len(m.ID) > maxControlField ||
		len(m.App) > maxControlField || len(m.ClientID) > maxControlField || len(m.UserID) > maxControlField ||
		len(m.Prefix) > protocol.MaxChannelLen {
		return m, errControlField
	}
	return m, nil
}

func (s *Server) ignoreControl(k engine.ChannelKey, data []byte, v int, typ string, err error) {
	n := s.cl.ignored.Add(1)
	if ce := s.log.Check(zap.WarnLevel, "ignoring a control message this node does not understand"); ce != nil {
		sample := data
		if len(sample) > 200 {
			sample = sample[:200]
		}
		ce.Write(zap.String("channel", k.Name), zap.Int("v", v), zap.String("type", typ), zap.Int("understood_v", ControlVersion),
			zap.Uint64("ignored_total", n), zap.ByteString("sample", sample), zap.NamedError("decode", err))
	}
}

// ControlIgnored counts control messages this node ignored (another version or type).
func (s *Server) ControlIgnored() uint64 { return s.cl.ignored.Load() }
