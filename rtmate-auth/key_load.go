package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// minRSABits refuses RSA keys too short to be safe; 2048 is the floor of current guidance.
const minRSABits = 2048

// loadKeys turns an app's key configuration into verification keys, failing on anything
// ambiguous: a key whose type does not fit its alg is an error here, so that it can never be
// misused at verification time.
func loadKeys(app AppConfig, dir string) ([]*verifyKey, error) {
	var keys []*verifyKey
	if app.Secret != "" {
		keys = append(keys, newHMACKey("", "secret", []byte(app.Secret)))
	}
	for i, kc := range app.Keys {
		ks, err := loadKey(kc, fmt.Sprintf("keys[%d]", i), dir)
		if err != nil {
			return nil, err
		}
		keys = append(keys, ks...)
	}
	if len(keys) == 0 {
		return nil, errors.New("no keys: set secret or keys")
	}
	return keys, nil
}

func loadKey(kc KeyConfig, where, dir string) ([]*verifyKey, error) {
	n := 0
	for _, s := range []string{kc.Secret, kc.PublicKey, kc.PublicKeyFile, kc.JWKSFile, kc.JWKS} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return nil, fmt.Errorf("%s: set exactly one of secret, public_key, public_key_file, jwks_file, jwks (got %d)", where, n)
	}
	want := algInvalid
	if kc.Alg != "" {
		if want = parseAlg(kc.Alg); want == algInvalid {
			return nil, fmt.Errorf("%s: alg %q is not supported (use HS256, RS256, ES256 or EdDSA)", where, kc.Alg)
		}
	}

	switch {
	case kc.Secret != "":
		if want != algInvalid && want != algHS256 {
			return nil, fmt.Errorf("%s: a secret is an HS256 key, but alg is %s", where, want)
		}
		return []*verifyKey{newHMACKey(kc.Kid, where, []byte(kc.Secret))}, nil

	case kc.PublicKey != "", kc.PublicKeyFile != "":
		pemText := []byte(kc.PublicKey)
		if kc.PublicKeyFile != "" {
			path := resolvePath(dir, kc.PublicKeyFile)
			b, err := os.ReadFile(path) // #nosec G304 -- key files are named by the operator's config
			if err != nil {
				return nil, fmt.Errorf("%s: public_key_file: %w", where, err)
			}
			pemText, where = b, where+" ("+path+")"
		}
		raw, err := decodePEM(pemText)
		if err != nil {
			return nil, fmt.Errorf("%s: public key PEM: %w", where, err)
		}
		return oneKey(kc.Kid, where, want, raw)

	case kc.JWKS != "":
		if kc.Kid != "" {
			return nil, fmt.Errorf("%s: kid cannot be combined with jwks (each JWK carries its own kid)", where)
		}
		return parseJWKS([]byte(kc.JWKS), where+": jwks", want)

	default:
		path := resolvePath(dir, kc.JWKSFile)
		if kc.Kid != "" {
			return nil, fmt.Errorf("%s: kid cannot be combined with jwks_file (each JWK carries its own kid)", where)
		}
		return loadJWKS(path, where+" ("+path+")", want)
	}
}

func oneKey(kid, where string, want alg, raw any) ([]*verifyKey, error) {
	a, err := keyAlg(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if want != algInvalid && want != a {
		return nil, fmt.Errorf("%s: key/alg mismatch: the key is for %s, alg says %s", where, a, want)
	}
	k, err := newPublicKey(kid, where, a, raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return []*verifyKey{k}, nil
}

func loadJWKS(path, where string, want alg) ([]*verifyKey, error) {
	b, err := os.ReadFile(path) // #nosec G304 -- key files are named by the operator's config
	if err != nil {
		return nil, fmt.Errorf("%s: jwks_file: %w", where, err)
	}
	return parseJWKS(b, where+": jwks_file", want)
}

func parseJWKS(b []byte, where string, want alg) ([]*verifyKey, error) {
	set, err := jwk.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	var keys []*verifyKey
	for i := range set.Len() {
		k, _ := set.Key(i)
		kw := fmt.Sprintf("%s key %d", where, i)
		if kid := k.KeyID(); kid != "" {
			kw = fmt.Sprintf("%s key %q", where, kid)
		}
		// Encryption keys may share a published set; they are not for us.
		if use := k.KeyUsage(); use != "" && use != string(jwk.ForSignature) {
			continue
		}
		var raw any
		if err := k.Raw(&raw); err != nil {
			return nil, fmt.Errorf("%s: %w", kw, err)
		}
		kalg := want
		if s := k.Algorithm().String(); s != "" {
			if kalg = parseAlg(s); kalg == algInvalid {
				return nil, fmt.Errorf("%s: alg %q is not supported (use RS256, ES256 or EdDSA)", kw, s)
			}
			if want != algInvalid && kalg != want {
				return nil, fmt.Errorf("%s: the JWK says alg %s, the config says %s", kw, kalg, want)
			}
		}
		ks, err := oneKey(k.KeyID(), kw, kalg, raw)
		if err != nil {
			return nil, err
		}
		keys = append(keys, ks...)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: no signature keys in the set", where)
	}
	return keys, nil
}

// keyAlg is the one algorithm a public key may verify. Private keys are refused: the server
// needs only public keys, and a private key in its config is a leak waiting to happen.
func keyAlg(raw any) (alg, error) {
	switch k := raw.(type) {
	case *rsa.PublicKey:
		if k.N == nil || k.N.BitLen() < minRSABits {
			return algInvalid, fmt.Errorf("RSA key shorter than %d bits", minRSABits)
		}
		return algRS256, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return algInvalid, fmt.Errorf("EC key on curve %s: ES256 needs P-256", k.Curve.Params().Name)
		}
		if _, err := k.ECDH(); err != nil {
			return algInvalid, fmt.Errorf("EC key: %w", err)
		}
		return algES256, nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return algInvalid, errors.New("Ed25519 key of the wrong size")
		}
		return algEdDSA, nil
	case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
		return algInvalid, errors.New("a private key where a public key belongs (extract it: openssl pkey -pubout)")
	case []byte:
		return algInvalid, errors.New("a symmetric key in a public key source (use secret for HS256)")
	}
	return algInvalid, fmt.Errorf("unsupported key type %T (want RSA, EC P-256 or Ed25519)", raw)
}

// decodePEM parses the first PEM block: PKIX/PKCS#1 public keys, certificates (their public
// key), PKCS#8/PKCS#1/SEC 1 private keys.
func decodePEM(b []byte) (any, error) {
	raw, _, err := jwk.DecodePEM(b)
	return raw, err
}

func resolvePath(dir, p string) string {
	if dir == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}
