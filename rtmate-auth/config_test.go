package auth

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNewRegistryErrors(t *testing.T) {
	testKeys(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallDER, _ := x509.MarshalPKIXPublicKey(&small.PublicKey)
	smallPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: smallDER}))
	jwks := func(entries ...jwksEntry) string { return writeFile(t, "k.jwks", jwksJSON(t, entries...)) }

	tests := []struct {
		name string
		apps []AppConfig
		want []string // substrings of the error
	}{
		{"empty id", []AppConfig{{Secret: "s"}}, []string{"apps[0]: id is empty"}},
		{"duplicate id", []AppConfig{{ID: "a", Secret: "s"}, {ID: "a", Secret: "t"}}, []string{`apps[1]: duplicate app id "a"`}},
		{"no keys", []AppConfig{{ID: "a"}}, []string{`app "a": no keys`}},
		{"key with two sources", []AppConfig{{ID: "a", Keys: []KeyConfig{{Secret: "s", PublicKey: string(rsaKey.pubPEM)}}}}, []string{`app "a"`, "keys[0]", "exactly one"}},
		{"key with no source", []AppConfig{{ID: "a", Keys: []KeyConfig{{Kid: "x"}}}}, []string{"keys[0]", "exactly one"}},
		{"unsupported alg", []AppConfig{{ID: "a", Keys: []KeyConfig{{Secret: "s", Alg: "HS512"}}}}, []string{`alg "HS512" is not supported`}},
		{"alg none", []AppConfig{{ID: "a", Keys: []KeyConfig{{Secret: "s", Alg: "none"}}}}, []string{`alg "none" is not supported`}},
		{"secret with RS256", []AppConfig{{ID: "a", Keys: []KeyConfig{{Secret: "s", Alg: "RS256"}}}}, []string{"a secret is an HS256 key, but alg is RS256"}},
		{"RSA key with HS256", []AppConfig{{ID: "a", Keys: []KeyConfig{{PublicKey: string(rsaKey.pubPEM), Alg: "HS256"}}}}, []string{"key/alg mismatch", "RS256", "HS256"}},
		{"RSA key with ES256", []AppConfig{{ID: "a", Keys: []KeyConfig{{PublicKey: string(rsaKey.pubPEM), Alg: "ES256"}}}}, []string{"key/alg mismatch"}},
		{"EC key with EdDSA", []AppConfig{{ID: "a", Keys: []KeyConfig{{PublicKey: string(ecKey.pubPEM), Alg: "EdDSA"}}}}, []string{"key/alg mismatch"}},
		{"bad PEM", []AppConfig{{ID: "a", Keys: []KeyConfig{{PublicKey: "not a key"}}}}, []string{"keys[0]", "PEM"}},
		{"private key as public key", []AppConfig{{ID: "a", Keys: []KeyConfig{{PublicKey: string(rsaKey.privPEM)}}}}, []string{"private key where a public key belongs"}},
		{"EC P-384", []AppConfig{{ID: "a", Keys: []KeyConfig{{PublicKey: string(ecP384.pubPEM)}}}}, []string{"P-384", "P-256"}},
		{"RSA 1024", []AppConfig{{ID: "a", Keys: []KeyConfig{{PublicKey: smallPEM}}}}, []string{"shorter than 2048"}},
		{"missing key file", []AppConfig{{ID: "a", Keys: []KeyConfig{{PublicKeyFile: "/nonexistent/k.pem"}}}}, []string{"public_key_file", "/nonexistent/k.pem"}},
		{"missing jwks file", []AppConfig{{ID: "a", Keys: []KeyConfig{{JWKSFile: "/nonexistent/k.jwks"}}}}, []string{"jwks_file", "/nonexistent/k.jwks"}},
		{"jwks not JSON", []AppConfig{{ID: "a", Keys: []KeyConfig{{JWKSFile: writeFile(t, "bad.jwks", []byte("{"))}}}}, []string{"jwks_file"}},
		{"jwks with kid in config", []AppConfig{{ID: "a", Keys: []KeyConfig{{Kid: "x", JWKSFile: jwks(jwksEntry{key: ecKey.priv})}}}}, []string{"kid cannot be combined with jwks_file"}},
		{"jwks unsupported alg", []AppConfig{{ID: "a", Keys: []KeyConfig{{JWKSFile: jwks(jwksEntry{key: rsaKey.priv, kid: "r", alg: "PS256"})}}}}, []string{`alg "PS256" is not supported`}},
		{"jwks alg does not fit the key", []AppConfig{{ID: "a", Keys: []KeyConfig{{JWKSFile: jwks(jwksEntry{key: rsaKey.priv, kid: "r", alg: "ES256"})}}}}, []string{`key "r"`, "key/alg mismatch"}},
		{"jwks alg differs from config alg", []AppConfig{{ID: "a", Keys: []KeyConfig{{Alg: "RS256", JWKSFile: jwks(jwksEntry{key: ecKey.priv, kid: "e", alg: "ES256"})}}}}, []string{"the JWK says alg ES256, the config says RS256"}},
		{"jwks only encryption keys", []AppConfig{{ID: "a", Keys: []KeyConfig{{JWKSFile: jwks(jwksEntry{key: ecKey.priv, use: "enc"})}}}}, []string{"no signature keys"}},
		{"jwks with private key", []AppConfig{{ID: "a", Keys: []KeyConfig{{JWKSFile: writeFile(t, "p.jwks", privateJWKS(t))}}}}, []string{"private key where a public key belongs"}},
		{"jwks with symmetric key", []AppConfig{{ID: "a", Keys: []KeyConfig{{JWKSFile: writeFile(t, "o.jwks", []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`))}}}}, []string{"symmetric key"}},
		{"origin without scheme", []AppConfig{{ID: "a", Secret: "s", AllowedOrigins: []string{"example.com"}}}, []string{`allowed_origins[0] "example.com"`}},
		{"origin with path", []AppConfig{{ID: "a", Secret: "s", AllowedOrigins: []string{"https://example.com/app"}}}, []string{"allowed_origins[0]"}},
		{"origin bare wildcard host", []AppConfig{{ID: "a", Secret: "s", AllowedOrigins: []string{"https://*."}}}, []string{"allowed_origins[0]"}},
		{"origin wildcard inside a label", []AppConfig{{ID: "a", Secret: "s", AllowedOrigins: []string{"https://ok.example", "https://a*.example.com"}}}, []string{"allowed_origins[1]"}},
		{"origin bad port", []AppConfig{{ID: "a", Secret: "s", AllowedOrigins: []string{"https://example.com:x"}}}, []string{"allowed_origins[0]"}},
		{"every error reported", []AppConfig{{ID: "a"}, {ID: "b", Keys: []KeyConfig{{PublicKey: "x"}}}, {Secret: "s"}}, []string{`app "a": no keys`, `app "b": keys[0]`, "apps[2]: id is empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRegistry(tt.apps, Options{})
			if err == nil {
				t.Fatalf("NewRegistry succeeded: %v", r.Apps())
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// privateJWKS is a set holding an EC private key, which a verification config must refuse.
func privateJWKS(t *testing.T) []byte {
	t.Helper()
	return []byte(`{"keys":[{"kty":"EC","crv":"P-256","kid":"p",` +
		`"x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM",` +
		`"d":"870MB6gfuTJ4HtUnUvYMyJpr5eUZNP4Bk43bVdj3eAE"}]}`)
}

func TestNewRegistryAccessors(t *testing.T) {
	testKeys(t)
	dir := t.TempDir()
	writeFileAt(t, filepath.Join(dir, "rsa.pem"), rsaKey.pubPEM)
	r, err := NewRegistry([]AppConfig{
		{ID: "zeta", Secret: "s"},
		{ID: "alpha", Keys: []KeyConfig{{PublicKeyFile: "rsa.pem"}, {Secret: "s2", Kid: "h"}, {PublicKey: string(edKey.pubPEM)}}},
		DevAppConfig(),
	}, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range r.Apps() {
		ids = append(ids, a.ID)
	}
	if want := []string{"alpha", DevAppID, "zeta"}; !slices.Equal(ids, want) {
		t.Errorf("Apps() = %q, want %q", ids, want)
	}
	a, ok := r.App("alpha")
	if !ok || a.ID != "alpha" {
		t.Fatalf("App(alpha) = %v, %v", a, ok)
	}
	if got, want := a.Algorithms(), []string{"HS256", "RS256", "EdDSA"}; !slices.Equal(got, want) {
		t.Errorf("Algorithms() = %q, want %q", got, want)
	}
	if _, ok := r.App("nope"); ok {
		t.Error("App(nope) found")
	}
	// Apps returns a copy: changing it must not change the registry.
	r.Apps()[0] = nil
	if r.Apps()[0] == nil {
		t.Error("Apps() exposes the registry's slice")
	}
	if empty, err := NewRegistry(nil, Options{}); err != nil || len(empty.Apps()) != 0 {
		t.Errorf("empty registry: %v, %v", empty, err)
	}
}

func writeFileAt(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := writeFileErr(p, b); err != nil {
		t.Fatal(err)
	}
}

// TestPEMForms: every documented PEM form of a public key verifies tokens of its private key.
func TestPEMForms(t *testing.T) {
	testKeys(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: testNow.Add(-time.Hour), NotAfter: testNow.Add(time.Hour)}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, ecKey.priv.Public(), ecKey.priv)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := x509.MarshalPKCS1PublicKey(rsaKey.priv.Public().(*rsa.PublicKey))
	tests := []struct {
		name    string
		pub     []byte
		privPEM []byte
	}{
		{"PKIX RSA", rsaKey.pubPEM, rsaKey.privPEM},
		{"PKCS#1 RSA PUBLIC KEY", pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: pkcs1}), rsaKey.privPEM},
		{"CERTIFICATE (EC)", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER}), ecKey.privPEM},
		{"PKIX Ed25519", edKey.pubPEM, edKey.privPEM},
		{"SEC 1 EC PRIVATE KEY for signing", ecKey.pubPEM, sec1(t, ecKey.priv.(*ecdsa.PrivateKey))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRegistry([]AppConfig{{ID: "a", Keys: []KeyConfig{{PublicKey: string(tt.pub)}}}}, Options{Now: fixedNow})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Validate("a", []byte(mustSign(t, claims("a"), SigningKey{PrivateKeyPEM: tt.privPEM}))); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func sec1(t *testing.T, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}
