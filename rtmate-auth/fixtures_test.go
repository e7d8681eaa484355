package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/rtmate/rtmate/rt-common/protocol"
)

// testNow is the fixed clock of the tests.
var testNow = time.Unix(1_700_000_000, 0)

func fixedNow() time.Time { return testNow }

// keyPair is a generated key with its PEM forms.
type keyPair struct {
	priv    crypto.Signer
	privPEM []byte // PKCS#8
	pubPEM  []byte // PKIX
}

var (
	keysOnce sync.Once
	rsaKey   keyPair
	rsaKey2  keyPair
	ecKey    keyPair
	ecKey2   keyPair
	edKey    keyPair
	ecP384   keyPair
)

// testKeys generates the fixtures once per test binary; RSA generation is the slow part.
func testKeys(tb testing.TB) {
	tb.Helper()
	keysOnce.Do(func() {
		mk := func(s crypto.Signer) keyPair {
			p8, err := x509.MarshalPKCS8PrivateKey(s)
			if err != nil {
				panic(err)
			}
			pk, err := x509.MarshalPKIXPublicKey(s.Public())
			if err != nil {
				panic(err)
			}
			return keyPair{
				priv:    s,
				privPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}),
				pubPEM:  pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pk}),
			}
		}
		must := func(s crypto.Signer, err error) crypto.Signer {
			if err != nil {
				panic(err)
			}
			return s
		}
		rsaKey = mk(must(rsa.GenerateKey(rand.Reader, 2048)))
		rsaKey2 = mk(must(rsa.GenerateKey(rand.Reader, 2048)))
		ecKey = mk(must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)))
		ecKey2 = mk(must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)))
		ecP384 = mk(must(ecdsa.GenerateKey(elliptic.P384(), rand.Reader)))
		_, ed, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		edKey = mk(ed)
	})
}

// writeFile writes content into the test's temp dir and returns the path.
func writeFile(tb testing.TB, name string, content []byte) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(p, content, 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

// jwksJSON builds a JWK Set of the public halves of keys, with kids and (if alg != "") algs.
func jwksJSON(tb testing.TB, entries ...jwksEntry) []byte {
	tb.Helper()
	set := jwk.NewSet()
	for _, e := range entries {
		k, err := jwk.FromRaw(e.key.Public())
		if err != nil {
			tb.Fatal(err)
		}
		if e.kid != "" {
			_ = k.Set(jwk.KeyIDKey, e.kid)
		}
		if e.alg != "" {
			_ = k.Set(jwk.AlgorithmKey, e.alg)
		}
		if e.use != "" {
			_ = k.Set(jwk.KeyUsageKey, e.use)
		}
		if err := set.AddKey(k); err != nil {
			tb.Fatal(err)
		}
	}
	b, err := json.Marshal(set)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

type jwksEntry struct {
	key      crypto.Signer
	kid, alg string
	use      string
}

// claims returns valid claims for app at testNow.
func claims(app string) protocol.Claims {
	return protocol.Claims{AppID: app, Sub: "alice", Iat: testNow.Unix(), Exp: testNow.Add(time.Hour).Unix()}
}

// mustSign signs or fails the test.
func mustSign(tb testing.TB, c protocol.Claims, k SigningKey) string {
	tb.Helper()
	tok, err := Sign(c, k)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

var enc = base64.RawURLEncoding

// rawToken assembles a token from literal header and payload JSON, signed by sign (nil for an
// empty signature): the tool for crafting tokens a well-behaved library refuses to produce.
func rawToken(header, payload string, sign func(input []byte) []byte) string {
	input := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	var sig []byte
	if sign != nil {
		sig = sign([]byte(input))
	}
	return input + "." + enc.EncodeToString(sig)
}

func hs256(secret []byte) func([]byte) []byte {
	return func(in []byte) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write(in)
		return m.Sum(nil)
	}
}

func payloadJSON(tb testing.TB, c protocol.Claims) string {
	tb.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func writeFileErr(p string, b []byte) error { return os.WriteFile(p, b, 0o600) }
