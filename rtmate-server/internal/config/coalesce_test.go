package config

import (
	"strings"
	"testing"
	"time"
)

// TestWriteCoalesce checks write_coalesce's three states: absent (the default), 0s (off),
// and a value, and that values out of range are refused.
func TestWriteCoalesce(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		line    string
		want    time.Duration
		problem string
	}{
		{line: "", want: DefaultWriteCoalesce},
		{line: "write_coalesce: 0s", want: 0},
		{line: "write_coalesce: 2ms", want: 2 * time.Millisecond},
		{line: "write_coalesce: 1s", want: time.Second},
		{line: "write_coalesce: -1ms", problem: "write_coalesce -1ms: want 0s (off) to 1s"},
		{line: "write_coalesce: 2s", problem: "write_coalesce 2s: want 0s (off) to 1s"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			c, err := Parse([]byte(tt.line + "\napps: [{id: a, secret: s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t}]\n"))
			if tt.problem != "" {
				if err == nil || !strings.Contains(err.Error(), tt.problem) {
					t.Fatalf("err = %v, want %q", err, tt.problem)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.WriteCoalesce == nil || *c.WriteCoalesce != tt.want {
				t.Fatalf("write_coalesce = %v, want %v", c.WriteCoalesce, tt.want)
			}
		})
	}
}
