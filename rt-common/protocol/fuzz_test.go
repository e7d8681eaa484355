package protocol_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

// requestSeeds are representative client messages, good and bad, for the fuzzers' corpora.
var requestSeeds = []string{
	`{"event":"auth","payload":{"appId":"demo-app","token":"eyJhbGciOiJIUzI1NiJ9.eyJhcHBfaWQiOiJkZW1vLWFwcCJ9.sig"},"metadata":{"traceId":"t-1"},"id":"r1"}`,
	`{"event":"subscribe","payload":{"channel":"news"},"id":2}`,
	`{"event":"subscribe","payload":{"channel":"news","recover":true,"offset":12,"epoch":"e1"}}`,
	`{"event":"unsubscribe","payload":{"channel":"news"}}`,
	`{"event":"messageSend","payload":{"channel":"chat","data":{"text":"你好","n":[1,-2.5e3,true,null]}},"id":-1}`,
	`{"event":"presence","payload":{"channel":"presence-room"}}`,
	`{"event":"history","payload":{"channel":"news","since":3,"limit":10}}`,
	`{"event":"ping"}`,
	`{"event":"ping","id":null,"payload":null,"metadata":null}`,
	`{"\u0065vent":"p\u0069ng","metadata":{"trace\u0049d":"a\"\\\u2028"}}`,
	`{"event":5,"id":"x","metadata":{"traceId":"t"}}`,
	`{"event":"auth","event":"ping","id":1,"id":2}`,
	`{"event":"","eVent":0}`,
	`{"Event":"auth","event":"ping","EVENT":null}`,
	` { "event" : "ping" } `,
	`{"event":"ping"}x`,
	`{"event":"ping"`,
	`[{"event":"ping"}]`,
	`"ping"`,
	`null`,
	``,
	"{\"event\":\"\xff\"}",
	`{"event":"messageSend","payload":{"data":` + nested(510) + `}}`,
	`{"event":"messageSend","payload":{"data":` + nested(511) + `}}`,
	`{"event":"x","payload":{"offset":18446744073709551616,"limit":-1,"recover":"yes"}}`,
}

// FuzzDecodeRequest checks that no input makes DecodeRequest or DecodePayload panic, and that
// whatever they accept is JSON that encoding/json accepts too, with every returned slice a
// valid JSON sub-slice of the message, never a copy the caller would not expect.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		orig := bytes.Clone(msg)
		var r protocol.Request
		err := protocol.DecodeRequest(msg, &r)
		if !bytes.Equal(msg, orig) {
			t.Fatal("DecodeRequest modified its input")
		}
		if err != nil {
			if protocol.CodeOf(err) != protocol.InvalidParams {
				t.Fatalf("error %v has code %v, want InvalidParams", err, protocol.CodeOf(err))
			}
			return
		}
		if !json.Valid(msg) {
			t.Fatalf("accepted a message encoding/json rejects: %q", msg)
		}
		if r.Event == nil {
			t.Fatal("nil error but nil Event")
		}
		// A map, not a struct: encoding/json matches struct fields case-insensitively, while
		// the contract's keys are exact. Map keys are exact and the last duplicate wins, as in
		// DecodeRequest.
		var env map[string]json.RawMessage
		if err := json.Unmarshal(msg, &env); err != nil {
			t.Fatalf("encoding/json cannot decode an accepted message %q: %v", msg, err)
		}
		var event string
		if err := json.Unmarshal(env["event"], &event); err != nil {
			t.Fatalf("accepted %q, whose event encoding/json cannot read: %v", msg, err)
		}
		if string(r.Event) != event {
			t.Fatalf("Event = %q, encoding/json says %q", r.Event, event)
		}
		for name, s := range map[string][]byte{"Payload": r.Payload, "ID": r.ID} {
			if s == nil {
				continue
			}
			if !within(msg, s) {
				t.Fatalf("%s is not a sub-slice of the message", name)
			}
			if !json.Valid(s) {
				t.Fatalf("%s = %q is not valid JSON", name, s)
			}
		}
		if r.Payload != nil && r.Payload[0] != '{' {
			t.Fatalf("Payload %q is not an object", r.Payload)
		}
		if r.ID != nil && r.ID[0] != '"' && r.ID[0] != '-' && (r.ID[0] < '0' || r.ID[0] > '9') {
			t.Fatalf("ID %q is neither a string nor a number", r.ID)
		}
		if r.TraceID != nil && !utf8.Valid(r.TraceID) {
			t.Fatalf("TraceID %q is not valid UTF-8", r.TraceID)
		}
		// An accepted request's id, traceId and event always make a valid response.
		out := protocol.AppendResponse(nil, &protocol.Response{Code: protocol.Success, Event: r.Event, ID: r.ID, TraceID: r.TraceID})
		if !json.Valid(out) {
			t.Fatalf("response to an accepted request is invalid JSON: %q", out)
		}
		if r.Payload != nil {
			var p protocol.Payload
			if err := protocol.DecodePayload(r.Payload, &p); err == nil {
				for name, s := range map[string][]byte{"Data": p.Data} {
					if s != nil && (!within(r.Payload, s) || !json.Valid(s)) {
						t.Fatalf("payload %s = %q is not a valid sub-slice", name, s)
					}
				}
				// A relayed message must stay valid once embedded in a push.
				if p.Data != nil {
					push := protocol.AppendMessagePush(nil, string(p.Channel), p.Data, "c", 1)
					if !json.Valid(push) {
						t.Fatalf("push is invalid JSON: %q", push)
					}
				}
			}
		}
	})
}

