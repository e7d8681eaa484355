package auth

import "testing"

func TestOriginAllowed(t *testing.T) {
	tests := []struct {
		name    string
		allowed []string
		origin  string
		want    bool
	}{
		{"empty list allows any", nil, "https://evil.example", true},
		{"star allows any", []string{"*"}, "https://evil.example", true},
		{"star allows null", []string{"https://a.example", "*"}, "null", true},
		{"no origin header allowed", []string{"https://a.example"}, "", true},
		{"exact", []string{"https://a.example"}, "https://a.example", true},
		{"exact with port", []string{"http://localhost:5173"}, "http://localhost:5173", true},
		{"other port", []string{"http://localhost:5173"}, "http://localhost:3000", false},
		{"other scheme", []string{"https://a.example"}, "http://a.example", false},
		{"other host", []string{"https://a.example"}, "https://b.example", false},
		{"suffix is not a match", []string{"https://a.example"}, "https://a.example.evil.com", false},
		{"case-insensitive host and scheme", []string{"https://App.Example"}, "HTTPS://app.EXAMPLE", true},
		{"default port in origin", []string{"https://a.example"}, "https://a.example:443", true},
		{"default port in config", []string{"http://a.example:80"}, "http://a.example", true},
		{"trailing slash in config", []string{"https://a.example/"}, "https://a.example", true},
		{"null not allowed", []string{"https://a.example"}, "null", false},
		{"garbage", []string{"https://a.example"}, "https://a.example/path", false},
		{"wildcard subdomain", []string{"https://*.example.com"}, "https://app.example.com", true},
		{"wildcard deep subdomain", []string{"https://*.example.com"}, "https://a.b.example.com", true},
		{"wildcard not the apex", []string{"https://*.example.com"}, "https://example.com", false},
		{"wildcard other scheme", []string{"https://*.example.com"}, "http://app.example.com", false},
		{"wildcard lookalike", []string{"https://*.example.com"}, "https://evilexample.com", false},
		{"wildcard suffix attack", []string{"https://*.example.com"}, "https://app.example.com.evil.net", false},
		{"wildcard with port", []string{"https://*.example.com:8443"}, "https://a.example.com:8443", true},
		{"wildcard port mismatch", []string{"https://*.example.com:8443"}, "https://a.example.com", false},
		{"literal star in origin", []string{"https://*.example.com"}, "https://*.example.com", false},
		{"IPv6", []string{"http://[::1]:3000"}, "http://[::1]:3000", true},
		{"IPv6 other port", []string{"http://[::1]:3000"}, "http://[::1]:3001", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRegistry([]AppConfig{{ID: "a", Secret: "s", AllowedOrigins: tt.allowed}}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			a, _ := r.App("a")
			if got := a.OriginAllowed(tt.origin); got != tt.want {
				t.Errorf("OriginAllowed(%q) with %q = %v, want %v", tt.origin, tt.allowed, got, tt.want)
			}
		})
	}
}

func TestChannelAllowed(t *testing.T) {
	tests := []struct {
		name     string
		patterns []string
		channel  string
		want     bool
	}{
		{"nil allows all", nil, "anything", true},
		{"empty allows none", []string{}, "news", false},
		{"exact", []string{"news"}, "news", true},
		{"exact is not a prefix", []string{"news"}, "news-eu", false},
		{"prefix", []string{"room-*"}, "room-42", true},
		{"prefix matches the bare prefix", []string{"room-*"}, "room-", true},
		{"prefix other", []string{"room-*"}, "rooms", false},
		{"star alone allows all", []string{"*"}, "x", true},
		{"second pattern", []string{"news", "presence-*"}, "presence-lobby", true},
		{"star only at the end", []string{"a*b"}, "axxb", false},
		{"star only at the end, literal", []string{"a*b"}, "a*b", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ChannelAllowed(tt.patterns, tt.channel); got != tt.want {
				t.Errorf("ChannelAllowed(%q, %q) = %v, want %v", tt.patterns, tt.channel, got, tt.want)
			}
		})
	}
}
