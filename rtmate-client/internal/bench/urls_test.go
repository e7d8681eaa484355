package bench

import "testing"

func TestURLForRoundRobin(t *testing.T) {
	for _, tc := range []struct {
		url  string
		idx  int
		want string
	}{
		{"ws://127.0.0.1:1/ws", 5, "ws://127.0.0.1:1/ws"},
		{"ws://127.0.0.1:1/ws,ws://127.0.0.1:2/ws", 0, "ws://127.0.0.1:1/ws"},
		{"ws://127.0.0.1:1/ws,ws://127.0.0.1:2/ws", 1, "ws://127.0.0.1:2/ws"},
		{"ws://127.0.0.1:1/ws,ws://127.0.0.1:2/ws", 4, "ws://127.0.0.1:1/ws"},
	} {
		c := Config{URL: tc.url}
		if got := c.urlFor(tc.idx); got != tc.want {
			t.Errorf("urlFor(%q, %d) = %q, want %q", tc.url, tc.idx, got, tc.want)
		}
	}
	if err := (&Config{URL: "ws://127.0.0.1:1/ws,ws://10.0.0.1:2/ws"}).validateURLs(); err == nil {
		t.Error("a non-loopback node in the list was accepted")
	}
}
