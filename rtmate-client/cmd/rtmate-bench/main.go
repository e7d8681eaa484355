// Command rtmate-bench is RTMate's load tool: scenarios idle, fanout, rooms and connect
// against a server on loopback. See README.md; the logic lives in internal/bench.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/rtmate/rtmate/rt-common/buildinfo"
	"github.com/rtmate/rtmate/rtmate-client/internal/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx)
	stop()
	os.Exit(code)
}

func run(ctx context.Context) int {
	if len(os.Args) > 1 && os.Args[1] == bench.WorkerFlag {
		if err := bench.RaiseOpenFilesLimit(); err != nil {
			fmt.Fprintln(os.Stderr, "rtmate-bench worker:", err)
		}
		if err := bench.ServeWorker(ctx, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "rtmate-bench worker:", err)
			return 1
		}
		return 0
	}
	var c bench.Config
	fs := flag.NewFlagSet("rtmate-bench", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: rtmate-bench [flags] [idle|fanout|rooms|connect]

  idle     -n connections authenticated and subscribed, held for -duration
  fanout   -n subscribers on one channel, one publisher at -rate (0: as fast as the server accepts)
  rooms    -rooms rooms of -room-size members, each publishing at -rate
  connect  -n connect+auth as fast as -concurrency allows

flags:
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&c.Scenario, "scenario", "fanout", "idle, fanout, rooms or connect (or the first argument)")
	fs.StringVar(&c.URL, "url", envOr("RTMATE_URL", "ws://127.0.0.1:3000/ws"), "server WebSocket URL, loopback only; comma-separated URLs spread connections round-robin over several nodes (env RTMATE_URL)")
	fs.StringVar(&c.AppID, "app", envOr("RTMATE_APP", "demo-app"), "app id (env RTMATE_APP)")
	fs.StringVar(&c.Secret, "secret", os.Getenv("RTMATE_SECRET"), "app HS256 secret to mint tokens (default: the development secret; env RTMATE_SECRET)")
	fs.StringVar(&c.Token, "token", os.Getenv("RTMATE_TOKEN"), "one token for every connection instead of minting (env RTMATE_TOKEN)")
	fs.IntVar(&c.Conns, "n", 100, "connections (fanout: subscribers)")
	fs.IntVar(&c.Rooms, "rooms", 10, "rooms: number of rooms")
	fs.IntVar(&c.RoomSize, "room-size", 10, "rooms: members per room")
	rate := fs.Float64("rate", -1, "messages/s per publisher (default 100 for fanout, 1 for rooms; fanout 0 = as fast as the server accepts, -window in flight)")
	fs.IntVar(&c.Window, "window", 16, "unacknowledged publishes in flight when -rate 0")
	fs.IntVar(&c.Size, "size", 64, "bytes of each publication's data")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "measured phase")
	fs.DurationVar(&c.Drain, "drain", 10*time.Second, "longest wait for the last deliveries")
	fs.DurationVar(&c.Timeout, "timeout", 0, "hard bound on the whole run (default duration + drain + 2m)")
	fs.IntVar(&c.Concurrency, "concurrency", 64, "connections dialling at once per process")
	fs.IntVar(&c.Procs, "procs", 1, "worker processes to split the connections over (each may hold ~19k)")
	fs.IntVar(&c.ReadBuffer, "read-buffer", 16<<10, "read buffer of a connection being set up or publishing, bytes (subscribers share 256 KiB per poll loop)")
	fs.StringVar(&c.Channel, "channel", "", "channel name prefix (default bench-<random>)")
	fs.BoolVar(&c.Presence, "presence", false, "use presence channels")
	fs.StringVar(&c.Protocol, "protocol", "rtmate", "rtmate or pusher: receiving connections speak the Pusher protocol 7 on /app/{key} (publishers stay native)")
	fs.StringVar(&c.PusherKey, "pusher-key", envOr("RTMATE_PUSHER_KEY", "demo-key"), "the app's Pusher key with -protocol pusher (env RTMATE_PUSHER_KEY)")
	fs.IntVar(&c.ServerPID, "server-pid", 0, "server pid: report its RSS growth and CPU per delivery")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	outFile := fs.String("out", "", "also write the result as JSON to this file (the summary still goes to stdout)")
	quiet := fs.Bool("q", false, "no progress lines on stderr")
	showVersion := fs.Bool("version", false, "print the version, commit, build date and Go version, and exit")
	cpuProfile := fs.String("cpuprofile", "", "write the tool's own CPU profile to this file (its in-process worker only)")
	args := os.Args[1:]
	var positional string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		positional, args = args[0], args[1:] // rtmate-bench fanout -n 50
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *showVersion {
		fmt.Println(buildinfo.Get().Line("rtmate-bench"))
		return 0
	}
	switch {
	case fs.NArg() > 1 || (positional != "" && fs.NArg() > 0):
		fmt.Fprintln(os.Stderr, "rtmate-bench: one scenario at a time")
		return 2
	case positional != "":
		c.Scenario = positional
	case fs.NArg() == 1:
		c.Scenario = fs.Arg(0)
	}
	c.Rate = *rate
	if c.Rate < 0 {
		c.Rate = map[string]float64{bench.ScenarioFanout: 100, bench.ScenarioRooms: 1}[c.Scenario]
	}
	opt := bench.Options{}
	if !*quiet {
		opt.Log = os.Stderr
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "rtmate-bench:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "rtmate-bench:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	res, err := bench.Run(ctx, c, opt)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rtmate-bench:", err)
		return 1
	}
	if *outFile != "" {
		b, err := json.MarshalIndent(res, "", "  ")
		if err == nil {
			err = os.WriteFile(*outFile, append(b, '\n'), 0o644) // #nosec G306 -- benchmark results, meant to be shared
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "rtmate-bench: -out:", err)
			return 1
		}
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			fmt.Fprintln(os.Stderr, "rtmate-bench:", err)
			return 1
		}
		return 0
	}
	fmt.Println(res.Summary())
	return 0
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
