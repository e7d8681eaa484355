package bench

import (
	"bytes"
	"testing"

	"github.com/gobwas/ws"
	"github.com/rtmate/rtmate/rt-common/protocol"
)

// BenchmarkReadPath measures the tool's cost per received publication once the bytes are
// in memory: frame parsing, field extraction, sequence tracking and the latency record, for
// reads of chunk bytes (a socket's queue: more reads mean more incomplete frames carried).
func BenchmarkReadPath(b *testing.B) {
	var stream bytes.Buffer
	const n = 1000
	for i := 1; i <= n; i++ {
		push := protocol.AppendMessagePush(nil, "bench-abc123-fanout", appendData(nil, 1700000000000000000, uint64(i), 5, 64), "d3d1ed47-1m", uint64(i))
		_ = ws.WriteFrame(&stream, ws.NewTextFrame(push))
	}
	data := stream.Bytes()
	for _, bc := range []struct {
		name  string
		chunk int
	}{{"16KiB", 16 << 10}, {"256KiB", pollBufSize}} {
		b.Run(bc.name, func(b *testing.B) {
			w := &worker{lat: newShardedHist()}
			buf := make([]byte, pollBufSize)
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				c := &benchConn{w: w, fd: -1, head: pushHeadFor("bench-abc123-fanout"), role: role{slotBase: 5, slots: 1}, seqs: make([]uint64, 1)}
				src := bytes.NewReader(data)
				read := func(p []byte) (int, error) { return src.Read(p[:min(len(p), bc.chunk)]) }
				for src.Len() > 0 {
					if _, _, err := c.rx.receive(buf, read, c); err != nil {
						b.Fatal(err)
					}
					c.publishFresh()
				}
				c.flushAll()
				if c.received != n || len(c.rx.carry) != 0 {
					b.Fatalf("received %d of %d, %d bytes carried", c.received, n, len(c.rx.carry))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/msg")
		})
	}
}
