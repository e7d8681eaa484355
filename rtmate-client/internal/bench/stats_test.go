package bench

import (
	"testing"
)

// TestMergeReports checks that counters add up and histograms survive encoding and
// merging across workers, as they do between processes.
func TestMergeReports(t *testing.T) {
	mk := func(values ...int64) *workerReport {
		h := newShardedHist()
		for i, v := range values {
			h.record(i, v)
		}
		enc, err := encodeHist(h.merged())
		if err != nil {
			t.Fatal(err)
		}
		return &workerReport{Latency: enc}
	}
	tests := []struct {
		name                          string
		parts                         [][]int64
		wantCount, wantMax, wantP50lo int64
	}{
		{"one worker", [][]int64{{100, 200, 300}}, 3, 300, 200},
		{"two workers", [][]int64{{100, 100}, {5000, 5000, 5000}}, 5, 5000, 4990},
		{"an empty worker", [][]int64{{}, {7}}, 1, 7, 7},
		{"clamped", [][]int64{{0, -5, histMax * 2}}, 3, histMax, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m workerReport
			lat, conn := newHist(), newHist()
			for _, p := range tt.parts {
				r := mk(p...)
				r.Received, r.Duplicates = int64(len(p)), 1
				r.AckedByChan = map[int]int64{0: 2}
				r.CloseCodes = map[string]int64{"4030": 1}
				if err := m.merge(r, lat, conn); err != nil {
					t.Fatal(err)
				}
			}
			if lat.TotalCount() != tt.wantCount || lat.Max() < tt.wantMax*999/1000 || lat.Max() > tt.wantMax*1001/1000+1 {
				t.Fatalf("merged count %d max %d, want %d and ~%d", lat.TotalCount(), lat.Max(), tt.wantCount, tt.wantMax)
			}
			if p50 := lat.ValueAtQuantile(50); p50 < tt.wantP50lo {
				t.Fatalf("p50 %d below %d", p50, tt.wantP50lo)
			}
			n := int64(len(tt.parts))
			if m.Duplicates != n || m.AckedByChan[0] != 2*n || m.CloseCodes["4030"] != n || conn.TotalCount() != 0 {
				t.Fatalf("counters %+v", m)
			}
		})
	}
}

func TestMergeRejectsGarbage(t *testing.T) {
	var m workerReport
	if err := m.merge(&workerReport{Latency: "not a histogram"}, newHist(), newHist()); err == nil {
		t.Fatal("want an error")
	}
}

func TestShardedHistConcurrent(t *testing.T) {
	h := newShardedHist()
	done := make(chan struct{})
	for g := range 8 {
		go func() {
			for i := range 1000 {
				h.record(g*1000+i, int64(i+1))
			}
			done <- struct{}{}
		}()
	}
	for range 8 {
		<-done
	}
	if got := h.merged().TotalCount(); got != 8000 {
		t.Fatalf("count %d", got)
	}
}
