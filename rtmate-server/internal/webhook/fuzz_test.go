package webhook

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseHookReply: a connect hook's reply is untrusted input read on a server worker; it
// must never panic, and an accepted user id is bounded valid UTF-8.
func FuzzParseHookReply(f *testing.F) {
	for _, s := range []string{"", " ", "{}", `{"user_id":"u-1"}`, `{"user_id":null}`, `{"user_id":5}`, `<html>`,
		`{"user_id":"` + strings.Repeat("é", 200) + `"}`, `{"user_id":"\ud800"}`, `{"user_id":"a"} trailing`, `[]`, `{"user_id":"a","user_id":"b"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		uid, err := parseHookReply(b)
		if err != nil {
			return
		}
		if len(uid) > maxUserID || !utf8.ValidString(uid) {
			t.Fatalf("accepted user id %q", uid)
		}
	})
}

// FuzzVerify: Verify never panics, and only the signature Sign makes passes.
func FuzzVerify(f *testing.F) {
	f.Add("secret", "1700000000", []byte(`{"id":"1"}`), Sign("secret", "1700000000", []byte(`{"id":"1"}`)))
	f.Add("", "", []byte{}, "sha256=")
	f.Fuzz(func(t *testing.T, secret, ts string, body []byte, sig string) {
		err := Verify(secret, ts, body, sig)
		good := Sign(secret, ts, body)
		if (err == nil) != (strings.HasPrefix(sig, "sha256=") && strings.EqualFold(sig, good)) {
			t.Fatalf("Verify(%q) = %v, Sign = %q", sig, err, good)
		}
	})
}
