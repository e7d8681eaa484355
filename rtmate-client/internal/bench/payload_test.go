package bench

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
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
		var d struct{ B, P string }
		if err := json.Unmarshal(p.Data, &d); err != nil || d.B != "1700000000123456789"+"0000000000000042"+"00000017" {
			t.Fatalf("data %s: %+v %v", p.Data, d, err)
		}
		if st, ok := parseStamp([]byte(d.B + `"`)); !ok || st != (stamp{1700000000123456789, 42, 17}) {
			t.Fatalf("stamp %s reads as %+v %v", d.B, st, ok)
		}
	}
}

func TestParsePush(t *testing.T) {
	const stamp = "1700000000123456789" + "0000000000000042" + "00000017"
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
		{"largest fields", push(appendData(nil, math.MaxInt64, 1e16-1, 1e8-1, 0)), frameInfo{Kind: kindPush, T: math.MaxInt64, Seq: 1e16 - 1, Source: 1e8 - 1}},
		{"stamp elsewhere", []byte(`{"data":{"x":1,"b":"` + stamp + `"}}`), frameInfo{Kind: kindPush, T: 1700000000123456789, Seq: 42, Source: 17}},
		{"publish ack", protocol.AppendResponse(nil, &protocol.Response{Event: []byte("messageSend"), ID: []byte("12"), Data: []byte(`{"channel":"a","offset":4}`)}),
			frameInfo{Kind: kindResponse, Code: 200, ID: 12}},
		{"error response", protocol.AppendResponse(nil, &protocol.Response{Code: protocol.RateLimited, Event: []byte("messageSend"), ID: []byte("13")}),
			frameInfo{Kind: kindResponse, Code: 429, ID: 13}},
		{"auth ack", []byte(`{"code":200,"message":"success","data":{"state":true,"client_id":"x"},"event":"auth","id":1}`),
			frameInfo{Kind: kindResponse, Code: 200, ID: 1}},
		{"join push", protocol.AppendPresencePush(nil, "join", "presence-a", "c", "u"), frameInfo{}},
		{"foreign message", push([]byte(`{"hello":"world"}`)), frameInfo{}},
		{"seq zero", push(appendData(nil, 1, 0, 1, 0)), frameInfo{}},
		{"negative time", push(appendData(nil, -1, 1, 1, 0)), frameInfo{}},
		{"seq too wide", push(appendData(nil, 1, 1e16, 1, 0)), frameInfo{}},
		{"source too wide", push(appendData(nil, 1, 1, 1e8, 0)), frameInfo{}},
		{"time beyond int64", push([]byte(`{"b":"9300000000000000000` + stamp[stampT:] + `"}`)), frameInfo{}},
		{"stamp short", push([]byte(`{"b":"` + stamp[1:] + `"}`)), frameInfo{}},
		{"stamp long", push([]byte(`{"b":"0` + stamp + `"}`)), frameInfo{}},
		{"not a digit", push([]byte(`{"b":"` + stamp[:30] + "/" + stamp[31:] + `"}`)), frameInfo{}},
		{"colon, one past 9", push([]byte(`{"b":"` + stamp[:42] + ":" + `"}`)), frameInfo{}},
		{"old numeric format", push([]byte(`{"t":1,"s":2,"k":1}`)), frameInfo{}},
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
	f.Add([]byte(`{"code":200,"event":"message","data":{"channel":"a","data":{"b":"1700000000123456789000000000000004200000017","p":"xx"},"from":"c"}}`), int64(5), uint64(6), 7)
	f.Add([]byte(`{"code":429,"id":3}`), int64(-1), uint64(1), 0)
	f.Add([]byte(`"b":"0000000000000000000000000000000000000000000"`), int64(0), uint64(0), 0)
	f.Fuzz(func(t *testing.T, in []byte, ts int64, seq uint64, source int) {
		// The fast path must agree with the general one whenever it answers.
		if fast, ok := parseFast(in); ok && fast != parseSlow(in) {
			t.Fatalf("parseFast(%q) = %+v, parseSlow says %+v", in, fast, parseSlow(in))
		}
		if own, ok := parseOwn(in, pushHeadFor("a")); ok && own.info() != parsePush(in) {
			t.Fatalf("parseOwn(%q) = %+v, parsePush says %+v", in, own, parsePush(in))
		}
		msg := protocol.AppendMessagePush(nil, "bench", appendData(nil, ts, seq, source, len(in)%300), "c", 1)
		want := frameInfo{Kind: kindPush, T: ts, Seq: seq, Source: source}
		if ts < 0 || seq == 0 || seq >= 1e16 || source < 0 || source >= 1e8 {
			want = frameInfo{} // does not fit the stamp: unreadable, never misread
		}
		got, ok := parseFast(msg)
		if ok != (want.Kind == kindPush) || got != want {
			t.Fatalf("fast path on %s: %+v %v, want %+v", msg, got, ok, want)
		}
		if got := parseSlow(msg); got != want {
			t.Fatalf("slow path on %s: %+v, want %+v", msg, got, want)
		}
		if got, _ := parseOwn(msg, pushHeadFor("bench")); got.info() != want {
			t.Fatalf("own path on %s: %+v, want %+v", msg, got, want)
		}
	})
}

// TestDigits8 checks the eight-at-a-time conversion against strconv, and that every
// non-digit byte in any position is refused.
func TestDigits8(t *testing.T) {
	word := func(s []byte) uint64 { return binary.LittleEndian.Uint64(s) }
	r := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		v := r.Uint64N(1e8)
		b := fmt.Appendf(nil, "%08d", v)
		if x := word(b); notDigits(x) != 0 || digits8(x) != v {
			t.Fatalf("%s: notDigits %x, digits8 %d", b, notDigits(x), digits8(x))
		}
	}
	for pos := range 8 {
		for c := range 256 {
			b := []byte("12345678")
			b[pos] = byte(c)
			want, err := strconv.ParseUint(string(b), 10, 64)
			x := word(b)
			if ok := notDigits(x) == 0; ok != (err == nil) || (ok && digits8(x) != want) {
				t.Fatalf("%q: notDigits %x, digits8 %d; strconv says %d %v", b, notDigits(x), digits8(x), want, err)
			}
		}
	}
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

func BenchmarkParseOwn(b *testing.B) {
	msg := protocol.AppendMessagePush(nil, "bench-fanout", appendData(nil, 1700000000123456789, 123456, 3, 128), "c-1", 99)
	head := pushHeadFor("bench-fanout")
	b.ReportAllocs()
	for b.Loop() {
		parseOwn(msg, head)
	}
}
