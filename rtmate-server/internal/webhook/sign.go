package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
)

// Header names of every request RTMate sends to a webhook or a connect hook.
const (
	HeaderTimestamp = "X-RTMate-Timestamp" // Unix seconds when the request was signed
	HeaderSignature = "X-RTMate-Signature" // "sha256=" + hex HMAC-SHA256(secret, timestamp + "." + body)
	HeaderEventID   = "X-RTMate-Event-Id"  // the event's id (one-event requests only)
	HeaderAttempt   = "X-RTMate-Attempt"   // 1 for the first attempt, 2 for the first retry, ...
)

const signaturePrefix = "sha256="

// Errors of Verify.
var (
	ErrSignatureFormat   = errors.New("webhook: signature is not sha256=<64 hex digits>")
	ErrSignatureMismatch = errors.New("webhook: signature does not match")
)

// Sign returns the X-RTMate-Signature value for body sent at timestamp (decimal Unix seconds).
func Sign(secret, timestamp string, body []byte) string {
	return signaturePrefix + hex.EncodeToString(mac([]byte(secret), timestamp, body))
}

// Verify checks a request's X-RTMate-Signature against its X-RTMate-Timestamp and raw body,
// in constant time. It does not judge the timestamp's age: a receiver should also refuse
// timestamps far from its clock (5 minutes is usual) so that a captured request cannot be
// replayed later, and deduplicate events by their id.
func Verify(secret, timestamp string, body []byte, signature string) error {
	hexSig, ok := strings.CutPrefix(signature, signaturePrefix)
	if !ok || len(hexSig) != 2*sha256.Size {
		return ErrSignatureFormat
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return ErrSignatureFormat
	}
	if !hmac.Equal(got, mac([]byte(secret), timestamp, body)) {
		return ErrSignatureMismatch
	}
	return nil
}

func mac(secret []byte, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// signRequest sets the content type and the signature headers.
func signRequest(h http.Header, secret []byte, timestamp string, body []byte) {
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", userAgent)
	h.Set(HeaderTimestamp, timestamp)
	h.Set(HeaderSignature, signaturePrefix+hex.EncodeToString(mac(secret, timestamp, body)))
}

const userAgent = "RTMate-Webhook/1"
