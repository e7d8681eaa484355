package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/rtmate/rtmate/rt-common/protocol"
	auth "github.com/rtmate/rtmate/rtmate-auth"
)

// tokenTTL is the lifetime of tokens the command mints or fetches; the client refreshes
// them before they expire.
const tokenTTL = time.Hour

// tokenSource picks where tokens come from: --token as given, --secret to mint HS256
// tokens for any app, and for the development app the server's /dev/token endpoint with
// the development secret as a fallback.
func tokenSource(o *options) (func(context.Context) (string, error), error) {
	switch {
	case o.token != "":
		tok := o.token
		return func(context.Context) (string, error) { return tok, nil }, nil
	case o.secret != "":
		key := auth.SigningKey{Secret: []byte(o.secret)}
		return func(context.Context) (string, error) {
			now := time.Now()
			return auth.Sign(protocol.Claims{AppID: o.app, Sub: o.user, Iat: now.Unix(), Exp: now.Add(tokenTTL).Unix()}, key)
		}, nil
	case o.app == auth.DevAppID:
		endpoint, err := devTokenURL(o.url, o.user)
		if err != nil {
			return nil, usagef("%v", err)
		}
		return func(ctx context.Context) (string, error) {
			if tok, err := fetchDevToken(ctx, endpoint); err == nil {
				return tok, nil
			}
			return auth.DevToken(o.user, tokenTTL, nil)
		}, nil
	}
	return nil, usagef("no token for app %q: pass --token (or RTMATE_TOKEN), or --secret to mint one", o.app)
}

// devTokenURL maps ws://host/ws to http://host/dev/token?sub=user (wss to https).
func devTokenURL(wsURL, user string) (string, error) {
	u, err := url.Parse(wsURL)
	if err != nil {
		return "", fmt.Errorf("bad --url %q: %w", wsURL, err)
	}
	switch u.Scheme {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	default:
		return "", fmt.Errorf("bad --url %q: want ws:// or wss://", wsURL)
	}
	u.Path = "/dev/token"
	u.RawQuery = url.Values{"sub": {user}, "ttl": {fmt.Sprint(int(tokenTTL.Seconds()))}}.Encode()
	return u.String(), nil
}

func fetchDevToken(ctx context.Context, endpoint string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct {
		Code int `json:"code"`
		Data struct {
			Token string `json:"token"`
		} `json:"data"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 1<<20)).Decode(&body); err != nil {
		return "", fmt.Errorf("%s: %s: %w", endpoint, resp.Status, err)
	}
	if resp.StatusCode != http.StatusOK || body.Code != 200 || body.Data.Token == "" {
		return "", fmt.Errorf("%s: %s (code %d)", endpoint, resp.Status, body.Code)
	}
	return body.Data.Token, nil
}
