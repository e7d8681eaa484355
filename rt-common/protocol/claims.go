package protocol

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
