package tokencmd

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rtmate/rtmate/rt-common/protocol"
	auth "github.com/rtmate/rtmate/rtmate-auth"
)

// Exit codes.
const (
	ExitOK      = 0 // token issued, or --verify found it valid
	ExitInvalid = 1 // --verify found it invalid, or the issued token would be refused
	ExitUsage   = 2 // bad flags, unreadable config or key
)

const usage = `rtmate-token issues and checks RTMate connection tokens (JWT).

Issue (the token alone goes to stdout, so TOKEN=$(rtmate-token ...) works):
  rtmate-token --app demo-app --sub alice                 # built-in development app
  rtmate-token --config rtmate.yaml --app chat --sub bob --ttl 15m --channels 'room-*,news'
  rtmate-token --config rtmate.yaml --app chat --sub bob --key es256-private.pem --kid 2025-01

Check (exit 0 and the claims on stdout, or exit 1 and the reason on stderr):
  rtmate-token --verify "$TOKEN" [--app ID] [--config FILE]
  echo "$TOKEN" | rtmate-token --verify -

Version: rtmate-token --version

Flags:
`

// Env is the process environment Run works in.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

type options struct {
	config, app, sub, kid, keyFile, secret, verify string
	ttl                                            time.Duration
	channels                                       []string // nil = every channel
	now                                            func() time.Time
}

// Run runs rtmate-token with args (without the program name) and returns the exit code.
func Run(args []string, env Env) int {
	o := &options{now: env.Now}
	if o.now == nil {
		o.now = time.Now
	}
	fs := flag.NewFlagSet("rtmate-token", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprint(env.Stderr, usage)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.config, "config", "", "server config `FILE` (YAML); only its apps: are read")
	fs.StringVar(&o.app, "app", "", "app `ID` (default "+auth.DevAppID+"; with --verify, the token's app_id)")
	fs.StringVar(&o.sub, "sub", "", "user id (`USER`) the token is for; presence shows it")
	fs.DurationVar(&o.ttl, "ttl", time.Hour, "lifetime of the token")
	fs.Func("channels", "comma-separated channel names or `prefix*` patterns the token may use (default: all)", func(s string) error {
		o.channels = []string{}
		for c := range strings.SplitSeq(s, ",") {
			if c = strings.TrimSpace(c); c != "" {
				o.channels = append(o.channels, c)
			}
		}
		return nil
	})
	fs.StringVar(&o.kid, "kid", "", "key id to put in the token header (selects the app's key)")
	fs.StringVar(&o.keyFile, "key", "", "PEM private key `FILE` for RS256, ES256 or EdDSA apps")
	fs.StringVar(&o.secret, "secret", "", "HS256 secret, overriding the app's configured keys")
	fs.StringVar(&o.verify, "verify", "", "check `TOKEN` (\"-\" reads it from stdin) instead of issuing one")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "rtmate-token: unexpected argument %q (flags only; see --help)\n", fs.Arg(0))
		return ExitUsage
	}
	if o.secret != "" && o.keyFile != "" {
		fmt.Fprintln(env.Stderr, "rtmate-token: --secret and --key exclude each other")
		return ExitUsage
	}
	if o.verify != "" {
		return verify(o, env)
	}
	return issue(o, env)
}

func issue(o *options, env Env) int {
	if o.ttl <= 0 {
		fmt.Fprintln(env.Stderr, "rtmate-token: --ttl must be positive")
		return ExitUsage
	}
	if o.app == "" {
		o.app = auth.DevAppID
	}
	src, err := resolveApp(o, o.app)
	if err != nil {
		fmt.Fprintf(env.Stderr, "rtmate-token: %v\n", err)
		return ExitUsage
	}
	key, err := signingKey(o, src)
	if err != nil {
		fmt.Fprintf(env.Stderr, "rtmate-token: %v\n", err)
		return ExitUsage
	}
	now := o.now()
	tok, err := auth.Sign(protocol.Claims{
		AppID:    o.app,
		Sub:      o.sub,
		Iat:      now.Unix(),
		Exp:      now.Add(o.ttl).Unix(),
		Channels: o.channels,
	}, key)
	if err != nil {
		fmt.Fprintf(env.Stderr, "rtmate-token: %v\n", err)
		return ExitUsage
	}
	// Check the token against the app's verification keys, so that a wrong --key, --kid or
	// secret shows up here and not as a mysterious 1005 at connect time.
	if src.known {
		reg, err := src.registry(o)
		if err != nil {
			fmt.Fprintf(env.Stderr, "rtmate-token: %v\n", err)
			return ExitUsage
		}
		if _, err := reg.Validate(o.app, []byte(tok)); err != nil {
			fmt.Fprintf(env.Stderr, "rtmate-token: the server would refuse this token (keys from %s): %s\n", src.from, Explain(err))
			return ExitInvalid
		}
	}
	fmt.Fprintln(env.Stdout, tok)
	return ExitOK
}

