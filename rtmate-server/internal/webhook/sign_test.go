package webhook

import (
	"errors"
	"strings"
	"testing"
)

func TestSignVerify(t *testing.T) {
	body := []byte(`{"id":"x","event":"message"}`)
	good := Sign("s3cret", "1700000000", body)
	if !strings.HasPrefix(good, "sha256=") || len(good) != len("sha256=")+64 {
		t.Fatalf("Sign = %q, want sha256=<64 hex>", good)
	}
	tests := []struct {
		name      string
		secret    string
		timestamp string
		body      string
		signature string
		want      error
	}{
		{"valid", "s3cret", "1700000000", string(body), good, nil},
		{"uppercase hex", "s3cret", "1700000000", string(body), "sha256=" + strings.ToUpper(good[7:]), nil},
		{"wrong secret", "other", "1700000000", string(body), good, ErrSignatureMismatch},
		{"other timestamp", "s3cret", "1700000001", string(body), good, ErrSignatureMismatch},
		{"body changed", "s3cret", "1700000000", string(body) + " ", good, ErrSignatureMismatch},
		{"no prefix", "s3cret", "1700000000", string(body), good[7:], ErrSignatureFormat},
		{"other algorithm", "s3cret", "1700000000", string(body), "sha1=" + good[7:], ErrSignatureFormat},
		{"short", "s3cret", "1700000000", string(body), good[:len(good)-2], ErrSignatureFormat},
		{"not hex", "s3cret", "1700000000", string(body), "sha256=" + strings.Repeat("zz", 32), ErrSignatureFormat},
		{"empty", "s3cret", "1700000000", string(body), "", ErrSignatureFormat},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(tc.secret, tc.timestamp, []byte(tc.body), tc.signature)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestSignatureVector pins the algorithm: HMAC-SHA256(secret, timestamp + "." + body) in
// lowercase hex, the value docs/webhooks.md shows for its JS example.
const signatureVectorHex = "df35cc9500d8b1c3b98bb0414a97a4e4450a8e719e4269d428f49b8259002236" // computed with Python's hmac

func TestSignatureVector(t *testing.T) {
	got := Sign("whsec-example", "1700000000", []byte(`{"id":"a1","event":"connect"}`))
	const want = "sha256=" + signatureVectorHex
	if got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}
