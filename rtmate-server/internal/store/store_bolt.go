package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Bolt is the embedded store: one bbolt file, rtmate.db, in data_dir. bbolt is pure Go (no
// cgo, one small dependency) and each Update commits with fsync before it returns, which is
// the durability the admin API promises before it answers 200; its single-writer B+tree fits
// a workload of rare app changes and a usage flush every few seconds. modernc.org/sqlite is
// also pure Go, but it is a C-to-Go translation of SQLite of ~10 MB that the server would
// carry for two key-value tables.
type Bolt struct {
	db *bolt.DB
}

var _ Store = (*Bolt)(nil)

var (
	bucketApps  = []byte("apps")
	bucketUsage = []byte("usage")
)

// usageFields is the stored order of Counters (fixed: it is the file format).
const usageFields = 7

// OpenBolt opens (creating it and dir when missing) the store in dir. Another process holding
// the file makes it fail after a second rather than wait.
func OpenBolt(dir string) (*Bolt, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: data_dir %s: %w", dir, err)
	}
	path := filepath.Join(dir, "rtmate.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketApps, bucketUsage} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close() // the open failed already; that error is the one to report
		return nil, fmt.Errorf("store: init %s: %w", path, err)
	}
	return &Bolt{db: db}, nil
}

// Apps implements Store.
func (s *Bolt) Apps(context.Context) ([]Record, error) {
	var out []Record
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketApps).ForEach(func(k, v []byte) error {
			r, err := Decode(v)
			if err != nil {
				return fmt.Errorf("app %s: %w", k, err)
			}
			out = append(out, r)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: apps: %w", err)
	}
	return out, nil
}

// PutApp implements Store.
func (s *Bolt) PutApp(_ context.Context, r Record) error {
	b, err := r.Encode()
	if err != nil {
		return err
	}
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketApps).Put([]byte(r.App.ID), b) }); err != nil {
		return fmt.Errorf("store: put app %s: %w", r.App.ID, err)
	}
	return nil
}

// DeleteApp implements Store.
func (s *Bolt) DeleteApp(_ context.Context, id string) error {
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketApps).Delete([]byte(id)) }); err != nil {
		return fmt.Errorf("store: delete app %s: %w", id, err)
	}
	return nil
}

// usageKey is app, a NUL (which app ids never contain) and the hour's Unix seconds, big-endian
// so that an app's hours sort in time order.
func usageKey(app string, hour time.Time) []byte {
	k := make([]byte, 0, len(app)+9)
	k = append(k, app...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, uint64(hour.Unix())) // #nosec G115 -- hours after 1970
}

func encodeCounters(c Counters) []byte {
	b := make([]byte, 0, 8*usageFields)
	for _, v := range []int64{c.ConnectionSeconds, c.PeakConnections, c.MessagesIn, c.MessagesOut, c.BytesIn, c.BytesOut, c.Calls} {
		b = binary.BigEndian.AppendUint64(b, uint64(v)) // #nosec G115 -- counters are never negative
	}
	return b
}

func decodeCounters(b []byte) Counters {
	var v [usageFields]int64
	for i := range v {
		if len(b) >= 8*(i+1) {
			v[i] = int64(binary.BigEndian.Uint64(b[8*i:])) // #nosec G115 -- written by encodeCounters
		}
	}
	return Counters{v[0], v[1], v[2], v[3], v[4], v[5], v[6]}
}

// AddUsage implements Store. One node writes to a Bolt file, so peaks merge by maximum.
func (s *Bolt) AddUsage(_ context.Context, _ string, deltas []Delta) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUsage)
		for _, d := range deltas {
			k := usageKey(d.App, HourOf(d.Hour))
			c := decodeCounters(b.Get(k))
			c.Add(d.Counters)
			if err := b.Put(k, encodeCounters(c)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: add usage: %w", err)
	}
	return nil
}

// Usage implements Store.
func (s *Bolt) Usage(_ context.Context, app string, from, to time.Time) ([]Hour, error) {
	var out []Hour
	start, end := usageKey(app, HourOf(from)), usageKey(app, to)
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketUsage).Cursor()
		for k, v := c.Seek(start); k != nil && string(k) < string(end); k, v = c.Next() {
			if len(k) != len(app)+9 || string(k[:len(app)]) != app || k[len(app)] != 0 {
				break
			}
			secs := int64(binary.BigEndian.Uint64(k[len(app)+1:])) // #nosec G115 -- written by usageKey
			out = append(out, Hour{Hour: time.Unix(secs, 0).UTC(), Counters: decodeCounters(v)})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: usage of %s: %w", app, err)
	}
	return out, nil
}

// Close implements Store.
func (s *Bolt) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}
