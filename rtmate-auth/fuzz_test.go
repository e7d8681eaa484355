package auth

import (
	"testing"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

// validateCodes are the only codes Validate may answer with.
var validateCodes = map[protocol.WsBizCode]bool{
	protocol.AppNotFound:      true,
	protocol.InvalidToken:     true,
	protocol.ExpiredToken:     true,
	protocol.SignatureInvalid: true,
	protocol.AuthMismatch:     true,
}

// checkResult is the invariant of every Validate call: claims for the asked app, or exactly a
// *protocol.RtWsError with one of validateCodes and a cause.
func checkResult(t *testing.T, app string, c *protocol.Claims, err error) {
	t.Helper()
	if err == nil {
		if c == nil || c.AppID != app || c.Exp < 0 {
			t.Fatalf("success with claims %+v for app %q", c, app)
		}
		return
	}
	re, ok := err.(*protocol.RtWsError)
	if !ok || re == nil {
		t.Fatalf("error %T %v is not a *protocol.RtWsError", err, err)
	}
	if !validateCodes[re.Code] || re.Cause == nil {
		t.Fatalf("error %v: unexpected code %s or no cause", err, re.Code)
	}
	if c != nil {
		t.Fatalf("claims %+v with error %v", c, err)
	}
}

func fuzzSeeds(f *testing.F) {
	hs := SigningKey{Secret: []byte(hsSecret)}
	for _, s := range []struct{ app, tok string }{
		{"hs", mustSign(f, claims("hs"), hs)},
		{"hs", mustSign(f, protocol.Claims{AppID: "hs", Exp: 1, Channels: []string{"a", "b*"}}, hs)},
		{"rot", mustSign(f, claims("rot"), SigningKey{Secret: []byte(newSecret), Kid: "k2"})},
		{"rs", mustSign(f, claims("rs"), SigningKey{PrivateKeyPEM: rsaKey.privPEM})},
		{"es", mustSign(f, claims("es"), SigningKey{PrivateKeyPEM: ecKey.privPEM})},
		{"ed", mustSign(f, claims("ed"), SigningKey{PrivateKeyPEM: edKey.privPEM})},
		{"jwks", mustSign(f, claims("jwks"), SigningKey{PrivateKeyPEM: edKey.privPEM, Kid: "d1"})},
		{"hs", rawToken(`{"alg":"none"}`, `{"app_id":"hs","exp":1800000000}`, nil)},
		{"rs", rawToken(`{"alg":"HS256"}`, `{"app_id":"rs","exp":1800000000}`, hs256(rsaKey.pubPEM))},
		{"hs", rawToken(`{"alg":"HS256","crit":["x"]}`, `{}`, nil)},
		{"hs", "a.b.c"},
		{"hs", ".."},
		{"hs", "eyJhbGciOiJIUzI1NiJ9.e30."},
		{"nope", "x"},
	} {
		f.Add(s.app, []byte(s.tok))
	}
}

// FuzzValidate feeds arbitrary tokens to every kind of app.
func FuzzValidate(f *testing.F) {
	testKeys(f)
	r := testRegistry(f, Options{})
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, app string, tok []byte) {
		c, err := r.Validate(app, tok)
		checkResult(t, app, c, err)
	})
}

// FuzzValidateSigned signs arbitrary header and payload JSON with the app's secret, so that
// the fuzzer reaches the header scanner, the key selection and the claims decoder, which
// unsigned garbage never gets past.
func FuzzValidateSigned(f *testing.F) {
	testKeys(f)
	r := testRegistry(f, Options{})
	for _, s := range [][2]string{
		{`{"alg":"HS256","typ":"JWT"}`, `{"app_id":"hs","exp":1800000000,"sub":"alice","iat":1700000000,"nbf":1600000000,"channels":["a","b*"]}`},
		{`{"alg":"HS256","kid":"k"}`, `{"app_id":"hs","exp":1.7e9}`},
		{`{"alg":"HS256"}`, `{"app_id":"h\u0073","exp":1800000000,"channels":null,"sub":null}`},
		{`{"alg":"HS256"}`, `{"app_id":"hs","exp":1800000000,"x":[{"y":[1,2,{"z":null}]}]}`},
		{`{"alg":"HS256"}`, `{"app_id":"other","exp":1800000000}`},
		{`{"alg":"HS256"}`, `{"app_id":"hs","exp":1600000000}`},
		{`{"alg":"HS256"}`, `{"app_id":"hs","exp":"soon"}`},
		{`{"alg":"none"}`, `{}`},
		{` { "alg" : "HS256" } `, ` { "app_id" : "hs" , "exp" : 1800000000 } `},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, header, payload string) {
		tok := rawToken(header, payload, hs256([]byte(hsSecret)))
		c, err := r.Validate("hs", []byte(tok))
		checkResult(t, "hs", c, err)
	})
}