// FuzzValid checks protocol.Valid against encoding/json.Valid. They differ on purpose in two
// ways, both stricter on our side: strings must be valid UTF-8 (see skipString), and nesting
// deeper than 512 is refused.
func FuzzValid(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s))
	}
	for _, s := range []string{`0`, `-0.0e-0`, `1E+2`, `"\ud800"`, `"\/"`, "\"\x7f\"", "[1,\n2]", `{"a":}`, `[`, `01`, `1.`, `-`, "\"\xed\xa0\x80\"", nested(512), nested(513)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := protocol.Valid(b)
		d := depth(b)
		want := json.Valid(b) && utf8.Valid(b) && d <= 512
		if got != want {
			t.Fatalf("Valid(%q) = %v, want %v (json.Valid %v, utf8.Valid %v, depth %d)", b, got, want, json.Valid(b), utf8.Valid(b), d)
		}
	})
}

// FuzzAppendString checks that AppendString always yields one valid JSON string that decodes
// to the input (to its U+FFFD-repaired form when the input is not valid UTF-8, exactly as
// encoding/json repairs it), and that the string and []byte forms agree.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `"\`, "\x00\x01\x1f\x7f", "\b\f\n\r\t", "é参数错误（）😀", "\u2028\u2029", "\xff", "a\xe4\xb8", "\xed\xa0\x80", "\xf4\x90\x80\x80", "<script>&"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := protocol.AppendString(nil, s)
		if !json.Valid(out) || !utf8.Valid(out) {
			t.Fatalf("AppendString(%q) = %q is not valid JSON/UTF-8", s, out)
		}
		if outB := protocol.AppendStringBytes(nil, []byte(s)); !bytes.Equal(out, outB) {
			t.Fatalf("AppendStringBytes(%q) = %q, AppendString = %q", s, outB, out)
		}
		if bytes.ContainsAny(out, "\u2028\u2029") {
			t.Fatalf("AppendString(%q) left U+2028/U+2029 raw", s)
		}
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatal(err)
		}
		if utf8.ValidString(s) {
			if back != s {
				t.Fatalf("round trip %q -> %q -> %q", s, out, back)
			}
			return
		}
		ref, _ := json.Marshal(s)
		var want string
		if err := json.Unmarshal(ref, &want); err != nil {
			t.Fatal(err)
		}
		if back != want {
			t.Fatalf("invalid UTF-8 %q repaired to %q, encoding/json repairs to %q", s, back, want)
		}
	})
}
