package pusher

import (
	"crypto/hmac"
	"crypto/md5" // #nosec G501 -- Pusher's request signing defines body_md5; the HMAC-SHA256 signature covers it
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Sign returns hex(HMAC-SHA256(secret, message)), the signature of every Pusher scheme.
func Sign(secret, message string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(message))
	return hex.EncodeToString(m.Sum(nil))
}

// ChannelAuthValid checks a subscription's auth, "key:signature", where the signature is
// over "socket_id:channel" (private channels) or "socket_id:channel:channel_data"
// (presence channels; channelData non-nil). Constant time in the signature.
func ChannelAuthValid(key, secret string, auth []byte, socketID, channel string, channelData []byte) bool {
	msg := socketID + ":" + channel
	if channelData != nil {
		msg += ":" + string(channelData)
	}
	return authValid(key, secret, auth, msg)
}

// UserAuthValid checks pusher:signin's auth, signed over "socket_id::user::user_data".
func UserAuthValid(key, secret string, auth []byte, socketID string, userData []byte) bool {
	return authValid(key, secret, auth, socketID+"::user::"+string(userData))
}

func authValid(key, secret string, auth []byte, msg string) bool {
	k, sig, ok := strings.Cut(string(auth), ":")
	if !ok || k != key || len(sig) != 2*sha256.Size {
		return false
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(msg))
	return hmac.Equal(got, m.Sum(nil))
}

// WebhookSignature is X-Pusher-Signature: hex(HMAC-SHA256(secret, body)).
func WebhookSignature(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// MaxTimestampSkew is how far auth_timestamp may be from the server's clock.
const MaxTimestampSkew = 600 * time.Second

// RequestError is why a signed HTTP API request is refused; Status is Pusher's answer (401).
type RequestError struct {
	Status  int
	Message string
}

func (e *RequestError) Error() string { return e.Message }

func unauthorized(format string, args ...any) *RequestError {
	return &RequestError{Status: 401, Message: fmt.Sprintf(format, args...)}
}

// VerifyRequest checks a Pusher HTTP API request's signature: auth_key is key,
// auth_timestamp within MaxTimestampSkew of now, auth_version 1.0, body_md5 the body's (when
// there is a body), and auth_signature hex(HMAC-SHA256(secret,
// "METHOD\npath\nsorted query")) where the query is every parameter but auth_signature,
// keys lower-cased and sorted, "key=value" joined by "&" with values unescaped.
func VerifyRequest(method, path string, query url.Values, body []byte, key, secret string, now time.Time) error {
	get := func(k string) string { return query.Get(k) }
	if get("auth_key") != key {
		return unauthorized("Unknown auth_key")
	}
	ts, err := strconv.ParseInt(get("auth_timestamp"), 10, 64)
	if err != nil {
		return unauthorized("Missing or invalid auth_timestamp")
	}
	if d := now.Unix() - ts; d > int64(MaxTimestampSkew/time.Second) || -d > int64(MaxTimestampSkew/time.Second) {
		return unauthorized("Timestamp expired: Given timestamp (%d) not within 600s of server time (%d)", ts, now.Unix())
	}
	if v := get("auth_version"); v != "1.0" {
		return unauthorized("Unsupported auth_version %q: want 1.0", v)
	}
	if len(body) > 0 {
		sum := md5.Sum(body) // #nosec G401 -- the protocol's body digest, covered by the HMAC
		if get("body_md5") != hex.EncodeToString(sum[:]) {
			return unauthorized("The md5 of the body does not match body_md5")
		}
	}
	toSign := StringToSign(method, path, query)
	sig, err := hex.DecodeString(get("auth_signature"))
	if err != nil || len(sig) != sha256.Size {
		return unauthorized("Invalid signature: you should have sent HmacSHA256Hex(%q, your_secret_key)", toSign)
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(toSign))
	if !hmac.Equal(sig, m.Sum(nil)) {
		return unauthorized("Invalid signature: you should have sent HmacSHA256Hex(%q, your_secret_key)", toSign)
	}
	return nil
}

// StringToSign is what a request's auth_signature signs.
func StringToSign(method, path string, query url.Values) string {
	keys := make([]string, 0, len(query))
	vals := make(map[string]string, len(query))
	for k, v := range query {
		lk := strings.ToLower(k)
		if lk == "auth_signature" || len(v) == 0 {
			continue
		}
		if _, dup := vals[lk]; !dup {
			keys = append(keys, lk)
		}
		vals[lk] = v[0]
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString(strings.ToUpper(method))
	b.WriteByte('\n')
	b.WriteString(path)
	b.WriteByte('\n')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(vals[k])
	}
	return b.String()
}

// ValidSocketID reports whether id has Pusher's socket id form, digits "." digits.
func ValidSocketID(id string) bool {
	a, b, ok := strings.Cut(id, ".")
	return ok && allDigits(a) && allDigits(b)
}

func allDigits(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
