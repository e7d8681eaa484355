package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rtmate/rtmate/rtmate-client/internal/cli"
	"github.com/rtmate/rtmate/rtmate-client/internal/servertest"
)

func TestMain(m *testing.M) { servertest.Main(m) }

// rtmate runs the built command and returns its stdout, stderr and exit code.
func rtmate(t *testing.T, bin, stdin string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = []string{"PATH=/usr/bin:/bin"} // no RTMATE_* from the caller's environment
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

func TestE2ECLI(t *testing.T) {
	srv := servertest.Start(t)
	bin := servertest.Build(t, "rtmate-client", "./cmd/rtmate")
	url := "--url=" + srv.URL

	// A subscriber that exits after three messages, printing joins and leaves too.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sub := exec.CommandContext(ctx, bin, "sub", "presence-cli", "-n", "3", "-presence", url, "--user", "watcher")
	sub.Env = []string{"PATH=/usr/bin:/bin"}
	var subOut bytes.Buffer
	sub.Stdout = &subOut
	stderr, err := sub.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() && !strings.Contains(sc.Text(), "subscribed to presence-cli") {
	}
	go func() {
		for sc.Scan() {
		}
	}()

	if _, errs, code := rtmate(t, bin, "", "pub", "presence-cli", `{"a": 1}`, url); code != cli.ExitOK {
		t.Fatalf("pub exit %d: %s", code, errs)
	}
	if _, errs, code := rtmate(t, bin, "\"two\"\n\n[3]\n", "pub", "presence-cli", "-", url); code != cli.ExitOK {
		t.Fatalf("pub - exit %d: %s", code, errs)
	}
	if err := sub.Wait(); err != nil {
		t.Fatalf("sub: %v; output %q", err, subOut.String())
	}
	var data []string
	for line := range strings.Lines(subOut.String()) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, `{"event":`) {
			continue // the publishers' own join/leave
		}
		data = append(data, line)
	}
	if strings.Join(data, " ") != `{"a":1} "two" [3]` {
		t.Fatalf("sub printed %q", subOut.String())
	}

	t.Run("history", func(t *testing.T) {
		out, errs, code := rtmate(t, bin, "", "history", "presence-cli", "--since", "1", url)
		if code != cli.ExitOK {
			t.Fatalf("exit %d: %s", code, errs)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 {
			t.Fatalf("history --since 1 printed %q", out)
		}
		var p struct {
			Data   json.RawMessage `json:"data"`
			Offset uint64          `json:"offset"`
		}
		if err := json.Unmarshal([]byte(lines[0]), &p); err != nil || string(p.Data) != `"two"` || p.Offset != 2 {
			t.Fatalf("first line %q: %+v %v", lines[0], p, err)
		}
	})

	t.Run("presence", func(t *testing.T) {
		out, errs, code := rtmate(t, bin, "", "presence", "presence-cli", url)
		if code != cli.ExitOK {
			t.Fatalf("exit %d: %s", code, errs)
		}
		var pd struct {
			Count int `json:"count"`
		}
		if err := json.Unmarshal([]byte(out), &pd); err != nil || pd.Count != 0 {
			t.Fatalf("presence printed %q (%v)", out, err)
		}
	})

	t.Run("exit codes", func(t *testing.T) {
		tests := []struct {
			name string
			args []string
			code int
			want string
		}{
			{"presence on a plain channel", []string{"presence", "plain", url}, cli.ExitServer, "400 参数错误"},
			{"bad token", []string{"pub", "x", "1", "--token", "bad", url}, cli.ExitServer, "401"},
			{"invalid JSON", []string{"pub", "x", "{", url}, cli.ExitUsage, "not valid JSON"},
			{"invalid channel", []string{"pub", "a b", "1", url}, cli.ExitUsage, "invalid channel"},
			{"no server", []string{"pub", "x", "1", "--url", "ws://" + servertest.FreeAddr(t) + "/ws"}, cli.ExitError, "connection refused"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, errs, code := rtmate(t, bin, "", tt.args...)
				if code != tt.code || !strings.Contains(errs, tt.want) {
					t.Fatalf("exit %d, stderr %q; want %d and %q", code, errs, tt.code, tt.want)
				}
			})
		}
	})
}
