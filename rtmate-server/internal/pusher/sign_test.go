package pusher

import (
	"crypto/md5" // #nosec G501 -- the protocol's body digest
	"encoding/hex"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The figures of Pusher's authentication documentation (key 278d425bdf160c739803, secret
// 7ad3773142a6692b25b8).
const (
	docKey    = "278d425bdf160c739803"
	docSecret = "7ad3773142a6692b25b8"
)

func TestChannelAuthDocExample(t *testing.T) {
	auth := docKey + ":58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
	if !ChannelAuthValid(docKey, docSecret, []byte(auth), "1234.1234", "private-foobar", nil) {
		t.Fatal("the documented private-channel signature does not verify")
	}
	if ChannelAuthValid(docKey, docSecret, []byte(auth), "1234.1235", "private-foobar", nil) {
		t.Fatal("verifies for another socket")
	}
	cd := []byte(`{"user_id":10,"user_info":{"name":"Mr. Channels"}}`)
	sig := Sign(docSecret, "1234.1234:presence-foobar:"+string(cd))
	if !ChannelAuthValid(docKey, docSecret, []byte(docKey+":"+sig), "1234.1234", "presence-foobar", cd) {
		t.Fatal("presence signature")
	}
	if ChannelAuthValid(docKey, docSecret, []byte(docKey+":"+sig), "1234.1234", "presence-foobar", []byte(`{"user_id":11}`)) {
		t.Fatal("verifies with other channel_data")
	}
	for _, bad := range []string{"", docKey, ":" + sig, "other:" + sig, docKey + ":" + sig[:63], docKey + ":" + strings.ToUpper(sig[:2]) + "zz" + sig[4:]} {
		if ChannelAuthValid(docKey, docSecret, []byte(bad), "1234.1234", "presence-foobar", cd) {
			t.Errorf("%q verifies", bad)
		}
	}
}

func TestUserAuth(t *testing.T) {
	ud := []byte(`{"id":"u1"}`)
	sig := Sign(docSecret, "1.2::user::"+string(ud))
	if !UserAuthValid(docKey, docSecret, []byte(docKey+":"+sig), "1.2", ud) {
		t.Fatal("user signature")
	}
	if UserAuthValid(docKey, docSecret, []byte(docKey+":"+sig), "1.3", ud) {
		t.Fatal("verifies for another socket")
	}
}

// TestRequestDocExample checks the worked example of Pusher's HTTP API authentication.
func TestRequestDocExample(t *testing.T) {
	body := []byte(`{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}`)
	q := url.Values{"auth_key": {docKey}, "auth_timestamp": {"1353088179"}, "auth_version": {"1.0"}, "body_md5": {"ec365a775a4cd0599faeb73354201b6f"}}
	want := "POST\n/apps/3/events\nauth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f"
	if got := StringToSign("POST", "/apps/3/events", q); got != want {
		t.Fatalf("string to sign\n%s\nwant\n%s", got, want)
	}
	q.Set("auth_signature", "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c")
	now := time.Unix(1353088179, 0)
	if err := VerifyRequest("POST", "/apps/3/events", q, body, docKey, docSecret, now); err != nil {
		t.Fatalf("the documented request does not verify: %v", err)
	}
}

func TestVerifyRequest(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	sign := func(method, path string, q url.Values, body []byte) url.Values {
		if len(body) > 0 {
			sum := md5.Sum(body) // #nosec G401 -- the protocol's body digest
			q.Set("body_md5", hex.EncodeToString(sum[:]))
		}
		q.Set("auth_signature", Sign(docSecret, StringToSign(method, path, q)))
		return q
	}
	base := func(ts int64) url.Values {
		return url.Values{"auth_key": {docKey}, "auth_timestamp": {strconv.FormatInt(ts, 10)}, "auth_version": {"1.0"}}
	}
	body := []byte(`{"name":"e"}`)
	cases := []struct {
		name string
		q    func() url.Values
		body []byte
		ok   bool
	}{
		{"valid", func() url.Values { return sign("POST", "/apps/1/events", base(now.Unix()), body) }, body, true},
		{"valid GET with params", func() url.Values {
			q := base(now.Unix())
			q.Set("filter_by_prefix", "presence-")
			q.Set("info", "user_count")
			return sign("GET", "/apps/1/channels", q, nil)
		}, nil, true},
		{"599 s old", func() url.Values { return sign("POST", "/apps/1/events", base(now.Unix()-599), body) }, body, true},
		{"601 s old", func() url.Values { return sign("POST", "/apps/1/events", base(now.Unix()-601), body) }, body, false},
		{"601 s ahead", func() url.Values { return sign("POST", "/apps/1/events", base(now.Unix()+601), body) }, body, false},
		{"other key", func() url.Values {
			q := sign("POST", "/apps/1/events", base(now.Unix()), body)
			q.Set("auth_key", "x")
			return q
		}, body, false},
		{"body changed", func() url.Values { return sign("POST", "/apps/1/events", base(now.Unix()), body) }, []byte(`{"name":"f"}`), false},
		{"param added", func() url.Values {
			q := sign("POST", "/apps/1/events", base(now.Unix()), body)
			q.Set("extra", "1")
			return q
		}, body, false},
		{"wrong version", func() url.Values {
			q := base(now.Unix())
			q.Set("auth_version", "2.0")
			return sign("POST", "/apps/1/events", q, body)
		}, body, false},
		{"no signature", func() url.Values { return base(now.Unix()) }, nil, false},
		{"garbage timestamp", func() url.Values {
			q := base(0)
			q.Set("auth_timestamp", "soon")
			return sign("GET", "/apps/1/channels", q, nil)
		}, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := "/apps/1/events"
			method := "POST"
			if tc.body == nil {
				path, method = "/apps/1/channels", "GET"
			}
			err := VerifyRequest(method, path, tc.q(), tc.body, docKey, docSecret, now)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

func TestValidSocketID(t *testing.T) {
	for id, want := range map[string]bool{"1.2": true, "123456.7890": true, "1": false, "1.": false, ".1": false, "a.1": false, "1.2.3": false, "": false} {
		if ValidSocketID(id) != want {
			t.Errorf("ValidSocketID(%q) != %v", id, want)
		}
	}
}
