package config

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// clearEnv keeps the RTMATE_* overrides of the developer's shell out of the checks.
func clearEnv(t *testing.T) {
	for _, k := range []string{"RTMATE_LISTEN", "RTMATE_LOG_LEVEL", "RTMATE_LOG_FORMAT", "RTMATE_REDIS_ADDRESS"} {
		t.Setenv(k, "")
	}
}

func writeEd25519PEM(t *testing.T, path string) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestCheck(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	writeEd25519PEM(t, filepath.Join(dir, "chat.pem"))
	if err := os.WriteFile(filepath.Join(dir, "not-a-key.pem"), []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		yaml string
		want []string // one substring per expected problem, in order; none: the file is good
	}{
		{
			name: "good: redis engine, two apps, relative key file",
			yaml: `
listen: 0.0.0.0:3000
engine: {type: redis, redis: {address: redis:6379}}
apps:
  - id: chat
    keys: [{public_key_file: chat.pem}]
    limits: {max_connections: 50000, rate: -1}
  - id: shop
    secret: s3cr3t
`,
		},
		{
			name: "unknown keys are all reported, and the rest is still checked",
			yaml: `
listne: 0.0.0.0:3000
apps:
  - id: chat
    secret: s
    limts: {rate: 5}
  - id: "bad id"
    secret: s
`,
			want: []string{"field listne not found", "field limts not found", `apps[1].id "bad id"`},
		},
		{
			name: "wrong type",
			yaml: "workers: many\napps: [{id: a, secret: s}]\n",
			want: []string{"cannot unmarshal !!str `many` into int"},
		},
		{
			name: "every limit out of range, in defaults and in an app",
			yaml: `
defaults: {max_message_size: 20000000, history_size: -1}
apps:
  - id: a
    secret: s
    limits: {max_queue_bytes: -1, burst: -2, auth_timeout: -1s, max_channels_per_connection: -1}
`,
			want: []string{
				"apps[0] (a).limits: max_queue_bytes", "apps[0] (a).limits: max_channels_per_connection",
				"apps[0] (a).limits: burst", "apps[0] (a).limits: auth_timeout",
				"defaults: max_message_size", "defaults: history_size",
			},
		},
		{
			name: "server settings",
			yaml: `
listen: "3000"
workers: -1
ping_interval: 90s
log: {level: verbose, format: xml}
engine: {type: redis, redis: {address: redis}}
apps: [{id: a, secret: s}]
`,
			want: []string{
				"engine.redis.address \"redis\": want host:port", `listen "3000"`, "log.level", "log.format",
				"workers", "ping_interval (1m30s) must be shorter than idle_timeout",
			},
		},
		{
			name: "keys that cannot be loaded, app by app",
			yaml: `
apps:
  - id: a
    keys: [{public_key_file: missing.pem}]
  - id: b
    keys: [{public_key_file: not-a-key.pem}]
  - id: c
  - id: d
    secret: s
    allowed_origins: ["example.com"]
`,
			want: []string{"apps[0] (a): auth config: app \"a\": keys[0]: public_key_file", "apps[1] (b)", "apps[2] (c)", "apps[3] (d): auth config: app \"d\": allowed_origins[0]"},
		},
		{
			name: "duplicates",
			yaml: `
apps:
  - {id: a, secret: s, api_key: k}
  - {id: a, secret: s}
  - {id: b, secret: s, api_key: k}
`,
			want: []string{`apps[1].id "a": duplicate`, "apps[2] (b).api_key"},
		},
		{
			name: "no apps",
			yaml: "listen: 127.0.0.1:0\n",
			want: []string{"no apps configured"},
		},
		{
			name: "syntax error stops the check",
			yaml: "apps: [\n",
			want: []string{"decode yaml"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.NewReplacer(" ", "-", ",", "", ":", "").Replace(tt.name)+".yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			got := Check(path)
			if len(got) != len(tt.want) {
				t.Fatalf("Check: %d problems, want %d:\n%s", len(got), len(tt.want), joinErrs(got))
			}
			for i, want := range tt.want {
				if !strings.Contains(got[i].Error(), want) {
					t.Errorf("problem %d = %q, want it to contain %q", i, got[i], want)
				}
			}
		})
	}
}

func TestCheckMissingFile(t *testing.T) {
	got := Check(filepath.Join(t.TempDir(), "nope.yaml"))
	if len(got) != 1 || !strings.Contains(got[0].Error(), "no such file") {
		t.Fatalf("Check = %v", got)
	}
}

// TestCheckDeployExample keeps the example production config in deploy/ valid.
func TestCheckDeployExample(t *testing.T) {
	clearEnv(t)
	if errs := Check(filepath.Join("..", "..", "..", "deploy", "rtmate.yaml")); len(errs) > 0 {
		t.Fatalf("deploy/rtmate.yaml:\n%s", joinErrs(errs))
	}
}

func joinErrs(errs []error) string {
	var b strings.Builder
	for _, e := range errs {
		b.WriteString("  " + e.Error() + "\n")
	}
	return b.String()
}
