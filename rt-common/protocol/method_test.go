package protocol

import (
	"strings"
	"testing"
)

func TestValidMethod(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"add", true}, {"a.b:c-d_E9", true}, {strings.Repeat("m", 64), true},
		{"", false}, {strings.Repeat("m", 65), false}, {"a b", false}, {"é", false}, {"a/b", false},
	}
	for _, tt := range tests {
		if got := ValidMethod([]byte(tt.name)); got != tt.ok {
			t.Errorf("ValidMethod(%q) = %v, want %v", tt.name, got, tt.ok)
		}
	}
}
