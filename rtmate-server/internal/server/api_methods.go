package server

import (
	"cmp"
	"context"
	"crypto/sha256"
	"slices"
	"strings"
	"time"

	"github.com/rtmate/rtmate/rt-common/protocol"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/engine"
	"github.com/rtmate/rtmate/rtmate-server/internal/hub"
)

// What the server HTTP API (package api) and the metrics collector need from a Server. Every
// method is safe for concurrent use and returns *protocol.RtWsError values for the errors a
// caller can cause, so that the API answers them with the contract's codes.

// APIClientID is the `from` of messages published through the HTTP API.
const APIClientID = "server"

// MaxBroadcastChannels bounds the channels of one API broadcast.
const MaxBroadcastChannels = 100

// AppByAPIKey returns the id of the app whose api_key is key. A key identifies exactly one
// app (config validation refuses duplicates); apps without an api_key have no API access.
//
// The presented key is hashed with SHA-256 and the digest looked up: the time taken depends
// on the digest, never on how much of a real key the presented one matches, which is what a
// byte-by-byte comparison would leak. This keeps the lookup O(1) however many apps there are.
func (s *Server) AppByAPIKey(key string) (appID string, ok bool) {
	if key == "" {
		return "", false
	}
	appID, ok = s.apps.Load().keys[sha256.Sum256([]byte(key))]
	return appID, ok
}

// AppLimits returns an app's limits in force.
func (s *Server) AppLimits(appID string) (config.Limits, bool) {
	a := s.apps.Load().app(appID)
	if a == nil {
		return config.Limits{}, false
	}
	return a.limits, true
}

// ObserveAPIRequest reports one API request to the server's observer (metrics).
func (s *Server) ObserveAPIRequest(event EventID, code protocol.WsBizCode, took time.Duration) {
	s.obs.Request(event, code, took)
}

// PublishAPI publishes data (one JSON value, relayed byte for byte) to an app's channel as
// the server: subscribers get a message push with from = "server", exactly as for a
// messageSend. It returns the message's history offset (0 when the channel keeps none).
func (s *Server) PublishAPI(appID, channel string, data []byte) (uint64, error) {
	offsets, err := s.publishAPI(appID, []string{channel}, data)
	if err != nil {
		return 0, err
	}
	return offsets[0], nil
}

// BroadcastAPI publishes the same data to several channels of an app. The app's publish
// quota is charged for every channel at once: the broadcast is either accepted whole or
// refused (429 超出配额) with nothing published. It returns each channel's history offset.
func (s *Server) BroadcastAPI(appID string, channels []string, data []byte) ([]uint64, error) {
	if len(channels) == 0 || len(channels) > MaxBroadcastChannels {
		return nil, protocol.Errorf(protocol.InvalidParams, "broadcast needs 1 to %d channels, got %d", MaxBroadcastChannels, len(channels))
	}
	return s.publishAPI(appID, channels, data)
}

func (s *Server) publishAPI(appID string, channels []string, data []byte) ([]uint64, error) {
	a := s.apps.Load().app(appID)
	if a == nil {
		return nil, protocol.Errorf(protocol.AppNotFound, "app %q", appID)
	}
	for i, ch := range channels {
		if !protocol.ValidChannel(ch) {
			return nil, protocol.Errorf(protocol.InvalidParams, "bad channel name %q", ch)
		}
		if slices.Contains(channels[:i], ch) {
			return nil, protocol.Errorf(protocol.InvalidParams, "channel %q listed twice", ch)
		}
	}
	if len(data) > a.limits.MaxMessageSize {
		return nil, protocol.Errorf(protocol.MessageTooLarge, "data of %d bytes, limit %d", len(data), a.limits.MaxMessageSize)
	}
	// The push embeds data as is: anything but one JSON value would corrupt it for everyone.
	if len(data) == 0 || !protocol.Valid(data) {
		return nil, protocol.Errorf(protocol.InvalidParams, "data is not one JSON value")
	}
	if err := a.monthlyQuota(len(channels)); err != nil {
		return nil, err
	}
	if !a.pub.allowN(nowNano(), len(channels)) {
		return nil, protocol.Errorf(protocol.QuotaExceeded, "app publish rate %v/s", a.limits.MaxPublishRate)
	}
	from := ConnInfo{App: a.cfg.ID, ClientID: APIClientID}
	// Every channel's publish hook runs before anything is published: a broadcast that a
	// script rejects for one channel publishes to none.
	datas, err := s.scriptPublishAPI(a, from, channels, data)
	if err != nil {
		return nil, err
	}
	offsets := make([]uint64, 0, len(channels))
	for i, ch := range channels {
		pos, err := s.publishAllowed(a, ch, datas[i], from)
		if err != nil {
			return offsets, err
		}
		offsets = append(offsets, pos.Offset)
	}
	return offsets, nil
}

// Presence returns the members of an app's presence channel, ordered by client id.
func (s *Server) Presence(appID, channel string) ([]protocol.Member, error) {
	a := s.apps.Load().app(appID)
	if a == nil {
		return nil, protocol.Errorf(protocol.AppNotFound, "app %q", appID)
	}
	if !protocol.ValidChannel(channel) {
		return nil, protocol.Errorf(protocol.InvalidParams, "bad channel name %q", channel)
	}
	if !a.isPresence(channel) {
		return nil, protocol.Errorf(protocol.InvalidParams, "%q is not a presence channel", channel)
	}
	infos, err := s.engine.Presence(context.Background(), engine.ChannelKey{App: appID, Name: channel})
	if err != nil {
		return nil, protocol.NewError(protocol.Internal, err)
	}
	members := make([]protocol.Member, len(infos))
	for i, m := range infos {
		members[i] = protocol.Member{ClientID: m.ClientID, UserID: engine.MemberID(m.UserID)}
	}
	slices.SortFunc(members, func(x, y protocol.Member) int { return strings.Compare(x.ClientID, y.ClientID) })
	return members, nil
}

