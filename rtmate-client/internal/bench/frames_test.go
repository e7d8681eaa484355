package bench

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/gobwas/ws"
	"github.com/rtmate/rtmate/rtmate-client/internal/wsframe"
)

type frame struct {
	op      ws.OpCode
	payload string
}

// recorder is a frame sink that keeps copies of what it is given; it stops after stopAfter
// frames when that is set.
type recorder struct {
	got       []frame
	stopAfter int
}

func (r *recorder) onFrame(op ws.OpCode, p []byte, _ int64) bool {
	r.got = append(r.got, frame{op, string(p)})
	return r.stopAfter == 0 || len(r.got) < r.stopAfter
}

func wireFrame(op ws.OpCode, fin bool, p string) []byte {
	var b bytes.Buffer
	if err := ws.WriteFrame(&b, ws.NewFrame(op, fin, []byte(p))); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// chunkReader serves chunks as separate reads (a read may take less than a chunk).
type chunkReader struct{ chunks [][]byte }

func (cr *chunkReader) read(p []byte) (int, error) {
	for len(cr.chunks) > 0 && len(cr.chunks[0]) == 0 {
		cr.chunks = cr.chunks[1:]
	}
	if len(cr.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, cr.chunks[0])
	cr.chunks[0] = cr.chunks[0][n:]
	return n, nil
}

func split(data []byte, size int) [][]byte {
	var out [][]byte
	for len(data) > size {
		out = append(out, data[:size])
		data = data[size:]
	}
	return append(out, data)
}

// receiveAll feeds chunks through a receiver with a buffer of bufSize bytes until the
// chunks run out (nil error) or the receiver fails.
func receiveAll(bufSize int, chunks [][]byte, sink frameSink) (*wsReceiver, error) {
	var r wsReceiver
	buf := make([]byte, bufSize)
	src := &chunkReader{chunks: chunks}
	for {
		if _, _, err := r.receive(buf, src.read, sink); err != nil {
			if err == io.EOF {
				return &r, nil
			}
			return &r, err
		}
	}
}

// testStream is every kind of frame a server sends, with what a receiver should make of it.
func testStream() ([]byte, []frame) {
	mid := strings.Repeat("m", 200) // a 16-bit length, and more than half of a 256-byte buffer
	closeBody := string(ws.NewCloseFrameBody(4001, "bye"))
	in := bytes.Join([][]byte{
		wireFrame(ws.OpText, true, `{"a":1}`),
		wireFrame(ws.OpText, true, mid),
		wireFrame(ws.OpPing, true, "are you there"),
		wireFrame(ws.OpText, false, "hel"),
		wireFrame(ws.OpPing, true, "p"),
		wireFrame(ws.OpContinuation, false, ""),
		wireFrame(ws.OpContinuation, true, "lo"),
		wireFrame(ws.OpBinary, true, "\x00\x01"),
		wireFrame(ws.OpPong, true, ""),
		wireFrame(ws.OpText, true, ""),
		wireFrame(ws.OpClose, true, closeBody),
	}, nil)
	want := []frame{
		{ws.OpText, `{"a":1}`}, {ws.OpText, mid}, {ws.OpPing, "are you there"}, {ws.OpPing, "p"},
		{ws.OpText, "hello"}, {ws.OpBinary, "\x00\x01"}, {ws.OpPong, ""}, {ws.OpText, ""},
		{ws.OpClose, closeBody},
	}
	return in, want
}

func checkFrames(t *testing.T, label string, got, want []frame) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d frames %q, want %d", label, len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%s: frame %d is %v %.40q, want %v %.40q", label, i, got[i].op, got[i].payload, want[i].op, want[i].payload)
		}
	}
}

// TestReceiverSplits cuts the stream at every byte boundary, and into reads of every size,
// with a roomy buffer and with one that the 200-byte frame overflows.
func TestReceiverSplits(t *testing.T) {
	in, want := testStream()
	for _, bufSize := range []int{64 << 10, 256} {
		for i := 0; i <= len(in); i++ {
			var rec recorder
			r, err := receiveAll(bufSize, [][]byte{in[:i], in[i:]}, &rec)
			if err != nil {
				t.Fatalf("buffer %d, split at %d: %v", bufSize, i, err)
			}
			checkFrames(t, "split", rec.got, want)
			if len(r.carry) != 0 || r.fragOp != 0 {
				t.Fatalf("split at %d: %d bytes carried, fragment %v", i, len(r.carry), r.fragOp)
			}
		}
		for size := 1; size <= len(in); size++ {
			var rec recorder
			if _, err := receiveAll(bufSize, split(in, size), &rec); err != nil {
				t.Fatalf("buffer %d, reads of %d: %v", bufSize, size, err)
			}
			checkFrames(t, "reads", rec.got, want)
		}
	}
}

// TestReceiverLarge: messages far larger than the buffer, whole and fragmented, arrive
// intact, and the memory they took is not kept.
func TestReceiverLarge(t *testing.T) {
	huge := strings.Repeat("h", 2*largeBuffer)
	big := strings.Repeat("b", 100<<10)
	in := bytes.Join([][]byte{
		wireFrame(ws.OpText, true, "before"),
		wireFrame(ws.OpText, true, huge),
		wireFrame(ws.OpText, false, big[:40<<10]),
		wireFrame(ws.OpPing, true, "p"),
		wireFrame(ws.OpContinuation, false, big[40<<10:80<<10]),
		wireFrame(ws.OpContinuation, true, big[80<<10:]),
		wireFrame(ws.OpText, true, "after"),
	}, nil)
	want := []frame{{ws.OpText, "before"}, {ws.OpText, huge}, {ws.OpPing, "p"}, {ws.OpText, big}, {ws.OpText, "after"}}
	for _, size := range []int{1000, 4096, 100_000, len(in)} {
		var rec recorder
		r, err := receiveAll(4096, split(in, size), &rec)
		if err != nil {
			t.Fatalf("reads of %d: %v", size, err)
		}
		checkFrames(t, "large", rec.got, want)
		if cap(r.carry) > largeBuffer || cap(r.msg) > largeBuffer {
			t.Errorf("reads of %d: carry %d and reassembly %d bytes kept", size, cap(r.carry), cap(r.msg))
		}
	}
}

