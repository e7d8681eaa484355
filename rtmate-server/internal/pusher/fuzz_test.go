package pusher

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// The decoders read bytes from any client on the Internet: they must never panic, and what
// they accept must be consistent.

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"event":"pusher:subscribe","data":{"channel":"presence-a","auth":"k:s","channel_data":"{\"user_id\":\"1\"}"}}`,
		`{"event":"client-x","channel":"private-a","data":{"k":[1,{"z":null}]}}`,
		`{"event":"pusher:signin","data":{"auth":"k:s","user_data":"{\"id\":\"u\"}"}}`,
		`{"event":"pusher:ping","data":{}}`, `{"event":"\ud83d\ude00"}`, `{`, `[]`, `{"event":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Message
		if err := Decode(b, &m); err != nil {
			return
		}
		if len(m.Event) == 0 {
			t.Fatal("accepted a message without an event")
		}
		var s Subscribe
		if DecodeSubscribe(m.Data, &s) == nil {
			if len(s.Channel) == 0 {
				t.Fatal("accepted a subscription without a channel")
			}
			var mem Member
			if DecodeChannelData(s.ChannelData, &mem) == nil && mem.UserID == "" {
				t.Fatal("accepted channel_data without a user id")
			}
			_ = ChannelAuthValid("k", "s", s.Auth, "1.2", string(s.Channel), s.ChannelData)
		}
		var si Signin
		if DecodeSignin(m.Data, &si) == nil {
			if id, err := DecodeUserData(si.UserData); err == nil && id == "" {
				t.Fatal("accepted user_data without an id")
			}
			_ = UserAuthValid("k", "s", si.Auth, "1.2", si.UserData)
		}
	})
}

func FuzzVerifyRequest(f *testing.F) {
	f.Add("auth_key=k&auth_timestamp=1700000000&auth_version=1.0&auth_signature=00", []byte(`{}`))
	f.Add("auth_key=k&auth_timestamp=-1&auth_version=1.0&body_md5=zz&auth_signature=zz&AUTH_KEY=x", []byte(nil))
	f.Add("%zz&&==&auth_timestamp=99999999999999999999", []byte("x"))
	f.Fuzz(func(t *testing.T, rawQuery string, body []byte) {
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return
		}
		now := time.Unix(1_700_000_000, 0)
		if VerifyRequest("POST", "/apps/1/events", q, body, "k", "s", now) == nil {
			// Accepted without the secret: only possible if the fuzzer forged an HMAC.
			if strings.ToLower(q.Get("auth_signature")) != Sign("s", StringToSign("POST", "/apps/1/events", q)) {
				t.Fatal("accepted a request whose signature is not the HMAC")
			}
		}
	})
}
