package webhook

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/rtmate/rtmate/rtmate-server/internal/pusher"
)

func TestEncodePusher(t *testing.T) {
	evs := []event{
		{kind: kindChannelOccupied, channel: "c"},
		{kind: kindMemberAdded, channel: "presence-c", user: "u"},
		{kind: kindClientEvent, channel: "private-c", name: "client-x", data: []byte(`{"a":1}`), client: "1.2", user: "u"},
		{kind: kindClientEvent, channel: "private-c", name: "client-y", data: []byte(`"text"`), client: "1.2"},
	}
	got := string(encodePusher(nil, evs, 1700000000123))
	want := `{"time_ms":1700000000123,"events":[{"name":"channel_occupied","channel":"c"},` +
		`{"name":"member_added","channel":"presence-c","user_id":"u"},` +
		`{"name":"client_event","channel":"private-c","event":"client-x","data":"{\"a\":1}","socket_id":"1.2","user_id":"u"},` +
		`{"name":"client_event","channel":"private-c","event":"client-y","data":"text","socket_id":"1.2"}]}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if !json.Valid([]byte(got)) {
		t.Fatal("not JSON")
	}
	h := http.Header{}
	signPusher(h, "k", "s", []byte(got))
	if h.Get(HeaderPusherKey) != "k" || h.Get(HeaderPusherSignature) != pusher.WebhookSignature("s", []byte(got)) {
		t.Fatalf("headers %v", h)
	}
}
