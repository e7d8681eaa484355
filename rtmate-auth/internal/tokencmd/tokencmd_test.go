package tokencmd

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rtmate/rtmate/rt-common/protocol"
	auth "github.com/rtmate/rtmate/rtmate-auth"
)

var now = time.Unix(1_700_000_000, 0)

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, at time.Time, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(args, Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, Now: func() time.Time { return at }})
	return result{code, out.String(), errb.String()}
}

// fixture is a server config with one app per key kind, and the private keys that sign for it.
type fixture struct {
	dir, config                   string
	esKey, esOther, edKey, rsaKey string // private key files
	secret, rotOld, rotNew        string
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	dir := t.TempDir()
	f := fixture{dir: dir, config: filepath.Join(dir, "rtmate.yaml"),
		secret: "chat-secret-0123456789abcdef", rotOld: "rot-old-0123456789abcdef", rotNew: "rot-new-0123456789abcdef"}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyFiles := func(name string, s crypto.Signer) (priv string, pub []byte) {
		p8, err := x509.MarshalPKCS8PrivateKey(s)
		if err != nil {
			t.Fatal(err)
		}
		pk, err := x509.MarshalPKIXPublicKey(s.Public())
		if err != nil {
			t.Fatal(err)
		}
		return write(name+".pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})),
			pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pk})
	}
	es, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	es2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rs, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	var esPub, edPub, rsPub []byte
	f.esKey, esPub = keyFiles("es", es)
	f.esOther, _ = keyFiles("es-other", es2)
	f.edKey, edPub = keyFiles("ed", ed)
	f.rsaKey, rsPub = keyFiles("rsa", rs)
	write("es.pub.pem", esPub)
	write("rsa.pub.pem", rsPub)
	indent := func(b []byte) string { return strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", "\n          ") }
	// Keys the tool does not know (listen, api_key, limits, …) belong to the server and must
	// be ignored; key files are relative to the config's directory.
	write("rtmate.yaml", []byte(`listen: "127.0.0.1:3000"
log:
  level: debug
apps:
  - id: chat
    secret: `+f.secret+`
    api_key: chat-api-key
    allowed_origins: ["https://chat.example"]
    limits: {max_message_size: 65536}
  - id: chat-twin
    secret: `+f.secret+`
  - id: rot
    keys:
      - {kid: k1, secret: `+f.rotOld+`}
      - {kid: k2, secret: `+f.rotNew+`}
  - id: es
    keys:
      - kid: e1
        public_key_file: es.pub.pem
  - id: ed
    keys:
      - alg: EdDSA
        public_key: |
          `+indent(edPub)+`
  - id: rs
    keys:
      - public_key_file: rsa.pub.pem
`))
	return f
}

