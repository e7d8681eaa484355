package protocol_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

// opt marks an expected field: nil means "must be nil", anything else the exact bytes.
func opt(s string) []byte { return []byte(s) }

func sameField(got, want []byte) bool {
	return (got == nil) == (want == nil) && bytes.Equal(got, want)
}

func nested(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }

func TestDecodeRequest(t *testing.T) {
	tests := []struct {
		name    string
		msg     string
		wantErr bool
		want    protocol.Request
	}{
		// Every event, as the contract shows it.
		{name: "auth", msg: `{"event":"auth","payload":{"appId":"demo-app","token":"eyJ.x.y"},"metadata":{"traceId":"tr-1"},"id":"r1"}`,
			want: protocol.Request{Event: opt("auth"), Payload: opt(`{"appId":"demo-app","token":"eyJ.x.y"}`), TraceID: opt("tr-1"), ID: opt(`"r1"`)}},
		{name: "subscribe", msg: `{"event":"subscribe","payload":{"channel":"news"},"id":2}`,
			want: protocol.Request{Event: opt("subscribe"), Payload: opt(`{"channel":"news"}`), ID: opt("2")}},
		{name: "subscribe with recovery", msg: `{"event":"subscribe","payload":{"channel":"news","recover":true,"offset":12,"epoch":"e1"}}`,
			want: protocol.Request{Event: opt("subscribe"), Payload: opt(`{"channel":"news","recover":true,"offset":12,"epoch":"e1"}`)}},
		{name: "unsubscribe", msg: `{"event":"unsubscribe","payload":{"channel":"news"}}`,
			want: protocol.Request{Event: opt("unsubscribe"), Payload: opt(`{"channel":"news"}`)}},
		{name: "messageSend", msg: `{"event":"messageSend","payload":{"channel":"news","data":{"text":"hi","n":[1,2.5,null]}},"id":"m-1"}`,
			want: protocol.Request{Event: opt("messageSend"), Payload: opt(`{"channel":"news","data":{"text":"hi","n":[1,2.5,null]}}`), ID: opt(`"m-1"`)}},
		{name: "presence", msg: `{"event":"presence","payload":{"channel":"presence-room"}}`,
			want: protocol.Request{Event: opt("presence"), Payload: opt(`{"channel":"presence-room"}`)}},
		{name: "ping without payload", msg: `{"event":"ping"}`,
			want: protocol.Request{Event: opt("ping")}},
		{name: "history", msg: `{"event":"history","payload":{"channel":"news","since":3,"limit":10}}`,
			want: protocol.Request{Event: opt("history"), Payload: opt(`{"channel":"news","since":3,"limit":10}`)}},
		{name: "unknown event decodes (dispatch refuses it)", msg: `{"event":"nope"}`,
			want: protocol.Request{Event: opt("nope")}},
		{name: "empty event string", msg: `{"event":""}`,
			want: protocol.Request{Event: opt("")}},
		{name: "white space everywhere", msg: " \t\r\n{ \"event\" : \"ping\" , \"id\" : 1 , \"payload\" : { } } \n",
			want: protocol.Request{Event: opt("ping"), ID: opt("1"), Payload: opt("{ }")}},
		{name: "unknown top-level fields ignored", msg: `{"event":"ping","extra":{"a":[1,{"b":null}]},"x":true}`,
			want: protocol.Request{Event: opt("ping")}},

		// id.
		{name: "id string", msg: `{"event":"ping","id":"abc"}`, want: protocol.Request{Event: opt("ping"), ID: opt(`"abc"`)}},
		{name: "id string with escapes kept raw", msg: `{"event":"ping","id":"a\"b\u00e9"}`, want: protocol.Request{Event: opt("ping"), ID: opt(`"a\"b\u00e9"`)}},
		{name: "id number", msg: `{"event":"ping","id":42}`, want: protocol.Request{Event: opt("ping"), ID: opt("42")}},
		{name: "id zero", msg: `{"event":"ping","id":0}`, want: protocol.Request{Event: opt("ping"), ID: opt("0")}},
		{name: "id negative", msg: `{"event":"ping","id":-7}`, want: protocol.Request{Event: opt("ping"), ID: opt("-7")}},
		{name: "id float", msg: `{"event":"ping","id":1.5e3}`, want: protocol.Request{Event: opt("ping"), ID: opt("1.5e3")}},
		{name: "id absent", msg: `{"event":"ping"}`, want: protocol.Request{Event: opt("ping")}},
		{name: "id null", msg: `{"event":"ping","id":null}`, want: protocol.Request{Event: opt("ping")}},
		{name: "id bool", msg: `{"event":"ping","id":true}`, wantErr: true, want: protocol.Request{Event: opt("ping")}},
		{name: "id object", msg: `{"event":"ping","id":{"a":1}}`, wantErr: true, want: protocol.Request{Event: opt("ping")}},
		{name: "id array", msg: `{"event":"ping","id":[1]}`, wantErr: true, want: protocol.Request{Event: opt("ping")}},

		// metadata and traceId.
		{name: "traceId present", msg: `{"event":"ping","metadata":{"traceId":"t-9"}}`, want: protocol.Request{Event: opt("ping"), TraceID: opt("t-9")}},
		{name: "traceId absent", msg: `{"event":"ping","metadata":{"other":1}}`, want: protocol.Request{Event: opt("ping")}},
		{name: "metadata empty", msg: `{"event":"ping","metadata":{}}`, want: protocol.Request{Event: opt("ping")}},
		{name: "metadata null", msg: `{"event":"ping","metadata":null}`, want: protocol.Request{Event: opt("ping")}},
		{name: "traceId null", msg: `{"event":"ping","metadata":{"traceId":null}}`, want: protocol.Request{Event: opt("ping")}},
		{name: "traceId escaped", msg: `{"event":"ping","metadata":{"traceId":"a\"b\\c\u00e9\n"}}`, want: protocol.Request{Event: opt("ping"), TraceID: opt("a\"b\\c\u00e9\n")}},
		{name: "traceId empty", msg: `{"event":"ping","metadata":{"traceId":""}}`, want: protocol.Request{Event: opt("ping"), TraceID: opt("")}},
		{name: "traceId not a string", msg: `{"event":"ping","metadata":{"traceId":5},"id":1}`, wantErr: true, want: protocol.Request{Event: opt("ping"), ID: opt("1")}},
		{name: "metadata string", msg: `{"event":"ping","metadata":"t","id":1}`, wantErr: true, want: protocol.Request{Event: opt("ping"), ID: opt("1")}},
		{name: "metadata array", msg: `{"event":"ping","metadata":[{"traceId":"t"}],"id":1}`, wantErr: true, want: protocol.Request{Event: opt("ping"), ID: opt("1")}},
		{name: "metadata number", msg: `{"event":"ping","metadata":1}`, wantErr: true, want: protocol.Request{Event: opt("ping")}},

		// payload.
		{name: "payload null", msg: `{"event":"ping","payload":null}`, want: protocol.Request{Event: opt("ping")}},
		{name: "payload string", msg: `{"event":"subscribe","payload":"news","id":3}`, wantErr: true, want: protocol.Request{Event: opt("subscribe"), ID: opt("3")}},
		{name: "payload array", msg: `{"event":"subscribe","payload":["news"]}`, wantErr: true, want: protocol.Request{Event: opt("subscribe")}},
		{name: "payload number", msg: `{"event":"subscribe","payload":1}`, wantErr: true, want: protocol.Request{Event: opt("subscribe")}},
		{name: "payload bool", msg: `{"event":"subscribe","payload":false}`, wantErr: true, want: protocol.Request{Event: opt("subscribe")}},

		// event.
		{name: "event missing", msg: `{"payload":{},"id":"x","metadata":{"traceId":"t"}}`, wantErr: true,
			want: protocol.Request{Payload: opt("{}"), ID: opt(`"x"`), TraceID: opt("t")}},
		{name: "event number", msg: `{"event":1,"id":"x"}`, wantErr: true, want: protocol.Request{ID: opt(`"x"`)}},
		{name: "event null", msg: `{"event":null}`, wantErr: true},
		{name: "event object", msg: `{"event":{"name":"auth"}}`, wantErr: true},
		{name: "event escaped value", msg: `{"event":"p\u0069ng"}`, want: protocol.Request{Event: opt("ping")}},

		// id and traceId survive an ill-typed field wherever it sits.
		{name: "recover id and traceId after bad event", msg: `{"event":5,"id":"r7","metadata":{"traceId":"t7"}}`, wantErr: true,
			want: protocol.Request{ID: opt(`"r7"`), TraceID: opt("t7")}},
		{name: "recover id and traceId before bad event", msg: `{"id":7,"metadata":{"traceId":"t7"},"event":[]}`, wantErr: true,
			want: protocol.Request{ID: opt("7"), TraceID: opt("t7")}},
		{name: "recover after bad payload", msg: `{"payload":"x","event":"auth","id":1,"metadata":{"traceId":"t"}}`, wantErr: true,
			want: protocol.Request{Event: opt("auth"), ID: opt("1"), TraceID: opt("t")}},
		{name: "recover traceId after bad id", msg: `{"event":"auth","id":{},"metadata":{"traceId":"t"}}`, wantErr: true,
			want: protocol.Request{Event: opt("auth"), TraceID: opt("t")}},

		// Not a JSON object, or not JSON at all: nothing is recovered.
		{name: "empty input", msg: ``, wantErr: true},
		{name: "white space only", msg: " \n\t", wantErr: true},
		{name: "unterminated object", msg: `{"event":"auth"`, wantErr: true},
		{name: "unterminated string", msg: `{"event":"auth`, wantErr: true},
		{name: "bare word", msg: `{"event":auth}`, wantErr: true},
		{name: "unquoted key", msg: `{event:"auth"}`, wantErr: true},
		{name: "single quotes", msg: `{'event':'auth'}`, wantErr: true},
		{name: "trailing comma", msg: `{"event":"auth",}`, wantErr: true},
		{name: "missing colon", msg: `{"event" "auth"}`, wantErr: true},
		{name: "bad escape", msg: `{"event":"\x"}`, wantErr: true},
		{name: "short unicode escape", msg: `{"event":"\u12"}`, wantErr: true},
		{name: "raw control char in string", msg: "{\"event\":\"a\x01\"}", wantErr: true},
		{name: "invalid UTF-8 in string", msg: "{\"event\":\"ping\",\"id\":\"\xff\"}", wantErr: true},
		{name: "leading zero number", msg: `{"event":"ping","id":01}`, wantErr: true},
		{name: "NaN", msg: `{"event":"ping","id":NaN}`, wantErr: true},
		{name: "byte order mark", msg: "\xef\xbb\xbf{\"event\":\"ping\"}", wantErr: true},
		{name: "array", msg: `[{"event":"ping"}]`, wantErr: true},
		{name: "string", msg: `"ping"`, wantErr: true},
		{name: "number", msg: `42`, wantErr: true},
		{name: "null", msg: `null`, wantErr: true},
		{name: "true", msg: `true`, wantErr: true},
		{name: "trailing garbage", msg: `{"event":"ping"}x`, wantErr: true},
		{name: "two objects", msg: `{"event":"ping"}{"event":"ping"}`, wantErr: true},
		{name: "trailing comma after object", msg: `{"event":"ping"},`, wantErr: true},
		{name: "trailing NUL", msg: "{\"event\":\"ping\"}\x00", wantErr: true},

		// Duplicate keys: the last one wins, as with encoding/json.
		{name: "duplicate event", msg: `{"event":"auth","event":"ping"}`, want: protocol.Request{Event: opt("ping")}},
		{name: "duplicate id", msg: `{"event":"ping","id":1,"id":"two"}`, want: protocol.Request{Event: opt("ping"), ID: opt(`"two"`)}},
		{name: "duplicate id, last null", msg: `{"event":"ping","id":1,"id":null}`, want: protocol.Request{Event: opt("ping")}},
		{name: "duplicate payload, last null", msg: `{"event":"ping","payload":{"a":1},"payload":null}`, want: protocol.Request{Event: opt("ping")}},
		{name: "duplicate payload", msg: `{"event":"ping","payload":{"a":1},"payload":{"b":2}}`, want: protocol.Request{Event: opt("ping"), Payload: opt(`{"b":2}`)}},
		{name: "duplicate metadata, last null", msg: `{"event":"ping","metadata":{"traceId":"a"},"metadata":null}`, want: protocol.Request{Event: opt("ping")}},
		{name: "duplicate traceId", msg: `{"event":"ping","metadata":{"traceId":"a","traceId":"b"}}`, want: protocol.Request{Event: opt("ping"), TraceID: opt("b")}},
		{name: "duplicate event, last ill-typed", msg: `{"event":"auth","event":1}`, wantErr: true, want: protocol.Request{Event: opt("auth")}},

		// Escaped keys mean the same names.
		{name: "escaped event key", msg: `{"\u0065vent":"ping"}`, want: protocol.Request{Event: opt("ping")}},
		{name: "all keys escaped", msg: `{"ev\u0065nt":"auth","p\u0061yload":{},"\u0069d":1,"m\u0065tadata":{"trace\u0049d":"x"}}`,
			want: protocol.Request{Event: opt("auth"), Payload: opt("{}"), ID: opt("1"), TraceID: opt("x")}},
		{name: "escaped solidus in key", msg: `{"ev\/ent":"auth","event":"ping"}`, want: protocol.Request{Event: opt("ping")}},
		{name: "key differs only by case", msg: `{"Event":"auth"}`, wantErr: true},

		// Nesting: the top object is depth 1, the payload 2, so 510 arrays fit in 512.
		{name: "deep but allowed", msg: `{"event":"messageSend","payload":{"data":` + nested(510) + `}}`,
			want: protocol.Request{Event: opt("messageSend"), Payload: opt(`{"data":` + nested(510) + `}`)}},
		{name: "one level too deep", msg: `{"event":"messageSend","payload":{"data":` + nested(511) + `}}`, wantErr: true},
		{name: "hostile depth", msg: `{"event":"x","payload":` + strings.Repeat(`{"a":`, 200000) + "1" + strings.Repeat("}", 200000) + `}`, wantErr: true},
		{name: "hostile unterminated depth", msg: `{"event":"x","payload":` + strings.Repeat("[", 1<<20), wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r protocol.Request
			// A dirty Request must come back clean.
			r.Event, r.Payload, r.ID, r.TraceID = []byte("stale"), []byte("stale"), []byte("stale"), []byte("stale")
			err := protocol.DecodeRequest([]byte(tc.msg), &r)
			if (err != nil) != tc.wantErr {
				t.Fatalf("DecodeRequest() error = %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil && protocol.CodeOf(err) != protocol.InvalidParams {
				t.Errorf("error code = %v, want InvalidParams (err %v)", protocol.CodeOf(err), err)
			}
			for _, f := range []struct {
				name      string
				got, want []byte
			}{
				{"Event", r.Event, tc.want.Event},
				{"Payload", r.Payload, tc.want.Payload},
				{"TraceID", r.TraceID, tc.want.TraceID},
				{"ID", r.ID, tc.want.ID},
			} {
				if !sameField(f.got, f.want) {
					t.Errorf("%s = %q (nil %v), want %q (nil %v)", f.name, f.got, f.got == nil, f.want, f.want == nil)
				}
			}
		})
	}
}

