package protocol

import "encoding/json"

// Claims are the JWT claims of a connection token.
type Claims struct {
	// AppID must equal the auth payload's appId.
	AppID string `json:"app_id"`
	// Sub is the user id that presence shows; optional.
	Sub string `json:"sub,omitempty"`
	// Exp, Iat and Nbf are Unix seconds; Exp is required.
	Exp int64 `json:"exp"`
	Iat int64 `json:"iat,omitempty"`
	Nbf int64 `json:"nbf,omitempty"`
	// Channels lists the channel names or "prefix*" patterns the token may subscribe and
	// publish to; nil means every channel of the app.
	Channels []string `json:"channels,omitempty"`
}

// MarshalJSON keeps the difference between "no channels" (an empty, non-nil Channels, encoded
// as []) and "every channel" (nil, omitted), which omitempty alone would erase.
func (c Claims) MarshalJSON() ([]byte, error) {
	type plain Claims // drops this method, so Marshal does not recurse
	if c.Channels == nil {
		return json.Marshal(plain(c))
	}
	// The outer field shadows the embedded one of the same JSON name.
	return json.Marshal(struct {
		plain
		Channels []string `json:"channels"`
	}{plain(c), c.Channels})
}
