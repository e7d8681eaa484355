package protocol_test

import (
	"strings"
	"testing"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

func TestValidChannel(t *testing.T) {
	tests := []struct {
		name    string
		channel string
		want    bool
	}{
		{"simple", "news", true},
		{"letters and digits", "AZaz09", true},
		{"underscore", "a_b", true},
		{"hyphen", "a-b", true},
		{"equals", "a=b", true},
		{"at", "a@b", true},
		{"comma", "a,b", true},
		{"dot", "a.b", true},
		{"semicolon", "a;b", true},
		{"colon", "a:b", true},
		{"slash", "a/b", true},
		{"every punctuation alone", "_-=@,.;:/", true},
		{"presence prefix", "presence-room", true},
		{"one byte", "x", true},
		{"255 bytes", strings.Repeat("a", 255), true},
		{"256 bytes", strings.Repeat("a", 256), false},
		{"empty", "", false},
		{"space", "a b", false},
		{"leading space", " a", false},
		{"tab", "a\tb", false},
		{"newline", "a\n", false},
		{"NUL", "a\x00", false},
		{"unicode", "频道", false},
		{"latin-1 letter", "caf\u00e9", false},
		{"invalid UTF-8", "a\xff", false},
		{"star", "news*", false},
		{"hash", "a#b", false},
		{"plus", "a+b", false},
		{"quote", `a"b`, false},
		{"backslash", `a\b`, false},
		{"question", "a?b", false},
		{"percent", "a%20b", false},
		{"brackets", "a[0]", false},
		{"DEL", "a\x7f", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := protocol.ValidChannel(tc.channel); got != tc.want {
				t.Errorf("ValidChannel(%q) = %v, want %v", tc.channel, got, tc.want)
			}
		})
	}
	// Every byte outside the allowed set is refused on its own.
	allowed := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-=@,.;:/"
	for b := 0; b < 256; b++ {
		want := strings.IndexByte(allowed, byte(b)) >= 0
		if got := protocol.ValidChannel(string([]byte{byte(b)})); got != want {
			t.Errorf("ValidChannel(%q) = %v, want %v", []byte{byte(b)}, got, want)
		}
	}
	if protocol.MaxChannelLen != 255 {
		t.Errorf("MaxChannelLen = %d, want 255", protocol.MaxChannelLen)
	}
}

func TestMatchPattern(t *testing.T) {
	tests := []struct {
		pattern, channel string
		want             bool
	}{
		{"news", "news", true},
		{"news", "news2", false},
		{"news", "new", false},
		{"news*", "news", true},
		{"news*", "news.sport", true},
		{"news*", "new", false},
		{"news*", "xnews", false},
		{"*", "anything", true},
		{"*", "", true},
		{"presence-*", "presence-room", true},
		{"presence-*", "presence", false},
		{"a*b", "a*b", true}, // only a trailing star is a wildcard
		{"a*b", "axb", false},
		{"news**", "news*x", true},
		{"news**", "newsx", false},
		{"", "", true},
		{"", "a", false},
	}
	for _, tc := range tests {
		t.Run(tc.pattern+"~"+tc.channel, func(t *testing.T) {
			if got := protocol.MatchPattern(tc.pattern, tc.channel); got != tc.want {
				t.Errorf("MatchPattern(%q, %q) = %v, want %v", tc.pattern, tc.channel, got, tc.want)
			}
		})
	}
}
