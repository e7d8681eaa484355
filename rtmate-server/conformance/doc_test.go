package conformance

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/rtmate/rtmate/rtmate-server/internal/config"
)

// docBlock returns the indented comment block of doc.go that starts with the line holding
// marker, without the marker line and without the comment prefix.
func docBlock(t *testing.T, marker string) string {
	t.Helper()
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	in := false
	for _, line := range strings.Split(string(src), "\n") {
		body, ok := strings.CutPrefix(line, "//\t")
		switch {
		case !in && ok && strings.Contains(body, marker):
			in = true
		case in && ok:
			out = append(out, body)
		case in:
			return strings.Join(out, "\n")
		}
	}
	t.Fatalf("doc.go has no block %q", marker)
	return ""
}

// TestDocSnippets keeps the Autobahn how-to in doc.go honest: its server config must load
// with the echo endpoint on, and its fuzzingclient spec must be JSON that targets it.
func TestDocSnippets(t *testing.T) {
	cfg, err := config.Parse([]byte(docBlock(t, "# conformance.yaml")))
	if err != nil {
		t.Fatalf("the documented config does not load: %v", err)
	}
	if !cfg.ConformanceEcho {
		t.Fatal("the documented config leaves conformance_echo off")
	}
	var spec struct {
		Servers []struct{ URL string } `json:"servers"`
		Cases   []string               `json:"cases"`
	}
	if err := json.Unmarshal([]byte(docBlock(t, "fuzzingclient.json")), &spec); err != nil {
		t.Fatalf("the documented fuzzingclient spec is not JSON: %v", err)
	}
	if len(spec.Servers) != 1 || spec.Servers[0].URL != "ws://"+cfg.Listen+"/ws/echo" || len(spec.Cases) == 0 {
		t.Fatalf("the spec does not point at the config's /ws/echo: %+v (listen %s)", spec, cfg.Listen)
	}
}
