package server

import (
	"bytes"
	"testing"
)

// parsePusherEvent reads message data that any client may publish.
func FuzzParsePusherEvent(f *testing.F) {
	f.Add([]byte(`{"event":"e","data":{"a":1},"socket_id":"1.2","user_id":"u"}`))
	f.Add([]byte(`{"event":"e","data":"x"}`))
	f.Add([]byte(`{"text":"hi"}`))
	f.Add([]byte(`{"event":"\u0065","data":null,"socket_id":5}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, ok := parsePusherEvent(b)
		if !ok {
			return
		}
		// What it accepts survives encoding back: the mapping is lossless.
		again, ok := parsePusherEvent(appendNativeEvent(nil, string(ev.event), ev.data, string(ev.socketID), string(ev.userID)))
		if !ok || !bytes.Equal(again.event, ev.event) || !bytes.Equal(again.data, ev.data) ||
			!bytes.Equal(again.socketID, ev.socketID) || !bytes.Equal(again.userID, ev.userID) {
			t.Fatalf("round trip of %q changed it", b)
		}
	})
}

func TestPusherTarget(t *testing.T) {
	cases := []struct {
		req, key string
		proto    int
	}{
		{"GET /app/k1?protocol=7&client=js&version=8 HTTP/1.1\r\n", "k1", 7},
		{"GET /app/k1 HTTP/1.1\r\n", "k1", -1},
		{"GET /app/k1?protocol=x HTTP/1.1\r\n", "k1", -1},
		{"GET /app/k1?protocol=%zz HTTP/1.1\r\n", "k1", -1},
	}
	for _, tc := range cases {
		key, proto := pusherTarget([]byte(tc.req))
		if key != tc.key || proto != tc.proto {
			t.Errorf("%q: %q %d", tc.req, key, proto)
		}
	}
}
