package wire

import (
	"bytes"
	"testing"

	"github.com/gobwas/ws"
)

type nopHandler struct{}

func (nopHandler) OnMessage(ws.OpCode, []byte) error { return nil }
func (nopHandler) OnControl(ws.OpCode, []byte) error { return nil }

// BenchmarkReaderFeed decodes one 128-byte masked text frame per call, as a read that holds
// exactly one request: checked, unmasked and UTF-8 validated in place.
func BenchmarkReaderFeed(b *testing.B) {
	frame := masked(ws.OpText, bytes.Repeat([]byte(`{"event":"ping"}`), 8))
	buf := make([]byte, len(frame))
	r := &Reader{MaxMessage: 64 << 10}
	var h nopHandler
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for i := 0; i < b.N; i++ {
		copy(buf, frame) // Feed unmasks in place
		if err := r.Feed(buf, h); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReaderFeedSplit is the same frame arriving in two reads (the header and 60 bytes,
// then the rest): the payload streams into the message buffer, one allocation per message.
func BenchmarkReaderFeedSplit(b *testing.B) {
	frame := masked(ws.OpText, bytes.Repeat([]byte(`{"event":"ping"}`), 8))
	buf := make([]byte, len(frame))
	r := &Reader{MaxMessage: 64 << 10}
	var h nopHandler
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for i := 0; i < b.N; i++ {
		copy(buf, frame)
		if err := r.Feed(buf[:66], h); err != nil {
			b.Fatal(err)
		}
		if err := r.Feed(buf[66:], h); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReaderFeedBatch is 32 such frames in one read, as a busy client's socket delivers.
func BenchmarkReaderFeedBatch(b *testing.B) {
	one := masked(ws.OpText, bytes.Repeat([]byte(`{"event":"ping"}`), 8))
	frames := bytes.Repeat(one, 32)
	buf := make([]byte, len(frames))
	r := &Reader{MaxMessage: 64 << 10}
	var h nopHandler
	b.ReportAllocs()
	b.SetBytes(int64(len(frames)))
	for i := 0; i < b.N; i++ {
		copy(buf, frames)
		if err := r.Feed(buf, h); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFrameInPlace frames an encoded push in the room left in front of it.
func BenchmarkFrameInPlace(b *testing.B) {
	for _, n := range []int{100, 1000, 70000} {
		buf := append(make([]byte, HeaderReserve), bytes.Repeat([]byte("x"), n)...)
		b.Run(itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if f := FrameInPlace(buf, ws.OpText); len(f) < n {
					b.Fatal("short frame")
				}
			}
		})
	}
}

// BenchmarkAppendFrame appends a pong/echo frame to a reused buffer.
func BenchmarkAppendFrame(b *testing.B) {
	payload := bytes.Repeat([]byte("p"), 125)
	dst := make([]byte, 0, 256)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		dst = AppendFrame(dst[:0], ws.OpPong, payload)
	}
}
