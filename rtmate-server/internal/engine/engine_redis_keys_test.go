package engine

import (
	"bytes"
	"strings"
	"testing"
)

func TestRedisKeys(t *testing.T) {
	k := keyspace{prefix: "rtmate:"}
	ch := ChannelKey{App: "demo-app", Name: "chat:room/1"}
	for _, tc := range []struct{ got, want string }{
		{k.meta(ch), "rtmate:m{demo-app:chat:room/1}"},
		{k.stream(ch), "rtmate:h{demo-app:chat:room/1}"},
		{k.presence(ch), "rtmate:p{demo-app:chat:room/1}"},
		{k.topic(ch), "rtmate:c{demo-app:chat:room/1}"},
		{k.node("n1"), "rtmate:node:n1"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	for _, tc := range []struct {
		topic string
		want  ChannelKey
		ok    bool
	}{
		{"rtmate:c{demo-app:chat:room/1}", ch, true},
		{"rtmate:c{a:b}", ChannelKey{App: "a", Name: "b"}, true},
		{"rtmate:m{a:b}", ChannelKey{}, false},
		{"other:c{a:b}", ChannelKey{}, false},
		{"rtmate:c{ab}", ChannelKey{}, false},
		{"rtmate:c{:b}", ChannelKey{}, false},
		{"rtmate:c{a:}", ChannelKey{}, false},
		{"rtmate:c{a:b", ChannelKey{}, false},
		{"rtmate:", ChannelKey{}, false},
	} {
		t.Run(tc.topic, func(t *testing.T) {
			got, ok := k.parseTopic(tc.topic)
			if ok != tc.ok || got != tc.want {
				t.Fatalf("parseTopic = %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestRedisPayload(t *testing.T) {
	for _, tc := range []struct {
		name string
		pub  Publication
	}{
		{"message", Publication{Kind: KindMessage, Data: []byte(`{"text":"你好"}`), ClientID: "n1-1"}},
		{"api message", Publication{Kind: KindMessage, Data: []byte(`1`), ClientID: "server"}},
		{"join", Publication{Kind: KindJoin, ClientID: "n1-2", UserID: "alice"}},
		{"leave", Publication{Kind: KindLeave, ClientID: "n1-2", UserID: strings.Repeat("u", 300)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			payload := "42:abc:" + string(appendBody(nil, &tc.pub))
			off, epoch, body, err := splitPayload(payload)
			if err != nil || off != 42 || epoch != "abc" {
				t.Fatalf("splitPayload = %d %q %v", off, epoch, err)
			}
			var got Publication
			if err := decodeBody(body, &got); err != nil {
				t.Fatal(err)
			}
			if got.Kind != tc.pub.Kind || got.ClientID != tc.pub.ClientID || got.UserID != tc.pub.UserID || !bytes.Equal(got.Data, tc.pub.Data) {
				t.Fatalf("decoded %+v, want %+v", got, tc.pub)
			}
		})
	}
	for _, bad := range []string{"", ":", "1", "1:", "1:e", "x:e:b", ":e:\x00\x00\x00", "99999999999999999999:e:\x00\x00\x00", "1:e:", "1:e:\x03\x00\x00", "1:e:\x00\x05ab", "1:e:\x00\x00", "1:e:\x00\xff"} {
		off, _, body, err := splitPayload(bad)
		if err == nil {
			var p Publication
			err = decodeBody(body, &p)
		}
		if err == nil {
			t.Errorf("%q decoded (offset %d)", bad, off)
		}
	}
}

// FuzzRedisPayload: whatever arrives on a pub/sub channel is decoded without panicking, and
// what decodes survives a round trip.
func FuzzRedisPayload(f *testing.F) {
	f.Add("1:e:" + string(appendBody(nil, &Publication{Kind: KindMessage, Data: []byte(`{}`), ClientID: "c"})))
	f.Add("0::" + string(appendBody(nil, &Publication{Kind: KindJoin, ClientID: "c", UserID: "u"})))
	f.Add("18446744073709551615:z:\x02\x00\x00")
	f.Add("1:e:\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01")
	f.Fuzz(func(t *testing.T, s string) {
		_, _, body, err := splitPayload(s)
		if err != nil {
			return
		}
		var p Publication
		if err := decodeBody(body, &p); err != nil {
			return
		}
		var q Publication
		if err := decodeBody(string(appendBody(nil, &p)), &q); err != nil {
			t.Fatalf("re-encoded %+v does not decode: %v", p, err)
		}
		if q.Kind != p.Kind || q.ClientID != p.ClientID || q.UserID != p.UserID || !bytes.Equal(q.Data, p.Data) {
			t.Fatalf("round trip %+v → %+v", p, q)
		}
	})
}