// validate checks tok with a registry built from the fixture's config, independently of the tool.
func validate(t *testing.T, f fixture, app, tok string) *protocol.Claims {
	t.Helper()
	apps, err := loadApps(f.config)
	if err != nil {
		t.Fatal(err)
	}
	r, err := auth.NewRegistry(apps, auth.Options{Dir: f.dir, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.Validate(app, []byte(tok))
	if err != nil {
		t.Fatalf("issued token refused: %v", err)
	}
	return c
}

func header(t *testing.T, tok string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(tok[:strings.IndexByte(tok, '.')])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestIssue(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name  string
		args  []string
		app   string // app to validate against in the fixture config; "" = the dev app
		check func(t *testing.T, c *protocol.Claims, hdr map[string]any)
	}{
		{name: "dev app by default", args: []string{"--sub", "alice"}, check: func(t *testing.T, c *protocol.Claims, _ map[string]any) {
			if c.Sub != "alice" || c.Exp != now.Add(time.Hour).Unix() || c.Iat != now.Unix() || c.Channels != nil {
				t.Errorf("claims = %+v", c)
			}
		}},
		{name: "dev app with channels and ttl", args: []string{"--app", "demo-app", "--sub", "bob", "--ttl", "10m", "--channels", "news, room-*"},
			check: func(t *testing.T, c *protocol.Claims, _ map[string]any) {
				if c.Exp != now.Add(10*time.Minute).Unix() || strings.Join(c.Channels, "|") != "news|room-*" {
					t.Errorf("claims = %+v", c)
				}
			}},
		{name: "empty channels means none", args: []string{"--channels", ""}, check: func(t *testing.T, c *protocol.Claims, _ map[string]any) {
			if c.Channels == nil || len(c.Channels) != 0 {
				t.Errorf("channels = %#v", c.Channels)
			}
		}},
		{name: "config HS256", args: []string{"--config", f.config, "--app", "chat", "--sub", "carol"}, app: "chat"},
		{name: "config rotation default key", args: []string{"--config", f.config, "--app", "rot"}, app: "rot",
			check: func(t *testing.T, _ *protocol.Claims, h map[string]any) {
				if h["kid"] != "k1" {
					t.Errorf("kid = %v, want k1", h["kid"])
				}
			}},
		{name: "config rotation by kid", args: []string{"--config", f.config, "--app", "rot", "--kid", "k2"}, app: "rot",
			check: func(t *testing.T, _ *protocol.Claims, h map[string]any) {
				if h["kid"] != "k2" {
					t.Errorf("kid = %v, want k2", h["kid"])
				}
			}},
		{name: "config ES256 with --key", args: []string{"--config", f.config, "--app", "es", "--key", f.esKey, "--kid", "e1"}, app: "es"},
		{name: "config EdDSA with --key", args: []string{"--config", f.config, "--app", "ed", "--key", f.edKey}, app: "ed"},
		{name: "config RS256 with --key", args: []string{"--config", f.config, "--app", "rs", "--key", f.rsaKey}, app: "rs"},
		{name: "double-dash and single-dash flags", args: []string{"-config", f.config, "--app=chat"}, app: "chat"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := run(t, now, "", tt.args...)
			if res.code != ExitOK {
				t.Fatalf("exit %d: %s", res.code, res.stderr)
			}
			if strings.Count(res.stdout, "\n") != 1 || strings.Count(res.stdout, ".") != 2 {
				t.Fatalf("stdout is not one token: %q", res.stdout)
			}
			tok := strings.TrimSpace(res.stdout)
			var c *protocol.Claims
			if tt.app == "" {
				r, _ := auth.NewRegistry([]auth.AppConfig{auth.DevAppConfig()}, auth.Options{Now: func() time.Time { return now }})
				var err error
				if c, err = r.Validate(auth.DevAppID, []byte(tok)); err != nil {
					t.Fatalf("dev token refused: %v", err)
				}
			} else {
				c = validate(t, f, tt.app, tok)
			}
			if tt.check != nil {
				tt.check(t, c, header(t, tok))
			}
		})
	}
}

func TestIssueErrors(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown app without config", []string{"--app", "chat"}, ExitUsage, "without --config only"},
		{"app not in config", []string{"--config", f.config, "--app", "nope"}, ExitUsage, "it has: chat, chat-twin, rot, es, ed, rs"},
		{"missing config", []string{"--config", filepath.Join(f.dir, "none.yaml")}, ExitUsage, "none.yaml"},
		{"public-key app without --key", []string{"--config", f.config, "--app", "es"}, ExitUsage, "pass --key FILE"},
		{"wrong private key", []string{"--config", f.config, "--app", "es", "--key", f.esOther}, ExitInvalid, "bad signature"},
		{"private key of another alg", []string{"--config", f.config, "--app", "es", "--key", f.edKey}, ExitInvalid, "alg not allowed"},
		{"--key on the dev app", []string{"--key", f.esKey}, ExitInvalid, "alg not allowed"},
		{"unknown kid", []string{"--config", f.config, "--app", "rot", "--kid", "k9"}, ExitUsage, `no HS256 secret with kid "k9"`},
		{"public key as --key", []string{"--key", filepath.Join(f.dir, "es.pub.pem")}, ExitUsage, "not a private key"},
		{"missing --key file", []string{"--key", filepath.Join(f.dir, "nope.pem")}, ExitUsage, "--key"},
		{"zero ttl", []string{"--ttl", "0s"}, ExitUsage, "--ttl must be positive"},
		{"bad ttl", []string{"--ttl", "soon"}, ExitUsage, "invalid value"},
		{"stray argument", []string{"alice"}, ExitUsage, "unexpected argument"},
		{"secret and key", []string{"--secret", "s", "--key", f.esKey}, ExitUsage, "exclude each other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := run(t, now, "", tt.args...)
			if res.code != tt.code || !strings.Contains(res.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", res.code, res.stderr, tt.code, tt.want)
			}
			if res.stdout != "" {
				t.Errorf("stdout = %q on failure", res.stdout)
			}
		})
	}
}

