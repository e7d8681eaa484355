package bench

import (
	"bufio"
	"bytes"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/rtmate/rtmate/rt-common/protocol"
	"github.com/rtmate/rtmate/rtmate-client/internal/wsframe"
)

// BenchmarkReadPath measures the tool's cost per received publication once the bytes are
// in memory: frame parsing, field extraction, sequence tracking and the latency record.
func BenchmarkReadPath(b *testing.B) {
	var stream bytes.Buffer
	const n = 1000
	for i := 1; i <= n; i++ {
		push := protocol.AppendMessagePush(nil, "bench-abc123-fanout", appendData(nil, 1700000000000000000, uint64(i), 5, 64), "d3d1ed47-1m", uint64(i))
		_ = ws.WriteFrame(&stream, ws.NewTextFrame(push))
	}
	data := stream.Bytes()
	w := &worker{lat: newShardedHist()}
	b.ReportAllocs()
	b.SetBytes(int64(len(data) / n))
	br := bufio.NewReaderSize(nil, 16<<10)
	for b.Loop() {
		br.Reset(bytes.NewReader(data))
		rd, _ := wsframe.NewReader(br, 1<<20)
		c := &benchConn{w: w, role: role{slotBase: 5, slots: 1}, seqs: make([]uint64, 1)}
		now := time.Now().UnixNano()
		for range n {
			_, p, err := rd.Next()
			if err != nil {
				b.Fatal(err)
			}
			c.onText(p, now)
		}
		c.flushLatencies()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/msg")
}
