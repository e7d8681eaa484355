package wsframe

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/gobwas/ws"
)

type msg struct {
	op      ws.OpCode
	payload string
}

func serverFrame(op ws.OpCode, fin bool, p string) []byte {
	var b bytes.Buffer
	if err := ws.WriteFrame(&b, ws.NewFrame(op, fin, []byte(p))); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func readAll(t testing.TB, src io.Reader, bufSize int, maxSize int64) ([]msg, error) {
	t.Helper()
	r, err := NewReader(bufio.NewReaderSize(src, bufSize), maxSize)
	if err != nil {
		t.Fatal(err)
	}
	var out []msg
	for {
		op, p, err := r.Next()
		if err != nil {
			return out, err
		}
		out = append(out, msg{op, string(p)})
	}
}

func TestReader(t *testing.T) {
	big := strings.Repeat("x", 5000)
	masked := ws.MustCompileFrame(ws.MaskFrame(ws.NewTextFrame([]byte("hi"))))
	tests := []struct {
		name    string
		in      []byte
		maxSize int64
		want    []msg
		wantErr error
	}{
		{name: "empty stream", in: nil, wantErr: io.EOF},
		{
			name: "text and binary",
			in:   cat(serverFrame(ws.OpText, true, `{"a":1}`), serverFrame(ws.OpBinary, true, "\x00\x01")),
			want: []msg{{ws.OpText, `{"a":1}`}, {ws.OpBinary, "\x00\x01"}}, wantErr: io.EOF,
		},
		{
			name: "empty text",
			in:   serverFrame(ws.OpText, true, ""),
			want: []msg{{ws.OpText, ""}}, wantErr: io.EOF,
		},
		{
			name: "fragments with a ping between",
			in: cat(serverFrame(ws.OpText, false, "hel"), serverFrame(ws.OpPing, true, "p"),
				serverFrame(ws.OpContinuation, false, "lo "), serverFrame(ws.OpContinuation, true, "world")),
			want: []msg{{ws.OpPing, "p"}, {ws.OpText, "hello world"}}, wantErr: io.EOF,
		},
		{
			name: "message larger than the buffer",
			in:   cat(serverFrame(ws.OpText, true, big), serverFrame(ws.OpText, true, "after")),
			want: []msg{{ws.OpText, big}, {ws.OpText, "after"}}, wantErr: io.EOF,
		},
		{
			name: "close frame",
			in:   serverFrame(ws.OpClose, true, string(ws.NewCloseFrameBody(4004, "bye"))),
			want: []msg{{ws.OpClose, string(ws.NewCloseFrameBody(4004, "bye"))}}, wantErr: io.EOF,
		},
		{name: "masked frame", in: masked, wantErr: ErrMasked},
		{name: "continuation first", in: serverFrame(ws.OpContinuation, true, "x"), wantErr: ErrContinuation},
		{
			name:    "interleaved data frame",
			in:      cat(serverFrame(ws.OpText, false, "a"), serverFrame(ws.OpText, true, "b")),
			wantErr: ErrInterleaved,
		},
		{name: "fragmented control", in: serverFrame(ws.OpPing, false, "x"), wantErr: ErrControl},
		{name: "control too long", in: serverFrame(ws.OpPing, true, strings.Repeat("x", 126)), wantErr: ErrControl},
		{name: "reserved opcode", in: serverFrame(0x3, true, "x"), wantErr: ErrOpCode},
		{name: "rsv bit", in: func() []byte { f := serverFrame(ws.OpText, true, "x"); f[0] |= 0x40; return f }(), wantErr: ErrRsv},
		{name: "too large", in: serverFrame(ws.OpText, true, "12345"), maxSize: 4, wantErr: ErrMessageTooLarge},
		{
			name:    "too large across fragments",
			in:      cat(serverFrame(ws.OpText, false, "123"), serverFrame(ws.OpContinuation, true, "45")),
			maxSize: 4, wantErr: ErrMessageTooLarge,
		},
		{
			name:    "fits exactly",
			in:      cat(serverFrame(ws.OpText, false, "12"), serverFrame(ws.OpContinuation, true, "34")),
			maxSize: 4, want: []msg{{ws.OpText, "1234"}}, wantErr: io.EOF,
		},
		{name: "truncated header", in: serverFrame(ws.OpText, true, big)[:3], wantErr: io.ErrUnexpectedEOF},
		{name: "truncated payload", in: serverFrame(ws.OpText, true, "hello")[:4], wantErr: io.ErrUnexpectedEOF},
		{name: "truncated large payload", in: serverFrame(ws.OpText, true, big)[:1000], wantErr: io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		for _, split := range []bool{false, true} {
			name := tt.name
			if split {
				name += "/one byte reads"
			}
			t.Run(name, func(t *testing.T) {
				var src io.Reader = bytes.NewReader(tt.in)
				if split {
					src = iotest.OneByteReader(src)
				}
				got, err := readAll(t, src, MinBufferSize, tt.maxSize)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error = %v, want %v", err, tt.wantErr)
				}
				if len(got) != len(tt.want) {
					t.Fatalf("got %d messages %q, want %d", len(got), got, len(tt.want))
				}
				for i := range got {
					if got[i] != tt.want[i] {
						t.Errorf("message %d = %v %.40q, want %v %.40q", i, got[i].op, got[i].payload, tt.want[i].op, tt.want[i].payload)
					}
				}
			})
		}
	}
}

func TestNewReaderSmallBuffer(t *testing.T) {
	if _, err := NewReader(bufio.NewReaderSize(nil, 16), 0); err == nil {
		t.Fatal("want an error for a 16-byte buffer")
	}
}

func TestAppendClientFrame(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 0xffff, 0x10000, 200000} {
		payload := bytes.Repeat([]byte("abcdefg"), n/7+1)[:n]
		orig := bytes.Clone(payload)
		buf := AppendClientFrame([]byte("prefix"), ws.OpText, payload)
		if !bytes.Equal(payload, orig) {
			t.Fatalf("n=%d: payload modified", n)
		}
		if !bytes.HasPrefix(buf, []byte("prefix")) {
			t.Fatalf("n=%d: prefix lost", n)
		}
		//lint:ignore SA1019 gobwas's whole-frame reader is the reference here; the input is the test's own.
		f, err := ws.ReadFrame(bytes.NewReader(buf[len("prefix"):]))
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if !f.Header.Masked || !f.Header.Fin || f.Header.OpCode != ws.OpText {
			t.Fatalf("n=%d: header %+v", n, f.Header)
		}
		f = ws.UnmaskFrameInPlace(f)
		if !bytes.Equal(f.Payload, orig) {
			t.Fatalf("n=%d: payload mismatch", n)
		}
	}
}

