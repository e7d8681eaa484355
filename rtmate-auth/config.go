package auth

import "time"

// KeyConfig is one verification key of an app. An app may list several, which is how keys are
// rotated: publish the new key next to the old one, switch the issuer, drop the old key once
// its last token has expired. Exactly one of Secret, PublicKey, PublicKeyFile, JWKSFile and JWKS
// must be set.
type KeyConfig struct {
	// Kid is optional. A token whose header names a kid is checked against the keys with that
	// kid (and keys without one); a token without a kid is checked against every key of its alg.
	Kid string `yaml:"kid"`
	// Alg is HS256, RS256, ES256 or EdDSA. Empty means HS256 for a secret and the key's own
	// algorithm for PEM (RSA → RS256, EC P-256 → ES256, Ed25519 → EdDSA). A value that does
	// not fit the key is a configuration error.
	Alg string `yaml:"alg"`
	// Secret is an HS256 shared secret.
	Secret string `yaml:"secret"`
	// PublicKey is PEM text: PUBLIC KEY (PKIX), RSA PUBLIC KEY (PKCS#1) or CERTIFICATE.
	PublicKey string `yaml:"public_key"`
	// PublicKeyFile is a file holding such PEM text; a relative path is resolved against
	// Options.Dir.
	PublicKeyFile string `yaml:"public_key_file"`
	// JWKSFile is a JWK Set file of public keys, each with its own kid and (optionally) alg;
	// keys with "use":"enc" are skipped. Kid must be empty; Alg, if set, must agree with
	// every key.
	JWKSFile string `yaml:"jwks_file"`
	// JWKS is a JWK Set document inline, with the same rules as JWKSFile (the admin API stores
	// keys this way: it never names files on the server).
	JWKS string `yaml:"jwks"`
}

// AppConfig is one app as far as authentication is concerned. The server inlines it into its
// own per-app configuration (`yaml:",inline"`).
type AppConfig struct {
	// ID is the app id that clients send as appId and tokens carry as app_id. Required, unique.
	ID string `yaml:"id"`
	// Secret is shorthand for one HS256 key without a kid.
	Secret string `yaml:"secret"`
	// Keys are further verification keys; at least one key (Secret or Keys) is required.
	Keys []KeyConfig `yaml:"keys"`
	// AllowedOrigins restricts browser origins of WebSocket upgrades. Empty means any origin.
	// Entries are exact origins ("https://app.example.com", "http://localhost:5173"), "*", or
	// one wildcard level in front of a domain ("https://*.example.com", which does not match
	// https://example.com itself).
	AllowedOrigins []string `yaml:"allowed_origins"`
}

// DefaultLeeway is the clock leeway for exp, nbf and iat when Options.Leeway is zero.
const DefaultLeeway = 5 * time.Second

// Options tune a Registry. The zero value is ready to use.
type Options struct {
	// Leeway is the tolerated clock skew between issuer and server for exp, nbf and iat.
	// Zero means DefaultLeeway (5s); negative means none.
	Leeway time.Duration
	// Now is the clock; nil means time.Now. Tests set it.
	Now func() time.Time
	// Dir is the base directory for relative public_key_file and jwks_file paths; empty means
	// the working directory. Set it to the config file's directory.
	Dir string
}

func (o Options) leeway() time.Duration {
	switch {
	case o.Leeway == 0:
		return DefaultLeeway
	case o.Leeway < 0:
		return 0
	}
	return o.Leeway
}
