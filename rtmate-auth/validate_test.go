package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

const (
	hsSecret  = "hs-secret-0123456789abcdef0123456789"
	oldSecret = "rotation-old-secret-0123456789abcdef"
	newSecret = "rotation-new-secret-0123456789abcdef"
)

// testRegistry has one app per key setup the tests need.
func testRegistry(tb testing.TB, opts Options) *Registry {
	tb.Helper()
	testKeys(tb)
	if opts.Now == nil {
		opts.Now = fixedNow
	}
	rsaFile := writeFile(tb, "rsa.pem", rsaKey.pubPEM)
	jwksDoc := jwksJSON(tb, jwksEntry{key: edKey.priv, kid: "inline-d1", alg: "EdDSA"})
	jwksFile := writeFile(tb, "keys.jwks", jwksJSON(tb,
		jwksEntry{key: rsaKey.priv, kid: "r1", alg: "RS256"},
		jwksEntry{key: ecKey.priv, kid: "e1"},              // alg inferred from the key
		jwksEntry{key: ecKey2.priv, kid: "e2", use: "enc"}, // skipped: not a signature key
		jwksEntry{key: edKey.priv, kid: "d1", alg: "EdDSA"},
	))
	apps := []AppConfig{
		{ID: "hs", Secret: hsSecret},
		{ID: "hs-twin", Secret: hsSecret},
		{ID: "rot", Keys: []KeyConfig{{Kid: "k1", Secret: oldSecret}, {Kid: "k2", Secret: newSecret}}},
		{ID: "rot-nokid", Keys: []KeyConfig{{Secret: oldSecret}, {Secret: newSecret}}},
		{ID: "rot-mixed", Keys: []KeyConfig{{Kid: "k1", Secret: oldSecret}, {Secret: newSecret}}},
		{ID: "rs", Keys: []KeyConfig{{PublicKey: string(rsaKey.pubPEM)}}},
		{ID: "rs-file", Keys: []KeyConfig{{PublicKeyFile: rsaFile, Alg: "RS256", Kid: "rsa-1"}}},
		{ID: "es", Keys: []KeyConfig{{PublicKey: string(ecKey.pubPEM)}}},
		{ID: "ed", Keys: []KeyConfig{{PublicKey: string(edKey.pubPEM), Alg: "EdDSA"}}},
		{ID: "jwks", Keys: []KeyConfig{{JWKSFile: jwksFile}}},
		{ID: "jwks-inline", Keys: []KeyConfig{{JWKS: string(jwksDoc)}}},
		{ID: "hs-rs", Secret: hsSecret, Keys: []KeyConfig{{Kid: "rsa", PublicKey: string(rsaKey.pubPEM)}}},
	}
	r, err := NewRegistry(apps, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

type validateCase struct {
	name  string
	app   string
	token string
	code  protocol.WsBizCode // Success for a valid token
	cause error              // the sentinel the error must wrap
	check func(t *testing.T, c *protocol.Claims)
}

func TestValidate(t *testing.T) {
	r := testRegistry(t, Options{})
	hs := SigningKey{Secret: []byte(hsSecret)}
	c := claims
	with := func(app string, f func(*protocol.Claims)) protocol.Claims {
		cl := c(app)
		f(&cl)
		return cl
	}
	signHS := func(header, payload string) string { return rawToken(header, payload, hs256([]byte(hsSecret))) }
	hsHdr := `{"alg":"HS256","typ":"JWT"}`
	wantSub := func(sub string) func(*testing.T, *protocol.Claims) {
		return func(t *testing.T, cl *protocol.Claims) {
			if cl.Sub != sub {
				t.Errorf("sub = %q, want %q", cl.Sub, sub)
			}
		}
	}
	valid := mustSign(t, c("hs"), hs)
	dot := strings.LastIndexByte(valid, '.')

	cases := []validateCase{
		// Every algorithm and key source.
		{name: "HS256", app: "hs", token: valid, check: func(t *testing.T, cl *protocol.Claims) {
			want := protocol.Claims{AppID: "hs", Sub: "alice", Iat: testNow.Unix(), Exp: testNow.Add(time.Hour).Unix()}
			if cl.AppID != want.AppID || cl.Sub != want.Sub || cl.Iat != want.Iat || cl.Exp != want.Exp || cl.Channels != nil {
				t.Errorf("claims = %+v, want %+v", *cl, want)
			}
		}},
		{name: "RS256 PEM", app: "rs", token: mustSign(t, c("rs"), SigningKey{PrivateKeyPEM: rsaKey.privPEM})},
		{name: "RS256 PEM file with kid", app: "rs-file", token: mustSign(t, c("rs-file"), SigningKey{PrivateKeyPEM: rsaKey.privPEM, Kid: "rsa-1"})},
		{name: "RS256 PEM file token without kid", app: "rs-file", token: mustSign(t, c("rs-file"), SigningKey{PrivateKeyPEM: rsaKey.privPEM})},
		{name: "ES256 PEM", app: "es", token: mustSign(t, c("es"), SigningKey{PrivateKeyPEM: ecKey.privPEM})},
		{name: "EdDSA PEM", app: "ed", token: mustSign(t, c("ed"), SigningKey{PrivateKeyPEM: edKey.privPEM})},
		{name: "JWKS RS256 by kid", app: "jwks", token: mustSign(t, c("jwks"), SigningKey{PrivateKeyPEM: rsaKey.privPEM, Kid: "r1"})},
		{name: "JWKS ES256 alg inferred", app: "jwks", token: mustSign(t, c("jwks"), SigningKey{PrivateKeyPEM: ecKey.privPEM, Kid: "e1"})},
		{name: "JWKS EdDSA by kid", app: "jwks", token: mustSign(t, c("jwks"), SigningKey{PrivateKeyPEM: edKey.privPEM, Kid: "d1"})},
		{name: "inline JWKS by kid", app: "jwks-inline", token: mustSign(t, c("jwks-inline"), SigningKey{PrivateKeyPEM: edKey.privPEM, Kid: "inline-d1"})},
		{name: "inline JWKS other key", app: "jwks-inline", token: mustSign(t, c("jwks-inline"), SigningKey{PrivateKeyPEM: ecKey.privPEM}),
			code: protocol.SignatureInvalid},
		{name: "JWKS without kid", app: "jwks", token: mustSign(t, c("jwks"), SigningKey{PrivateKeyPEM: ecKey.privPEM})},
		{name: "JWKS enc key skipped", app: "jwks", token: mustSign(t, c("jwks"), SigningKey{PrivateKeyPEM: ecKey2.privPEM, Kid: "e2"}),
			code: protocol.SignatureInvalid, cause: ErrUnknownKid},
		{name: "JWKS wrong key for kid", app: "jwks", token: mustSign(t, c("jwks"), SigningKey{PrivateKeyPEM: ecKey2.privPEM, Kid: "e1"}),
			code: protocol.SignatureInvalid, cause: ErrBadSignature},
		{name: "HS256 app with an RSA key too", app: "hs-rs", token: mustSign(t, c("hs-rs"), hs)},
		{name: "RS256 on app with a secret too", app: "hs-rs", token: mustSign(t, c("hs-rs"), SigningKey{PrivateKeyPEM: rsaKey.privPEM, Kid: "rsa"})},

		// Rotation.
		{name: "rotation old kid", app: "rot", token: mustSign(t, c("rot"), SigningKey{Secret: []byte(oldSecret), Kid: "k1"})},
		{name: "rotation new kid", app: "rot", token: mustSign(t, c("rot"), SigningKey{Secret: []byte(newSecret), Kid: "k2"})},
		{name: "rotation no kid old key", app: "rot", token: mustSign(t, c("rot"), SigningKey{Secret: []byte(oldSecret)})},
		{name: "rotation no kid new key", app: "rot", token: mustSign(t, c("rot"), SigningKey{Secret: []byte(newSecret)})},
		{name: "rotation kid names the other key", app: "rot", token: mustSign(t, c("rot"), SigningKey{Secret: []byte(newSecret), Kid: "k1"}),
			code: protocol.SignatureInvalid, cause: ErrBadSignature},
		{name: "rotation unknown kid", app: "rot", token: mustSign(t, c("rot"), SigningKey{Secret: []byte(newSecret), Kid: "k3"}),
			code: protocol.SignatureInvalid, cause: ErrUnknownKid},
		{name: "rotation keys without kid, old", app: "rot-nokid", token: mustSign(t, c("rot-nokid"), SigningKey{Secret: []byte(oldSecret)})},
		{name: "rotation keys without kid, new", app: "rot-nokid", token: mustSign(t, c("rot-nokid"), SigningKey{Secret: []byte(newSecret)})},
		{name: "rotation keys without kid accept any kid", app: "rot-nokid", token: mustSign(t, c("rot-nokid"), SigningKey{Secret: []byte(newSecret), Kid: "whatever"})},
		{name: "rotation mixed: unknown kid falls back to kid-less key", app: "rot-mixed", token: mustSign(t, c("rot-mixed"), SigningKey{Secret: []byte(newSecret), Kid: "k9"})},
		{name: "rotation mixed: kid k1 with the new key", app: "rot-mixed", token: mustSign(t, c("rot-mixed"), SigningKey{Secret: []byte(newSecret), Kid: "k1"})},
		{name: "rotation retired key", app: "rot", token: mustSign(t, c("rot"), SigningKey{Secret: []byte("retired-secret")}),
			code: protocol.SignatureInvalid, cause: ErrBadSignature},

		// Apps.
		{name: "unknown app", app: "nope", token: valid, code: protocol.AppNotFound, cause: ErrUnknownApp},
		{name: "empty app id", app: "", token: valid, code: protocol.AppNotFound, cause: ErrUnknownApp},
		{name: "app mismatch with a shared secret", app: "hs-twin", token: valid, code: protocol.AuthMismatch, cause: ErrAppMismatch},

		// Shape.
		{name: "empty", app: "hs", token: "", code: protocol.InvalidToken, cause: ErrMalformed},
		{name: "no dots", app: "hs", token: "abc", code: protocol.InvalidToken, cause: ErrMalformed},
		{name: "two parts", app: "hs", token: valid[:dot], code: protocol.InvalidToken, cause: ErrMalformed},
		{name: "four parts", app: "hs", token: valid + ".x", code: protocol.InvalidToken, cause: ErrMalformed},
		{name: "empty header", app: "hs", token: valid[strings.IndexByte(valid, '.'):], code: protocol.InvalidToken, cause: ErrMalformed},
		{name: "padded base64 header", app: "hs", token: "eyJhbGciOiJIUzI1NiJ9==" + valid[strings.IndexByte(valid, '.'):], code: protocol.InvalidToken, cause: ErrMalformed},
		{name: "header not base64", app: "hs", token: "!!!" + valid[strings.IndexByte(valid, '.'):], code: protocol.InvalidToken, cause: ErrMalformed},
		{name: "header not JSON", app: "hs", token: signHS(`alg=HS256`, payloadJSON(t, c("hs"))), code: protocol.InvalidToken, cause: ErrMalformed},
		{name: "header array", app: "hs", token: signHS(`["HS256"]`, payloadJSON(t, c("hs"))), code: protocol.InvalidToken, cause: ErrMalformed},
		{name: "header trailing garbage", app: "hs", token: signHS(`{"alg":"HS256"}x`, payloadJSON(t, c("hs"))), code: protocol.InvalidToken, cause: ErrMalformed},
		{name: "header without alg", app: "hs", token: signHS(`{"typ":"JWT"}`, payloadJSON(t, c("hs"))), code: protocol.InvalidToken, cause: ErrMalformed},
		{name: "alg not a string", app: "hs", token: signHS(`{"alg":256}`, payloadJSON(t, c("hs"))), code: protocol.InvalidToken, cause: ErrMalformed},
		{name: "kid not a string", app: "hs", token: signHS(`{"alg":"HS256","kid":1}`, payloadJSON(t, c("hs"))), code: protocol.InvalidToken, cause: ErrMalformed},
		{name: "alg twice", app: "hs", token: signHS(`{"alg":"HS256","alg":"none"}`, payloadJSON(t, c("hs"))), code: protocol.InvalidToken, cause: ErrMalformed},
		{name: "crit header", app: "hs", token: signHS(`{"alg":"HS256","crit":["exp"],"exp":1}`, payloadJSON(t, c("hs"))), code: protocol.InvalidToken, cause: ErrMalformed},
		{name: "b64 false", app: "hs", token: signHS(`{"alg":"HS256","b64":false}`, payloadJSON(t, c("hs"))), code: protocol.InvalidToken, cause: ErrMalformed},
		{name: "escaped header names", app: "hs", token: signHS(`{"\u0061lg":"HS\u003256"}`, payloadJSON(t, c("hs")))},
		{name: "empty kid means none", app: "rot", token: rawToken(`{"alg":"HS256","kid":""}`, payloadJSON(t, c("rot")), hs256([]byte(newSecret)))},
		{name: "too long", app: "hs", token: signHS(hsHdr, `{"app_id":"hs","exp":1800000000,"x":"`+strings.Repeat("a", MaxTokenLen)+`"}`),
			code: protocol.InvalidToken, cause: ErrMalformed},
		{name: "signature not base64", app: "hs", token: valid[:dot+1] + "***", code: protocol.InvalidToken, cause: ErrMalformed},

		// none and algorithm allow-list.
		{name: "alg none", app: "hs", token: rawToken(`{"alg":"none"}`, payloadJSON(t, c("hs")), nil), code: protocol.InvalidToken, cause: ErrAlgNone},
		{name: "alg NONE", app: "hs", token: rawToken(`{"alg":"NONE"}`, payloadJSON(t, c("hs")), nil), code: protocol.InvalidToken, cause: ErrAlgNone},
		{name: "alg None with a signature", app: "hs", token: rawToken(`{"alg":"None"}`, payloadJSON(t, c("hs")), hs256([]byte(hsSecret))), code: protocol.InvalidToken, cause: ErrAlgNone},
		{name: "alg HS512 not allowed", app: "hs", token: rawToken(`{"alg":"HS512"}`, payloadJSON(t, c("hs")), hs256([]byte(hsSecret))), code: protocol.SignatureInvalid, cause: ErrAlgNotAllowed},
		{name: "alg hs256 lowercase", app: "hs", token: rawToken(`{"alg":"hs256"}`, payloadJSON(t, c("hs")), hs256([]byte(hsSecret))), code: protocol.SignatureInvalid, cause: ErrAlgNotAllowed},
		{name: "RS256 token on HS256 app", app: "hs", token: mustSign(t, c("hs"), SigningKey{PrivateKeyPEM: rsaKey.privPEM}), code: protocol.SignatureInvalid, cause: ErrAlgNotAllowed},
		{name: "ES256 token on RS256 app", app: "rs", token: mustSign(t, c("rs"), SigningKey{PrivateKeyPEM: ecKey.privPEM}), code: protocol.SignatureInvalid, cause: ErrAlgNotAllowed},
		// The classic confusion: an HS256 token whose HMAC key is the app's RSA public key.
		{name: "alg confusion: HS256 with the RSA public key PEM", app: "rs",
			token: rawToken(`{"alg":"HS256","typ":"JWT"}`, payloadJSON(t, c("rs")), hs256(rsaKey.pubPEM)),
			code:  protocol.SignatureInvalid, cause: ErrAlgNotAllowed},
		{name: "alg confusion: HS256 with the RSA public key on an app with a secret", app: "hs-rs",
			token: rawToken(`{"alg":"HS256","typ":"JWT"}`, payloadJSON(t, c("hs-rs")), hs256(rsaKey.pubPEM)),
			code:  protocol.SignatureInvalid, cause: ErrBadSignature},
		{name: "alg confusion: HS256 naming the RSA key's kid", app: "hs-rs",
			token: rawToken(`{"alg":"HS256","kid":"rsa"}`, payloadJSON(t, c("hs-rs")), hs256(rsaKey.pubPEM)),
			code:  protocol.SignatureInvalid, cause: ErrBadSignature},
		{name: "alg confusion: HS256 with the PEM on a JWKS app", app: "jwks",
			token: rawToken(`{"alg":"HS256","kid":"r1"}`, payloadJSON(t, c("jwks")), hs256(rsaKey.pubPEM)),
			code:  protocol.SignatureInvalid, cause: ErrAlgNotAllowed},
		{name: "kid of a key with another alg", app: "jwks", token: mustSign(t, c("jwks"), SigningKey{PrivateKeyPEM: rsaKey.privPEM, Kid: "e1"}),
			code: protocol.SignatureInvalid, cause: ErrAlgNotAllowed},

		// Signatures.
		{name: "wrong secret", app: "hs", token: mustSign(t, c("hs"), SigningKey{Secret: []byte("not-the-secret")}), code: protocol.SignatureInvalid, cause: ErrBadSignature},
		{name: "empty signature", app: "hs", token: valid[:dot+1], code: protocol.SignatureInvalid, cause: ErrBadSignature},
		{name: "truncated signature", app: "hs", token: valid[:dot+1+20], code: protocol.SignatureInvalid, cause: ErrBadSignature},
		{name: "tampered payload", app: "hs", token: tamper(valid), code: protocol.SignatureInvalid, cause: ErrBadSignature},
		{name: "RS256 other key", app: "rs", token: mustSign(t, c("rs"), SigningKey{PrivateKeyPEM: rsaKey2.privPEM}), code: protocol.SignatureInvalid, cause: ErrBadSignature},
		{name: "ES256 other key", app: "es", token: mustSign(t, c("es"), SigningKey{PrivateKeyPEM: ecKey2.privPEM}), code: protocol.SignatureInvalid, cause: ErrBadSignature},
		{name: "ES256 DER signature", app: "es", token: rawToken(`{"alg":"ES256"}`, payloadJSON(t, c("es")), derES256(ecKey.priv)), code: protocol.SignatureInvalid, cause: ErrBadSignature},

		// Claims (signed, so only the claims are wrong).
		{name: "payload not JSON", app: "hs", token: signHS(hsHdr, `app_id=hs`), code: protocol.InvalidToken, cause: ErrBadClaims},
		{name: "payload array", app: "hs", token: signHS(hsHdr, `[1]`), code: protocol.InvalidToken, cause: ErrBadClaims},
		{name: "missing exp", app: "hs", token: signHS(hsHdr, `{"app_id":"hs"}`), code: protocol.InvalidToken, cause: ErrBadClaims},
		{name: "null exp", app: "hs", token: signHS(hsHdr, `{"app_id":"hs","exp":null}`), code: protocol.InvalidToken, cause: ErrBadClaims},
		{name: "missing app_id", app: "hs", token: signHS(hsHdr, `{"exp":1800000000}`), code: protocol.InvalidToken, cause: ErrBadClaims},
		{name: "APP_ID is not app_id", app: "hs", token: signHS(hsHdr, `{"APP_ID":"hs","exp":1800000000}`), code: protocol.InvalidToken, cause: ErrBadClaims},
		{name: "app_id twice", app: "hs", token: signHS(hsHdr, `{"app_id":"hs","app_id":"other","exp":1800000000}`), code: protocol.InvalidToken, cause: ErrBadClaims},
		{name: "app_id number", app: "hs", token: signHS(hsHdr, `{"app_id":1,"exp":1800000000}`), code: protocol.InvalidToken, cause: ErrBadClaims},
		{name: "exp string", app: "hs", token: signHS(hsHdr, `{"app_id":"hs","exp":"1800000000"}`), code: protocol.InvalidToken, cause: ErrBadClaims},
		{name: "exp negative", app: "hs", token: signHS(hsHdr, `{"app_id":"hs","exp":-1}`), code: protocol.InvalidToken, cause: ErrBadClaims},
		{name: "exp past year 9999", app: "hs", token: signHS(hsHdr, `{"app_id":"hs","exp":9223372036854775807}`), code: protocol.InvalidToken, cause: ErrBadClaims},
		{name: "exp 1e300", app: "hs", token: signHS(hsHdr, `{"app_id":"hs","exp":1e300}`), code: protocol.InvalidToken, cause: ErrBadClaims},
		{name: "exp fraction", app: "hs", token: signHS(hsHdr, `{"app_id":"hs","exp":1700003600.75}`), check: func(t *testing.T, cl *protocol.Claims) {
			if cl.Exp != 1700003600 {
				t.Errorf("exp = %d", cl.Exp)
			}
		}},
		{name: "exp exponent", app: "hs", token: signHS(hsHdr, `{"app_id":"hs","exp":1.7000036e9}`)},
		{name: "sub number", app: "hs", token: signHS(hsHdr, `{"app_id":"hs","exp":1800000000,"sub":7}`), code: protocol.InvalidToken, cause: ErrBadClaims},
		{name: "sub escaped", app: "hs", token: signHS(hsHdr, `{"app_id":"hs","exp":1800000000,"sub":"b\u00f6b"}`), check: wantSub("böb")},
		{name: "sub null", app: "hs", token: signHS(hsHdr, `{"app_id":"hs","exp":1800000000,"sub":null}`), check: wantSub("")},
		{name: "iat string", app: "hs", token: signHS(hsHdr, `{"app_id":"hs","exp":1800000000,"iat":"x"}`), code: protocol.InvalidToken, cause: ErrBadClaims},
		{name: "nbf bool", app: "hs", token: signHS(hsHdr, `{"app_id":"hs","exp":1800000000,"nbf":true}`), code: protocol.InvalidToken, cause: ErrBadClaims},
		{name: "channels string", app: "hs", token: signHS(hsHdr, `{"app_id":"hs","exp":1800000000,"channels":"news"}`), code: protocol.InvalidToken, cause: ErrBadClaims},
		{name: "channels with a number", app: "hs", token: signHS(hsHdr, `{"app_id":"hs","exp":1800000000,"channels":["a",1]}`), code: protocol.InvalidToken, cause: ErrBadClaims},
		{name: "channels list", app: "hs", token: mustSign(t, with("hs", func(c *protocol.Claims) { c.Channels = []string{"news", "room-*"} }), hs),
			check: func(t *testing.T, cl *protocol.Claims) {
				if len(cl.Channels) != 2 || cl.Channels[0] != "news" || cl.Channels[1] != "room-*" {
					t.Errorf("channels = %q", cl.Channels)
				}
			}},
		{name: "channels empty means none", app: "hs", token: signHS(hsHdr, `{"app_id":"hs","exp":1800000000,"channels":[]}`),
			check: func(t *testing.T, cl *protocol.Claims) {
				if cl.Channels == nil || len(cl.Channels) != 0 {
					t.Errorf("channels = %#v, want empty non-nil", cl.Channels)
				}
			}},
		{name: "channels null means all", app: "hs", token: signHS(hsHdr, `{"app_id":"hs","exp":1800000000,"channels":null}`),
			check: func(t *testing.T, cl *protocol.Claims) {
				if cl.Channels != nil {
					t.Errorf("channels = %#v, want nil", cl.Channels)
				}
			}},
		{name: "unknown claims ignored", app: "hs", token: signHS(hsHdr, `{"app_id":"hs","exp":1800000000,"aud":["x"],"extra":{"a":[1,2]}}`)},

		// Time (default leeway 5s; other leeways in TestValidateLeeway).
		{name: "expired", app: "hs", token: mustSign(t, with("hs", func(c *protocol.Claims) { c.Exp = testNow.Unix() - 10 }), hs), code: protocol.ExpiredToken, cause: ErrExpired},
		{name: "expired within leeway", app: "hs", token: mustSign(t, with("hs", func(c *protocol.Claims) { c.Exp = testNow.Unix() - 4 }), hs)},
		{name: "exp 1970", app: "hs", token: signHS(hsHdr, `{"app_id":"hs","exp":0}`), code: protocol.ExpiredToken, cause: ErrExpired},
		{name: "nbf in the future", app: "hs", token: mustSign(t, with("hs", func(c *protocol.Claims) { c.Nbf = testNow.Unix() + 60 }), hs), code: protocol.InvalidToken, cause: ErrNotYetValid},
		{name: "nbf within leeway", app: "hs", token: mustSign(t, with("hs", func(c *protocol.Claims) { c.Nbf = testNow.Unix() + 4 }), hs)},
		{name: "nbf past", app: "hs", token: mustSign(t, with("hs", func(c *protocol.Claims) { c.Nbf = testNow.Unix() - 60 }), hs)},
		{name: "iat in the future", app: "hs", token: mustSign(t, with("hs", func(c *protocol.Claims) { c.Iat = testNow.Unix() + 60 }), hs), code: protocol.InvalidToken, cause: ErrNotYetValid},
		{name: "expired and for another app: mismatch first", app: "hs-twin", token: mustSign(t, with("hs", func(c *protocol.Claims) { c.Exp = 1 }), hs),
			code: protocol.AuthMismatch, cause: ErrAppMismatch},
		{name: "bad signature and expired: signature first", app: "hs", token: mustSign(t, with("hs", func(c *protocol.Claims) { c.Exp = 1 }), SigningKey{Secret: []byte("x")}),
			code: protocol.SignatureInvalid, cause: ErrBadSignature},
	}
	runValidateCases(t, r, cases)
}

func runValidateCases(t *testing.T, r *Registry, cases []validateCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cl, err := r.Validate(tc.app, []byte(tc.token))
			if tc.code == protocol.Success {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if cl == nil || cl.AppID != tc.app {
					t.Fatalf("claims = %+v", cl)
				}
				if tc.check != nil {
					tc.check(t, cl)
				}
				return
			}
			if cl != nil {
				t.Errorf("claims = %+v on failure", cl)
			}
			var re *protocol.RtWsError
			if !errors.As(err, &re) || error(re) != err {
				t.Fatalf("error %T %v is not a *protocol.RtWsError", err, err)
			}
			if re.Code != tc.code {
				t.Errorf("code = %s, want %s (%v)", re.Code, tc.code, err)
			}
			if tc.cause != nil && !errors.Is(err, tc.cause) {
				t.Errorf("cause = %v, want %v", re.Cause, tc.cause)
			}
		})
	}
}

