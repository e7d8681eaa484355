package wire

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// readServerFrame parses a server frame with gobwas/ws's reader, independent of our writer.
func readServerFrame(t *testing.T, b []byte) (ws.Header, []byte) {
	t.Helper()
	rd := bytes.NewReader(b)
	h, err := ws.ReadHeader(rd)
	if err != nil {
		t.Fatalf("ReadHeader: %v", err)
	}
	if err := ws.CheckHeader(h, ws.StateClientSide); err != nil {
		t.Fatalf("CheckHeader: %v", err)
	}
	payload := make([]byte, h.Length)
	if n, _ := rd.Read(payload); int64(n) != h.Length && h.Length > 0 {
		t.Fatalf("payload: %d of %d bytes", n, h.Length)
	}
	if rd.Len() != 0 {
		t.Fatalf("%d bytes after the frame", rd.Len())
	}
	return h, payload
}

func TestFrameInPlaceAndAppendFrame(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 1 << 20} {
		for _, op := range []ws.OpCode{ws.OpText, ws.OpBinary, ws.OpPong} {
			if op.IsControl() && n > 125 {
				continue
			}
			payload := binaryPayload(n)
			buf := append(make([]byte, HeaderReserve), payload...)
			for name, frame := range map[string][]byte{
				"FrameInPlace": FrameInPlace(buf, op),
				"AppendFrame":  AppendFrame([]byte("prefix"), op, payload)[len("prefix"):],
			} {
				h, got := readServerFrame(t, frame)
				if !h.Fin || h.OpCode != op || h.Masked || h.Rsv != 0 {
					t.Fatalf("%s(%d, %v): header %+v", name, n, op, h)
				}
				if !bytes.Equal(got, payload) {
					t.Fatalf("%s(%d, %v): payload differs", name, n, op)
				}
				if want := ws.HeaderSize(ws.Header{Length: int64(n)}) + n; len(frame) != want {
					t.Fatalf("%s(%d): frame of %d bytes, want the minimal %d", name, n, len(frame), want)
				}
			}
		}
	}
}

func TestCloseFrame(t *testing.T) {
	cases := []struct {
		name   string
		code   ws.StatusCode
		reason string
		want   string
	}{
		{"normal", 1000, "bye", "bye"},
		{"empty reason", 4030, "", ""},
		{"long reason is cut to fit 125 bytes", 1002, strings.Repeat("x", 300), strings.Repeat("x", 123)},
		{"long reason is cut on a rune boundary", 1011, "x" + strings.Repeat("错", 50), "x" + strings.Repeat("错", 40)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, p := readServerFrame(t, CloseFrame(tc.code, tc.reason))
			if h.OpCode != ws.OpClose || len(p) > ws.MaxControlFramePayloadSize {
				t.Fatalf("header %+v, payload %d bytes", h, len(p))
			}
			code, reason := ws.ParseCloseFrameData(p)
			if code != tc.code || reason != tc.want || !utf8.ValidString(reason) {
				t.Fatalf("got %d %q", code, reason)
			}
		})
	}
}
