package auth

import (
	"errors"
	"time"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

// The built-in development app, served when the server runs without a config. Its secret is
// public by design: never use it for anything reachable from outside.
const (
	DevAppID  = "demo-app"
	DevSecret = "rtmate-dev-secret-change-me" // #nosec G101 -- public on purpose: the development app's secret
	DevAPIKey = "demo-api-key"                // #nosec G101 -- public on purpose: the development app's API key
)

// DevAppConfig is the development app's auth configuration: DevAppID with the HS256 secret
// DevSecret and any origin.
func DevAppConfig() AppConfig { return AppConfig{ID: DevAppID, Secret: DevSecret} }

// DevToken issues a token for the development app: user sub, valid for ttl from now,
// restricted to channels (nil = every channel).
func DevToken(sub string, ttl time.Duration, channels []string) (string, error) {
	if ttl <= 0 {
		return "", errors.New("dev token: ttl must be positive")
	}
	now := time.Now()
	return Sign(protocol.Claims{
		AppID:    DevAppID,
		Sub:      sub,
		Iat:      now.Unix(),
		Exp:      now.Add(ttl).Unix(),
		Channels: channels,
	}, SigningKey{Secret: []byte(DevSecret)})
}