func TestSecretOverride(t *testing.T) {
	res := run(t, now, "", "--app", "custom", "--secret", "s3cr3t", "--sub", "dave")
	if res.code != ExitOK {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	r, _ := auth.NewRegistry([]auth.AppConfig{{ID: "custom", Secret: "s3cr3t"}}, auth.Options{Now: func() time.Time { return now }})
	if _, err := r.Validate("custom", []byte(strings.TrimSpace(res.stdout))); err != nil {
		t.Fatal(err)
	}
}

func TestVerify(t *testing.T) {
	f := newFixture(t)
	issue := func(at time.Time, args ...string) string {
		t.Helper()
		res := run(t, at, "", args...)
		if res.code != ExitOK {
			t.Fatalf("issue %q: exit %d: %s", args, res.code, res.stderr)
		}
		return strings.TrimSpace(res.stdout)
	}
	devTok := issue(now, "--sub", "alice", "--channels", "news")
	chatTok := issue(now, "--config", f.config, "--app", "chat")
	parts := strings.Split(devTok, ".")
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + "."
	future, _ := auth.Sign(protocol.Claims{AppID: auth.DevAppID, Exp: now.Add(2 * time.Hour).Unix(), Nbf: now.Add(time.Hour).Unix()},
		auth.SigningKey{Secret: []byte(auth.DevSecret)})
	otherKid, _ := auth.Sign(protocol.Claims{AppID: "rot", Exp: now.Add(time.Hour).Unix()}, auth.SigningKey{Secret: []byte(f.rotNew), Kid: "k9"})

	tests := []struct {
		name  string
		args  []string
		stdin string
		code  int
		want  []string // in stderr
	}{
		{name: "valid dev token", args: []string{"--verify", devTok}, code: ExitOK, want: []string{`valid: app "demo-app", sub "alice", alg HS256`, "in 1h0m0s"}},
		{name: "valid from stdin", args: []string{"--verify", "-"}, stdin: devTok + "\n", code: ExitOK, want: []string{"valid"}},
		{name: "valid config token, app from the token", args: []string{"--config", f.config, "--verify", chatTok}, code: ExitOK},
		{name: "expired", args: []string{"--verify", issue(now.Add(-2*time.Hour), "--sub", "alice")}, code: ExitInvalid,
			want: []string{"expired at 2023-11-14T21:13:20Z (1h0m0s ago)", "401 token 已过期"}},
		{name: "wrong app", args: []string{"--config", f.config, "--app", "chat-twin", "--verify", chatTok}, code: ExitInvalid,
			want: []string{`wrong app: the token is for app "chat", not "chat-twin"`, "AuthMismatch"}},
		{name: "bad signature", args: []string{"--verify", devTok[:len(devTok)-2] + "AA"}, code: ExitInvalid,
			want: []string{"bad signature", "1005", `unverified claims: {"app_id":"demo-app"`}},
		{name: "bad signature: key of another app", args: []string{"--config", f.config, "--app", "rot", "--verify", chatTok}, code: ExitInvalid,
			want: []string{"bad signature"}},
		{name: "unknown kid", args: []string{"--config", f.config, "--verify", otherKid}, code: ExitInvalid, want: []string{`bad signature: app "rot" has no key "k9"`}},
		{name: "malformed", args: []string{"--verify", "not-a-token"}, code: ExitInvalid, want: []string{"malformed: not a JWT", "InvalidToken"}},
		{name: "malformed header", args: []string{"--verify", "e30." + parts[1] + "." + parts[2]}, code: ExitInvalid,
			want: []string{`malformed: header has no "alg"`, `unverified header: {}`}},
		{name: "alg none", args: []string{"--verify", none}, code: ExitInvalid, want: []string{`alg not allowed: unsigned token (alg "none")`}},
		{name: "alg not configured", args: []string{"--app", "demo-app", "--verify", issue(now, "--config", f.config, "--app", "es", "--key", f.esKey)}, code: ExitInvalid,
			want: []string{`alg not allowed: the token is signed with "ES256", app "demo-app" accepts [HS256]`}},
		{name: "not yet valid", args: []string{"--verify", future}, code: ExitInvalid, want: []string{"not yet valid: not before"}},
		{name: "unknown app", args: []string{"--app", "nope", "--verify", devTok}, code: ExitUsage, want: []string{"without --config only"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := run(t, now, tt.stdin, tt.args...)
			if res.code != tt.code {
				t.Fatalf("exit %d, want %d; stderr: %s", res.code, tt.code, res.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(res.stderr, w) {
					t.Errorf("stderr %q does not mention %q", res.stderr, w)
				}
			}
			if tt.code != ExitOK {
				if res.stdout != "" {
					t.Errorf("stdout = %q on failure", res.stdout)
				}
				return
			}
			var c protocol.Claims
			if err := json.Unmarshal([]byte(res.stdout), &c); err != nil || c.AppID == "" || c.Exp == 0 {
				t.Errorf("stdout is not the claims: %q (%v)", res.stdout, err)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	res := run(t, now, "", "--help")
	if res.code != ExitOK || !strings.Contains(res.stderr, "--verify") && !strings.Contains(res.stderr, "-verify") {
		t.Errorf("exit %d, stderr %q", res.code, res.stderr)
	}
}
