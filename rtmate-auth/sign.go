package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/rtmate/rtmate/rt-common/protocol"
)

// SigningKey is what Sign signs with: either an HS256 Secret or a PEM private key (PKCS#8
// "PRIVATE KEY", PKCS#1 "RSA PRIVATE KEY" or SEC 1 "EC PRIVATE KEY").
type SigningKey struct {
	// Alg is HS256, RS256, ES256 or EdDSA; empty means HS256 for a secret and the key's own
	// algorithm for PEM. A value that does not fit the key is an error.
	Alg string
	// Kid, if set, goes into the token header to select the verification key.
	Kid           string
	Secret        []byte
	PrivateKeyPEM []byte
}

// Sign issues a compact JWS of claims (typ JWT). It refuses claims that Validate would refuse
// for their shape (no app_id or no exp), so a tool cannot mint a token that can never work.
// It is meant for tools, tests and the load tool; the server only validates.
func Sign(claims protocol.Claims, key SigningKey) (string, error) {
	if claims.AppID == "" {
		return "", errors.New("sign: claims have no app_id")
	}
	if claims.Exp <= 0 {
		return "", errors.New("sign: claims have no exp")
	}
	al, raw, err := signingKey(key)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	payload, err := json.Marshal(signedClaims{Claims: claims, Channels: channelsField(claims.Channels)})
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.TypeKey, "JWT"); err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	if key.Kid != "" {
		if err := hdr.Set(jws.KeyIDKey, key.Kid); err != nil {
			return "", fmt.Errorf("sign: %w", err)
		}
	}
	tok, err := jws.Sign(payload, jws.WithKey(al.jwa(), raw, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return string(tok), nil
}

// signedClaims keeps a non-nil empty channels list in the token. protocol.Claims tags
// channels omitempty, which would turn "no channels" into an absent claim, and absent means
// every channel: the opposite grant.
type signedClaims struct {
	protocol.Claims
	Channels *[]string `json:"channels,omitempty"`
}

func channelsField(ch []string) *[]string {
	if ch == nil {
		return nil
	}
	return &ch
}

func signingKey(key SigningKey) (alg, any, error) {
	want := algInvalid
	if key.Alg != "" {
		if want = parseAlg(key.Alg); want == algInvalid {
			return algInvalid, nil, fmt.Errorf("alg %q is not supported (use HS256, RS256, ES256 or EdDSA)", key.Alg)
		}
	}
	switch {
	case len(key.Secret) > 0 && len(key.PrivateKeyPEM) > 0:
		return algInvalid, nil, errors.New("set either a secret or a private key, not both")
	case len(key.Secret) > 0:
		if want != algInvalid && want != algHS256 {
			return algInvalid, nil, fmt.Errorf("a secret signs HS256, not %s", want)
		}
		return algHS256, key.Secret, nil
	case len(key.PrivateKeyPEM) > 0:
		raw, err := ParsePrivateKeyPEM(key.PrivateKeyPEM)
		if err != nil {
			return algInvalid, nil, err
		}
		a, err := privateKeyAlg(raw)
		if err != nil {
			return algInvalid, nil, err
		}
		if want != algInvalid && want != a {
			return algInvalid, nil, fmt.Errorf("key/alg mismatch: the key is for %s, alg says %s", a, want)
		}
		return a, raw, nil
	}
	return algInvalid, nil, errors.New("no key: set a secret or a private key")
}

// ParsePrivateKeyPEM parses a PEM private key and returns an *rsa.PrivateKey,
// *ecdsa.PrivateKey or ed25519.PrivateKey.
func ParsePrivateKeyPEM(pemText []byte) (any, error) {
	raw, err := decodePEM(pemText)
	if err != nil {
		return nil, fmt.Errorf("private key PEM: %w", err)
	}
	switch raw.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
		return raw, nil
	}
	return nil, fmt.Errorf("private key PEM holds %T, not a private key", raw)
}

func privateKeyAlg(raw any) (alg, error) {
	switch k := raw.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < minRSABits {
			return algInvalid, fmt.Errorf("RSA key shorter than %d bits", minRSABits)
		}
		return algRS256, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return algInvalid, fmt.Errorf("EC key on curve %s: ES256 needs P-256", k.Curve.Params().Name)
		}
		return algES256, nil
	case ed25519.PrivateKey:
		return algEdDSA, nil
	}
	return algInvalid, fmt.Errorf("unsupported private key type %T", raw)
}
