package config

import (
	"strings"
	"testing"
)

func TestRedisModes(t *testing.T) {
	const app = "apps:\n  - id: shop\n    secret: shop-secret-0123456789\nengine:\n  type: redis\n  redis:\n"
	tests := []struct {
		name, yaml, mode, err string
	}{
		{"standalone", "    address: 127.0.0.1:6379\n", "standalone", ""},
		{"cluster", "    cluster: true\n    addresses: [10.0.0.1:7000, 10.0.0.2:7000]\n", "cluster", ""},
		{"sentinel", "    sentinel: {master_name: mymaster, addresses: [10.0.0.1:26379, 10.0.0.2:26379], password: s}\n", "sentinel", ""},
		{"nothing", "    db: 1\n", "", "engine.redis.address is required"},
		{"bad address", "    address: localhost\n", "", "want host:port"},
		{"addresses without cluster", "    addresses: [10.0.0.1:7000]\n", "", "set cluster: true"},
		{"cluster without addresses", "    cluster: true\n", "", "at least one seed node"},
		{"cluster with address", "    cluster: true\n    address: 10.0.0.1:7000\n", "", "not address"},
		{"cluster with db", "    cluster: true\n    addresses: [10.0.0.1:7000]\n    db: 2\n", "", "only db 0"},
		{"cluster and sentinel", "    cluster: true\n    addresses: [10.0.0.1:7000]\n    sentinel: {master_name: m, addresses: [10.0.0.1:26379]}\n", "", "exclusive"},
		{"cluster port", "    cluster: true\n    addresses: [10.0.0.1:0]\n", "", "port in 1..65535"},
		{"cluster twice", "    cluster: true\n    addresses: [10.0.0.1:7000, 10.0.0.1:7000]\n", "", "listed twice"},
		{"sentinel without name", "    sentinel: {addresses: [10.0.0.1:26379]}\n", "", "master_name is required"},
		{"sentinel without addresses", "    sentinel: {master_name: m}\n", "", "at least one sentinel"},
		{"sentinel with address", "    address: 10.0.0.1:6379\n    sentinel: {master_name: m, addresses: [10.0.0.1:26379]}\n", "", "not address"},
		{"unknown sentinel key", "    sentinel: {master: m, addresses: [10.0.0.1:26379]}\n", "", "master"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("RTMATE_REDIS_ADDRESS", "")
			cfg, err := Parse([]byte(app + tt.yaml))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Engine.Redis.Mode(); got != tt.mode {
				t.Fatalf("mode %s, want %s", got, tt.mode)
			}
		})
	}
}