func TestReceiverErrors(t *testing.T) {
	ok := wireFrame(ws.OpText, true, "ok")
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"masked", ws.MustCompileFrame(ws.MaskFrame(ws.NewTextFrame([]byte("hi")))), wsframe.ErrMasked},
		{"reserved bit", []byte{0x80 | 0x40 | byte(ws.OpText), 0}, wsframe.ErrRsv},
		{"reserved opcode", []byte{0x80 | 0x3, 0}, wsframe.ErrOpCode},
		{"fragmented ping", wireFrame(ws.OpPing, false, "p"), wsframe.ErrControl},
		{"oversized ping", wireFrame(ws.OpPing, true, strings.Repeat("p", 126)), wsframe.ErrControl},
		{"lone continuation", wireFrame(ws.OpContinuation, true, "x"), wsframe.ErrContinuation},
		{"interleaved", append(wireFrame(ws.OpText, false, "a"), wireFrame(ws.OpText, true, "b")...), wsframe.ErrInterleaved},
		{"length sign bit", []byte{0x81, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}, ws.ErrHeaderLengthMSB},
		// Refused on its header alone, before any of the body is waited for.
		{"too large", []byte{0x81, 127, 0, 0, 0, 0, 0x10, 0, 0, 0}, wsframe.ErrMessageTooLarge},
		{"fragments too large", append(wireFrame(ws.OpText, false, "abc"), 0x80, 127, 0, 0, 0, 0, 0x04, 0, 0, 0), wsframe.ErrMessageTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec recorder
			_, err := receiveAll(4096, [][]byte{ok, tt.in}, &rec)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			checkFrames(t, "before the error", rec.got, []frame{{ws.OpText, "ok"}})
		})
	}
}

// TestReceiverStop: the frames after the one a sink stops at are kept, and drain hands
// them on, before anything read later.
func TestReceiverStop(t *testing.T) {
	in, want := testStream()
	var r wsReceiver
	buf := make([]byte, 4096)
	src := &chunkReader{chunks: [][]byte{in[:len(in)-3], in[len(in)-3:]}}
	first := &recorder{stopAfter: 2}
	if _, _, err := r.receive(buf, src.read, first); err != nil {
		t.Fatal(err)
	}
	checkFrames(t, "until the stop", first.got, want[:2])
	rest := &recorder{}
	if err := r.drain(rest); err != nil {
		t.Fatal(err)
	}
	checkFrames(t, "drained", rest.got, want[2:len(want)-1])
	if _, _, err := r.receive(buf, src.read, rest); err != nil {
		t.Fatal(err)
	}
	checkFrames(t, "all", rest.got, want[2:])
}

// FuzzReceiver: whatever a server sends, split anywhere, the receiver never panics and
// agrees with wsframe.Reader, the reader of the SDK's connections, frame for frame.
func FuzzReceiver(f *testing.F) {
	in, _ := testStream()
	f.Add(in, uint16(7), uint16(300))
	f.Add(wireFrame(ws.OpText, true, strings.Repeat("x", 300)), uint16(1), uint16(0)) // larger than half the buffer
	f.Add([]byte{0x81, 127, 0, 0, 0, 0, 0, 0, 0, 4, 'a'}, uint16(3), uint16(256))
	f.Add(append(wireFrame(ws.OpText, false, "a"), wireFrame(ws.OpContinuation, true, "b")...), uint16(2), uint16(5))
	f.Fuzz(func(t *testing.T, in []byte, at, bufSize uint16) {
		cut := int(at) % (len(in) + 1)
		var rec recorder
		r, err := receiveAll(256+int(bufSize), [][]byte{in[:cut], in[cut:]}, &rec)

		var oracle []frame
		rd, rerr := wsframe.NewReader(bufio.NewReaderSize(bytes.NewReader(in), wsframe.MinBufferSize), maxMessage)
		if rerr != nil {
			t.Fatal(rerr)
		}
		for {
			op, p, err := rd.Next()
			if err != nil {
				rerr = err
				break
			}
			oracle = append(oracle, frame{op, string(p)})
		}
		checkFrames(t, "against wsframe.Reader", rec.got, oracle)
		// Where the stream ends inside a frame the receiver waits for the rest, or has
		// refused a header before seeing all of it (a masked one, say); wsframe.Reader
		// says io.EOF or io.ErrUnexpectedEOF there. A frame it refuses, the receiver must
		// refuse too.
		if rerr != io.EOF && rerr != io.ErrUnexpectedEOF && err == nil {
			t.Fatalf("wsframe.Reader refuses the stream (%v), the receiver does not", rerr)
		}
		// What the receiver keeps is only ever an incomplete frame.
		if h, n, herr := parseFrameHeader(r.carry); err == nil && herr == nil && n > 0 && int64(len(r.carry)-n) >= h.length {
			t.Fatalf("a complete frame left in carry: %q", r.carry)
		}
	})
}
