package client_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	auth "github.com/rtmate/rtmate/rtmate-auth"
	"github.com/rtmate/rtmate/rtmate-client/client"
	"github.com/rtmate/rtmate/rtmate-client/internal/servertest"
)

// TestE2ERPC runs the real server with examples/scripts/rpc.lua.
func TestE2ERPC(t *testing.T) {
	root, err := servertest.RepoRoot()
	if err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	cfg := "apps:\n  - id: " + auth.DevAppID + "\n    secret: " + auth.DevSecret + "\n" +
		"    scripts:\n      - name: rpc\n        file: " + filepath.Join(root, "examples", "scripts", "rpc.lua") +
		"\n        hooks: [rpc]\n        timeout: 1s\n"
	path := filepath.Join(dir, "rtmate.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := servertest.Start(t, servertest.WithArgs("-config", path))
	ctx := ctx10(t)
	c := dial(t, devConfig(t, srv.URL, "alice", newRecorder()))

	got, err := c.RPC(ctx, "add", map[string]int{"a": 1, "b": 2})
	if err != nil || string(got) != `{"sum":3}` {
		t.Fatalf("add: %s, %v", got, err)
	}
	_, err = c.RPC(ctx, "nope", nil)
	var e *client.Error
	if !errors.Is(err, client.ErrInvalidParams) || !errors.As(err, &e) || e.Reason != "unknown method nope" {
		t.Fatalf("unknown method: %v", err)
	}
	if _, err := c.RPC(ctx, "bad method", nil); !errors.Is(err, client.ErrInvalidMethod) {
		t.Fatalf("bad method name: %v", err)
	}
}
