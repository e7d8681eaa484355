package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

// Request bodies. data stays json.RawMessage so that it is relayed byte for byte.
type publishRequest struct {
	AppID   string          `json:"appId"`
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
}

type broadcastRequest struct {
	AppID    string          `json:"appId"`
	Channels []string        `json:"channels"`
	Data     json.RawMessage `json:"data"`
}

type disconnectRequest struct {
	AppID    string `json:"appId"`
	ClientID string `json:"client_id"`
	UserID   string `json:"user_id"`
}

// bodyOverhead is what a body may carry besides data: appId, up to 100 channel names of up
// to 255 bytes, keys and whitespace.
const bodyOverhead = 64 << 10

// readBody reads a request body of at most the app's max_message_size plus bodyOverhead; a
// longer one is 413 消息过大 without being read whole.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, appID string) ([]byte, error) {
	lim, ok := h.srv.AppLimits(appID)
	if !ok {
		return nil, protocol.Errorf(protocol.AppNotFound, "app %q", appID)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(lim.MaxMessageSize)+bodyOverhead))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, protocol.Errorf(protocol.MessageTooLarge, "body over %d bytes", tooBig.Limit)
		}
		return nil, protocol.NewError(protocol.InvalidParams, err)
	}
	return body, nil
}

// decodeJSON decodes body, which must be exactly one JSON object, into v strictly: a
// malformed body, an unknown or ill-typed field, or anything after the object is
// 400 参数错误.
func decodeJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 || bytes.TrimSpace(body)[0] != '{' {
		return protocol.Errorf(protocol.InvalidParams, "the body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return protocol.NewError(protocol.InvalidParams, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return protocol.Errorf(protocol.InvalidParams, "data after the JSON object")
	}
	return nil
}

// decodeBody reads and decodes a POST body, then checks that it names the key's app.
func (h *Handler) decodeBody(w http.ResponseWriter, r *http.Request, appID string, v interface{ app() string }) error {
	body, err := h.readBody(w, r, appID)
	if err != nil {
		return err
	}
	if err := decodeJSON(body, v); err != nil {
		return err
	}
	return checkApp(appID, v.app())
}

func (p *publishRequest) app() string    { return p.AppID }
func (p *broadcastRequest) app() string  { return p.AppID }
func (p *disconnectRequest) app() string { return p.AppID }

// query parses a GET request's query string, each parameter at most once, and checks that
// appId names the key's app.
func query(r *http.Request, appID string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, protocol.NewError(protocol.InvalidParams, err)
	}
	for k, vs := range q {
		if len(vs) > 1 {
			return nil, protocol.Errorf(protocol.InvalidParams, "query parameter %q given %d times", k, len(vs))
		}
	}
	if err := checkApp(appID, q.Get("appId")); err != nil {
		return nil, err
	}
	return q, nil
}
