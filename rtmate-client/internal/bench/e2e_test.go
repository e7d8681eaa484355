package bench_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/rtmate/rtmate/rtmate-client/internal/bench"
	"github.com/rtmate/rtmate/rtmate-client/internal/servertest"
)

// TestMain also lets the test binary serve as a worker process, as rtmate-bench does: Run
// starts os.Executable with WorkerFlag for every worker it does not host itself (a fanout's
// publisher always gets a process of its own).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == bench.WorkerFlag {
		if err := bench.ServeWorker(context.Background(), os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "bench test worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	servertest.Main(m)
}

// checkDelivery asserts the counters of a publishing run: everything acknowledged was
// delivered to every subscriber exactly once. No timing is asserted.
func checkDelivery(t *testing.T, r *bench.Result, subsPerChannel int64) {
	t.Helper()
	if r.Acked == 0 || r.Sent < r.Acked {
		t.Errorf("sent %d acked %d", r.Sent, r.Acked)
	}
	if r.Expected != r.Acked*subsPerChannel {
		t.Errorf("expected %d, want acked %d × %d", r.Expected, r.Acked, subsPerChannel)
	}
	var refused int64
	for _, n := range r.PublishErrors {
		refused += n
	}
	// A refused publication (429) leaves a hole in its source's sequence, nothing else does.
	if r.Lost != 0 || r.Duplicated != 0 || r.Gaps > refused*subsPerChannel || r.Delivered != r.Expected {
		t.Errorf("delivered %d of %d, lost %d, duplicated %d, gaps %d", r.Delivered, r.Expected, r.Lost, r.Duplicated, r.Gaps)
	}
	if r.Latency == nil || r.Latency.Count != r.Delivered || r.Latency.P50 > r.Latency.Max {
		t.Errorf("latency %+v for %d deliveries", r.Latency, r.Delivered)
	}
	if r.DeliveredPerSec <= 0 {
		t.Errorf("delivered/s %v", r.DeliveredPerSec)
	}
}

func checkCommon(t *testing.T, r *bench.Result, conns int) {
	t.Helper()
	if r.Conns != conns || r.ConnectErrors != 0 || r.Disconnects != 0 || len(r.Errors) > 0 {
		t.Errorf("conns %d (want %d), connect errors %d, disconnects %d %v, errors %q", r.Conns, conns, r.ConnectErrors, r.Disconnects, r.CloseCodes, r.Errors)
	}
	if r.ConnectPerSec <= 0 {
		t.Errorf("connect rate %v", r.ConnectPerSec)
	}
	if s := r.Server; s == nil || s.Error != "" || s.RSSBaselineKB <= 0 || s.RSSConnectedKB <= 0 || s.CPUSeconds < 0 {
		t.Errorf("server stats %+v", s)
	}
	if r.Summary() == "" {
		t.Error("empty summary")
	}
	t.Log(r.Summary())
}

func TestE2EScenarios(t *testing.T) {
	srv := servertest.Start(t)
	base := bench.Config{URL: srv.URL, ServerPID: srv.Pid(), Timeout: time.Minute, Drain: 5 * time.Second}
	tests := []struct {
		name  string
		cfg   func(c *bench.Config)
		conns int
		check func(t *testing.T, r *bench.Result)
	}{
		{
			name: "fanout 50 subs at 20/s",
			cfg: func(c *bench.Config) {
				c.Scenario, c.Conns, c.Rate, c.Duration = bench.ScenarioFanout, 50, 20, 2*time.Second
			},
			conns: 51,
			check: func(t *testing.T, r *bench.Result) { checkDelivery(t, r, 50) },
		},
		{
			name: "fanout ack-paced",
			cfg: func(c *bench.Config) {
				c.Scenario, c.Conns, c.Rate, c.Window, c.Duration = bench.ScenarioFanout, 10, 0, 4, time.Second
			},
			conns: 11,
			check: func(t *testing.T, r *bench.Result) { checkDelivery(t, r, 10) },
		},
		{
			name: "rooms 5x4 at 5/s with presence",
			cfg: func(c *bench.Config) {
				c.Scenario, c.Rooms, c.RoomSize, c.Rate, c.Duration, c.Presence = bench.ScenarioRooms, 5, 4, 5, 2*time.Second, true
			},
			conns: 20,
			check: func(t *testing.T, r *bench.Result) { checkDelivery(t, r, 4) },
		},
		{
			name: "fanout 50 Pusher subs at 20/s",
			cfg: func(c *bench.Config) {
				c.Scenario, c.Conns, c.Rate, c.Duration, c.Protocol = bench.ScenarioFanout, 50, 20, 2*time.Second, bench.ProtocolPusher
			},
			conns: 51,
			check: func(t *testing.T, r *bench.Result) { checkDelivery(t, r, 50) },
		},
		{
			name: "idle 100 Pusher",
			cfg: func(c *bench.Config) {
				c.Scenario, c.Conns, c.Duration, c.Protocol = bench.ScenarioIdle, 100, time.Second, bench.ProtocolPusher
			},
			conns: 100,
			check: func(t *testing.T, r *bench.Result) {
				if r.Sent != 0 || r.Delivered != 0 {
					t.Errorf("idle run sent %d delivered %d", r.Sent, r.Delivered)
				}
			},
		},
		{
			name:  "idle 100",
			cfg:   func(c *bench.Config) { c.Scenario, c.Conns, c.Duration = bench.ScenarioIdle, 100, time.Second },
			conns: 100,
			check: func(t *testing.T, r *bench.Result) {
				if r.Sent != 0 || r.Delivered != 0 {
					t.Errorf("idle run sent %d delivered %d", r.Sent, r.Delivered)
				}
			},
		},
		{
			name:  "connect 200",
			cfg:   func(c *bench.Config) { c.Scenario, c.Conns, c.Concurrency = bench.ScenarioConnect, 200, 16 },
			conns: 200,
			check: func(t *testing.T, r *bench.Result) {
				if r.ConnectLatency == nil || r.ConnectLatency.Count != 200 {
					t.Errorf("connect latency %+v", r.ConnectLatency)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			tt.cfg(&cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			r, err := bench.Run(ctx, cfg, bench.Options{})
			if err != nil {
				t.Fatal(err)
			}
			checkCommon(t, r, tt.conns)
			tt.check(t, r)
		})
	}
}

// TestE2EBinaryProcs runs the built rtmate-bench with two worker processes and -json.
func TestE2EBinaryProcs(t *testing.T) {
	srv := servertest.Start(t)
	bin := servertest.Build(t, "rtmate-client", "./cmd/rtmate-bench")
	tests := []struct {
		name string
		args []string
		subs int64
	}{
		{"fanout", []string{"fanout", "-n", "40", "-rate", "20"}, 40},
		{"rooms", []string{"rooms", "-rooms", "6", "-room-size", "3", "-rate", "4"}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			args := append(tt.args, "-procs", "2", "-duration", "2s", "-drain", "5s", "-json", "-q",
				"-url", srv.URL, "-server-pid", itoa(srv.Pid()))
			out, err := exec.CommandContext(ctx, bin, args...).Output()
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			var r bench.Result
			if err := json.Unmarshal(out, &r); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if r.Config.Procs != 2 {
				t.Fatalf("procs %d", r.Config.Procs)
			}
			checkDelivery(t, &r, tt.subs)
			t.Log(r.Summary())
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
