package engine

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// The node registry: the hash <prefix>nodes maps each node id to "<heartbeat unix ms>:<status>",
// where status is whatever the server reports about itself (JSON: address, version,
// connections and subscriptions per app, …). Each heartbeat (every PresenceTTL/3) rewrites
// this node's field and reads the others', so every node knows its peers' counts with a delay
// of at most one heartbeat interval; entries older than PresenceTTL belong to dead nodes and
// are removed by whoever reads them. A clean Close removes the node's own field.

// NodeRecord is one live node as the registry lists it.
type NodeRecord struct {
	ID        string
	Heartbeat time.Time
	// Status is what the node's status function returned at that heartbeat.
	Status []byte
}

type registry struct {
	mu     sync.Mutex
	status func() []byte
	peers  []NodeRecord // other live nodes, as of the last heartbeat
}

// SetNodeStatus makes every heartbeat publish fn's result as this node's registry entry. Set
// it before Start; fn runs on the heartbeat goroutine and must be quick.
func (e *Redis) SetNodeStatus(fn func() []byte) {
	e.reg.mu.Lock()
	e.reg.status = fn
	e.reg.mu.Unlock()
}

// Peers returns the other live nodes as of the last heartbeat (no Redis round trip).
func (e *Redis) Peers() []NodeRecord {
	e.reg.mu.Lock()
	defer e.reg.mu.Unlock()
	return append([]NodeRecord(nil), e.reg.peers...)
}

// Nodes reads the registry now: every live node, this one included, ordered by id.
func (e *Redis) Nodes(ctx context.Context) ([]NodeRecord, error) {
	all, err := e.client.Do(ctx, e.client.B().Hgetall().Key(e.keys.nodes()).Build()).AsStrMap()
	if err != nil {
		return nil, e.fail(fmt.Errorf("redis engine: node registry: %w", err))
	}
	return e.liveNodes(ctx, all), nil
}

// liveNodes parses registry entries, dropping (and deleting) those past PresenceTTL.
func (e *Redis) liveNodes(ctx context.Context, all map[string]string) []NodeRecord {
	now := time.Now()
	out := make([]NodeRecord, 0, len(all))
	for id, v := range all {
		ms, status, ok := strings.Cut(v, ":")
		n, err := strconv.ParseInt(ms, 10, 64)
		if !ok || err != nil {
			e.log.Warn("malformed node registry entry; removing it", zap.String("node", id))
			e.forgetNode(ctx, id)
			continue
		}
		hb := time.UnixMilli(n)
		if now.Sub(hb) > e.opts.PresenceTTL && id != e.opts.NodeID {
			e.forgetNode(ctx, id)
			continue
		}
		out = append(out, NodeRecord{ID: id, Heartbeat: hb, Status: []byte(status)})
	}
	sortNodes(out)
	return out
}

func sortNodes(ns []NodeRecord) {
	slices.SortFunc(ns, func(a, b NodeRecord) int { return strings.Compare(a.ID, b.ID) })
}

func (e *Redis) forgetNode(ctx context.Context, id string) {
	if err := e.client.Do(ctx, e.client.B().Hdel().Key(e.keys.nodes()).Field(id).Build().ToRetryable()).Error(); err != nil {
		e.log.Debug("remove a dead node's registry entry", zap.String("node", id), zap.Error(err))
	}
}

// register writes this node's entry and refreshes the cached peers (part of the heartbeat).
func (e *Redis) register(ctx context.Context) error {
	e.reg.mu.Lock()
	fn := e.reg.status
	e.reg.mu.Unlock()
	if fn == nil {
		return nil
	}
	val := strconv.FormatInt(time.Now().UnixMilli(), 10) + ":" + string(fn())
	key := e.keys.nodes()
	res := e.client.DoMulti(ctx,
		e.client.B().Hset().Key(key).FieldValue().FieldValue(e.opts.NodeID, val).Build().ToRetryable(),
		e.client.B().Hgetall().Key(key).Build(),
	)
	if err := res[0].Error(); err != nil {
		return e.fail(fmt.Errorf("redis engine: node registry: %w", err))
	}
	all, err := res[1].AsStrMap()
	if err != nil {
		return e.fail(fmt.Errorf("redis engine: node registry: %w", err))
	}
	delete(all, e.opts.NodeID)
	peers := e.liveNodes(ctx, all)
	e.reg.mu.Lock()
	e.reg.peers = peers
	e.reg.mu.Unlock()
	return nil
}
