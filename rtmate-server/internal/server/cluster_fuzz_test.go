package server

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzControlMessage feeds parseControl what any publisher on the control channels could
// send: it must never panic, and what it accepts must survive a round trip.
func FuzzControlMessage(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"type":"channels","id":"a1","from":"n1","app":"demo-app","prefix":"news"}`,
		`{"v":1,"type":"reply","id":"a1","from":"n2","channels":[{"n":"news","s":3}]}`,
		`{"v":1,"type":"disconnect","id":"x","from":"n3","app":"a","user_id":"bob"}`,
		`{"v":1,"type":"usage","id":"x","from":"n3","app":"a"}`,
		`{"v":1,"type":"channels","id":"a2","from":"n1","app":"demo-app","prefix":"n","names":["news","notes"]}`,
		`{"v":1,"type":"terminate","id":"t","from":"n1","app":"demo-app","user_id":"bob"}`,
		`{"v":2,"type":"rebalance","from":"nz"}`,
		`{"v":1,"type":"reply","id":"x","from":"n","usage":{"AppID":"a","Since":"2026-01-01T00:00:00Z"}}`,
		`{`, `null`, `[]`, `{"v":1e400}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseControl(data)
		if err != nil {
			return
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("accepted %q but cannot encode it: %v", data, err)
		}
		if _, err := parseControl(b); err != nil {
			t.Fatalf("accepted %q, re-encoded %q refused: %v", data, b, err)
		}
	})
}

func TestParseControl(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
	}{
		{`{"v":1,"type":"channels","id":"a","from":"n"}`, nil},
		{`{"v":2,"type":"channels","id":"a","from":"n"}`, errControlVersion},
		{`{"v":1,"type":"rebalance","id":"a","from":"n"}`, errControlType},
		{`{"v":1,"type":"channels","id":"","from":"n"}`, errControlField},
		{`{"v":1,"type":"channels","id":"a","from":""}`, errControlField},
		{`{"v":1,"type":"terminate","id":"a","from":"n","app":"x","user_id":"u"}`, nil},
		{`{"v":1,"type":"channels","id":"a","from":"n","names":["a","b"]}`, nil},
		{`{"v":1,"type":"channels","id":"a","from":"n","names":["` + strings.Repeat("x", 256) + `"]}`, errControlField},
		{`{"v":1,"type":"channels","id":"a","from":"n","names":[` + strings.Repeat(`"x",`, 100) + `"x"]}`, errControlField},
	} {
		if _, err := parseControl([]byte(tc.in)); err != tc.want {
			t.Errorf("parseControl(%s) = %v, want %v", tc.in, err, tc.want)
		}
	}
}

// commonPrefix is what a "channels" request with names asks of a node that predates names.
func TestCommonPrefix(t *testing.T) {
	for _, tc := range []struct {
		names []string
		want  string
	}{
		{nil, ""},
		{[]string{"news"}, "news"},
		{[]string{"news", "notes", "new"}, "n"},
		{[]string{"presence-a", "presence-b"}, "presence-"},
		{[]string{"a", "b"}, ""},
		{[]string{"abc", ""}, ""},
	} {
		if got := commonPrefix(tc.names); got != tc.want {
			t.Errorf("commonPrefix(%q) = %q, want %q", tc.names, got, tc.want)
		}
	}
}
