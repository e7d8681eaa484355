package healthcheck

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestProbe(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("/down", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// A port nothing listens on: bind one and close it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/healthz"
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, url string
		timeout   time.Duration
		err       string // empty: healthy
	}{
		{"2xx is healthy", srv.URL + "/ok", 0, ""},
		{"503 is not", srv.URL + "/down", 0, "503 Service Unavailable"},
		{"redirects are not followed", srv.URL + "/moved", 0, "302 Found"},
		{"nothing listening", closed, 0, "connection refused"},
		{"too slow", srv.URL + "/slow", 200 * time.Millisecond, "deadline exceeded"},
		{"not a URL", "127.0.0.1:3000/healthz", 0, "first path segment"},
		{"not http", "ftp://127.0.0.1/healthz", 0, "want http://host:port/path"},
		{"no host", "http:///healthz", 0, "want http://host:port/path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			err := Probe(ctx, tt.url)
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("Probe: %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("Probe = %v, want an error containing %q", err, tt.err)
			}
		})
	}
}
