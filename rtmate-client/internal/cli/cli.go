package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	auth "github.com/rtmate/rtmate/rtmate-auth"
	"github.com/rtmate/rtmate/rtmate-client/client"
)

// Exit codes.
const (
	ExitOK     = 0
	ExitError  = 1 // connection failures, and anything else that went wrong
	ExitUsage  = 2 // bad command line
	ExitServer = 3 // the server answered with an error code (auth refused, 403, 400, …)
)

const usage = `usage: rtmate [flags] COMMAND [flags] ARGS

commands:
  sub CHANNEL...           print each message's data as one JSON line (-presence: join/leave too)
  pub CHANNEL JSON         publish JSON (JSON "-": one value per stdin line)
  presence CHANNEL         print the members of a presence channel
  history CHANNEL          print the channel's kept publications, one JSON line each
  --version                print the version, commit, build date and Go version

flags (anywhere on the line):
  --url URL        WebSocket endpoint (env RTMATE_URL, default ws://127.0.0.1:3000/ws)
  --app ID         application id (env RTMATE_APP, default demo-app)
  --token JWT      connection token (env RTMATE_TOKEN)
  --secret S       HS256 secret to mint tokens with instead (env RTMATE_SECRET)
  --user NAME      user id (sub) of minted or development tokens (env RTMATE_USER, default cli)
  --timeout D      bound on connecting and on each request (default 10s)
  -v               log connection events to stderr
sub:      -presence  -full (print channel, from and offset too)  -n N (exit after N messages)
history:  --since N  --limit N

Without a token for demo-app, one is fetched from http://HOST/dev/token (a server in
development mode) or minted with the development secret.

exit codes: 0 ok, 1 error, 2 usage, 3 the server refused (code and message on stderr)
`

// Env reads environment variables; os.Getenv in main, a map in tests.
type Env func(string) string

// Streams are the command's standard streams.
type Streams struct {
	In       io.Reader
	Out, Err io.Writer
}

// options are the flags every command accepts.
type options struct {
	url, app, token, secret, user string
	timeout                       time.Duration
	verbose                       bool
	// sub
	presence, full bool
	count          int
	// history
	since uint64
	limit int
}

func (o *options) register(fs *flag.FlagSet, env Env) {
	fs.StringVar(&o.url, "url", envOr(env, "RTMATE_URL", client.DefaultURL), "")
	fs.StringVar(&o.app, "app", envOr(env, "RTMATE_APP", auth.DevAppID), "")
	fs.StringVar(&o.token, "token", env("RTMATE_TOKEN"), "")
	fs.StringVar(&o.secret, "secret", env("RTMATE_SECRET"), "")
	fs.StringVar(&o.user, "user", envOr(env, "RTMATE_USER", "cli"), "")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "")
	fs.BoolVar(&o.verbose, "v", false, "")
	fs.BoolVar(&o.presence, "presence", false, "")
	fs.BoolVar(&o.full, "full", false, "")
	fs.IntVar(&o.count, "n", 0, "")
	fs.Uint64Var(&o.since, "since", 0, "")
	fs.IntVar(&o.limit, "limit", 0, "")
}

func envOr(env Env, key, def string) string {
	if v := env(key); v != "" {
		return v
	}
	return def
}

// parseInterleaved parses flags that may appear before, between and after positional
// arguments (the flag package stops at the first positional one); "--" ends flags.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// fs.Parse consumed a "--" if it stopped there: everything after is positional.
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// usageError is a bad command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// Run runs the rtmate command with args (without the program name) and returns the exit
// code. ctx cancellation (SIGINT in main) ends a running sub with exit code 0.
func Run(ctx context.Context, args []string, st Streams, env Env) int {
	var o options
	fs := flag.NewFlagSet("rtmate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.register(fs, env)
	pos, err := parseInterleaved(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp) || (err == nil && len(pos) > 0 && pos[0] == "help"):
		fmt.Fprint(st.Out, usage)
		return ExitOK
	case err == nil && len(pos) == 0:
		fmt.Fprint(st.Err, usage)
		return ExitUsage
	case err != nil:
		err = usageError{err.Error()}
	}
	if err == nil {
		err = run(ctx, &o, pos[0], pos[1:], st)
	}
	return report(st.Err, err)
}

func run(ctx context.Context, o *options, cmd string, args []string, st Streams) error {
	want := map[string]int{"sub": -1, "pub": 2, "presence": 1, "history": 1}
	n, ok := want[cmd]
	switch {
	case !ok:
		return usagef("unknown command %q", cmd)
	case n < 0 && len(args) == 0:
		return usagef("%s needs at least one CHANNEL", cmd)
	case n > 0 && len(args) != n:
		return usagef("%s takes %d argument(s), got %d", cmd, n, len(args))
	}
	getToken, err := tokenSource(o)
	if err != nil {
		return err
	}
	cfg := client.Config{
		URL:            o.url,
		AppID:          o.app,
		GetToken:       getToken,
		RequestTimeout: o.timeout,
		DialTimeout:    o.timeout,
	}
	if o.verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(st.Err, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	states := make(chan client.StateChange, 16)
	if cmd == "sub" {
		cfg.OnStateChange = func(ch client.StateChange) {
			if ch.Err != nil && ch.To != client.StateClosed {
				fmt.Fprintf(st.Err, "rtmate: %s (attempt %d): %v\n", ch.To, ch.Attempt, ch.Err)
			}
			select {
			case states <- ch:
			default:
			}
		}
	}
	dctx, cancel := context.WithTimeout(ctx, o.timeout)
	c, err := client.Dial(dctx, cfg)
	cancel()
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }() // the command's own error is the one to report
	switch cmd {
	case "sub":
		return subscribe(ctx, c, o, args, st, states)
	case "pub":
		return publish(ctx, c, o, args[0], args[1], st)
	case "presence":
		return presence(ctx, c, o, args[0], st)
	default:
		return history(ctx, c, o, args[0], st)
	}
}

// report prints err and maps it to an exit code.
func report(w io.Writer, err error) int {
	if err == nil {
		return ExitOK
	}
	// Wrapped errors of the client each carry the package prefix; say it once.
	msg := "rtmate: " + strings.ReplaceAll(err.Error(), "rtmate: ", "")
	var ue usageError
	if errors.As(err, &ue) || errors.Is(err, client.ErrInvalidChannel) || errors.Is(err, client.ErrInvalidData) {
		fmt.Fprintf(w, "%s\nrun 'rtmate help' for usage\n", msg)
		return ExitUsage
	}
	fmt.Fprintln(w, msg)
	var se *client.Error
	if errors.As(err, &se) {
		return ExitServer
	}
	return ExitError
}
