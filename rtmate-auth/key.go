package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"hash"
	"sync"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// alg is one algorithm of the allow-list. Anything else, "none" included, never verifies.
type alg uint8

const (
	algInvalid alg = iota
	algHS256
	algRS256
	algES256
	algEdDSA
	numAlgs
)

var algNames = [numAlgs]string{algHS256: "HS256", algRS256: "RS256", algES256: "ES256", algEdDSA: "EdDSA"}

func (a alg) String() string {
	if a == algInvalid || a >= numAlgs {
		return "invalid"
	}
	return algNames[a]
}

func (a alg) jwa() jwa.SignatureAlgorithm { return jwa.SignatureAlgorithm(a.String()) }

// parseAlg maps a header or config alg name to the allow-list. Names are case-sensitive
// (RFC 7518), so "hs256" is not HS256.
func parseAlg(name string) alg {
	switch name {
	case "HS256":
		return algHS256
	case "RS256":
		return algRS256
	case "ES256":
		return algES256
	case "EdDSA":
		return algEdDSA
	}
	return algInvalid
}

// verifyKey is one verification key, ready for the hot path: the algorithm is fixed when the
// registry is built, so the token header can only select among keys, never change how a key
// is used (an RSA public key can never become an HMAC secret).
type verifyKey struct {
	kid string
	alg alg
	// source names the config entry for error messages ("keys[1]", "jwks_file x.json#kid").
	source string

	// HS256: a pool of keyed HMAC states, because hmac.New costs several allocations and
	// a keyed state can be Reset and reused.
	hmacPool *sync.Pool
	// Public-key algorithms: jwx's verifier for alg and the raw public key.
	verifier jws.Verifier
	pub      any
}

type hmacState struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

func newHMACKey(kid, source string, secret []byte) *verifyKey {
	secret = append([]byte(nil), secret...)
	return &verifyKey{
		kid:    kid,
		alg:    algHS256,
		source: source,
		hmacPool: &sync.Pool{New: func() any {
			return &hmacState{h: hmac.New(sha256.New, secret)}
		}},
	}
}

func newPublicKey(kid, source string, a alg, pub any) (*verifyKey, error) {
	v, err := jws.NewVerifier(a.jwa())
	if err != nil {
		return nil, fmt.Errorf("verifier for %s: %w", a, err)
	}
	return &verifyKey{kid: kid, alg: a, source: source, verifier: v, pub: pub}, nil
}

// verify reports whether sig is a valid signature of input under k.
func (k *verifyKey) verify(input, sig []byte) bool {
	if k.alg == algHS256 {
		if len(sig) != sha256.Size {
			return false
		}
		st := k.hmacPool.Get().(*hmacState)
		st.h.Reset()
		st.h.Write(input)
		ok := hmac.Equal(st.h.Sum(st.sum[:0]), sig)
		k.hmacPool.Put(st)
		return ok
	}
	return k.verifier.Verify(input, sig, k.pub) == nil
}
