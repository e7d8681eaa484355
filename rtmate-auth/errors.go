package auth

import "errors"

// Sentinel causes of a failed Validate. The returned *protocol.RtWsError carries one of them
// (wrapped with the details) as its Cause, so callers can tell the reasons apart with
// errors.Is without parsing text; the wire only ever sees the code's fixed message.
var (
	// ErrUnknownApp: no app with the requested id (AppNotFound).
	ErrUnknownApp = errors.New("unknown app")
	// ErrMalformed: not a compact JWS, bad base64, bad header JSON (InvalidToken).
	ErrMalformed = errors.New("malformed token")
	// ErrAlgNone: the token is unsigned (alg "none") (InvalidToken).
	ErrAlgNone = errors.New(`unsigned token (alg "none")`)
	// ErrAlgNotAllowed: the token's alg is not configured for the app or for the key its
	// kid names (SignatureInvalid).
	ErrAlgNotAllowed = errors.New("algorithm not allowed")
	// ErrUnknownKid: the token's kid names no key of the app (SignatureInvalid).
	ErrUnknownKid = errors.New("unknown key id")
	// ErrBadSignature: the signature does not verify with any candidate key (SignatureInvalid).
	ErrBadSignature = errors.New("bad signature")
	// ErrBadClaims: the payload is not a JSON object of well-typed claims, or a required
	// claim (app_id, exp) is missing or out of range (InvalidToken).
	ErrBadClaims = errors.New("bad claims")
	// ErrAppMismatch: the token's app_id is not the app it was presented to (AuthMismatch).
	ErrAppMismatch = errors.New("token is for another app")
	// ErrExpired: exp is in the past beyond the leeway (ExpiredToken).
	ErrExpired = errors.New("token expired")
	// ErrNotYetValid: nbf or iat is in the future beyond the leeway (InvalidToken).
	ErrNotYetValid = errors.New("token not yet valid")
)
