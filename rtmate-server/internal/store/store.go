package store

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/rtmate/rtmate/rtmate-server/internal/config"
)

// Store holds API-managed apps and usage. Every write is durable when it returns nil.
// Implementations are safe for concurrent use.
type Store interface {
	// Apps returns every stored app, ordered by id.
	Apps(ctx context.Context) ([]Record, error)
	// PutApp creates or replaces an app.
	PutApp(ctx context.Context, r Record) error
	// DeleteApp removes an app (its usage stays, for billing). Deleting a missing app is not
	// an error.
	DeleteApp(ctx context.Context, id string) error
	// AddUsage adds deltas to their app's hour; Peak merges by maximum per node.
	AddUsage(ctx context.Context, node string, deltas []Delta) error
	// Usage returns an app's hours in [from, to), ordered by hour, counters summed over nodes.
	Usage(ctx context.Context, app string, from, to time.Time) ([]Hour, error)
	Close() error
}

// Watcher is a store shared by several nodes: they learn of each other's app changes.
type Watcher interface {
	// Version changes whenever an app is put or deleted.
	Version(ctx context.Context) (int64, error)
	// Watch calls changed for every announced change until ctx ends; it returns the error
	// that ended the subscription (the caller resubscribes).
	Watch(ctx context.Context, changed func()) error
}

// Record is one app managed through the admin API, encoded with the config's own YAML keys
// so that a stored app is decoded (strictly) by the same code as a config file's.
type Record struct {
	App       config.App `yaml:",inline"`
	Disabled  bool       `yaml:"disabled"`
	CreatedAt time.Time  `yaml:"created_at"`
	UpdatedAt time.Time  `yaml:"updated_at"`
}

// Encode returns r's stored form.
func (r *Record) Encode() ([]byte, error) {
	b, err := yaml.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("store: encode app %s: %w", r.App.ID, err)
	}
	return b, nil
}

// Decode parses a stored record strictly.
func Decode(b []byte) (Record, error) {
	var r Record
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&r); err != nil {
		return Record{}, fmt.Errorf("store: decode app: %w", err)
	}
	return r, nil
}

// Counters are one app's usage in one hour (or a sum of hours).
type Counters struct {
	ConnectionSeconds int64 `json:"connection_seconds"`
	// PeakConnections is the most concurrent connections seen in the hour: the sum over nodes
	// of each node's peak (an upper bound when nodes peak at different moments).
	PeakConnections int64 `json:"peak_connections"`
	MessagesIn      int64 `json:"messages_in"`
	MessagesOut     int64 `json:"messages_out"`
	BytesIn         int64 `json:"bytes_in"`
	BytesOut        int64 `json:"bytes_out"`
	// Calls counts rpc and script invocations.
	Calls int64 `json:"calls"`
}

// Add adds o to c; Peak takes the larger.
func (c *Counters) Add(o Counters) {
	c.ConnectionSeconds += o.ConnectionSeconds
	c.PeakConnections = max(c.PeakConnections, o.PeakConnections)
	c.MessagesIn += o.MessagesIn
	c.MessagesOut += o.MessagesOut
	c.BytesIn += o.BytesIn
	c.BytesOut += o.BytesOut
	c.Calls += o.Calls
}

// IsZero reports whether nothing was used.
func (c Counters) IsZero() bool { return c == Counters{} }

// Delta is usage to add to one app's hour.
type Delta struct {
	App  string
	Hour time.Time // truncated to the hour, UTC
	Counters
}

// Hour is one app's usage in one hour.
type Hour struct {
	Hour time.Time
	Counters
}

// HourOf truncates t to its UTC hour.
func HourOf(t time.Time) time.Time { return t.UTC().Truncate(time.Hour) }
