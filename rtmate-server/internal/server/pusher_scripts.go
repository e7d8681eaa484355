package server

import (
	"github.com/rtmate/rtmate/rtmate-server/internal/script"
)

// Script hooks on the Pusher protocol (docs/scripts.md, "On the Pusher protocol"). A hook
// sees what it sees on the native path: a Pusher event's data is the native publication it
// maps to (pusher_mapping.go), so one publish script serves subscribers of both protocols,
// and its rewrite is what both get. Native publications into a channel with Pusher
// subscribers ran their hook on the native path already; delivery never runs one again.

// Pusher codes (4300-4399: errors that keep the connection) of a client event that a
// publish script refused or failed on.
const (
	PusherCodeScriptRejected = 4302
	PusherCodeScriptFailed   = 4303
)

// pusherScriptSubscribe runs the subscribe hook for a pusher:subscribe that passed its
// signature check; userID is the presence member's, else the signed-in user's. A refusal
// is answered with pusher:subscription_error. Read slot.
func (c *Conn) pusherScriptSubscribe(w *worker, a *appState, ch, userID string) error {
	if !a.scripts.Has(script.HookSubscribe) {
		return nil
	}
	if userID == "" {
		userID = c.pusher.signedIn()
	}
	in := script.Input{Hook: script.HookSubscribe, App: a.cfg.ID, ClientID: c.clientID, UserID: userID,
		Channel: ch, Claims: c.claims, TraceID: w.traceString()}
	_, err := a.runScripts(&in)
	if err == nil {
		return nil
	}
	if reason, ok := script.ReasonOf(err); ok {
		c.sendSubError(ch, "AuthError", reason, 403)
		return err
	}
	c.sendSubError(ch, "InternalError", "subscribe script failed", 500)
	return err
}

// pusherScriptSignin runs the connect hook for a pusher:signin whose signature is valid:
// user_id is user_data's id and claims the user_data object. A Pusher connection has no
// credentials before it signs in, so this is its only connect hook. The script's user_id
// is not applied: user_data is signed by the app's server, and pusher-js subscribes to the
// server-to-user channel of its id. Read slot.
func (c *Conn) pusherScriptSignin(w *worker, a *appState, id string, userData []byte) error {
	if !a.scripts.Has(script.HookConnect) {
		return nil
	}
	in := script.Input{Hook: script.HookConnect, App: a.cfg.ID, ClientID: c.clientID, UserID: id,
		Claims: userData, Origin: c.origin, TraceID: w.traceString()}
	_, err := a.runScripts(&in)
	return err
}

// pusherScriptClientEvent runs the publish hook (source "client") on a client event's
// native data and returns the data to publish. A refusal is answered with pusher:error.
// Read slot.
func (c *Conn) pusherScriptClientEvent(w *worker, a *appState, ch string, data []byte) ([]byte, error) {
	if !a.scripts.Has(script.HookPublish) {
		return data, nil
	}
	out, err := c.srv.scriptPublish(a, c.info(), ch, data, "client", w.traceString())
	if err == nil {
		return out, nil
	}
	if reason, ok := script.ReasonOf(err); ok {
		c.pusherError(PusherCodeScriptRejected, "Client event rejected: "+reason)
	} else {
		c.pusherError(PusherCodeScriptFailed, "Client event rejected: the publish script failed")
	}
	return nil, err
}

// pusherScriptTrigger runs the publish hook (source "api") for every channel of every
// event before anything is published, as a native broadcast does: a batch a script refuses
// anywhere publishes nothing. datas[i][j] is the data of events[i] on its channel j.
func (s *Server) pusherScriptTrigger(a *appState, from ConnInfo, events []PusherEvent) ([][][]byte, error) {
	datas := make([][][]byte, len(events))
	for i := range events {
		ev := &events[i]
		data := appendNativeEvent(nil, ev.Name, ev.Data, ev.SocketID, "")
		d, err := s.scriptPublishAPI(a, from, ev.Channels, data)
		if err != nil {
			return nil, err
		}
		datas[i] = d
	}
	return datas, nil
}
