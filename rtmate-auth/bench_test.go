package auth

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/rtmate/rtmate/rt-common/protocol"
)

// benchClaims is a realistic connect token: a user, a channel restriction, an hour of life.
func benchClaims(app string) protocol.Claims {
	c := claims(app)
	c.Channels = []string{"chat-*", "presence-lobby"}
	return c
}

func benchValidate(b *testing.B, app string, key SigningKey) {
	r := testRegistry(b, Options{})
	tok := []byte(mustSign(b, benchClaims(app), key))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := r.Validate(app, tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidateHS256(b *testing.B) {
	benchValidate(b, "hs", SigningKey{Secret: []byte(hsSecret)})
}

func BenchmarkValidateES256(b *testing.B) {
	testKeys(b)
	benchValidate(b, "es", SigningKey{PrivateKeyPEM: ecKey.privPEM})
}

func BenchmarkValidateRS256(b *testing.B) {
	testKeys(b)
	benchValidate(b, "rs", SigningKey{PrivateKeyPEM: rsaKey.privPEM})
}

func BenchmarkValidateEdDSA(b *testing.B) {
	testKeys(b)
	benchValidate(b, "ed", SigningKey{PrivateKeyPEM: edKey.privPEM})
}

// BenchmarkValidateHS256Parallel is the connect storm: every core validating at once.
func BenchmarkValidateHS256Parallel(b *testing.B) {
	r := testRegistry(b, Options{})
	tok := []byte(mustSign(b, benchClaims("hs"), SigningKey{Secret: []byte(hsSecret)}))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := r.Validate("hs", tok); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkValidateBadSignature is what a flood of forged tokens costs.
func BenchmarkValidateBadSignature(b *testing.B) {
	r := testRegistry(b, Options{})
	tok := []byte(mustSign(b, benchClaims("hs"), SigningKey{Secret: []byte("forged")}))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Validate("hs", tok); err == nil {
			b.Fatal("forged token accepted")
		}
	}
}

// BenchmarkAlternative measures the two library paths Validate could have used, doing the
// same work (verify, decode the claims into protocol.Claims, check app_id and the clock), so
// the choice of the hand-written path stays backed by numbers.
func BenchmarkAlternative(b *testing.B) {
	testKeys(b)
	ecPub, err := decodePEM(ecKey.pubPEM)
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		app  string
		alg  jwa.SignatureAlgorithm
		sign SigningKey
		key  any
	}{
		{"HS256", "hs", jwa.HS256, SigningKey{Secret: []byte(hsSecret)}, []byte(hsSecret)},
		{"ES256", "es", jwa.ES256, SigningKey{PrivateKeyPEM: ecKey.privPEM}, ecPub},
	} {
		tok := []byte(mustSign(b, benchClaims(tc.app), tc.sign))
		b.Run(tc.name+"/jwt.Parse", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				t, err := jwt.Parse(tok, jwt.WithKey(tc.alg, tc.key), jwt.WithValidate(true),
					jwt.WithClock(jwt.ClockFunc(fixedNow)), jwt.WithAcceptableSkew(DefaultLeeway))
				if err != nil {
					b.Fatal(err)
				}
				c := protocol.Claims{Sub: t.Subject(), Exp: t.Expiration().Unix(), Iat: t.IssuedAt().Unix()}
				v, _ := t.Get("app_id")
				c.AppID, _ = v.(string)
				if ch, ok := t.Get("channels"); ok {
					for _, s := range ch.([]any) {
						c.Channels = append(c.Channels, s.(string))
					}
				}
				if c.AppID != tc.app {
					b.Fatal("app_id")
				}
			}
		})
		b.Run(tc.name+"/jws.Verify+json.Unmarshal", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				payload, err := jws.Verify(tok, jws.WithKey(tc.alg, tc.key))
				if err != nil {
					b.Fatal(err)
				}
				var c protocol.Claims
				if err := json.Unmarshal(payload, &c); err != nil {
					b.Fatal(err)
				}
				if c.AppID != tc.app || !fixedNow().Before(time.Unix(c.Exp, 0).Add(DefaultLeeway)) {
					b.Fatal("claims")
				}
			}
		})
	}
}