func TestDecodeRequestAliases(t *testing.T) {
	msg := []byte(`{"event":"messageSend","payload":{"channel":"c","data":[1]},"id":9,"metadata":{"traceId":"t"}}`)
	var r protocol.Request
	if err := protocol.DecodeRequest(msg, &r); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string][]byte{"Event": r.Event, "Payload": r.Payload, "ID": r.ID, "TraceID": r.TraceID} {
		if !within(msg, s) {
			t.Errorf("%s does not alias the message", name)
		}
	}
}

func TestDecodePayload(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		wantErr bool
		want    protocol.Payload
	}{
		{name: "auth", raw: `{"appId":"demo-app","token":"eyJ.a.b"}`, want: protocol.Payload{AppID: opt("demo-app"), Token: opt("eyJ.a.b")}},
		{name: "subscribe", raw: `{"channel":"news"}`, want: protocol.Payload{Channel: opt("news")}},
		{name: "subscribe with recovery", raw: `{"channel":"news","recover":true,"offset":41,"epoch":"ep-1"}`,
			want: protocol.Payload{Channel: opt("news"), Recover: true, Offset: 41, Epoch: opt("ep-1")}},
		{name: "recover false", raw: `{"channel":"news","recover":false}`, want: protocol.Payload{Channel: opt("news")}},
		{name: "messageSend object", raw: `{"channel":"news","data":{"a": [1, "x"] }}`, want: protocol.Payload{Channel: opt("news"), Data: opt(`{"a": [1, "x"] }`)}},
		{name: "messageSend string", raw: `{"channel":"news","data":"hi\n"}`, want: protocol.Payload{Channel: opt("news"), Data: opt(`"hi\n"`)}},
		{name: "messageSend number", raw: `{"channel":"news","data":-1.5e-3}`, want: protocol.Payload{Channel: opt("news"), Data: opt(`-1.5e-3`)}},
		{name: "messageSend null data", raw: `{"channel":"news","data":null}`, want: protocol.Payload{Channel: opt("news"), Data: opt(`null`)}},
		{name: "messageSend bool data", raw: `{"data":true,"channel":"news"}`, want: protocol.Payload{Channel: opt("news"), Data: opt(`true`)}},
		{name: "data absent", raw: `{"channel":"news"}`, want: protocol.Payload{Channel: opt("news")}},
		{name: "history", raw: `{"channel":"news","since":3,"limit":50}`, want: protocol.Payload{Channel: opt("news"), Since: 3, Limit: 50}},
		{name: "zero numbers", raw: `{"offset":0,"since":0,"limit":0}`, want: protocol.Payload{}},
		{name: "max uint64", raw: `{"offset":18446744073709551615}`, want: protocol.Payload{Offset: 1<<64 - 1}},
		{name: "empty object", raw: `{}`, want: protocol.Payload{}},
		{name: "padded", raw: " { \"channel\" : \"a\" } \n", want: protocol.Payload{Channel: opt("a")}},
		{name: "unknown fields ignored", raw: `{"channel":"a","x":{"y":[null]},"z":1}`, want: protocol.Payload{Channel: opt("a")}},
		{name: "escaped channel", raw: `{"channel":"n\u0065ws"}`, want: protocol.Payload{Channel: opt("news")}},
		{name: "escaped key", raw: `{"ch\u0061nnel":"news"}`, want: protocol.Payload{Channel: opt("news")}},
		{name: "duplicate key, last wins", raw: `{"channel":"a","channel":"b"}`, want: protocol.Payload{Channel: opt("b")}},
		{name: "empty strings", raw: `{"appId":"","token":""}`, want: protocol.Payload{AppID: opt(""), Token: opt("")}},

		{name: "channel number", raw: `{"channel":1}`, wantErr: true},
		{name: "channel null", raw: `{"channel":null}`, wantErr: true},
		{name: "channel array", raw: `{"channel":["a"]}`, wantErr: true},
		{name: "appId object", raw: `{"appId":{}}`, wantErr: true},
		{name: "token number", raw: `{"appId":"a","token":123}`, wantErr: true, want: protocol.Payload{AppID: opt("a")}},
		{name: "epoch number", raw: `{"epoch":1}`, wantErr: true},
		{name: "recover string", raw: `{"recover":"true"}`, wantErr: true},
		{name: "recover number", raw: `{"recover":1}`, wantErr: true},
		{name: "recover null", raw: `{"recover":null}`, wantErr: true},
		{name: "offset string", raw: `{"offset":"1"}`, wantErr: true},
		{name: "offset negative", raw: `{"offset":-1}`, wantErr: true},
		{name: "offset negative zero", raw: `{"offset":-0}`, wantErr: true},
		{name: "offset float", raw: `{"offset":1.5}`, wantErr: true},
		{name: "offset integral float", raw: `{"offset":1.0}`, wantErr: true},
		{name: "offset exponent", raw: `{"offset":1e3}`, wantErr: true},
		{name: "offset overflow by one", raw: `{"offset":18446744073709551616}`, wantErr: true},
		{name: "offset 20 nines", raw: `{"offset":99999999999999999999}`, wantErr: true},
		{name: "offset 21 digits", raw: `{"offset":100000000000000000000}`, wantErr: true},
		{name: "since negative", raw: `{"since":-5}`, wantErr: true},
		{name: "limit float", raw: `{"limit":2.5}`, wantErr: true},
		{name: "limit bool", raw: `{"limit":true}`, wantErr: true},
		{name: "limit null", raw: `{"limit":null}`, wantErr: true},

		{name: "not an object: array", raw: `["news"]`, wantErr: true},
		{name: "not an object: string", raw: `"news"`, wantErr: true},
		{name: "not an object: null", raw: `null`, wantErr: true},
		{name: "empty", raw: ``, wantErr: true},
		{name: "unterminated", raw: `{"channel":"a"`, wantErr: true},
		{name: "syntax error in unknown field", raw: `{"x":[1,}`, wantErr: true},
		{name: "trailing garbage", raw: `{"channel":"a"}x`, wantErr: true, want: protocol.Payload{Channel: opt("a")}},
		{name: "invalid UTF-8", raw: "{\"channel\":\"\xc3\"}", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := protocol.Payload{Channel: []byte("stale"), Offset: 99, Recover: true}
			err := protocol.DecodePayload([]byte(tc.raw), &p)
			if (err != nil) != tc.wantErr {
				t.Fatalf("DecodePayload() error = %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil {
				if protocol.CodeOf(err) != protocol.InvalidParams {
					t.Errorf("error code = %v, want InvalidParams (err %v)", protocol.CodeOf(err), err)
				}
				return // fields read before a fault are unspecified
			}
			for _, f := range []struct {
				name      string
				got, want []byte
			}{
				{"AppID", p.AppID, tc.want.AppID},
				{"Token", p.Token, tc.want.Token},
				{"Channel", p.Channel, tc.want.Channel},
				{"Data", p.Data, tc.want.Data},
				{"Epoch", p.Epoch, tc.want.Epoch},
			} {
				if !sameField(f.got, f.want) {
					t.Errorf("%s = %q (nil %v), want %q (nil %v)", f.name, f.got, f.got == nil, f.want, f.want == nil)
				}
			}
			if p.Recover != tc.want.Recover || p.Offset != tc.want.Offset || p.Since != tc.want.Since || p.Limit != tc.want.Limit {
				t.Errorf("scalars = %v/%d/%d/%d, want %v/%d/%d/%d", p.Recover, p.Offset, p.Since, p.Limit,
					tc.want.Recover, tc.want.Offset, tc.want.Since, tc.want.Limit)
			}
		})
	}
}

// The payload a request carries decodes as the DTOs describe it.
func TestDecodeRequestThenPayload(t *testing.T) {
	msg := []byte(`{"event":"messageSend","payload":{"channel":"chat.room-1","data":{"text":"你好"}},"id":"m1"}`)
	var r protocol.Request
	if err := protocol.DecodeRequest(msg, &r); err != nil {
		t.Fatal(err)
	}
	var p protocol.Payload
	if err := protocol.DecodePayload(r.Payload, &p); err != nil {
		t.Fatal(err)
	}
	if string(p.Channel) != "chat.room-1" || string(p.Data) != `{"text":"你好"}` {
		t.Fatalf("payload = %q %q", p.Channel, p.Data)
	}
	if !protocol.ValidChannel(string(p.Channel)) {
		t.Fatal("channel should be valid")
	}
}
