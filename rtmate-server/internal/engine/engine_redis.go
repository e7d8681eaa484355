package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
	"go.uber.org/zap"
)

var _ Engine = (*Redis)(nil)

// RedisOptions configure the Redis engine. Zero values mean the documented defaults.
type RedisOptions struct {
	// Address is host:port of a standalone Redis (≥ 6.2; ≥ 7.0 for sharded pub/sub). Required
	// unless Cluster or Sentinel is set.
	Address string
	// Cluster connects to a Redis Cluster (≥ 7.0) through the seed nodes in Addresses: one
	// sharded pub/sub connection per shard master, followed through failovers and slot moves
	// (engine_redis_cluster.go).
	Cluster   bool
	Addresses []string
	// Sentinel finds the master through Redis Sentinel and follows it through failovers.
	Sentinel *SentinelOptions
	Password string
	DB       int
	// TLS dials Redis over TLS, verifying its certificate against the system roots.
	TLS bool
	// KeyPrefix starts every key and pub/sub channel name, so that several deployments can
	// share one Redis. Default "rtmate:". Must not contain braces (they are hash tags).
	KeyPrefix string
	// PresenceTTL bounds how long the members of a node that died without cleaning up stay
	// listed: the node's heartbeat key lives this long and is refreshed every PresenceTTL/3.
	// Default 30s, minimum 1s.
	PresenceTTL time.Duration
	// NodeID names this node in presence entries and its heartbeat key; it must be unique
	// among live nodes and must not contain ':'. Default: random, new for every process (a
	// restarted node must not inherit the dead one's members).
	NodeID string
	// MetaTTL is how long a channel's offset and epoch (and, for apps without a history TTL,
	// its history) outlive the channel's last publication. When it passes, the channel starts
	// over with a new epoch. Default 24h.
	MetaTTL time.Duration
	// Timeout bounds a subscription round trip and the engine's own background commands
	// (heartbeats, gap recovery). Default 5s.
	Timeout time.Duration
	// ForceUnsharded uses SUBSCRIBE/PUBLISH even on Redis 7, whose sharded pub/sub
	// (SSUBSCRIBE/SPUBLISH) is otherwise preferred.
	ForceUnsharded bool
	// MaxBacklog bounds the bytes of publications received from Redis and not yet delivered
	// locally (publishers on other nodes cannot be slowed down by this one). Beyond it new
	// arrivals are dropped and counted, and each channel that lost some is replayed from
	// history once the backlog has drained; channels without history lose them. Default
	// 64 MiB.
	MaxBacklog int
}

// SentinelOptions locate the master through Redis Sentinel.
type SentinelOptions struct {
	// MasterName is the monitored master set.
	MasterName string
	// Addresses are the sentinels' host:port.
	Addresses []string
	// Password authenticates to the sentinels.
	Password string
}

