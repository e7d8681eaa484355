package config

import (
	"fmt"
	"time"
)

// Limits are per-app limits. In YAML every field is optional; a zero value takes the value
// from `defaults`, and then from BuiltinLimits. Use a negative number to disable a limit that
// is on by default where noted.
type Limits struct {
	// AuthTimeout closes (4008) a connection that has not authenticated. Default 10s.
	AuthTimeout time.Duration `yaml:"auth_timeout"`
	// MaxMessageSize is the largest inbound message, in bytes; larger is closed with 1009
	// before it is buffered. Default 65536.
	MaxMessageSize int `yaml:"max_message_size"`
	// MaxQueueBytes bounds a connection's outbound queue; beyond it the connection is a slow
	// consumer and is closed with 4030. Default 1048576.
	MaxQueueBytes int `yaml:"max_queue_bytes"`
	// WriteTimeout closes (4030) a connection whose socket accepted nothing for this long
	// while data waited. Default 10s.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// MaxChannels is how many channels one connection may subscribe to. Default 128.
	MaxChannels int `yaml:"max_channels_per_connection"`
	// Rate is the sustained number of requests per second per connection. Default 100.
	Rate float64 `yaml:"rate"`
	// Burst is the token bucket's depth. Default 200.
	Burst int `yaml:"burst"`
	// AbuseAfter closes (4029) a connection that stays rate limited this long. Default 5s.
	AbuseAfter time.Duration `yaml:"abuse_after"`
	// MaxConnections caps the app's concurrent connections (429 超出配额 at auth). Default
	// unlimited (0).
	MaxConnections int `yaml:"max_connections"`
	// MaxPublishRate caps the app's published messages per second across all connections
	// and the API (429 超出配额). Default unlimited (0).
	MaxPublishRate float64 `yaml:"max_publish_rate"`
	// HistorySize is how many messages each channel keeps for recovery and `history`.
	// Default 0 (no history) except for the development app.
	HistorySize int `yaml:"history_size"`
	// HistoryTTL is how long history is kept. Default 0 (until pushed out by HistorySize).
	HistoryTTL time.Duration `yaml:"history_ttl"`
	// MonthlyMessages caps the messages the app may publish per calendar month (UTC), summed
	// over every node from the usage store; over it, publishes get 429 超出配额. Needs the
	// admin API's usage store (docs/admin.md). Default unlimited (0).
	MonthlyMessages int64 `yaml:"monthly_messages"`
}

// BuiltinLimits are the documented defaults.
var BuiltinLimits = Limits{
	AuthTimeout:    10 * time.Second,
	MaxMessageSize: 64 << 10,
	MaxQueueBytes:  1 << 20,
	WriteTimeout:   10 * time.Second,
	MaxChannels:    128,
	Rate:           100,
	Burst:          200,
	AbuseAfter:     5 * time.Second,
}

// Merge returns l with every zero field taken from d.
func (l Limits) Merge(d Limits) Limits {
	pick := func(a, b int) int {
		if a == 0 {
			return b
		}
		return a
	}
	pickD := func(a, b time.Duration) time.Duration {
		if a == 0 {
			return b
		}
		return a
	}
	pickF := func(a, b float64) float64 {
		if a == 0 {
			return b
		}
		return a
	}
	return Limits{
		AuthTimeout:    pickD(l.AuthTimeout, d.AuthTimeout),
		MaxMessageSize: pick(l.MaxMessageSize, d.MaxMessageSize),
		MaxQueueBytes:  pick(l.MaxQueueBytes, d.MaxQueueBytes),
		WriteTimeout:   pickD(l.WriteTimeout, d.WriteTimeout),
		MaxChannels:    pick(l.MaxChannels, d.MaxChannels),
		Rate:           pickF(l.Rate, d.Rate),
		Burst:          pick(l.Burst, d.Burst),
		AbuseAfter:     pickD(l.AbuseAfter, d.AbuseAfter),
		MaxConnections: pick(l.MaxConnections, d.MaxConnections),
		MaxPublishRate: pickF(l.MaxPublishRate, d.MaxPublishRate),
		HistorySize:    pick(l.HistorySize, d.HistorySize),
		HistoryTTL:     pickD(l.HistoryTTL, d.HistoryTTL),
		MonthlyMessages: func() int64 {
			if l.MonthlyMessages == 0 {
				return d.MonthlyMessages
			}
			return l.MonthlyMessages
		}(),
	}
}

// problems lists every out-of-range field. Zero means "the default" everywhere; a negative
// rate, max_connections or max_publish_rate means unlimited.
func (l Limits) problems() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if l.MaxMessageSize < 0 || l.MaxMessageSize > 16<<20 {
		add("max_message_size must be between 1 and 16777216")
	}
	if l.MaxQueueBytes < 0 {
		add("max_queue_bytes must be positive")
	}
	if l.MaxChannels < 0 {
		add("max_channels_per_connection must be positive")
	}
	if l.HistorySize < 0 || l.HistorySize > 100000 {
		add("history_size must be between 0 and 100000")
	}
	if l.Burst < 0 {
		add("burst must be positive")
	}
	if l.MonthlyMessages < 0 {
		add("monthly_messages must be positive")
	}
	// A negative timeout would close every connection at the first sweep.
	return append(errs, negative(
		keyDuration{"auth_timeout", l.AuthTimeout}, keyDuration{"write_timeout", l.WriteTimeout},
		keyDuration{"abuse_after", l.AbuseAfter}, keyDuration{"history_ttl", l.HistoryTTL})...)
}

// keyDuration is a duration and its YAML key, for range checks.
type keyDuration struct {
	key string
	v   time.Duration
}

// negative reports each negative duration of ds.
func negative(ds ...keyDuration) []error {
	var errs []error
	for _, d := range ds {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative", d.key))
		}
	}
	return errs
}
