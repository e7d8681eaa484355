package server

import (
	"context"
	"sync/atomic"

	"github.com/rtmate/rtmate/rtmate-server/internal/engine"
)

// EngineOp names an engine operation in Stats.EngineErrors.
type EngineOp uint8

// Engine operations whose failures are counted.
const (
	EngineOpPublish EngineOp = iota
	EngineOpSubscribe
	EngineOpUnsubscribe
	EngineOpHistory
	EngineOpAddPresence
	EngineOpRemovePresence
	EngineOpPresence
	NumEngineOps
)

var engineOpNames = [NumEngineOps]string{"publish", "subscribe", "unsubscribe", "history", "add_presence", "remove_presence", "presence"}

// String is the operation's metric label.
func (o EngineOp) String() string {
	if o >= NumEngineOps {
		return "unknown"
	}
	return engineOpNames[o]
}

// countErrors counts an engine's failures per operation, so that every engine (memory, Redis)
// is measured the same way without each call site remembering to. Safe for concurrent use.
type countErrors struct {
	engine.Engine
	errs *[NumEngineOps]atomic.Uint64
}

var _ engine.Engine = countErrors{}

func (e countErrors) count(op EngineOp, err error) error {
	if err != nil {
		e.errs[op].Add(1)
	}
	return err
}

func (e countErrors) Publish(ctx context.Context, ch engine.ChannelKey, pub *engine.Publication, opts engine.HistoryOptions) (engine.StreamPosition, error) {
	pos, err := e.Engine.Publish(ctx, ch, pub, opts)
	return pos, e.count(EngineOpPublish, err)
}

func (e countErrors) Subscribe(ctx context.Context, ch engine.ChannelKey) error {
	return e.count(EngineOpSubscribe, e.Engine.Subscribe(ctx, ch))
}

func (e countErrors) Unsubscribe(ctx context.Context, ch engine.ChannelKey) error {
	return e.count(EngineOpUnsubscribe, e.Engine.Unsubscribe(ctx, ch))
}

func (e countErrors) History(ctx context.Context, ch engine.ChannelKey, since uint64, limit int) ([]engine.Publication, engine.StreamPosition, error) {
	pubs, pos, err := e.Engine.History(ctx, ch, since, limit)
	return pubs, pos, e.count(EngineOpHistory, err)
}

func (e countErrors) AddPresence(ctx context.Context, ch engine.ChannelKey, info engine.ClientInfo) error {
	return e.count(EngineOpAddPresence, e.Engine.AddPresence(ctx, ch, info))
}

func (e countErrors) RemovePresence(ctx context.Context, ch engine.ChannelKey, clientID string) error {
	return e.count(EngineOpRemovePresence, e.Engine.RemovePresence(ctx, ch, clientID))
}

func (e countErrors) Presence(ctx context.Context, ch engine.ChannelKey) ([]engine.ClientInfo, error) {
	members, err := e.Engine.Presence(ctx, ch)
	return members, e.count(EngineOpPresence, err)
}

// announcer is the engine's MemberAnnouncer with its failures counted, or nil for an engine
// without one (the memory engine: a single node, where memberLocks make the look at the
// other members and the change one step).
func (e countErrors) announcer() engine.MemberAnnouncer {
	if a, ok := e.Engine.(engine.MemberAnnouncer); ok {
		return countAnnouncer{a: a, e: e}
	}
	return nil
}

type countAnnouncer struct {
	a engine.MemberAnnouncer
	e countErrors
}

func (c countAnnouncer) JoinMember(ctx context.Context, ch engine.ChannelKey, info engine.ClientInfo) (bool, error) {
	once, err := c.a.JoinMember(ctx, ch, info)
	return once, c.e.count(EngineOpAddPresence, err)
}

func (c countAnnouncer) LeaveMember(ctx context.Context, ch engine.ChannelKey, clientID string) (once, ok bool, err error) {
	once, ok, err = c.a.LeaveMember(ctx, ch, clientID)
	return once, ok, c.e.count(EngineOpRemovePresence, err)
}