func (o RedisOptions) withDefaults() (RedisOptions, error) {
	switch {
	case o.Cluster && o.Sentinel != nil:
		return o, errors.New("redis engine: cluster and sentinel are exclusive")
	case o.Cluster:
		if len(o.Addresses) == 0 {
			return o, errors.New("redis engine: cluster mode needs seed addresses")
		}
		if o.DB != 0 {
			return o, errors.New("redis engine: Redis Cluster has only db 0")
		}
	case o.Sentinel != nil:
		if o.Sentinel.MasterName == "" || len(o.Sentinel.Addresses) == 0 {
			return o, errors.New("redis engine: sentinel mode needs a master name and sentinel addresses")
		}
	case o.Address == "":
		return o, errors.New("redis engine: address is required")
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = "rtmate:"
	}
	if strings.ContainsAny(o.KeyPrefix, "{}") {
		return o, fmt.Errorf("redis engine: key prefix %q must not contain braces", o.KeyPrefix)
	}
	if o.PresenceTTL == 0 {
		o.PresenceTTL = 30 * time.Second
	}
	if o.PresenceTTL < time.Second {
		return o, fmt.Errorf("redis engine: presence TTL %v below 1s", o.PresenceTTL)
	}
	if o.NodeID == "" {
		var b [6]byte
		if _, err := rand.Read(b[:]); err != nil {
			return o, fmt.Errorf("redis engine: node id: %w", err)
		}
		o.NodeID = hex.EncodeToString(b[:])
	}
	if strings.ContainsAny(o.NodeID, ": ") {
		return o, fmt.Errorf("redis engine: node id %q must not contain ':' or spaces", o.NodeID)
	}
	if o.MetaTTL == 0 {
		o.MetaTTL = 24 * time.Hour
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	if o.MaxBacklog <= 0 {
		o.MaxBacklog = 64 << 20
	}
	return o, nil
}

// Redis is the engine for several nodes sharing one Redis: publications are ordered and
// stored by a Lua script and reach every node through (sharded) pub/sub, one copy per node
// and channel, which the node fans out locally; presence lives in Redis hashes guarded by
// per-node heartbeats. It reconnects and resubscribes by itself after a Redis restart or a
// network failure, and replays from history what its subscribers missed meanwhile. Safe for
// concurrent use.
//
// Goroutines: one pub/sub connection loop, one subscription worker (every command on the
// pub/sub connection goes through it, in order), one heartbeat, and one delivery worker per
// CPU (each owns a fixed share of the channels, which keeps each channel in order).
type Redis struct {
	opts    RedisOptions
	log     *zap.Logger
	client  rueidis.Client
	keys    keyspace
	sharded bool
	pubCmd  string // SPUBLISH or PUBLISH
	metaTTL string // RedisOptions.MetaTTL in seconds, a script argument
	// lineage (cluster and sentinel modes): a channel's epoch also changes when its keys are
	// written by another Redis process than the last write, i.e. after a failover or a slot
	// move, because async replication may have lost writes that nodes already delivered
	// (see the scripts). lineageArg is its script argument.
	lineage    bool
	lineageArg string
	backoffMax time.Duration

	cl  *clusterState // cluster mode only
	reg registry

	handler Handler
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	started atomic.Bool
	closed  atomic.Bool

	deliv []*delivery

	subMu sync.Mutex
	subs  map[ChannelKey]struct{} // what this node wants; survives reconnects
	ps    *psConn                 // the live pub/sub connection, nil while down

	opsMu   sync.Mutex
	ops     []subOp
	opsWake chan struct{}

	presMu sync.Mutex
	local  map[ChannelKey]map[string]string // this node's presence members: client id → hash value

	bufs sync.Pool

	st counters

	// beforeResubscribe, when set by a test, runs on the subscription worker before it
	// resubscribes after a reconnection.
	beforeResubscribe func()
}

// counters are Stats' sources.
type counters struct {
	connected  atomic.Bool
	reconnects atomic.Uint64
	errors     atomic.Uint64
	received   atomic.Uint64
	recovered  atomic.Uint64
	lost       atomic.Uint64
	resets     atomic.Uint64
	notices    atomic.Uint64
	duplicates atomic.Uint64
	dropped    atomic.Uint64
}

// Stats are the Redis engine's counters, for metrics and tests.
type Stats struct {
	// Connected reports whether the pub/sub connection is up (a gauge).
	Connected bool
	// Reconnects counts pub/sub connections re-established after a loss.
	Reconnects uint64
	// Errors counts failed Redis operations: commands of Publish/History/presence, failed
	// (re)subscriptions, heartbeats and gap recoveries, undecodable messages.
	Errors uint64
	// Channels is how many channels this node is subscribed to (a gauge).
	Channels int
	// Received counts publications that arrived from Redis pub/sub.
	Received uint64
	// Recovered counts publications this node missed on pub/sub and replayed from history.
	Recovered uint64
	// Lost counts publications this node missed and history could no longer supply.
	Lost uint64
	// EpochResets counts channels found with a new epoch after a reconnection (their history
	// was lost in Redis).
	EpochResets uint64
	// EpochNotices counts the HandleEpochReset calls: channels whose live subscribers were
	// told that the epoch changed under them.
	EpochNotices uint64
	// Duplicates counts publications dropped because they were already delivered.
	Duplicates uint64
	// Dropped counts publications refused because the backlog was over MaxBacklog (those of
	// channels with history are then replayed, and counted in Recovered too).
	Dropped uint64
	// Backlog is how many publications wait for local delivery (a gauge).
	Backlog int
}

// NewRedis connects to Redis and checks what it supports; the engine does nothing else
// until Start.
func NewRedis(opts RedisOptions, log *zap.Logger) (*Redis, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	copt, err := opts.clientOption()
	if err != nil {
		return nil, err
	}
	client, err := rueidis.NewClient(copt)
	if err != nil {
		return nil, fmt.Errorf("redis engine: connect to %s: %w", opts.where(), err)
	}
	e := &Redis{
		opts:    opts,
		log:     log.Named("redis"),
		client:  client,
		keys:    keyspace{prefix: opts.KeyPrefix},
		subs:    make(map[ChannelKey]struct{}),
		local:   make(map[ChannelKey]map[string]string),
		opsWake: make(chan struct{}, 1),

		backoffMax: backoffMax,
		lineageArg: "0",
	}
	if opts.Cluster {
		e.cl = newClusterState()
	}
	e.bufs.New = func() any { b := make([]byte, 0, 512); return &b }
	n := max(1, min(runtime.GOMAXPROCS(0), 16))
	e.deliv = make([]*delivery, n)
	for i := range e.deliv {
		e.deliv[i] = newDelivery(e, max(opts.MaxBacklog/n, 1))
	}
	ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout)
	defer cancel()
	major, err := e.serverMajor(ctx)
	if err != nil {
		client.Close()
		return nil, err
	}
	if opts.Cluster && major < 7 {
		client.Close()
		return nil, fmt.Errorf("redis engine: cluster mode needs Redis 7 or newer (sharded pub/sub); found major version %d", major)
	}
	e.sharded = major >= 7 && (!opts.ForceUnsharded || opts.Cluster)
	e.lineage = opts.Cluster || opts.Sentinel != nil
	if e.lineage {
		e.lineageArg = "1"
		e.backoffMax = haBackoffMax
	}
	e.pubCmd = "PUBLISH"
	if e.sharded {
		e.pubCmd = "SPUBLISH"
	}
	e.metaTTL = strconv.FormatInt(int64(opts.MetaTTL/time.Second), 10)
	e.log.Info("redis engine connected", zap.String("mode", opts.mode()), zap.String("addr", opts.where()), zap.String("node_id", opts.NodeID),
		zap.Int("redis_major", major), zap.Bool("sharded_pubsub", e.sharded))
	return e, nil
}

