package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/rtmate/rtmate/rt-common/protocol"
	"github.com/rtmate/rtmate/rtmate-server/internal/server"
)

// The connect hook is synchronous: it runs in the connection's read slot, on one of the
// server's pool workers, for at most hook_timeout. So that slow hooks cannot occupy the
// whole pool (and stall every connection), at most half the pool's workers wait on hooks at
// a time; a hook call beyond that fails at once ("busy") and takes the app's fallback.

// errHookBusy: too many hooks in flight.
var errHookBusy = errors.New("too many connect hooks in flight")

// maxUserID bounds a user id a hook may set (presence and webhooks repeat it).
const maxUserID = 255

// hookRequest is the body of a connect hook call.
type hookRequest struct {
	ID       string           `json:"id"`
	Event    string           `json:"event"` // connect or subscribe
	AppID    string           `json:"app_id"`
	Time     int64            `json:"time"` // Unix milliseconds
	ClientID string           `json:"client_id"`
	UserID   *string          `json:"user_id"`
	Claims   *protocol.Claims `json:"claims,omitempty"`  // connect only
	Channel  string           `json:"channel,omitempty"` // subscribe only
}

// Connect asks the app's connect hook whether the connection may authenticate. A 2xx
// accepts, and a reply {"user_id":"..."} replaces the token's user id; a 403 rejects with
// Forbidden; anything else takes the fallback (hook_fail_open: accept with the token's user
// id; otherwise reject with Internal).
func (d *Dispatcher) Connect(ctx context.Context, info server.ConnInfo, claims *protocol.Claims) (string, error) {
	t, set := d.lookup(info.App)
	if set == nil || set.hookURL == "" {
		return "", nil
	}
	req := d.hookRequest("connect", info)
	req.Claims = claims
	return d.ask(ctx, t, set, &req)
}

// Subscribe asks the app's connect hook whether the connection may subscribe to channel
// (only for a channel it is not in yet); the answers are read as for Connect, and a user id
// in the reply is ignored.
func (d *Dispatcher) Subscribe(ctx context.Context, info server.ConnInfo, channel string) error {
	t, set := d.lookup(info.App)
	if set == nil || set.hookURL == "" {
		return nil
	}
	req := d.hookRequest("subscribe", info)
	req.Channel = channel
	_, err := d.ask(ctx, t, set, &req)
	return err
}

func (d *Dispatcher) hookRequest(event string, info server.ConnInfo) hookRequest {
	r := hookRequest{ID: d.eventID(d.seq.Add(1)), Event: event, AppID: info.App, Time: time.Now().UnixMilli(), ClientID: info.ClientID}
	if info.UserID != "" {
		r.UserID = &info.UserID
	}
	return r
}

// ask calls the hook and applies the fallback.
func (d *Dispatcher) ask(ctx context.Context, t *target, set *settings, hr *hookRequest) (string, error) {
	t.stats.hookCalls.Add(1)
	userID, err := d.call(ctx, set, hr)
	if err == nil {
		return userID, nil
	}
	var rej *protocol.RtWsError
	if errors.As(err, &rej) {
		t.stats.hookRejected.Add(1)
		return "", rej
	}
	t.stats.hookErrors.Add(1)
	if every(&t.hookLogAt) {
		d.log.Warn("connect hook failed", zap.String("app_id", t.app), zap.String("event", hr.Event),
			zap.String("client_id", hr.ClientID), zap.Bool("fail_open", set.failOpen), zap.Error(err))
	}
	if set.failOpen {
		return "", nil
	}
	return "", protocol.NewError(protocol.Internal, fmt.Errorf("connect hook (%s): %w", hr.Event, err))
}

// call makes the request: a user id (maybe empty) on a 2xx, a Forbidden *RtWsError on a
// 403, any other error otherwise.
func (d *Dispatcher) call(ctx context.Context, set *settings, hr *hookRequest) (string, error) {
	select {
	case d.hookSem <- struct{}{}:
		defer func() { <-d.hookSem }()
	default:
		return "", errHookBusy
	}
	body, err := json.Marshal(hr)
	if err != nil {
		return "", fmt.Errorf("encode: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, set.hookTimeout)
	defer cancel()
	stop := context.AfterFunc(d.root, cancel) // Close's deadline aborts hooks too
	defer stop()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, set.hookURL, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	signRequest(req.Header, set.secret, strconv.FormatInt(time.Now().Unix(), 10), body)
	resp, err := set.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(io.LimitReader(resp.Body, maxReplyRead+1))
	if err != nil {
		return "", fmt.Errorf("read reply: %w", err)
	}
	switch {
	case resp.StatusCode == http.StatusForbidden:
		return "", protocol.Errorf(protocol.Forbidden, "connect hook rejected the %s", hr.Event)
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return "", fmt.Errorf("status %d", resp.StatusCode)
	case len(reply) > maxReplyRead:
		return "", fmt.Errorf("reply larger than %d bytes", maxReplyRead)
	}
	return parseHookReply(reply)
}

// parseHookReply reads a 2xx reply: empty, or a JSON object whose optional "user_id" string
// replaces the user id (at most 255 bytes of UTF-8). Other members are ignored; anything
// else is an error, so that a proxy's HTML page is not taken for consent.
func parseHookReply(b []byte) (string, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "", nil
	}
	if b[0] != '{' {
		return "", errors.New("reply is not a JSON object")
	}
	var r struct {
		UserID *string `json:"user_id"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return "", fmt.Errorf("reply: %w", err)
	}
	if r.UserID == nil {
		return "", nil
	}
	if len(*r.UserID) > maxUserID || !utf8.ValidString(*r.UserID) {
		return "", fmt.Errorf("reply: user_id must be at most %d bytes of UTF-8", maxUserID)
	}
	return *r.UserID, nil
}
