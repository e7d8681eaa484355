package client

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

// RPC calls method of the app's rpc script (docs/scripts.md) with data, encoded as for
// Publish, and returns the script's answer as raw JSON ("null" when it gave none). A
// script's error is an *Error with the code it chose (errors.Is(err, ErrInvalidParams),
// ErrForbidden, ErrRateLimited) and its Reason; an app without an rpc script answers
// ErrUnsupportedEvent. A call whose response is lost with the connection reports
// ErrDisconnected and is not repeated: the script may have acted on it.
func (c *Client) RPC(ctx context.Context, method string, data any) (json.RawMessage, error) {
	if !protocol.ValidMethod([]byte(method)) {
		return nil, fmt.Errorf("%w: %q", ErrInvalidMethod, method)
	}
	raw := json.RawMessage("null")
	if r, ok := data.(json.RawMessage); ok {
		if !protocol.Valid(r) {
			return nil, ErrInvalidData
		}
		raw = r
	} else if data != nil {
		var err error
		if raw, err = json.Marshal(data); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidData, err)
		}
	}
	payload, err := json.Marshal(struct {
		Method string          `json:"method"`
		Data   json.RawMessage `json:"data"`
	}{method, raw})
	if err != nil {
		return nil, fmt.Errorf("rtmate: rpc payload: %w", err)
	}
	env, err := c.request(ctx, protocol.EventRPC, payload, false)
	if err != nil {
		return nil, err
	}
	var ans struct {
		Method string          `json:"method"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(env.Data, &ans); err != nil {
		return nil, fmt.Errorf("rtmate: rpc response: %w", err)
	}
	if ans.Data == nil {
		ans.Data = json.RawMessage("null")
	}
	return ans.Data, nil
}
