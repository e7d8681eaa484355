package config

import (
	"strings"
	"testing"
)

func TestPusherConfig(t *testing.T) {
	base := "apps:\n  - id: a\n    secret: s\n"
	cases := []struct {
		name, yaml, err string
	}{
		{"defaults", base + "    pusher: {key: k, secret: ps}\n", ""},
		{"no key", base + "    pusher: {secret: ps}\n", "apps[0] (a).pusher: key"},
		{"bad key", base + "    pusher: {key: 'a/b', secret: ps}\n", "key \"a/b\""},
		{"no secret", base + "    pusher: {key: k}\n", "secret is required"},
		{"negative limit", base + "    pusher: {key: k, secret: ps, max_presence_members: -1}\n", "max_presence_members"},
		{"unknown field", base + "    pusher: {key: k, secret: ps, clientevents: true}\n", "clientevents"},
		{"duplicate key", base + "    pusher: {key: k, secret: ps}\n  - id: b\n    secret: s\n    pusher: {key: k, secret: x}\n", "the same key as app a"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tc.yaml))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p := cfg.Apps[0].Pusher
			if p.ClientEvents || p.MaxPresenceMembers != DefaultMaxPresenceMembers {
				t.Fatalf("defaults: %+v", p)
			}
		})
	}
}

func TestDevPusher(t *testing.T) {
	p := Dev().Apps[0].Pusher
	if p == nil || p.Key != DevPusherKey || p.Secret != DevPusherSecret || p.MaxPresenceMembers != 100 {
		t.Fatalf("dev app pusher block: %+v", p)
	}
}
