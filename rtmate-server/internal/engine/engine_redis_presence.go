package engine

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"
	"go.uber.org/zap"
)

// Presence in Redis: one hash per channel maps client_id → "<node_id>:<user_id>". A member is
// listed while its node's heartbeat key exists; the heartbeat lives PresenceTTL and is
// renewed every PresenceTTL/3, so the members of a node that died without cleaning up
// (SIGKILL, power loss) disappear from Presence within PresenceTTL. The first reader that
// notices them deletes them and announces their leave. Each node also renews the expiry of
// the hashes it has members in, so that a hash whose nodes all died is removed by Redis
// within presenceHashTTLs × PresenceTTL.

const presenceHashTTLs = 3

// AddPresence records a member of this node.
func (e *Redis) AddPresence(ctx context.Context, ch ChannelKey, info ClientInfo) error {
	if e.closed.Load() {
		return ErrClosed
	}
	val := e.opts.NodeID + ":" + info.UserID
	e.presMu.Lock()
	members := e.local[ch]
	if members == nil {
		members = make(map[string]string)
		e.local[ch] = members
	}
	members[info.ClientID] = val
	e.presMu.Unlock()
	key := e.keys.presence(ch)
	for _, r := range e.client.DoMulti(ctx,
		e.client.B().Hset().Key(key).FieldValue().FieldValue(info.ClientID, val).Build().ToRetryable(),
		e.client.B().Expire().Key(key).Seconds(e.presenceHashTTL()).Build().ToRetryable(),
	) {
		if err := r.Error(); err != nil {
			return e.fail(fmt.Errorf("redis engine: add presence to %s/%s: %w", ch.App, ch.Name, err))
		}
	}
	return nil
}

// RemovePresence forgets a member of this node.
func (e *Redis) RemovePresence(ctx context.Context, ch ChannelKey, clientID string) error {
	if e.closed.Load() {
		return ErrClosed
	}
	e.presMu.Lock()
	if members := e.local[ch]; members != nil {
		delete(members, clientID)
		if len(members) == 0 {
			delete(e.local, ch)
		}
	}
	e.presMu.Unlock()
	if err := e.client.Do(ctx, e.client.B().Hdel().Key(e.keys.presence(ch)).Field(clientID).Build().ToRetryable()).Error(); err != nil {
		return e.fail(fmt.Errorf("redis engine: remove presence from %s/%s: %w", ch.App, ch.Name, err))
	}
	return nil
}

var _ MemberAnnouncer = (*Redis)(nil)

// JoinMember is AddPresence and the join's publication in one script (memberScript).
func (e *Redis) JoinMember(ctx context.Context, ch ChannelKey, info ClientInfo) (bool, error) {
	if e.closed.Load() {
		return false, ErrClosed
	}
	val := e.opts.NodeID + ":" + info.UserID
	e.presMu.Lock()
	members := e.local[ch]
	if members == nil {
		members = make(map[string]string)
		e.local[ch] = members
	}
	members[info.ClientID] = val
	e.presMu.Unlock()
	once, err := e.announceMember(ctx, ch, "j", KindJoin, info.ClientID, val, info.UserID)
	if err != nil {
		return false, e.fail(fmt.Errorf("redis engine: join %s/%s: %w", ch.App, ch.Name, err))
	}
	return once, nil
}

// LeaveMember is RemovePresence and the leave's publication in one script (memberScript).
func (e *Redis) LeaveMember(ctx context.Context, ch ChannelKey, clientID string) (once, ok bool, err error) {
	if e.closed.Load() {
		return false, false, ErrClosed
	}
	e.presMu.Lock()
	val, ok := e.local[ch][clientID]
	if ok {
		delete(e.local[ch], clientID)
		if len(e.local[ch]) == 0 {
			delete(e.local, ch)
		}
	}
	e.presMu.Unlock()
	if !ok {
		return false, false, nil
	}
	_, stored, _ := strings.Cut(val, ":")
	once, err = e.announceMember(ctx, ch, "l", KindLeave, clientID, "", stored)
	if err != nil {
		return false, true, e.fail(fmt.Errorf("redis engine: leave %s/%s: %w", ch.App, ch.Name, err))
	}
	return once, true, nil
}

func (e *Redis) announceMember(ctx context.Context, ch ChannelKey, op string, kind Kind, clientID, val, stored string) (bool, error) {
	pub := Publication{Kind: kind, ClientID: clientID, UserID: announced(stored, true)}
	news := appendBody([]byte("0::"), &pub)
	pub.UserID = announced(stored, false)
	again := appendBody([]byte("0::"), &pub)
	n, err := memberScript.Exec(ctx, e.client, []string{e.keys.presence(ch)}, []string{
		op, clientID, val, MemberID(stored), strconv.FormatInt(e.presenceHashTTL(), 10), e.pubCmd, e.keys.topic(ch),
		rueidis.BinaryString(news), rueidis.BinaryString(again),
	}).AsInt64()
	return n == 1, err
}

