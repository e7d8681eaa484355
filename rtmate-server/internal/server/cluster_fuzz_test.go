package server

import (
	"encoding/json"
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
	} {
		if _, err := parseControl([]byte(tc.in)); err != tc.want {
			t.Errorf("parseControl(%s) = %v, want %v", tc.in, err, tc.want)
		}
	}
}