func TestValidateLeeway(t *testing.T) {
	hs := SigningKey{Secret: []byte(hsSecret)}
	tok := func(exp, nbf int64) string {
		return mustSign(t, protocol.Claims{AppID: "hs", Exp: testNow.Unix() + exp, Nbf: nbfAt(nbf)}, hs)
	}
	tests := []struct {
		name     string
		leeway   time.Duration
		exp, nbf int64 // seconds relative to now; nbf 0 = absent
		code     protocol.WsBizCode
	}{
		{"default: exp 4s ago", 0, -4, 0, protocol.Success},
		{"default: exp 5s ago", 0, -5, 0, protocol.ExpiredToken},
		{"default: nbf in 5s", 0, 60, 5, protocol.Success},
		{"default: nbf in 6s", 0, 60, 6, protocol.InvalidToken},
		{"30s: exp 29s ago", 30 * time.Second, -29, 0, protocol.Success},
		{"30s: exp 31s ago", 30 * time.Second, -31, 0, protocol.ExpiredToken},
		{"30s: nbf in 30s", 30 * time.Second, 60, 30, protocol.Success},
		{"none: exp in 1s", -1, 1, 0, protocol.Success},
		{"none: exp now", -1, 0, 0, protocol.ExpiredToken},
		{"none: nbf now", -1, 60, 0, protocol.Success},
		{"none: nbf in 1s", -1, 60, 1, protocol.InvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRegistry([]AppConfig{{ID: "hs", Secret: hsSecret}}, Options{Leeway: tt.leeway, Now: fixedNow})
			if err != nil {
				t.Fatal(err)
			}
			_, err = r.Validate("hs", []byte(tok(tt.exp, tt.nbf)))
			if got := protocol.CodeOf(err); got != tt.code {
				t.Errorf("code = %s, want %s (%v)", got, tt.code, err)
			}
		})
	}
}

