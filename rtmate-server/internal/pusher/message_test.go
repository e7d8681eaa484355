package pusher

import (
	"bytes"
	"errors"
	"testing"
)

func TestDecode(t *testing.T) {
	cases := []struct {
		name, in           string
		event, channel, dt string
		err                error
	}{
		{"subscribe", `{"event":"pusher:subscribe","data":{"channel":"a"}}`, "pusher:subscribe", "", `{"channel":"a"}`, nil},
		{"client event", `{"event":"client-x","channel":"private-a","data":{"k":[1,2]}}`, "client-x", "private-a", `{"k":[1,2]}`, nil},
		{"escaped event", `{"event":"client-\u0078","data":"s"}`, "client-x", "", `"s"`, nil},
		{"extra members ignored", `{"x":1,"event":"pusher:ping","data":{}}`, "pusher:ping", "", `{}`, nil},
		{"no event", `{"data":{}}`, "", "", "", ErrNoEvent},
		{"event not a string", `{"event":1}`, "", "", "", ErrBadField},
		{"channel not a string", `{"event":"e","channel":{}}`, "", "", "", ErrBadField},
		{"not an object", `["event"]`, "", "", "", ErrNotObject},
		{"truncated", `{"event":"e"`, "", "", "", ErrNotObject},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var m Message
			err := Decode([]byte(tc.in), &m)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			if string(m.Event) != tc.event || string(m.Channel) != tc.channel || string(m.Data) != tc.dt {
				t.Fatalf("got %q %q %q", m.Event, m.Channel, m.Data)
			}
		})
	}
}

func TestDecodeSubscribe(t *testing.T) {
	var s Subscribe
	in := `{"channel":"presence-a","auth":"k:sig","channel_data":"{\"user_id\":\"1\",\"user_info\":{\"n\":\"x\"}}"}`
	if err := DecodeSubscribe([]byte(in), &s); err != nil {
		t.Fatal(err)
	}
	if string(s.Channel) != "presence-a" || string(s.Auth) != "k:sig" || string(s.ChannelData) != `{"user_id":"1","user_info":{"n":"x"}}` {
		t.Fatalf("got %+v", s)
	}
	var m Member
	if err := DecodeChannelData(s.ChannelData, &m); err != nil || m.UserID != "1" || string(m.UserInfo) != `{"n":"x"}` {
		t.Fatalf("member %+v, %v", m, err)
	}
	if err := DecodeChannelData([]byte(`{"user_id":42}`), &m); err != nil || m.UserID != "42" {
		t.Fatalf("numeric id: %+v, %v", m, err)
	}
	for _, bad := range []string{`{"user_info":{}}`, `{"user_id":""}`, `{"user_id":-1}`, `{"user_id":{}}`, `nope`} {
		if err := DecodeChannelData([]byte(bad), &m); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	for _, bad := range []string{`{}`, `{"channel":1}`, `"x"`, `{"channel":"a","auth":5}`} {
		if err := DecodeSubscribe([]byte(bad), &s); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestDecodeUserData(t *testing.T) {
	cases := map[string]string{`{"id":"u1","name":"x"}`: "u1", `{"id":7}`: "7", `{"name":"x"}`: "", `[]`: "", `{"id":""}`: ""}
	for in, want := range cases {
		got, err := DecodeUserData([]byte(in))
		if got != want || (want == "") != (err != nil) {
			t.Errorf("%s: %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestValidChannel(t *testing.T) {
	for name, want := range map[string]bool{
		"a": true, "private-a.b": true, "presence-x_y=z@w,v;u": true, "": false,
		"has space": false, "#server-to-user-1": false, "a:b": false, string(bytes.Repeat([]byte("a"), 201)): false,
	} {
		if got := ValidChannel([]byte(name)); got != want {
			t.Errorf("ValidChannel(%q) = %v", name, got)
		}
	}
}

func TestEncode(t *testing.T) {
	cases := []struct{ name, got, want string }{
		{"established", string(AppendConnectionEstablished(nil, "1.2", 25)),
			`{"event":"pusher:connection_established","data":"{\"socket_id\":\"1.2\",\"activity_timeout\":25}"}`},
		{"error", string(AppendError(nil, 4001, `no "app"`)), `{"event":"pusher:error","data":{"code":4001,"message":"no \"app\""}}`},
		{"error without code", string(AppendError(nil, 0, "m")), `{"event":"pusher:error","data":{"message":"m"}}`},
		{"event", string(AppendEvent(nil, "client-x", "presence-a", []byte(`{"a":1}`), "u")),
			`{"event":"client-x","channel":"presence-a","data":{"a":1},"user_id":"u"}`},
		{"member added", string(AppendMemberAdded(nil, "presence-a", "u", []byte(`{"n":1}`))),
			`{"event":"pusher_internal:member_added","channel":"presence-a","data":"{\"user_id\":\"u\",\"user_info\":{\"n\":1}}"}`},
		{"member removed", string(AppendMemberRemoved(nil, "presence-a", "u")),
			`{"event":"pusher_internal:member_removed","channel":"presence-a","data":"{\"user_id\":\"u\"}"}`},
		{"presence", string(AppendPresenceText(nil, []PresenceMember{{UserID: "a", UserInfo: []byte(`{"x":1}`)}, {UserID: "b"}})),
			`{"presence":{"ids":["a","b"],"hash":{"a":{"x":1},"b":null},"count":2}}`},
		{"subscription error", string(AppendSubscriptionError(nil, "private-a", "AuthError", "bad", 401)),
			`{"event":"pusher:subscription_error","channel":"private-a","data":{"type":"AuthError","error":"bad","status":401}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Fatalf("got  %s\nwant %s", tc.got, tc.want)
			}
		})
	}
}
