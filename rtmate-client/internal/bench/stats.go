package bench

import (
	"fmt"
	"maps"
	"sync"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds from 1 µs to 1 hour with 3 significant digits.
const (
	histMin     = 1
	histMax     = int64(3600 * 1e6)
	histSigFigs = 3
	histShards  = 16
)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(histMin, histMax, histSigFigs) }

// shardedHist spreads recordings over a few mutex-guarded histograms so that thousands of
// reader goroutines do not contend on one lock, and one histogram per connection (tens
// of KiB each) is not needed. Safe for concurrent use.
type shardedHist struct {
	shards [histShards]struct {
		mu sync.Mutex
		h  *hdrhistogram.Histogram
		_  [40]byte // keep shards on separate cache lines
	}
}

func newShardedHist() *shardedHist {
	s := &shardedHist{}
	for i := range s.shards {
		s.shards[i].h = newHist()
	}
	return s
}

// record adds a latency in µs (clamped to the histogram's range) to shard i%histShards.
func (s *shardedHist) record(i int, us int64) {
	us = min(max(us, histMin), histMax)
	sh := &s.shards[i%histShards]
	sh.mu.Lock()
	_ = sh.h.RecordValue(us) // in range by the clamp above
	sh.mu.Unlock()
}

// recordBatch is record for several latencies under one lock.
func (s *shardedHist) recordBatch(i int, us []int64) {
	if len(us) == 0 {
		return
	}
	sh := &s.shards[i%histShards]
	sh.mu.Lock()
	for _, v := range us {
		_ = sh.h.RecordValue(min(max(v, histMin), histMax))
	}
	sh.mu.Unlock()
}

func (s *shardedHist) merged() *hdrhistogram.Histogram {
	out := newHist()
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		out.Merge(sh.h)
		sh.mu.Unlock()
	}
	return out
}

// workerReport is what a worker sends its parent at the end: counters and encoded
// histograms (HdrHistogram's V2 compressed form), merged by the parent.
type workerReport struct {
	Conns         int              `json:"conns"`
	ConnectErrors int              `json:"connect_errors"`
	ConnectStart  int64            `json:"connect_start"` // unix ns
	ConnectEnd    int64            `json:"connect_end"`
	Sent          int64            `json:"sent"`
	Acked         int64            `json:"acked"`
	Unacked       int64            `json:"unacked"` // no response by the end of the wait
	AckedByChan   map[int]int64    `json:"acked_by_channel,omitempty"`
	PubErrors     map[int]int64    `json:"publish_errors,omitempty"` // by response code
	Received      int64            `json:"received"`                 // bench pushes, duplicates included
	Duplicates    int64            `json:"duplicates"`
	Gaps          int64            `json:"gaps"` // sequence numbers skipped (refused publications leave holes too)
	Other         int64            `json:"other"`
	Disconnects   int64            `json:"disconnects"`
	CloseCodes    map[string]int64 `json:"close_codes,omitempty"`
	FirstRecv     int64            `json:"first_recv,omitempty"` // unix ns
	LastRecv      int64            `json:"last_recv,omitempty"`
	Latency       string           `json:"latency,omitempty"`      // encoded HDR histogram (base64), µs
	ConnLatency   string           `json:"conn_latency,omitempty"` // connect+auth(+subscribe), µs
	Errors        []string         `json:"errors,omitempty"`       // a few samples
}

// maxErrorSamples bounds the error strings a report carries.
const maxErrorSamples = 5

func (r *workerReport) addError(err error) {
	if len(r.Errors) < maxErrorSamples {
		r.Errors = append(r.Errors, err.Error())
	}
}

// encodeHist encodes h in HdrHistogram's V2 compressed form (base64 text).
func encodeHist(h *hdrhistogram.Histogram) (string, error) {
	if h.TotalCount() == 0 {
		return "", nil
	}
	b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	return string(b), err
}

// merge adds o into r; histograms are decoded and merged into lat and conn.
func (r *workerReport) merge(o *workerReport, lat, conn *hdrhistogram.Histogram) error {
	r.Conns += o.Conns
	r.ConnectErrors += o.ConnectErrors
	if o.ConnectStart != 0 && (r.ConnectStart == 0 || o.ConnectStart < r.ConnectStart) {
		r.ConnectStart = o.ConnectStart
	}
	r.ConnectEnd = max(r.ConnectEnd, o.ConnectEnd)
	r.Sent += o.Sent
	r.Acked += o.Acked
	r.Unacked += o.Unacked
	r.AckedByChan = addCounts(r.AckedByChan, o.AckedByChan)
	r.PubErrors = addCounts(r.PubErrors, o.PubErrors)
	r.Received += o.Received
	r.Duplicates += o.Duplicates
	r.Gaps += o.Gaps
	r.Other += o.Other
	r.Disconnects += o.Disconnects
	r.CloseCodes = addCounts(r.CloseCodes, o.CloseCodes)
	if o.FirstRecv != 0 && (r.FirstRecv == 0 || o.FirstRecv < r.FirstRecv) {
		r.FirstRecv = o.FirstRecv
	}
	r.LastRecv = max(r.LastRecv, o.LastRecv)
	for _, e := range o.Errors {
		if len(r.Errors) < maxErrorSamples {
			r.Errors = append(r.Errors, e)
		}
	}
	for _, p := range []struct {
		enc string
		dst *hdrhistogram.Histogram
	}{{o.Latency, lat}, {o.ConnLatency, conn}} {
		if len(p.enc) == 0 {
			continue
		}
		h, err := hdrhistogram.Decode([]byte(p.enc))
		if err != nil {
			return fmt.Errorf("decode worker histogram: %w", err)
		}
		if dropped := p.dst.Merge(h); dropped > 0 {
			return fmt.Errorf("merging histograms dropped %d values", dropped)
		}
	}
	return nil
}

func addCounts[K comparable](dst, src map[K]int64) map[K]int64 {
	if len(src) == 0 {
		return dst
	}
	if dst == nil {
		dst = make(map[K]int64, len(src))
	}
	for k, v := range maps.All(src) {
		dst[k] += v
	}
	return dst
}