// serverMajor reads the Redis major version from INFO server.
func (e *Redis) serverMajor(ctx context.Context) (int, error) {
	info, err := e.client.Do(ctx, e.client.B().Info().Section("server").Build()).ToString()
	if err != nil {
		return 0, fmt.Errorf("redis engine: INFO server at %s: %w", e.opts.where(), err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			major, _, _ := strings.Cut(v, ".")
			n, err := strconv.Atoi(major)
			if err != nil {
				return 0, fmt.Errorf("redis engine: redis_version %q: %w", v, err)
			}
			if n < 6 {
				return 0, fmt.Errorf("redis engine: redis %s is too old: 6.2 or newer is required", v)
			}
			return n, nil
		}
	}
	return 0, errors.New("redis engine: no redis_version in INFO server")
}

// NodeID is the node's name in presence entries.
func (e *Redis) NodeID() string { return e.opts.NodeID }

// Sharded reports whether the engine uses sharded pub/sub (SSUBSCRIBE/SPUBLISH).
func (e *Redis) Sharded() bool { return e.sharded }

// Start sets the handler, registers the node's heartbeat and opens the pub/sub connection.
// It fails when Redis cannot be reached now; later failures are retried in the background.
func (e *Redis) Start(ctx context.Context, h Handler) error {
	if e.closed.Load() {
		return ErrClosed
	}
	if !e.started.CompareAndSwap(false, true) {
		return errors.New("redis engine: already started")
	}
	e.handler = h
	e.ctx, e.cancel = context.WithCancel(context.Background())
	hctx, cancel := context.WithTimeout(ctx, e.opts.Timeout)
	err := e.heartbeat(hctx, true)
	cancel()
	if err != nil {
		e.cancel()
		return err
	}
	for _, d := range e.deliv {
		e.wg.Add(1)
		go d.run()
	}
	first := make(chan error, 1)
	e.wg.Add(2)
	if e.cl != nil {
		go e.runCluster(first)
	} else {
		e.wg.Add(1)
		go e.runOps()
		go e.runPubSub(first)
	}
	go e.runHeartbeat()
	select {
	case err := <-first:
		if err != nil {
			e.cancel()
			e.wg.Wait()
			return err
		}
	case <-ctx.Done():
		e.cancel()
		e.wg.Wait()
		return fmt.Errorf("redis engine: start: %w", ctx.Err())
	}
	return nil
}

