package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want ByteSize
		ok   bool
	}{
		{"16MiB", 16 << 20, true}, {"512KB", 512000, true}, {"1048576", 1 << 20, true}, {"1 gib", 1 << 30, true},
		{"64B", 64, true}, {"", 0, false}, {"-1", 0, false}, {"1.5MiB", 0, false}, {"3TB", 0, false}, {"99999999999999999999", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseByteSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestScriptsConfig(t *testing.T) {
	const head = "apps:\n  - id: shop\n    secret: s\n    scripts:\n"
	tests := []struct {
		name, yaml, err string
	}{
		{"defaults", "      - {name: m, file: scripts/m.lua, hooks: [publish, subscribe]}\n", ""},
		{"all keys", "      - {name: m, file: p.wasm, hooks: [connect, rpc], timeout: 20ms, memory: 32MiB, fail_open: true}\n", ""},
		{"no name", "      - {file: m.lua, hooks: [publish]}\n", "scripts[0]: name"},
		{"bad extension", "      - {name: m, file: m.js, hooks: [publish]}\n", "want a .lua or .wasm file"},
		{"no hooks", "      - {name: m, file: m.lua}\n", "hooks: want at least one"},
		{"unknown hook", "      - {name: m, file: m.lua, hooks: [message]}\n", `hooks[0] "message"`},
		{"hook twice", "      - {name: m, file: m.lua, hooks: [rpc, rpc]}\n", "listed twice"},
		{"timeout too long", "      - {name: m, file: m.lua, hooks: [rpc], timeout: 2s}\n", "timeout 2s"},
		{"memory too small", "      - {name: m, file: m.lua, hooks: [rpc], memory: 1KB}\n", "memory 1000"},
		{"memory unit", "      - {name: m, file: m.lua, hooks: [rpc], memory: 16XB}\n", `unknown unit "XB"`},
		{"duplicate name", "      - {name: m, file: a.lua, hooks: [rpc]}\n      - {name: m, file: b.lua, hooks: [rpc]}\n", `scripts[1].name "m": duplicate`},
		{"unknown key", "      - {name: m, file: a.lua, hooks: [rpc], fuel: 1}\n", "field fuel not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(head + tt.yaml))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want it to contain %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s := cfg.Apps[0].Scripts[0]
			if tt.name == "defaults" && (s.Timeout != 5*time.Millisecond || s.Memory != 16<<20 || s.FailOpen) {
				t.Fatalf("defaults: %+v", s)
			}
			if tt.name == "all keys" && (s.Timeout != 20*time.Millisecond || s.Memory != 32<<20 || !s.FailOpen || s.Language() != "wasm") {
				t.Fatalf("all keys: %+v", s)
			}
		})
	}
	s := Script{File: "scripts/m.lua"}
	if got := s.Path("/etc/rtmate"); got != "/etc/rtmate/scripts/m.lua" {
		t.Fatalf("Path = %q", got)
	}
	abs := Script{File: "/abs/m.lua"}
	if got := abs.Path("/etc/rtmate"); got != "/abs/m.lua" {
		t.Fatalf("absolute Path = %q", got)
	}
}
