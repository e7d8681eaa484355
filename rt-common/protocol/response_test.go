package protocol_test

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

func TestAppendResponseGolden(t *testing.T) {
	tests := []struct {
		name string
		r    protocol.Response
		want string
	}{
		{"auth success", protocol.Response{Code: protocol.Success, Event: []byte("auth"), ID: []byte(`"r1"`), TraceID: []byte("t1"), Data: []byte(`{"state":true,"client_id":"c1"}`)},
			`{"code":200,"message":"success","data":{"state":true,"client_id":"c1"},"event":"auth","id":"r1","traceId":"t1"}`},
		{"ping, numeric id", protocol.Response{Code: protocol.Success, Event: []byte("ping"), ID: []byte("7"), TraceID: []byte("t")},
			`{"code":200,"message":"success","data":null,"event":"ping","id":7,"traceId":"t"}`},
		{"unparsable request", protocol.Response{Code: protocol.InvalidParams, TraceID: []byte("gen-1")},
			`{"code":400,"message":"参数错误","data":null,"traceId":"gen-1"}`},
		{"bare", protocol.Response{Code: protocol.Internal},
			`{"code":500,"message":"internal error","data":null}`},
		{"auth mismatch", protocol.Response{Code: protocol.AuthMismatch, Event: []byte("auth")},
			`{"code":401,"message":"认证失败（app_id 不匹配）","data":null,"event":"auth"}`},
		{"escaped event and traceId", protocol.Response{Code: protocol.UnsupportedEvent, Event: []byte("a\"b\n"), TraceID: []byte("\u2028")},
			`{"code":400,"message":"不支持的事件类型","data":null,"event":"a\"b\n","traceId":"\u2028"}`},
		{"empty data slice is embedded as is", protocol.Response{Code: protocol.Success, Data: []byte(`[]`)},
			`{"code":200,"message":"success","data":[]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := protocol.AppendResponse(nil, &tc.r)
			if string(got) != tc.want {
				t.Errorf("AppendResponse() =\n%s\nwant\n%s", got, tc.want)
			}
			if !json.Valid(got) {
				t.Errorf("output is not valid JSON: %s", got)
			}
		})
	}
}

func TestAppendResponseEveryCode(t *testing.T) {
	for _, tc := range contractCodes {
		t.Run(tc.name, func(t *testing.T) {
			out := protocol.AppendResponse([]byte("prefix"), &protocol.Response{
				Code: tc.c, Event: []byte("subscribe"), ID: []byte(`"x"`), TraceID: []byte("tr"),
			})
			if !bytes.HasPrefix(out, []byte("prefix")) {
				t.Fatal("dst prefix lost")
			}
			var got protocol.ClientResponse
			if err := json.Unmarshal(out[len("prefix"):], &got); err != nil {
				t.Fatalf("unmarshal %s: %v", out, err)
			}
			if got.Code != tc.code || got.Message != tc.message || string(got.Data) != "null" ||
				got.Event != "subscribe" || string(got.ID) != `"x"` || got.TraceID != "tr" {
				t.Errorf("round trip = %+v", got)
			}
		})
	}
}

func TestAppendResponseRoundTrip(t *testing.T) {
	data := []byte(`{"channel" : "news",  "count":2,"members":[{"client_id":"a","user_id":"u"},{"client_id":"b","user_id":""}]}`)
	ids := []string{`"abc"`, `12`, `-3.5e2`, `"\u00e9\"\\"`}
	for _, id := range ids {
		t.Run(id, func(t *testing.T) {
			out := protocol.AppendResponse(nil, &protocol.Response{Code: protocol.Success, Event: []byte("presence"), ID: []byte(id), TraceID: []byte("x-1"), Data: data})
			var got protocol.ClientResponse
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("unmarshal %s: %v", out, err)
			}
			if !bytes.Equal(got.Data, data) {
				t.Errorf("data not byte for byte: %s", got.Data)
			}
			if string(got.ID) != id {
				t.Errorf("id = %s, want %s", got.ID, id)
			}
			var pd protocol.PresenceData
			if err := json.Unmarshal(got.Data, &pd); err != nil || pd.Count != 2 || len(pd.Members) != 2 || pd.Members[1].ClientID != "b" {
				t.Errorf("PresenceData = %+v, %v", pd, err)
			}
		})
	}
}

func TestAppendMessagePush(t *testing.T) {
	tests := []struct {
		name    string
		channel string
		data    string
		from    string
		offset  uint64
		want    string
	}{
		{"object", "news", `{"x":1}`, "c1", 0,
			`{"code":200,"message":"success","event":"message","data":{"channel":"news","data":{"x":1},"from":"c1"}}`},
		{"with offset", "news", `"hi"`, "c1", 5,
			`{"code":200,"message":"success","event":"message","data":{"channel":"news","data":"hi","from":"c1","offset":5}}`},
		{"max offset", "a", `null`, "c", 1<<64 - 1,
			`{"code":200,"message":"success","event":"message","data":{"channel":"a","data":null,"from":"c","offset":18446744073709551615}}`},
		{"odd formatting kept", "a:b/c", "{ \"b\" : 1 ,\n\"a\":[1, 2.50e3, \"\\u00e9\"] }", "srv", 1,
			"{\"code\":200,\"message\":\"success\",\"event\":\"message\",\"data\":{\"channel\":\"a:b/c\",\"data\":{ \"b\" : 1 ,\n\"a\":[1, 2.50e3, \"\\u00e9\"] },\"from\":\"srv\",\"offset\":1}}"},
		{"escaped from", "news", `[]`, "a\"\u2029", 0,
			`{"code":200,"message":"success","event":"message","data":{"channel":"news","data":[],"from":"a\"\u2029"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := protocol.AppendMessagePush(nil, tc.channel, []byte(tc.data), tc.from, tc.offset)
			if string(out) != tc.want {
				t.Errorf("AppendMessagePush() =\n%s\nwant\n%s", out, tc.want)
			}
			var env protocol.ClientResponse
			if err := json.Unmarshal(out, &env); err != nil {
				t.Fatalf("unmarshal: %v", err)
			}
			if env.Code != 200 || env.Message != "success" || env.Event != "message" || env.ID != nil || env.TraceID != "" {
				t.Errorf("envelope = %+v", env)
			}
			var pub protocol.Publication
			if err := json.Unmarshal(env.Data, &pub); err != nil {
				t.Fatalf("unmarshal publication: %v", err)
			}
			if pub.Channel != tc.channel || pub.From != tc.from || pub.Offset != tc.offset || string(pub.Data) != tc.data {
				t.Errorf("publication = %+v", pub)
			}
		})
	}
}

func TestAppendPublicationList(t *testing.T) {
	// Recovery and history lists carry publications without a channel.
	out := []byte(`{"channel":"news","epoch":"e","offset":3,"publications":[`)
	for i := uint64(1); i <= 3; i++ {
		if i > 1 {
			out = append(out, ',')
		}
		out = protocol.AppendPublication(out, "", []byte(strconv.FormatUint(i*10, 10)), "c"+strconv.FormatUint(i, 10), i)
	}
	out = append(out, "]}"...)
	var hd protocol.HistoryData
	if err := json.Unmarshal(out, &hd); err != nil {
		t.Fatalf("unmarshal %s: %v", out, err)
	}
	if len(hd.Publications) != 3 || hd.Publications[2].Offset != 3 || string(hd.Publications[2].Data) != "30" ||
		hd.Publications[0].From != "c1" || hd.Publications[0].Channel != "" {
		t.Fatalf("history = %+v", hd)
	}
	if bytes.Contains(out[len(`{"channel":"news"`):], []byte(`"channel"`)) {
		t.Error("empty channel was not omitted")
	}
	if got := string(protocol.AppendPublication(nil, "", []byte("1"), "c", 0)); got != `{"data":1,"from":"c"}` {
		t.Errorf("AppendPublication() = %s", got)
	}
}

func TestAppendPresencePush(t *testing.T) {
	for _, event := range []string{protocol.PushJoin, protocol.PushLeave} {
		t.Run(event, func(t *testing.T) {
			out := protocol.AppendPresencePush(nil, event, "presence-room", "c-1", "alice\u00e9")
			want := `{"code":200,"message":"success","event":"` + event + `","data":{"channel":"presence-room","client_id":"c-1","user_id":"alice` + "\u00e9" + `"}}`
			if string(out) != want {
				t.Errorf("AppendPresencePush() =\n%s\nwant\n%s", out, want)
			}
			var env protocol.ClientResponse
			if err := json.Unmarshal(out, &env); err != nil {
				t.Fatal(err)
			}
			var pe protocol.PresenceEvent
			if err := json.Unmarshal(env.Data, &pe); err != nil {
				t.Fatal(err)
			}
			if env.Event != event || pe != (protocol.PresenceEvent{Channel: "presence-room", ClientID: "c-1", UserID: "alice\u00e9"}) {
				t.Errorf("round trip = %+v %+v", env, pe)
			}
		})
	}
	// An empty user id (token without sub) is still a string, never absent.
	if got := string(protocol.AppendPresencePush(nil, protocol.PushLeave, "presence-x", "c", "")); got != `{"code":200,"message":"success","event":"leave","data":{"channel":"presence-x","client_id":"c","user_id":""}}` {
		t.Errorf("empty user id: %s", got)
	}
}

func TestAppendMember(t *testing.T) {
	if got := string(protocol.AppendMember(nil, "c", "u", true)); got != `{"client_id":"c","user_id":"u"}` {
		t.Errorf("wrapped = %s", got)
	}
	if got := string(protocol.AppendMember([]byte(`{"a":1`), "c", "u", false)); got != `{"a":1,"client_id":"c","user_id":"u"` {
		t.Errorf("tail = %s", got)
	}
	var m protocol.Member
	if err := json.Unmarshal(protocol.AppendMember(nil, "c\n", "\xff", true), &m); err != nil || m.ClientID != "c\n" || m.UserID != "\ufffd" {
		t.Errorf("member = %+v, %v", m, err)
	}
}

func TestAppendReusesBuffer(t *testing.T) {
	buf := make([]byte, 0, 512)
	a := protocol.AppendMessagePush(buf[:0], "news", []byte(`{"a":1}`), "c", 1)
	b := protocol.AppendMessagePush(buf[:0], "news", []byte(`{"a":1}`), "c", 1)
	if &a[0] != &buf[:1][0] || &b[0] != &a[0] {
		t.Fatal("append into a buffer with room did not reuse it")
	}
}