// ChannelInfo is one active channel and its subscriber count on this node.
type ChannelInfo = hub.ChannelInfo

// Channels lists an app's channels that have subscribers on this node, whose names start
// with prefix, ordered by name.
func (s *Server) Channels(appID, prefix string) ([]ChannelInfo, error) {
	if s.apps.Load().app(appID) == nil {
		return nil, protocol.Errorf(protocol.AppNotFound, "app %q", appID)
	}
	chans := s.hub.Channels(appID, prefix)
	slices.SortFunc(chans, func(x, y ChannelInfo) int { return strings.Compare(x.Name, y.Name) })
	return chans, nil
}

// Disconnect closes, with 4004, the app's connection clientID, or every connection of the
// app's user userID (exactly one of the two must be given). It returns how many connections
// it closed; the closes complete asynchronously.
func (s *Server) Disconnect(appID, clientID, userID string) (int, error) {
	if (clientID == "") == (userID == "") {
		return 0, protocol.Errorf(protocol.InvalidParams, "disconnect needs exactly one of client_id and user_id")
	}
	if s.apps.Load().app(appID) == nil {
		return 0, protocol.Errorf(protocol.AppNotFound, "app %q", appID)
	}
	if clientID != "" {
		// appID and userID are written before the connection enters the index, whose lock
		// makes them visible here.
		c := s.clients.get(clientID)
		if c == nil || c.appID != appID {
			return 0, nil
		}
		c.requestClose(CloseDisconnected)
		return 1, nil
	}
	var victims []*Conn
	s.clients.each(func(c *Conn) {
		if c.appID == appID && c.userID == userID {
			victims = append(victims, c)
		}
	})
	for _, c := range victims {
		c.requestClose(CloseDisconnected)
	}
	return len(victims), nil
}

// UsageReport is what an app consumed since Since, for billing: counters only grow (a
// biller takes differences between two reports), except Connections.
type UsageReport struct {
	AppID string
	Since time.Time
	// Connections is the current number of authenticated connections; ConnectionsPeak the
	// highest it has been since Since.
	Connections     int64
	ConnectionsPeak int64
	// ConnectionSeconds adds up the lifetimes of the app's connections, open ones included
	// (whole seconds per connection).
	ConnectionSeconds int64
	// MessagesIn counts publications accepted (WebSocket and API), BytesIn their data;
	// MessagesOut counts pushes queued to subscribers, BytesOut their frames.
	MessagesIn  int64
	MessagesOut int64
	BytesIn     int64
	BytesOut    int64
	// Calls counts rpc and script invocations.
	Calls int64
}

// AppUsage returns one app's usage.
func (s *Server) AppUsage(appID string) (UsageReport, error) {
	a := s.apps.Load().app(appID)
	if a == nil {
		return UsageReport{}, protocol.Errorf(protocol.AppNotFound, "app %q", appID)
	}
	live := s.liveConnSeconds(appID)
	return a.report(live[appID]), nil
}

// UsageAll returns every configured app's usage, ordered by app id.
func (s *Server) UsageAll() []UsageReport {
	apps := s.apps.Load()
	live := s.liveConnSeconds("")
	out := make([]UsageReport, 0, len(apps.apps))
	for id, a := range apps.apps {
		out = append(out, a.report(live[id]))
	}
	slices.SortFunc(out, func(x, y UsageReport) int { return cmp.Compare(x.AppID, y.AppID) })
	return out
}

// liveConnSeconds sums the whole seconds that open connections have lasted, per app (only
// appID's when it is not empty).
func (s *Server) liveConnSeconds(appID string) map[string]int64 {
	now := time.Now().UnixNano()
	live := make(map[string]int64)
	s.clients.each(func(c *Conn) {
		if appID == "" || c.appID == appID {
			live[c.appID] += (now - c.openedAt) / int64(time.Second)
		}
	})
	return live
}

func (a *appState) report(liveSeconds int64) UsageReport {
	u := a.usage
	return UsageReport{
		AppID:             a.cfg.ID,
		Since:             u.Since,
		Connections:       u.Connections.Load(),
		ConnectionsPeak:   u.ConnectionsPeak.Load(),
		ConnectionSeconds: u.connSeconds(liveSeconds),
		MessagesIn:        u.MessagesIn.Load(),
		MessagesOut:       u.MessagesOut.Load(),
		BytesIn:           u.BytesIn.Load(),
		BytesOut:          u.BytesOut.Load(),
		Calls:             u.Calls.Load(),
	}
}

// connSeconds is closed connections' seconds plus live ones', never less than a previous
// report: a connection leaves the index a moment before its seconds are added to
// ConnSeconds, and a report in between must not go back (Prometheus would see a reset).
func (u *Usage) connSeconds(live int64) int64 {
	v := u.ConnSeconds.Load() + live
	for {
		seen := u.connSecondsSeen.Load()
		if v <= seen {
			return seen
		}
		if u.connSecondsSeen.CompareAndSwap(seen, v) {
			return v
		}
	}
}
