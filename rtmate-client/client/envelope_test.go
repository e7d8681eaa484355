package client

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

func TestParseEnvelope(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    envelope
		wantErr bool
	}{
		{
			name: "response",
			in:   `{"code":200,"message":"success","data":{"channel":"a"},"event":"subscribe","id":42,"traceId":"t"}`,
			want: envelope{Code: 200, Message: "success", Event: "subscribe", ID: 42, HasID: true, Data: []byte(`{"channel":"a"}`)},
		},
		{
			name: "push",
			in:   `{"code":200,"message":"success","event":"message","data":{"channel":"a","data":[1,2],"from":"c1","offset":3}}`,
			want: envelope{Code: 200, Message: "success", Event: "message", Data: []byte(`{"channel":"a","data":[1,2],"from":"c1","offset":3}`)},
		},
		{
			name: "error with null data and null event",
			in:   `{"code":400,"message":"参数错误","data":null,"event":null}`,
			want: envelope{Code: 400, Message: "参数错误"},
		},
		{
			name: "escaped message",
			in:   `{"code":401,"message":"\u672a\u8ba4\u8bc1","data":null,"id":1}`,
			want: envelope{Code: 401, Message: "未认证", ID: 1, HasID: true},
		},
		{
			name: "string id is not ours",
			in:   `{"code":200,"message":"success","data":null,"id":"abc"}`,
			want: envelope{Code: 200, Message: "success"},
		},
		{
			name: "unknown fields ignored",
			in:   ` {"extra":{"x":[true]},"code":1005,"message":"签名验证失败","data":null} `,
			want: envelope{Code: 1005, Message: "签名验证失败"},
		},
		{name: "not an object", in: `[1]`, wantErr: true},
		{name: "truncated", in: `{"code":200,"data":{"a":`, wantErr: true},
		{name: "no code", in: `{"message":"success"}`, wantErr: true},
		{name: "code not a number", in: `{"code":"200"}`, wantErr: true},
		{name: "trailing garbage", in: `{"code":200} x`, wantErr: true},
		{name: "event not a string", in: `{"code":200,"event":5}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseEnvelope([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if got.Code != tt.want.Code || got.Message != tt.want.Message || got.Event != tt.want.Event ||
				got.ID != tt.want.ID || got.HasID != tt.want.HasID || !bytes.Equal(got.Data, tt.want.Data) {
				t.Fatalf("got %+v (data %s), want %+v (data %s)", got, got.Data, tt.want, tt.want.Data)
			}
		})
	}
}

// FuzzParseEnvelope checks the server-message parser against encoding/json: it must never
// panic, must accept only valid JSON, and must agree on the fields it returns.
func FuzzParseEnvelope(f *testing.F) {
	f.Add([]byte(`{"code":200,"message":"success","data":{"channel":"a"},"event":"subscribe","id":42}`))
	f.Add([]byte(`{"code":200,"message":"success","event":"message","data":{"channel":"a","data":"x","from":"c"}}`))
	f.Add([]byte(`{"code":400,"message":"\u53c2\u6570\u9519\u8bef","data":null}`))
	f.Add([]byte(`{"code":-1,"id":18446744073709551615}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		env, err := parseEnvelope(in)
		if err != nil {
			return
		}
		if !json.Valid(in) {
			t.Fatalf("accepted invalid JSON %q", in)
		}
		// A map keeps keys exact (struct decoding folds case) and, like parseEnvelope,
		// lets the last of duplicate keys win.
		var ref map[string]json.RawMessage
		if err := json.Unmarshal(in, &ref); err != nil {
			return // not an object; parseEnvelope must have refused it
		}
		str := func(key string) (string, bool) {
			raw, ok := ref[key]
			if !ok {
				return "", false
			}
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return "", false
			}
			return s, true
		}
		if s, ok := str("message"); ok && s != env.Message {
			t.Fatalf("message %q, encoding/json says %q", env.Message, s)
		}
		if s, ok := str("event"); ok && s != env.Event {
			t.Fatalf("event %q, encoding/json says %q", env.Event, s)
		}
		if env.Data != nil && !json.Valid(env.Data) {
			t.Fatalf("data %q is not valid JSON", env.Data)
		}
	})
}

func TestAppendRequest(t *testing.T) {
	tests := []struct {
		name    string
		event   string
		payload []byte
		want    string
	}{
		{"ping", protocol.EventPing, nil, `{"event":"ping","id":7}`},
		{"publish", protocol.EventMessageSend, appendMessageSend(nil, "a\"b", []byte(`{ "x" : 1 }`)),
			`{"event":"messageSend","id":7,"payload":{"channel":"a\"b","data":{ "x" : 1 }}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(appendRequest(nil, tt.event, 7, tt.payload))
			if got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
			var r protocol.Request
			if err := protocol.DecodeRequest([]byte(got), &r); err != nil {
				t.Fatalf("the server's decoder rejects it: %v", err)
			}
		})
	}
}

func TestTokenExpiry(t *testing.T) {
	tests := []struct {
		name    string
		token   string
		want    int64
		wantErr bool
	}{
		{"exp", "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjE3MDAwMDAwMDB9.sig", 1700000000, false},
		{"no exp", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.sig", 0, false},
		{"float exp", "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjE3MDAwMDAwMDAuNX0.sig", 1700000000, false},
		{"two parts", "a.b", 0, true},
		{"bad base64", "a.!!!.c", 0, true},
		{"not json", "a.bm90IGpzb24.c", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tokenExpiry(tt.token)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v", err)
			}
			var unix int64
			if !got.IsZero() {
				unix = got.Unix()
			}
			if unix != tt.want {
				t.Fatalf("exp = %d, want %d", unix, tt.want)
			}
		})
	}
}

func TestRefreshDelay(t *testing.T) {
	now := time.Unix(1000, 0)
	tests := []struct {
		name   string
		left   time.Duration
		before time.Duration
		want   time.Duration
	}{
		{"long token", time.Hour, 30 * time.Second, time.Hour - 30*time.Second},
		{"short token halves", 40 * time.Second, 30 * time.Second, 20 * time.Second},
		{"expired uses floor", -time.Second, 30 * time.Second, 500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := refreshDelay(now, now.Add(tt.left), tt.before); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	const lo, hi = 100 * time.Millisecond, 2 * time.Second
	tests := []struct {
		attempt  int
		min, max time.Duration
	}{
		{0, 50 * time.Millisecond, 100 * time.Millisecond},
		{1, 100 * time.Millisecond, 200 * time.Millisecond},
		{3, 400 * time.Millisecond, 800 * time.Millisecond},
		{10, time.Second, 2 * time.Second},
		{1000, time.Second, 2 * time.Second},
	}
	for _, tt := range tests {
		for range 100 {
			if d := backoff(tt.attempt, lo, hi); d < tt.min || d > tt.max {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", tt.attempt, d, tt.min, tt.max)
			}
		}
	}
}
