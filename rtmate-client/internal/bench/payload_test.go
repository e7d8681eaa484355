package bench

import (
	"encoding/json"
	"testing"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

func TestAppendPublish(t *testing.T) {
	for _, size := range []int{0, 10, 64, 200, 4096} {
		req := appendPublish(nil, "bench-room-3", 1041, 1700000000123456789, 42, 17, size)
		var r protocol.Request
		if err := protocol.DecodeRequest(req, &r); err != nil {
			t.Fatalf("size %d: the server's decoder rejects %s: %v", size, req, err)
		}
		var p protocol.Payload
		if err := protocol.DecodePayload(r.Payload, &p); err != nil {
			t.Fatal(err)
		}
		if string(p.Channel) != "bench-room-3" || string(r.ID) != "1041" || string(r.Event) != "messageSend" {
			t.Fatalf("decoded %s %s %s", r.Event, r.ID, p.Channel)
		}
		if size >= 64 && len(p.Data) != size {
			t.Errorf("size %d: data is %d bytes", size, len(p.Data))
		}
		var d struct {
			T int64  `json:"t"`
			S uint64 `json:"s"`
			K int    `json:"k"`
		}
		if err := json.Unmarshal(p.Data, &d); err != nil || d.T != 1700000000123456789 || d.S != 42 || d.K != 17 {
			t.Fatalf("data %s: %+v %v", p.Data, d, err)
		}
	}
}

func TestParsePush(t *testing.T) {
	push := func(data []byte) []byte {
		return protocol.AppendMessagePush(nil, "bench-fanout", data, "c-1", 9)
	}
	tests := []struct {
		name string
		in   []byte
		want frameInfo
	}{
		{"bench push", push(appendData(nil, 123, 7, 3, 100)), frameInfo{Kind: kindPush, T: 123, Seq: 7, Source: 3}},
		{"bench push unpadded", push(appendData(nil, 1, 1, 0, 0)), frameInfo{Kind: kindPush, T: 1, Seq: 1, Source: 0}},
		{"publish ack", protocol.AppendResponse(nil, &protocol.Response{Event: []byte("messageSend"), ID: []byte("12"), Data: []byte(`{"channel":"a","offset":4}`)}),
			frameInfo{Kind: kindResponse, Code: 200, ID: 12}},
		{"error response", protocol.AppendResponse(nil, &protocol.Response{Code: protocol.RateLimited, Event: []byte("messageSend"), ID: []byte("13")}),
			frameInfo{Kind: kindResponse, Code: 429, ID: 13}},
		{"auth ack", []byte(`{"code":200,"message":"success","data":{"state":true,"client_id":"x"},"event":"auth","id":1}`),
			frameInfo{Kind: kindResponse, Code: 200, ID: 1}},
		{"join push", protocol.AppendPresencePush(nil, "join", "presence-a", "c", "u"), frameInfo{}},
		{"foreign message", push([]byte(`{"hello":"world"}`)), frameInfo{}},
		{"seq zero", push([]byte(`{"t":1,"s":0,"k":1}`)), frameInfo{}},
		{"no k", push([]byte(`{"t":1,"s":2}`)), frameInfo{}},
		{"t not a number", push([]byte(`{"t":"x","s":2,"k":1}`)), frameInfo{}},
		{"overflow", push([]byte(`{"t":99999999999999999999,"s":2,"k":1}`)), frameInfo{}},
		{"negative id", []byte(`{"code":200,"id":-1}`), frameInfo{}},
		{"empty", nil, frameInfo{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parsePush(tt.in); got != tt.want {
				t.Fatalf("parsePush(%s) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParsePushAllocs(t *testing.T) {
	msg := protocol.AppendMessagePush(nil, "bench-fanout", appendData(nil, 123, 7, 3, 256), "c-1", 9)
	if n := testing.AllocsPerRun(100, func() { parsePush(msg) }); n != 0 {
		t.Fatalf("parsePush allocates %v times", n)
	}
}

// FuzzParsePush: any server bytes, never a panic; and for bench data the fields round-trip.
func FuzzParsePush(f *testing.F) {
	f.Add([]byte(`{"code":200,"event":"message","data":{"channel":"a","data":{"t":1,"s":2,"k":3,"p":"xx"},"from":"c"}}`), int64(5), uint64(6), 7)
	f.Add([]byte(`{"code":429,"id":3}`), int64(-1), uint64(1), 0)
	f.Add([]byte(`"t": "s": "k":`), int64(0), uint64(0), 0)
	f.Fuzz(func(t *testing.T, in []byte, ts int64, seq uint64, source int) {
		// The fast path must agree with the general one whenever it answers.
		if fast, ok := parseFast(in); ok && fast != parseSlow(in) {
			t.Fatalf("parseFast(%q) = %+v, parseSlow says %+v", in, fast, parseSlow(in))
		}
		_ = parsePush(in)
		if seq == 0 || seq > 1<<62 || source < 0 {
			return
		}
		msg := protocol.AppendMessagePush(nil, "bench", appendData(nil, ts, seq, source, len(in)%300), "c", 1)
		want := frameInfo{Kind: kindPush, T: ts, Seq: seq, Source: source}
		if got, ok := parseFast(msg); !ok || got != want {
			t.Fatalf("fast path on %s: %+v %v, want %+v", msg, got, ok, want)
		}
		if got := parseSlow(msg); got != want {
			t.Fatalf("slow path on %s: %+v, want %+v", msg, got, want)
		}
	})
}

func BenchmarkParsePush(b *testing.B) {
	msg := protocol.AppendMessagePush(nil, "bench-fanout", appendData(nil, 1700000000123456789, 123456, 3, 128), "c-1", 99)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		parsePush(msg)
	}
}

func TestScanInt(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		n    int
	}{
		{"0", 0, 1},
		{"123,", 123, 3},
		{"-42}", -42, 3},
		{"9223372036854775807", 1<<63 - 1, 19},
		{"9223372036854775808", 0, 0},
		{"-9223372036854775807", -(1<<63 - 1), 20},
		{"12345678901234567890", 0, 0},
		{"", 0, 0},
		{"-", 0, 0},
		{" 1", 0, 0},
		{"x", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if v, n := scanInt([]byte(tt.in)); v != tt.want || n != tt.n {
				t.Fatalf("scanInt(%q) = %d, %d; want %d, %d", tt.in, v, n, tt.want, tt.n)
			}
		})
	}
}
