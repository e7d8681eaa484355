package cli

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseInterleaved(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantPos []string
		wantURL string
		wantN   int
	}{
		{"flags first", []string{"--url", "ws://x/ws", "sub", "a"}, []string{"sub", "a"}, "ws://x/ws", 0},
		{"flags last", []string{"sub", "a", "-n", "3", "--url=ws://y/ws"}, []string{"sub", "a"}, "ws://y/ws", 3},
		{"flags between", []string{"sub", "-n", "2", "a", "b"}, []string{"sub", "a", "b"}, "def", 2},
		{"double dash", []string{"pub", "a", "--", "-5"}, []string{"pub", "a", "-5"}, "def", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			url := fs.String("url", "def", "")
			n := fs.Int("n", 0, "")
			pos, err := parseInterleaved(fs, tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(pos, tt.wantPos) || *url != tt.wantURL || *n != tt.wantN {
				t.Fatalf("pos %q url %q n %d", pos, *url, *n)
			}
		})
	}
}

func TestDevTokenURL(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"ws://127.0.0.1:3000/ws", "http://127.0.0.1:3000/dev/token?sub=bob&ttl=3600", false},
		{"wss://example.test/ws", "https://example.test/dev/token?sub=bob&ttl=3600", false},
		{"http://x/ws", "", true},
		{"::", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := devTokenURL(tt.in, "bob")
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("got %q, %v", got, err)
			}
		})
	}
}

func TestTokenSource(t *testing.T) {
	dev := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/dev/token" || r.URL.Query().Get("sub") != "bob" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(`{"code":200,"message":"success","data":{"appId":"demo-app","token":"from-server","exp":1}}`)) // the client reports a short body
	}))
	defer dev.Close()
	devWS := "ws://" + strings.TrimPrefix(dev.URL, "http://") + "/ws"
	tests := []struct {
		name    string
		o       options
		check   func(string) bool
		wantErr bool
	}{
		{"explicit token", options{token: "t1", app: "other"}, func(s string) bool { return s == "t1" }, false},
		{"secret mints", options{secret: "s", app: "other", user: "bob"}, func(s string) bool { return strings.Count(s, ".") == 2 }, false},
		{"dev endpoint", options{app: "demo-app", user: "bob", url: devWS}, func(s string) bool { return s == "from-server" }, false},
		{"dev fallback mints", options{app: "demo-app", user: "carol", url: devWS}, func(s string) bool { return strings.Count(s, ".") == 2 }, false},
		{"other app without token", options{app: "other"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			get, err := tokenSource(&tt.o)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v", err)
			}
			if err != nil {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			tok, err := get(ctx)
			if err != nil || !tt.check(tok) {
				t.Fatalf("token %q, %v", tok, err)
			}
		})
	}
}

func TestRunUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no args", nil, ExitUsage, "usage:"},
		{"help", []string{"help"}, ExitOK, "usage:"},
		{"-h", []string{"-h"}, ExitOK, "usage:"},
		{"unknown command", []string{"frob"}, ExitUsage, `unknown command "frob"`},
		{"pub arity", []string{"pub", "a"}, ExitUsage, "pub takes 2"},
		{"sub needs channel", []string{"sub"}, ExitUsage, "at least one CHANNEL"},
		{"bad flag", []string{"--nope", "sub", "a"}, ExitUsage, "nope"},
		{"no token", []string{"--app", "x", "pub", "a", "1"}, ExitUsage, "no token"},
		{"bad url", []string{"--url", "http://x", "pub", "a", "1"}, ExitUsage, "want ws://"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			env := func(string) string { return "" }
			code := Run(context.Background(), tt.args, Streams{In: strings.NewReader(""), Out: &out, Err: &errOut}, env)
			if code != tt.code || !strings.Contains(out.String()+errOut.String(), tt.want) {
				t.Fatalf("code %d, stdout %q, stderr %q", code, out.String(), errOut.String())
			}
		})
	}
}

func TestEnvDefaults(t *testing.T) {
	var o options
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	env := map[string]string{"RTMATE_URL": "ws://e/ws", "RTMATE_APP": "app-e", "RTMATE_TOKEN": "tok-e", "RTMATE_USER": "u-e"}
	o.register(fs, func(k string) string { return env[k] })
	if err := fs.Parse([]string{"--app", "flag-app"}); err != nil {
		t.Fatal(err)
	}
	if o.url != "ws://e/ws" || o.app != "flag-app" || o.token != "tok-e" || o.user != "u-e" {
		t.Fatalf("%+v", o)
	}
}