// Close stops the engine and removes the node's heartbeat, so that any member it still lists
// disappears at once. Idempotent.
func (e *Redis) Close() error {
	return e.close(true)
}

func (e *Redis) close(cleanup bool) error {
	if !e.closed.CompareAndSwap(false, true) {
		return nil
	}
	var err error
	if e.started.Load() {
		e.cancel()
		e.wg.Wait()
		if cleanup {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			if derr := e.client.Do(ctx, e.client.B().Del().Key(e.keys.node(e.opts.NodeID)).Build().ToRetryable()).Error(); derr != nil {
				err = fmt.Errorf("redis engine: remove heartbeat: %w", derr)
			}
			e.forgetNode(ctx, e.opts.NodeID)
			cancel()
		}
	}
	e.client.Close()
	return err
}

// Stats returns the engine's counters.
func (e *Redis) Stats() Stats {
	e.subMu.Lock()
	channels := len(e.subs)
	e.subMu.Unlock()
	backlog := 0
	for _, d := range e.deliv {
		backlog += d.backlog()
	}
	return Stats{
		Connected:    e.st.connected.Load(),
		Reconnects:   e.st.reconnects.Load(),
		Errors:       e.st.errors.Load(),
		Channels:     channels,
		Received:     e.st.received.Load(),
		Recovered:    e.st.recovered.Load(),
		Lost:         e.st.lost.Load(),
		EpochResets:  e.st.resets.Load(),
		EpochNotices: e.st.notices.Load(),
		Duplicates:   e.st.duplicates.Load(),
		Dropped:      e.st.dropped.Load(),
		Backlog:      backlog,
	}
}

func (e *Redis) fail(err error) error {
	if err != nil {
		e.st.errors.Add(1)
	}
	return err
}

// Publish stores a message in history (when opts.Size > 0) and publishes it, atomically, in
// one script run; join/leave and messages of channels without history are published as they
// are. Either way Redis carries one message per publication, whatever the subscriber count.
func (e *Redis) Publish(ctx context.Context, ch ChannelKey, pub *Publication, opts HistoryOptions) (StreamPosition, error) {
	if e.closed.Load() {
		return StreamPosition{}, ErrClosed
	}
	bp := e.bufs.Get().(*[]byte)
	defer e.bufs.Put(bp)
	if opts.Size <= 0 || pub.Kind != KindMessage {
		b := append((*bp)[:0], "0::"...)
		b = appendBody(b, pub)
		*bp = b
		var cmd rueidis.Completed
		if e.sharded {
			cmd = e.client.B().Spublish().Channel(e.keys.topic(ch)).Message(rueidis.BinaryString(b)).Build()
		} else {
			cmd = e.client.B().Publish().Channel(e.keys.topic(ch)).Message(rueidis.BinaryString(b)).Build()
		}
		if err := e.client.Do(ctx, cmd).Error(); err != nil {
			return StreamPosition{}, e.fail(fmt.Errorf("redis engine: publish to %s/%s: %w", ch.App, ch.Name, err))
		}
		return StreamPosition{}, nil
	}
	b := appendBody((*bp)[:0], pub)
	*bp = b
	ttl := "0"
	if opts.TTLSeconds > 0 {
		ttl = strconv.FormatInt(opts.TTLSeconds, 10)
	}
	res, err := publishScript.Exec(ctx, e.client,
		[]string{e.keys.meta(ch), e.keys.stream(ch)},
		[]string{e.keys.topic(ch), rueidis.BinaryString(b), strconv.Itoa(opts.Size), ttl, e.metaTTL, e.pubCmd, e.lineageArg},
	).ToArray()
	if err == nil && len(res) != 2 {
		err = fmt.Errorf("script returned %d values", len(res))
	}
	var off int64
	var epoch string
	if err == nil {
		off, err = res[0].AsInt64()
	}
	if err == nil {
		epoch, err = res[1].ToString()
	}
	if err != nil {
		return StreamPosition{}, e.fail(fmt.Errorf("redis engine: publish to %s/%s: %w", ch.App, ch.Name, err))
	}
	pub.Offset, pub.Epoch = uint64(off), epoch
	return StreamPosition{Offset: uint64(off), Epoch: epoch}, nil
}

