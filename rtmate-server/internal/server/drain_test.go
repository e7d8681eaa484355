package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/server"
	"github.com/rtmate/rtmate/rtmate-server/internal/testserver"
)

func TestAdminDrain(t *testing.T) {
	const token = "admin-token-for-tests-0123456789"
	post := func(t *testing.T, srv *testserver.Server, auth, query string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.HTTP+"/admin/drain"+query, nil)
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	readyz := func(srv *testserver.Server) int {
		resp, err := http.Get(srv.HTTP + "/readyz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	t.Run("disabled without a token", func(t *testing.T) {
		srv := testserver.Start(t, nil, server.Options{})
		if got := post(t, srv, "Bearer x", ""); got != http.StatusNotFound {
			t.Fatalf("status %d, want 404", got)
		}
	})
	srv := testserver.Start(t, testserver.Config(t, func(c *config.Config) {
		c.Admin.Token = token
		c.Drain = config.Drain{Grace: 300 * time.Millisecond, Timeout: 5 * time.Second}
	}), server.Options{})
	for _, tc := range []struct {
		name, auth, query string
		want              int
	}{
		{"no token", "", "", http.StatusUnauthorized},
		{"wrong token", "Bearer " + strings.Repeat("x", len(token)), "", http.StatusUnauthorized},
		{"not bearer", "Basic " + token, "", http.StatusUnauthorized},
		{"bad grace", "Bearer " + token, "?grace=soon", http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := post(t, srv, tc.auth, tc.query); got != tc.want {
				t.Fatalf("status %d, want %d", got, tc.want)
			}
			if srv.Draining() {
				t.Fatal("draining after a refused request")
			}
		})
	}
	if got := readyz(srv); got != http.StatusOK {
		t.Fatalf("readyz %d before the drain", got)
	}
	if got := post(t, srv, "Bearer "+token, "?grace=200ms&timeout=3s"); got != http.StatusOK {
		t.Fatalf("drain: status %d", got)
	}
	if got := readyz(srv); got != http.StatusServiceUnavailable {
		t.Fatalf("readyz %d right after the drain request, want 503", got)
	}
	if srv.Drain(0, 0) {
		t.Fatal("a second drain started")
	}
	// After the grace period the node stops accepting and shuts down (no clients).
	deadline := time.Now().Add(5 * time.Second)
	for readyz(srv) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the drained node still answers HTTP")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