func nbfAt(rel int64) int64 {
	if rel == 0 {
		return 0
	}
	return testNow.Unix() + rel
}

// TestValidateConcurrent exercises the pooled scratch and HMAC states under -race.
func TestValidateConcurrent(t *testing.T) {
	r := testRegistry(t, Options{})
	toks := map[string]string{
		"hs":  mustSign(t, claims("hs"), SigningKey{Secret: []byte(hsSecret)}),
		"rot": mustSign(t, claims("rot"), SigningKey{Secret: []byte(newSecret)}),
		"es":  mustSign(t, claims("es"), SigningKey{PrivateKeyPEM: ecKey.privPEM}),
	}
	bad := mustSign(t, claims("hs"), SigningKey{Secret: []byte("wrong")})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				for app, tok := range toks {
					cl, err := r.Validate(app, []byte(tok))
					if err != nil || cl.AppID != app || cl.Sub != "alice" {
						t.Errorf("goroutine %d iteration %d: %s: %+v %v", g, i, app, cl, err)
						return
					}
				}
				if _, err := r.Validate("hs", []byte(bad)); protocol.CodeOf(err) != protocol.SignatureInvalid {
					t.Errorf("bad token: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// tamper changes the payload of a token (sub alice → mallory) keeping header and signature.
func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	p, _ := enc.DecodeString(parts[1])
	p = []byte(strings.Replace(string(p), "alice", "mallory", 1))
	return parts[0] + "." + enc.EncodeToString(p) + "." + parts[2]
}

// derES256 signs with an ASN.1 DER signature, the form JWS does not use.
func derES256(k crypto.Signer) func([]byte) []byte {
	return func(in []byte) []byte {
		h := sha256.Sum256(in)
		sig, err := ecdsa.SignASN1(rand.Reader, k.(*ecdsa.PrivateKey), h[:])
		if err != nil {
			panic(err)
		}
		return sig
	}
}
