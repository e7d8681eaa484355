package auth

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

func TestSignErrors(t *testing.T) {
	testKeys(t)
	good := claims("a")
	tests := []struct {
		name   string
		claims protocol.Claims
		key    SigningKey
		want   string
	}{
		{"no app_id", protocol.Claims{Exp: 1}, SigningKey{Secret: []byte("s")}, "no app_id"},
		{"no exp", protocol.Claims{AppID: "a"}, SigningKey{Secret: []byte("s")}, "no exp"},
		{"no key", good, SigningKey{}, "no key"},
		{"both keys", good, SigningKey{Secret: []byte("s"), PrivateKeyPEM: ecKey.privPEM}, "not both"},
		{"alg none", good, SigningKey{Secret: []byte("s"), Alg: "none"}, "not supported"},
		{"secret with ES256", good, SigningKey{Secret: []byte("s"), Alg: "ES256"}, "HS256"},
		{"EC key with RS256", good, SigningKey{PrivateKeyPEM: ecKey.privPEM, Alg: "RS256"}, "key/alg mismatch"},
		{"public key", good, SigningKey{PrivateKeyPEM: ecKey.pubPEM}, "not a private key"},
		{"P-384", good, SigningKey{PrivateKeyPEM: ecP384.privPEM}, "P-256"},
		{"garbage PEM", good, SigningKey{PrivateKeyPEM: []byte("x")}, "PEM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := Sign(tt.claims, tt.key)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Sign = %q, %v; want an error about %q", tok, err, tt.want)
			}
		})
	}
}

func TestSignHeader(t *testing.T) {
	tok := mustSign(t, claims("a"), SigningKey{Secret: []byte("s"), Kid: "k7"})
	h, err := enc.DecodeString(tok[:strings.IndexByte(tok, '.')])
	if err != nil {
		t.Fatal(err)
	}
	var hdr map[string]string
	if err := json.Unmarshal(h, &hdr); err != nil {
		t.Fatal(err)
	}
	if hdr["alg"] != "HS256" || hdr["kid"] != "k7" || hdr["typ"] != "JWT" {
		t.Errorf("header = %v", hdr)
	}
}

func TestDevToken(t *testing.T) {
	r, err := NewRegistry([]AppConfig{DevAppConfig()}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := DevToken("alice", time.Hour, []string{"news", "room-*"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.Validate(DevAppID, []byte(tok))
	if err != nil {
		t.Fatal(err)
	}
	if c.Sub != "alice" || len(c.Channels) != 2 || c.Exp-c.Iat != 3600 {
		t.Errorf("claims = %+v", c)
	}
	if _, err := DevToken("alice", 0, nil); err == nil {
		t.Error("DevToken with ttl 0 succeeded")
	}
}

// TestSignChannels: nil means every channel and must stay absent; an empty list means none and
// must survive signing (protocol.Claims' omitempty would drop it, turning none into all).
func TestSignChannels(t *testing.T) {
	r, err := NewRegistry([]AppConfig{{ID: "a", Secret: "s"}}, Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		in   []string
	}{{"nil", nil}, {"empty", []string{}}, {"two", []string{"a", "b*"}}} {
		t.Run(tt.name, func(t *testing.T) {
			c := claims("a")
			c.Channels = tt.in
			got, err := r.Validate("a", []byte(mustSign(t, c, SigningKey{Secret: []byte("s")})))
			if err != nil {
				t.Fatal(err)
			}
			if (got.Channels == nil) != (tt.in == nil) || len(got.Channels) != len(tt.in) {
				t.Errorf("channels = %#v, want %#v", got.Channels, tt.in)
			}
		})
	}
}
