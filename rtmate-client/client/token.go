package client

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// tokenExpiry reads the exp claim of a JWT without verifying it: the client only needs to
// know when to fetch the next token; the server does the verifying.
func tokenExpiry(token string) (time.Time, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, errors.New("token is not a JWS compact serialization")
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, err
	}
	var claims struct {
		Exp *json.Number `json:"exp"`
	}
	if err := json.Unmarshal(raw, &claims); err != nil {
		return time.Time{}, err
	}
	if claims.Exp == nil {
		return time.Time{}, nil
	}
	f, err := claims.Exp.Float64()
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(int64(f), 0), nil
}

// refreshDelay is how long to wait, from now, before refreshing a token expiring at exp:
// RefreshBefore ahead of it, or half the remaining lifetime when that is shorter, and never
// less than a floor that stops a bad clock from turning refreshes into a busy loop.
func refreshDelay(now, exp time.Time, before time.Duration) time.Duration {
	const floor = 500 * time.Millisecond
	left := exp.Sub(now)
	lead := before
	if left < 2*before {
		lead = left / 2
	}
	return max(left-lead, floor)
}
