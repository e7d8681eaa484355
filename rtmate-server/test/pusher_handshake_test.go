package test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/pusher"
)

// TestPusherHandshakeAbsoluteForm: a Pusher handshake whose request target is in absolute
// form (as some proxies send it) is a Pusher connection like the origin form, key and
// protocol read from its path and query.
func TestPusherHandshakeAbsoluteForm(t *testing.T) {
	srv := startPusher(t, nil)
	cases := []struct {
		name, target, want string
	}{
		{"http", "http://" + srv.Addr + "/app/" + config.DevPusherKey + "?protocol=7&client=js", pusher.EventConnectionEstablished},
		{"upper-case scheme", "HTTP://" + srv.Addr + "/app/" + config.DevPusherKey + "?protocol=7", pusher.EventConnectionEstablished},
		{"unknown key", "http://" + srv.Addr + "/app/nope?protocol=7", `"code":4001`},
		{"no protocol", "http://" + srv.Addr + "/app/" + config.DevPusherKey, `"code":4008`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, rc := exchange(t, srv.Addr, upgradeRequest(tc.target, srv.Addr))
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("status %s, want 101", resp.Status)
			}
			_, p, err := rc.readFrame()
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(p), tc.want) {
				t.Fatalf("first message %s, want %s", p, tc.want)
			}
		})
	}
}