// Presence lists the members of every live node. Members of nodes whose heartbeat expired
// are deleted, and their leave published, by whichever node sees them first.
func (e *Redis) Presence(ctx context.Context, ch ChannelKey) ([]ClientInfo, error) {
	if e.closed.Load() {
		return nil, ErrClosed
	}
	key := e.keys.presence(ch)
	all, err := e.client.Do(ctx, e.client.B().Hgetall().Key(key).Build()).AsStrMap()
	if err != nil {
		return nil, e.fail(fmt.Errorf("redis engine: presence of %s/%s: %w", ch.App, ch.Name, err))
	}
	if len(all) == 0 {
		return nil, nil
	}
	// Which nodes are alive? This one is, whatever its heartbeat says.
	alive := map[string]bool{e.opts.NodeID: true}
	var nodes []string
	for _, v := range all {
		node, _, _ := strings.Cut(v, ":")
		if _, seen := alive[node]; !seen {
			alive[node] = false
			nodes = append(nodes, node)
		}
	}
	if len(nodes) > 0 {
		cmds := make(rueidis.Commands, len(nodes))
		for i, n := range nodes {
			cmds[i] = e.client.B().Exists().Key(e.keys.node(n)).Build()
		}
		for i, r := range e.client.DoMulti(ctx, cmds...) {
			n, err := r.AsInt64()
			if err != nil {
				return nil, e.fail(fmt.Errorf("redis engine: presence of %s/%s: node heartbeat: %w", ch.App, ch.Name, err))
			}
			alive[nodes[i]] = n == 1
		}
	}
	out := make([]ClientInfo, 0, len(all))
	var dead []ClientInfo
	for client, v := range all {
		node, user, _ := strings.Cut(v, ":")
		if alive[node] {
			out = append(out, ClientInfo{ClientID: client, UserID: user})
		} else {
			dead = append(dead, ClientInfo{ClientID: client, UserID: user})
		}
	}
	if len(dead) > 0 {
		e.reapDead(ctx, ch, key, dead, out)
	}
	return out, nil
}

// reapDead deletes the members of dead nodes and announces their leave. HDEL field by field
// tells which reader removed which member, so each leave is published once even when
// several nodes notice the same dead members at the same time. A leave is news for Pusher
// clients (flagged once) unless a member of the same user remains: a live one, or a dead
// one reaped after it.
func (e *Redis) reapDead(ctx context.Context, ch ChannelKey, key string, dead, live []ClientInfo) {
	cmds := make(rueidis.Commands, len(dead))
	for i, m := range dead {
		cmds[i] = e.client.B().Hdel().Key(key).Field(m.ClientID).Build()
	}
	for i, r := range e.client.DoMulti(ctx, cmds...) {
		n, err := r.AsInt64()
		if err != nil {
			e.st.errors.Add(1)
			e.log.Warn("remove members of a dead node", zap.String("app_id", ch.App), zap.String("channel", ch.Name), zap.Error(err))
			return
		}
		if n == 1 {
			id := MemberID(dead[i].UserID)
			same := func(m ClientInfo) bool { return MemberID(m.UserID) == id }
			alone := !slices.ContainsFunc(live, same) && !slices.ContainsFunc(dead[i+1:], same)
			pub := Publication{Kind: KindLeave, ClientID: dead[i].ClientID, UserID: announced(dead[i].UserID, alone)}
			if _, err := e.Publish(ctx, ch, &pub, HistoryOptions{}); err != nil {
				e.log.Warn("announce leave of a dead node's member", zap.String("app_id", ch.App), zap.String("channel", ch.Name), zap.Error(err))
			}
		}
	}
}

func (e *Redis) presenceHashTTL() int64 {
	return int64(presenceHashTTLs * e.opts.PresenceTTL / time.Second)
}

// runHeartbeat renews the node's heartbeat every PresenceTTL/3.
func (e *Redis) runHeartbeat() {
	defer e.wg.Done()
	t := time.NewTicker(e.opts.PresenceTTL / 3)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(e.ctx, e.opts.Timeout)
		err := e.heartbeat(ctx, false)
		cancel()
		switch {
		case err != nil && !failing && e.ctx.Err() == nil:
			e.log.Warn("redis heartbeat failed; this node's presence members vanish if it keeps failing",
				zap.Duration("presence_ttl", e.opts.PresenceTTL), zap.Error(err))
		case err == nil && failing:
			e.log.Info("redis heartbeat restored")
		}
		failing = err != nil
	}
}

// heartbeat renews the node's key and the expiry of the presence hashes it has members in.
// When the key had vanished (Redis restarted, or this node was cut off for longer than the
// TTL and others reaped its members), it writes the node's members back.
func (e *Redis) heartbeat(ctx context.Context, first bool) error {
	node := e.keys.node(e.opts.NodeID)
	prev := e.client.Do(ctx, e.client.B().Set().Key(node).Value(strconv.FormatInt(time.Now().UnixMilli(), 10)).
		Get().PxMilliseconds(e.opts.PresenceTTL.Milliseconds()).Build().ToRetryable())
	if err := prev.Error(); err != nil && !rueidis.IsRedisNil(err) {
		return e.fail(fmt.Errorf("redis engine: heartbeat: %w", err))
	}
	vanished := rueidis.IsRedisNil(prev.Error()) && !first
	hashTTL := e.presenceHashTTL()
	var cmds rueidis.Commands
	e.presMu.Lock()
	for ch, members := range e.local {
		key := e.keys.presence(ch)
		if vanished {
			hset := e.client.B().Hset().Key(key).FieldValue()
			for client, val := range members {
				hset = hset.FieldValue(client, val)
			}
			cmds = append(cmds, hset.Build().ToRetryable())
		}
		cmds = append(cmds, e.client.B().Expire().Key(key).Seconds(hashTTL).Build().ToRetryable())
	}
	restored := len(e.local)
	e.presMu.Unlock()
	if vanished && restored > 0 {
		e.log.Warn("redis heartbeat had expired; restoring this node's presence members", zap.Int("channels", restored))
	}
	for start := 0; start < len(cmds); start += opsChunk {
		for _, r := range e.client.DoMulti(ctx, cmds[start:min(start+opsChunk, len(cmds))]...) {
			if err := r.Error(); err != nil {
				return e.fail(fmt.Errorf("redis engine: heartbeat: presence expiry: %w", err))
			}
		}
	}
	return e.register(ctx)
}