// FuzzReader feeds arbitrary server bytes, whole and split into one-byte reads: Next must
// never panic, must agree across read patterns, and must respect the size bound.
func FuzzReader(f *testing.F) {
	f.Add(serverFrame(ws.OpText, true, `{"code":200}`))
	f.Add(cat(serverFrame(ws.OpText, false, "a"), serverFrame(ws.OpPing, true, ""), serverFrame(ws.OpContinuation, true, "b")))
	f.Add(serverFrame(ws.OpBinary, true, strings.Repeat("z", 300)))
	f.Add([]byte{0x81, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 1})
	f.Add([]byte{0x81, 0x7e, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		const maxSize = 1 << 16
		whole, errWhole := readAll(t, bytes.NewReader(in), MinBufferSize, maxSize)
		split, errSplit := readAll(t, iotest.OneByteReader(bytes.NewReader(in)), MinBufferSize, maxSize)
		if len(whole) != len(split) || (errWhole == nil) != (errSplit == nil) {
			t.Fatalf("whole read %d msgs (%v), split read %d msgs (%v)", len(whole), errWhole, len(split), errSplit)
		}
		for i := range whole {
			if whole[i] != split[i] {
				t.Fatalf("message %d differs between read patterns", i)
			}
			if len(whole[i].payload) > maxSize {
				t.Fatalf("message %d of %d bytes exceeds the bound", i, len(whole[i].payload))
			}
		}
	})
}