// signingKey picks what to sign with: --key, --secret, or the app's HS256 secret (the one
// with --kid when given).
func signingKey(o *options, src appSource) (auth.SigningKey, error) {
	if o.keyFile != "" {
		pemText, err := os.ReadFile(o.keyFile)
		if err != nil {
			return auth.SigningKey{}, fmt.Errorf("--key: %w", err)
		}
		if _, err := auth.ParsePrivateKeyPEM(pemText); err != nil {
			return auth.SigningKey{}, fmt.Errorf("--key %s: %w", o.keyFile, err)
		}
		return auth.SigningKey{PrivateKeyPEM: pemText, Kid: o.kid}, nil
	}
	app := src.app
	if o.kid != "" {
		for _, k := range app.Keys {
			if k.Kid == o.kid && k.Secret != "" {
				return auth.SigningKey{Secret: []byte(k.Secret), Kid: k.Kid}, nil
			}
		}
	}
	if app.Secret != "" {
		return auth.SigningKey{Secret: []byte(app.Secret), Kid: o.kid}, nil
	}
	for _, k := range app.Keys {
		if k.Secret != "" && o.kid == "" {
			return auth.SigningKey{Secret: []byte(k.Secret), Kid: k.Kid}, nil
		}
	}
	if o.kid != "" {
		return auth.SigningKey{}, fmt.Errorf("app %q has no HS256 secret with kid %q (pass --key FILE for a public-key app)", app.ID, o.kid)
	}
	return auth.SigningKey{}, fmt.Errorf("app %q has no HS256 secret (keys from %s); it verifies with public keys, so pass --key FILE with the matching private key", app.ID, src.from)
}

func verify(o *options, env Env) int {
	raw := o.verify
	if raw == "-" {
		b, err := io.ReadAll(io.LimitReader(env.Stdin, auth.MaxTokenLen+1024))
		if err != nil {
			fmt.Fprintf(env.Stderr, "rtmate-token: reading stdin: %v\n", err)
			return ExitUsage
		}
		raw = string(b)
	}
	tok := strings.TrimSpace(raw)
	hdr, claims := peek(tok)

	app := o.app
	if app == "" {
		app, _ = claims["app_id"].(string)
	}
	if app == "" {
		app = auth.DevAppID
	}
	src, err := resolveApp(o, app)
	if err != nil {
		fmt.Fprintf(env.Stderr, "rtmate-token: %v\n", err)
		return ExitUsage
	}
	reg, err := src.registry(o)
	if err != nil {
		fmt.Fprintf(env.Stderr, "rtmate-token: %v\n", err)
		return ExitUsage
	}
	c, err := reg.Validate(app, []byte(tok))
	if err != nil {
		fmt.Fprintf(env.Stderr, "invalid token for app %q: %s\n", app, Explain(err))
		fmt.Fprintf(env.Stderr, "the server answers: %d %s (%s)\n", protocol.CodeOf(err).Code(), protocol.CodeOf(err).Message(), protocol.CodeOf(err))
		if hdr != nil || claims != nil {
			fmt.Fprintf(env.Stderr, "unverified header: %s\nunverified claims: %s\n", compact(hdr), compact(claims))
		}
		return ExitInvalid
	}
	out, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		fmt.Fprintf(env.Stderr, "rtmate-token: %v\n", err)
		return ExitUsage
	}
	fmt.Fprintln(env.Stdout, string(out))
	exp := time.Unix(c.Exp, 0)
	fmt.Fprintf(env.Stderr, "valid: app %q, sub %q, alg %v, expires %s (in %s)\n",
		app, c.Sub, hdr["alg"], exp.UTC().Format(time.RFC3339), exp.Sub(o.now()).Round(time.Second))
	return ExitOK
}

// peek decodes header and claims without verifying them, for the explanation only.
func peek(tok string) (hdr, claims map[string]any) {
	parts := strings.Split(tok, ".")
	dec := func(i int) map[string]any {
		if i >= len(parts) {
			return nil
		}
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return nil
		}
		var m map[string]any
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		if d.Decode(&m) != nil {
			return nil
		}
		return m
	}
	return dec(0), dec(1)
}

func compact(m map[string]any) string {
	if m == nil {
		return "(not decodable)"
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "(not encodable)"
	}
	return string(b)
}

// explanations turn Validate's causes into the labels an operator understands at a glance.
var explanations = []struct {
	err   error
	label string
}{
	{auth.ErrUnknownApp, "unknown app"},
	{auth.ErrMalformed, "malformed"},
	{auth.ErrAlgNone, "alg not allowed"},
	{auth.ErrAlgNotAllowed, "alg not allowed"},
	{auth.ErrUnknownKid, "bad signature"},
	{auth.ErrBadSignature, "bad signature"},
	{auth.ErrBadClaims, "malformed claims"},
	{auth.ErrAppMismatch, "wrong app"},
	{auth.ErrExpired, "expired"},
	{auth.ErrNotYetValid, "not yet valid"},
}

// Explain says in plain words why Validate refused a token, e.g. `expired at
// 2025-01-02T03:04:05Z (3m0s ago)` or `wrong app: the token is for app "x", not "y"`.
func Explain(err error) string {
	var re *protocol.RtWsError
	if !errors.As(err, &re) || re.Cause == nil {
		return err.Error()
	}
	msg := re.Cause.Error()
	for _, e := range explanations {
		if !errors.Is(re.Cause, e.err) {
			continue
		}
		detail := strings.TrimPrefix(msg, e.err.Error())
		if strings.HasPrefix(detail, " ") { // "token expired at …" → "expired at …"
			return e.label + detail
		}
		detail = strings.TrimPrefix(detail, ": ")
		if detail == "" {
			detail = e.err.Error()
		}
		return e.label + ": " + detail
	}
	return msg
}
