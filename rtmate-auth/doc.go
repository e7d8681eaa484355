// Package auth validates RTMate connection tokens (JWT) against a registry of apps, and signs
// tokens for tools and tests.
//
// Entry points:
//   - NewRegistry builds an immutable, concurrency-safe Registry from []AppConfig (the `apps:`
//     of the server's YAML), reading and checking every key once.
//   - Registry.Validate(appID, token) runs on every connect and token refresh and returns the
//     token's protocol.Claims or a *protocol.RtWsError carrying the contract's code.
//   - App.OriginAllowed and ChannelAllowed answer the two policy questions the server asks
//     after auth: may this browser origin connect, may this token use this channel.
//   - Sign and DevToken issue tokens (rtmate-token, tests, the load tool).
//
// # Keys and algorithms
//
// An app has one or more keys (an HS256 secret, RS256/ES256/EdDSA public keys as PEM or a
// JWKS file). Each key is bound to exactly one algorithm when the registry is built, and a
// key whose type does not fit its configured alg is a configuration error. The token header's
// alg only selects among the keys already bound to that alg, so the classic confusion attack
// (an HS256 token "signed" with the RSA public key as HMAC secret) finds no HS256 key and fails;
// "none" in any spelling is refused outright.
//
// # Order of checks in Validate
//
// Each step only runs when the previous ones passed, and no claim is read before the
// signature has verified:
//
//  1. app id known, else AppNotFound;
//  2. shape: at most MaxTokenLen bytes, three base64url parts, header a JSON object with a
//     string alg and no crit/b64 extensions, else InvalidToken;
//  3. alg "none" → InvalidToken; an alg the app has no key for → SignatureInvalid;
//  4. signature: with a kid, the app's keys of that alg with that kid, then those without a
//     kid; without a kid, every key of that alg. A kid that names no key → SignatureInvalid;
//     no key verifies → SignatureInvalid;
//  5. claims (now trusted): a JSON object, app_id and exp present, types right (app_id/sub
//     strings, exp/iat/nbf NumericDates, channels an array of strings), else InvalidToken;
//  6. app_id equal to the app → else AuthMismatch (before the clock, because refreshing a
//     token for the wrong app would not help);
//  7. exp: now ≥ exp + leeway → ExpiredToken;
//  8. nbf or iat later than now + leeway → InvalidToken.
//
// The error's Cause wraps one of the Err* sentinels (ErrExpired, ErrBadSignature, …) with the
// details, for logs and for rtmate-token --verify; the wire only carries the code's message.
//
// # Why a hand-written verification path
//
// Validate does not call jwt.Parse or jws.Verify. It splits the compact token itself, walks
// header and claims in one pass with rt-common's allocation-free JSON scanner, checks HS256
// with a pooled keyed HMAC (jwx's HMAC verifier builds a new one per call) and the public-key
// algorithms with jwx's own jws verifiers, bound to each key when the registry is built.
// jwx still does what it is good at: PEM/JWK/JWKS parsing, the RS256/ES256/EdDSA signature
// checks and signing. Same work per call (verify, decode into protocol.Claims, check app_id
// and clock), best of 5 on the shared 2-core machine under load (BenchmarkValidate*,
// BenchmarkAlternative; figures in README.md):
//
//	HS256  Validate 2.3 µs, 4 allocs   jws.Verify+json.Unmarshal 25 µs, 77   jwt.Parse 49 µs, 190
//	ES256  Validate 192 µs, 28 allocs  jws.Verify+json.Unmarshal 319 µs, 92  jwt.Parse 236 µs, 205
//
// For HS256, the connect path, that is 10–20× less time and garbage; for ES256 the signature
// check dominates and the paths are within noise (calling crypto/ecdsa directly instead of
// jwx's verifier measured no better either).
package auth
