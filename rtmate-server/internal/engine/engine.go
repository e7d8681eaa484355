package engine

import (
	"context"
	"errors"
)

// ChannelKey names a channel of one app: channels of two apps never meet.
type ChannelKey struct {
	App  string
	Name string
}

// Kind tells what a Publication carries.
type Kind uint8

// Publication kinds. Join and Leave travel through the broker like messages, so that every
// node pushes them to its own subscribers in the channel's order.
const (
	KindMessage Kind = iota
	KindJoin
	KindLeave
)

// Publication is one event on a channel.
type Publication struct {
	Kind Kind
	// Data is the publisher's raw JSON (messages only), relayed byte for byte.
	Data []byte
	// ClientID is the publisher of a message ("server" for the HTTP API) or the member of a
	// join/leave.
	ClientID string
	// UserID is the member's user id (join/leave).
	UserID string
	// Offset is the message's place in the channel's history; 0 when the channel keeps none.
	Offset uint64
	// Epoch is the history's epoch that Offset belongs to (set with Offset, empty without):
	// offsets restart at 1 in a new epoch, so an offset alone does not say whether it is old.
	Epoch string
}

// StreamPosition is where a channel's history stands. Epoch changes whenever history is
// lost (a restart of the memory engine, a Redis flush), so a client holding an offset of an
// older epoch knows it cannot recover from it.
type StreamPosition struct {
	Offset uint64
	Epoch  string
}

// HistoryOptions ask the broker to keep a publication in the channel's history.
type HistoryOptions struct {
	// Size is how many publications to keep; 0 keeps none.
	Size int
	// TTLSeconds is how long to keep them; 0 means until they are pushed out by Size.
	TTLSeconds int64
}

// ClientInfo is one presence member.
type ClientInfo struct {
	ClientID string
	UserID   string
}

// Handler receives every publication of every channel this node subscribed to, one channel
// at a time in publish order. It must not block for long: it runs on the engine's delivery
// path.
type Handler interface {
	HandlePublication(ch ChannelKey, pub *Publication)
	// HandleEpochReset tells that ch's epoch changed under this node's live subscribers
	// (a Redis failover or a loss of history): publications of the old epoch that never
	// reached this node are gone, so its subscribers must be told rather than left with a
	// silent gap. It comes once per change, before the first publication of the new epoch;
	// pos is that epoch and the offset just before that publication. The memory engine
	// never calls it (its epoch only changes with the process).
	HandleEpochReset(ch ChannelKey, pos StreamPosition)
}

// Broker distributes publications to every node that subscribed to a channel.
type Broker interface {
	// Publish stores pub in history when opts.Size > 0 (setting pub.Offset and pub.Epoch) and delivers it to
	// every subscribed node, this one included.
	Publish(ctx context.Context, ch ChannelKey, pub *Publication, opts HistoryOptions) (StreamPosition, error)
	// Subscribe makes this node receive ch's publications; Unsubscribe stops it.
	Subscribe(ctx context.Context, ch ChannelKey) error
	Unsubscribe(ctx context.Context, ch ChannelKey) error
	// History returns up to limit publications with offsets greater than since, oldest first,
	// and the stream's current position.
	History(ctx context.Context, ch ChannelKey, since uint64, limit int) ([]Publication, StreamPosition, error)
}

// PresenceManager keeps the members of presence channels.
type PresenceManager interface {
	AddPresence(ctx context.Context, ch ChannelKey, info ClientInfo) error
	RemovePresence(ctx context.Context, ch ChannelKey, clientID string) error
	Presence(ctx context.Context, ch ChannelKey) ([]ClientInfo, error)
}

// Engine is a Broker and a PresenceManager with a life cycle.
type Engine interface {
	Broker
	PresenceManager
	// Start begins delivering publications to h.
	Start(ctx context.Context, h Handler) error
	// Close releases the engine's resources.
	Close() error
}

// ErrClosed is returned by an engine after Close.
var ErrClosed = errors.New("engine: closed")
