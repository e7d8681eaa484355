package store

import (
	"context"
	"crypto/tls"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/rtmate/rtmate/rtmate-server/internal/config"
)

// Redis keeps apps and usage in the Redis of the redis engine, so that every node serves the
// same apps and usage is summed across nodes. Apps are one hash; every change bumps a version
// counter in the same transaction and is announced on a pub/sub channel, so that nodes apply
// it at once and a node that missed the announcement sees the new version within a second
// (Watcher). Usage is one hash per app per UTC day, added with HINCRBY; peaks are kept per
// node and summed when read. Durability is Redis's own (appendonly with appendfsync as the
// operator configures it): the write is acknowledged by Redis before the API answers.
type Redis struct {
	client rueidis.Client
	prefix string
}

var (
	_ Store   = (*Redis)(nil)
	_ Watcher = (*Redis)(nil)
)

// NewRedis connects to the engine's Redis (engine.redis in the config).
func NewRedis(cfg config.Redis) (*Redis, error) {
	opt := rueidis.ClientOption{
		InitAddress:       []string{cfg.Address},
		Password:          cfg.Password,
		SelectDB:          cfg.DB,
		ClientName:        "rtmate-admin",
		DisableCache:      true,
		ForceSingleClient: true,
		Dialer:            net.Dialer{Timeout: 3 * time.Second, KeepAlive: 15 * time.Second},
	}
	if cfg.TLS {
		host, _, err := net.SplitHostPort(cfg.Address)
		if err != nil {
			return nil, fmt.Errorf("store: redis address %q: %w", cfg.Address, err)
		}
		opt.TLSConfig = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	c, err := rueidis.NewClient(opt)
	if err != nil {
		return nil, fmt.Errorf("store: connect to redis %s: %w", cfg.Address, err)
	}
	return &Redis{client: c, prefix: cfg.KeyPrefix}, nil
}

func (s *Redis) appsKey() string    { return s.prefix + "admin:apps" }
func (s *Redis) versionKey() string { return s.prefix + "admin:version" }
func (s *Redis) changesKey() string { return s.prefix + "admin:changes" }
func (s *Redis) usageKey(app string, day time.Time) string {
	return s.prefix + "admin:usage:" + app + ":" + day.Format("20060102")
}

// Apps implements Store.
func (s *Redis) Apps(ctx context.Context) ([]Record, error) {
	m, err := s.client.Do(ctx, s.client.B().Hgetall().Key(s.appsKey()).Build()).AsStrMap()
	if err != nil {
		return nil, fmt.Errorf("store: redis apps: %w", err)
	}
	out := make([]Record, 0, len(m))
	for _, id := range slices.Sorted(maps.Keys(m)) {
		r, err := Decode([]byte(m[id]))
		if err != nil {
			return nil, fmt.Errorf("store: redis app %s: %w", id, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// change runs cmd with the version bump in one transaction, then announces it.
func (s *Redis) change(ctx context.Context, id string, cmd rueidis.Completed) error {
	b := s.client.B()
	res := s.client.DoMulti(ctx, b.Multi().Build(), cmd, b.Incr().Key(s.versionKey()).Build(), b.Exec().Build())
	for _, r := range res {
		if err := r.Error(); err != nil {
			return fmt.Errorf("store: redis change %s: %w", id, err)
		}
	}
	// A lost announcement is caught by the version check within a second.
	_ = s.client.Do(ctx, b.Publish().Channel(s.changesKey()).Message(id).Build()).Error()
	return nil
}

// PutApp implements Store.
func (s *Redis) PutApp(ctx context.Context, r Record) error {
	v, err := r.Encode()
	if err != nil {
		return err
	}
	return s.change(ctx, r.App.ID, s.client.B().Hset().Key(s.appsKey()).FieldValue().FieldValue(r.App.ID, string(v)).Build())
}

// DeleteApp implements Store.
func (s *Redis) DeleteApp(ctx context.Context, id string) error {
	return s.change(ctx, id, s.client.B().Hdel().Key(s.appsKey()).Field(id).Build())
}

// Version implements Watcher.
func (s *Redis) Version(ctx context.Context) (int64, error) {
	v, err := s.client.Do(ctx, s.client.B().Get().Key(s.versionKey()).Build()).AsInt64()
	if rueidis.IsRedisNil(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: redis version: %w", err)
	}
	return v, nil
}

// Watch implements Watcher.
func (s *Redis) Watch(ctx context.Context, changed func()) error {
	err := s.client.Receive(ctx, s.client.B().Subscribe().Channel(s.changesKey()).Build(), func(rueidis.PubSubMessage) { changed() })
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("store: redis watch: %w", err)
	}
	return nil
}

var counterNames = [usageFields]string{"connection_seconds", "peak_connections", "messages_in", "messages_out", "bytes_in", "bytes_out", "calls"}

func counterValues(c Counters) [usageFields]int64 {
	return [usageFields]int64{c.ConnectionSeconds, c.PeakConnections, c.MessagesIn, c.MessagesOut, c.BytesIn, c.BytesOut, c.Calls}
}

// usageTTL keeps a day's usage hash for about 13 months, for billing disputes.
const usageTTL = 400 * 24 * time.Hour

// AddUsage implements Store: counters add up across nodes; each node's peak is its own field.
func (s *Redis) AddUsage(ctx context.Context, node string, deltas []Delta) error {
	b := s.client.B()
	var cmds rueidis.Commands
	for _, d := range deltas {
		h := HourOf(d.Hour)
		key := s.usageKey(d.App, h.Truncate(24*time.Hour))
		hour := strconv.FormatInt(h.Unix(), 10)
		for i, v := range counterValues(d.Counters) {
			switch {
			case i == 1:
				if v > 0 {
					cmds = append(cmds, maxPeakCmd(b, key, hour+":peak_connections:"+node, v))
				}
			case v != 0:
				cmds = append(cmds, b.Hincrby().Key(key).Field(hour+":"+counterNames[i]).Increment(v).Build())
			}
		}
		cmds = append(cmds, b.Pexpire().Key(key).Milliseconds(usageTTL.Milliseconds()).Build())
	}
	for _, r := range s.client.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			return fmt.Errorf("store: redis add usage: %w", err)
		}
	}
	return nil
}

func maxPeakCmd(b rueidis.Builder, key, field string, v int64) rueidis.Completed {
	return b.Eval().Script(maxPeakSrc).Numkeys(1).Key(key).Arg(field, strconv.FormatInt(v, 10)).Build()
}

// maxPeakSrc keeps the larger of a stored and a new value (per-node hourly peaks).
const maxPeakSrc = `local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) > cur then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 0`

// Usage implements Store.
func (s *Redis) Usage(ctx context.Context, app string, from, to time.Time) ([]Hour, error) {
	b := s.client.B()
	var cmds rueidis.Commands
	for day := HourOf(from).Truncate(24 * time.Hour); day.Before(to); day = day.Add(24 * time.Hour) {
		cmds = append(cmds, b.Hgetall().Key(s.usageKey(app, day)).Build())
	}
	byHour := map[int64]*Counters{}
	for _, r := range s.client.DoMulti(ctx, cmds...) {
		m, err := r.AsStrMap()
		if err != nil {
			return nil, fmt.Errorf("store: redis usage of %s: %w", app, err)
		}
		for field, val := range m {
			hs, name, _ := strings.Cut(field, ":")
			hour, err1 := strconv.ParseInt(hs, 10, 64)
			v, err2 := strconv.ParseInt(val, 10, 64)
			if err1 != nil || err2 != nil {
				continue // not ours
			}
			t := time.Unix(hour, 0).UTC()
			if t.Before(HourOf(from)) || !t.Before(to) {
				continue
			}
			c := byHour[hour]
			if c == nil {
				c = &Counters{}
				byHour[hour] = c
			}
			name, _, _ = strings.Cut(name, ":") // peak_connections:<node>
			switch name {
			case "connection_seconds":
				c.ConnectionSeconds += v
			case "peak_connections":
				c.PeakConnections += v // the sum of the nodes' peaks
			case "messages_in":
				c.MessagesIn += v
			case "messages_out":
				c.MessagesOut += v
			case "bytes_in":
				c.BytesIn += v
			case "bytes_out":
				c.BytesOut += v
			case "calls":
				c.Calls += v
			}
		}
	}
	out := make([]Hour, 0, len(byHour))
	for _, h := range slices.Sorted(maps.Keys(byHour)) {
		out = append(out, Hour{Hour: time.Unix(h, 0).UTC(), Counters: *byHour[h]})
	}
	return out, nil
}

// Close implements Store.
func (s *Redis) Close() error {
	s.client.Close()
	return nil
}
