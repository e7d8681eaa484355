package demo

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	// Mounted both ways the server may choose: with the /demo prefix left on, and stripped.
	mounts := []struct {
		name    string
		handler http.Handler
	}{
		{"prefixed", Handler()},
		{"stripped", http.StripPrefix("/demo", Handler())},
	}
	cases := []struct {
		path     string
		status   int
		ctype    string
		contains string
	}{
		{"/demo/", http.StatusOK, "text/html; charset=utf-8", `data-testid="join-form"`},
		{"/demo/app.js", http.StatusOK, "text/javascript; charset=utf-8", `from "./sdk/index.js"`},
		{"/demo/style.css", http.StatusOK, "text/css; charset=utf-8", "#messages"},
		{"/demo/sdk/index.js", http.StatusOK, "text/javascript; charset=utf-8", "RTMateClient"},
		{"/demo/sdk/client.js", http.StatusOK, "text/javascript; charset=utf-8", "class RTMateClient"},
		{"/demo/missing.js", http.StatusNotFound, "text/plain; charset=utf-8", ""},
	}
	for _, m := range mounts {
		for _, tc := range cases {
			t.Run(m.name+tc.path, func(t *testing.T) {
				rec := httptest.NewRecorder()
				m.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
				res := rec.Result()
				body, err := io.ReadAll(res.Body)
				if err != nil {
					t.Fatalf("read body: %v", err)
				}
				if res.StatusCode != tc.status {
					t.Fatalf("status = %d, want %d; body %q", res.StatusCode, tc.status, body)
				}
				if got := res.Header.Get("Content-Type"); got != tc.ctype {
					t.Errorf("Content-Type = %q, want %q", got, tc.ctype)
				}
				if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
					t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
				}
				if !strings.Contains(string(body), tc.contains) {
					t.Errorf("body does not contain %q", tc.contains)
				}
			})
		}
	}
}

func TestHandlerRedirectsBareDemo(t *testing.T) {
	for name, h := range map[string]http.Handler{"prefixed": Handler(), "stripped": http.StripPrefix("/demo", Handler())} {
		t.Run(name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/demo", nil))
			if rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != "/demo/" {
				t.Fatalf("GET /demo: %d Location %q, want 301 /demo/", rec.Code, rec.Header().Get("Location"))
			}
		})
	}
}

// TestHandlerRedirectStaysOnHost: an absolute-form request line names a host; the redirect
// must not send the browser there.
func TestHandlerRedirectStaysOnHost(t *testing.T) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/demo", nil)
	req.RequestURI = "http://evil.example/demo?x=1"
	Handler().ServeHTTP(rec, req)
	if loc := rec.Header().Get("Location"); rec.Code != http.StatusMovedPermanently || loc != "/demo/" {
		t.Fatalf("%d Location %q, want 301 /demo/", rec.Code, loc)
	}
}

func TestHandlerRejectsWrites(t *testing.T) {
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/demo/", strings.NewReader("x")))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d, want 405", rec.Code)
	}
}