// History reads up to limit publications after since (limit <= 0: all that are kept) and the
// channel's position, consistently; a channel that never had history gets its epoch here.
// The publications own their memory.
func (e *Redis) History(ctx context.Context, ch ChannelKey, since uint64, limit int) ([]Publication, StreamPosition, error) {
	if e.closed.Load() {
		return nil, StreamPosition{}, ErrClosed
	}
	res, err := historyScript.Exec(ctx, e.client,
		[]string{e.keys.meta(ch), e.keys.stream(ch)},
		[]string{strconv.FormatUint(since+1, 10), strconv.Itoa(max(limit, 0)), e.metaTTL, e.lineageArg},
	).ToArray()
	if err == nil && len(res) != 3 {
		err = fmt.Errorf("script returned %d values", len(res))
	}
	var pos StreamPosition
	var entries []rueidis.RedisMessage
	if err == nil {
		var off int64
		off, err = res[0].AsInt64()
		if err == nil && off < 0 {
			err = fmt.Errorf("script returned offset %d", off)
		}
		pos.Offset = uint64(off)
	}
	if err == nil {
		pos.Epoch, err = res[1].ToString()
	}
	if err == nil {
		entries, err = res[2].ToArray()
	}
	if err != nil {
		return nil, StreamPosition{}, e.fail(fmt.Errorf("redis engine: history of %s/%s: %w", ch.App, ch.Name, err))
	}
	if len(entries) == 0 {
		return nil, pos, nil
	}
	out := make([]Publication, 0, len(entries))
	for i := range entries {
		p, err := decodeEntry(&entries[i])
		if err != nil {
			return nil, StreamPosition{}, e.fail(fmt.Errorf("redis engine: history of %s/%s: %w", ch.App, ch.Name, err))
		}
		p.Epoch = pos.Epoch
		out = append(out, p)
	}
	return out, pos, nil
}

// decodeEntry turns a stream entry [id, [b, body]] into a Publication that owns its memory.
func decodeEntry(m *rueidis.RedisMessage) (Publication, error) {
	kv, err := m.ToArray()
	if err != nil || len(kv) != 2 {
		return Publication{}, errBadPayload
	}
	id, err := kv[0].ToString()
	if err != nil {
		return Publication{}, errBadPayload
	}
	seq, _, _ := strings.Cut(id, "-")
	off, err := strconv.ParseUint(seq, 10, 64)
	if err != nil {
		return Publication{}, errBadPayload
	}
	fields, err := kv[1].ToArray()
	if err != nil || len(fields) != 2 {
		return Publication{}, errBadPayload
	}
	body, err := fields[1].ToString()
	if err != nil {
		return Publication{}, errBadPayload
	}
	var p Publication
	if err := decodeBody(body, &p); err != nil {
		return Publication{}, err
	}
	if p.Data != nil {
		p.Data = []byte(string(p.Data)) // history results are handed out and may be kept
	}
	p.Offset = off
	return p, nil
}
