package auth

import (
	"sync"
	"time"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

// Scratch sizes for decoding: a typical header is ~40 bytes, an RS256 signature with a
// 4096-bit key 512 bytes, a payload with a few channels well under 1 KiB. Larger parts fall
// back to the heap.
const (
	hdrScratch     = 256
	sigScratch     = 512
	payloadScratch = 1024
)

// scratch holds one Validate's decoded parts. It is pooled rather than on the stack because
// the decoded bytes flow into the JSON scanner, which escape analysis cannot see through; a
// pooled scratch keeps a valid HS256 token down to the allocations of its result.
type scratch struct {
	hdr     [hdrScratch]byte
	sig     [sigScratch]byte
	payload [payloadScratch]byte
	rc      rawClaims
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// Validate checks token for this app and returns its claims; see Registry.Validate.
func (a *App) Validate(token []byte) (*protocol.Claims, error) {
	// 1. Shape: a bounded compact JWS with a parsable header naming an allowed alg.
	if len(token) > MaxTokenLen {
		return nil, protocol.Errorf(protocol.InvalidToken, "%w: %d bytes, more than %d", ErrMalformed, len(token), MaxTokenLen)
	}
	hB64, pB64, sB64, ok := splitToken(token)
	if !ok || len(hB64) == 0 || len(pB64) == 0 {
		return nil, protocol.Errorf(protocol.InvalidToken, "%w: not a JWT (want header.payload.signature)", ErrMalformed)
	}
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	hdr, err := decodeInto(sc.hdr[:], hB64)
	if err != nil {
		return nil, protocol.Errorf(protocol.InvalidToken, "%w: header is not base64url: %v", ErrMalformed, err)
	}
	algName, kid, err := parseHeader(hdr)
	if err != nil {
		return nil, protocol.Errorf(protocol.InvalidToken, "%w: %v", ErrMalformed, err)
	}
	if isNone(algName) {
		return nil, protocol.NewError(protocol.InvalidToken, ErrAlgNone)
	}
	al := parseAlgBytes(algName)
	cands := a.keys[al]
	if al == algInvalid || len(cands) == 0 {
		return nil, protocol.Errorf(protocol.SignatureInvalid, "%w: the token is signed with %q, app %q accepts %v",
			ErrAlgNotAllowed, clip(string(algName)), a.ID, a.Algorithms())
	}

	// 2. Signature, before any claim is looked at.
	if len(sB64) == 0 {
		return nil, protocol.Errorf(protocol.SignatureInvalid, "%w: the signature is empty", ErrBadSignature)
	}
	sig, err := decodeInto(sc.sig[:], sB64)
	if err != nil {
		return nil, protocol.Errorf(protocol.InvalidToken, "%w: signature is not base64url: %v", ErrMalformed, err)
	}
	if err := a.verify(token[:len(hB64)+1+len(pB64)], sig, al, kid); err != nil {
		return nil, err
	}

	// 3. Claims: well-formed, for this app, within their time window.
	payload, err := decodeInto(sc.payload[:], pB64)
	if err != nil {
		return nil, protocol.Errorf(protocol.InvalidToken, "%w: payload is not base64url: %v", ErrMalformed, err)
	}
	// Everything taken from rc is copied out (strings) or freshly allocated (channels)
	// before sc goes back to the pool.
	rc := &sc.rc
	*rc = rawClaims{}
	if err := parseClaims(payload, rc); err != nil {
		return nil, protocol.Errorf(protocol.InvalidToken, "%w: %v", ErrBadClaims, err)
	}
	if string(rc.appID) != a.ID {
		return nil, protocol.Errorf(protocol.AuthMismatch, "%w: the token is for app %q, not %q", ErrAppMismatch, clip(string(rc.appID)), a.ID)
	}
	now := a.now()
	if exp := time.Unix(rc.exp, 0); !now.Before(exp.Add(a.leeway)) {
		return nil, protocol.Errorf(protocol.ExpiredToken, "%w at %s (%s ago)", ErrExpired, exp.UTC().Format(time.RFC3339), now.Sub(exp).Round(time.Second))
	}
	late := now.Add(a.leeway)
	if rc.hasNbf {
		if nbf := time.Unix(rc.nbf, 0); late.Before(nbf) {
			return nil, protocol.Errorf(protocol.InvalidToken, "%w: not before %s (in %s)", ErrNotYetValid, nbf.UTC().Format(time.RFC3339), nbf.Sub(now).Round(time.Second))
		}
	}
	if rc.hasIat {
		if iat := time.Unix(rc.iat, 0); late.Before(iat) {
			return nil, protocol.Errorf(protocol.InvalidToken, "%w: issued in the future, at %s (in %s; check the issuer's clock)", ErrNotYetValid, iat.UTC().Format(time.RFC3339), iat.Sub(now).Round(time.Second))
		}
	}

	c := &protocol.Claims{AppID: a.ID, Exp: rc.exp, Iat: rc.iat, Nbf: rc.nbf, Channels: rc.channels}
	if len(rc.sub) > 0 {
		c.Sub = string(rc.sub)
	}
	return c, nil
}

// verify tries the candidate keys of alg: with a kid, the keys carrying that kid first and then
// the keys without one; without a kid, all of them. An HMAC try costs well under a
// microsecond and apps hold few keys, so trying several is cheap.
func (a *App) verify(input, sig []byte, al alg, kid []byte) error {
	cands := a.keys[al]
	if len(kid) == 0 {
		for _, k := range cands {
			if k.verify(input, sig) {
				return nil
			}
		}
		return protocol.Errorf(protocol.SignatureInvalid, "%w: it does not verify with any of app %q's %d %s key(s)", ErrBadSignature, a.ID, len(cands), al)
	}
	tried := 0
	for pass := 0; pass < 2; pass++ {
		for _, k := range cands {
			if pass == 0 && k.kid != string(kid) || pass == 1 && k.kid != "" {
				continue
			}
			tried++
			if k.verify(input, sig) {
				return nil
			}
		}
	}
	if tried > 0 {
		return protocol.Errorf(protocol.SignatureInvalid, "%w: it does not verify with app %q's %s key(s) for kid %q", ErrBadSignature, a.ID, al, clip(string(kid)))
	}
	for other := algHS256; other < numAlgs; other++ {
		for _, k := range a.keys[other] {
			if k.kid == string(kid) {
				return protocol.Errorf(protocol.SignatureInvalid, "%w: key %q of app %q is for %s, the token is signed with %s", ErrAlgNotAllowed, k.kid, a.ID, other, al)
			}
		}
	}
	return protocol.Errorf(protocol.SignatureInvalid, "%w: app %q has no key %q", ErrUnknownKid, a.ID, clip(string(kid)))
}
