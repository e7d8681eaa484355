package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rtmate/rtmate/rt-common/protocol"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/script"
)

// Script hooks (package script) run inline in the read slot, on the worker pool, never on the
// event loop: a connection's requests keep their order, and a slow script holds one worker
// for at most its timeout. HTTP API publications run them in the API's goroutine.

// ScriptMetrics is the scripts' Prometheus collector, for the metrics registry.
func (s *Server) ScriptMetrics() prometheus.Collector { return s.scriptMetrics }

// loadScripts compiles every app's scripts into set, taking unchanged ones over from prev.
// At start (prev nil) a script that fails to load is the error. On a reload a failing app
// keeps its previous scripts, so that it is never left without its access-control script:
// the failure is logged and counted, and the rest of the reload goes on.
func (s *Server) loadScripts(cfg *config.Config, set, prev *appSet) error {
	for id, a := range set.apps {
		old := prev.app(id)
		var oldSet *script.Set
		if old != nil {
			oldSet = old.scripts
		}
		if len(a.cfg.Scripts) == 0 {
			continue
		}
		sc, err := script.Load(id, a.cfg.Scripts, cfg.Dir, oldSet, script.Options{
			Workers: s.workers, MaxData: a.limits.MaxMessageSize, Log: s.log.Named("script"), Metrics: s.scriptMetrics,
		})
		if err != nil {
			if prev == nil {
				set.closeScripts(nil)
				return err
			}
			s.scriptMetrics.LoadFailed(id)
			s.log.Error("script reload failed; the app keeps its previous scripts", zap.String("app_id", id), zap.Error(err))
			a.scripts = oldSet
			continue
		}
		a.scripts = sc
	}
	return nil
}

// closeScripts releases the scripts of s that next does not use any more.
func (s *appSet) closeScripts(next *appSet) {
	if s == nil {
		return
	}
	for id, a := range s.apps {
		if a.scripts == nil {
			continue
		}
		if n := next.app(id); n != nil {
			a.scripts.Close(n.scripts)
		} else {
			a.scripts.Close()
		}
	}
}

// ErrorData is the data of an error response: {"reason":"…"} for a script's rejection, nil
// for everything else.
func ErrorData(err error) []byte {
	reason, ok := script.ReasonOf(err)
	if !ok {
		return nil
	}
	d := append([]byte(`{"reason":`), protocol.AppendString(nil, reason)...)
	return append(d, '}')
}

func (w *worker) traceString() string { return string(w.traceID()) }

// runScripts runs the app's scripts for in's hook and counts the call in the app's usage
// (billed as "calls") when a script takes that hook.
func (a *appState) runScripts(in *script.Input) (script.Output, error) {
	if a.scripts.Has(in.Hook) {
		a.usage.Calls.Add(1)
	}
	return a.scripts.Run(context.Background(), in)
}

// scriptConnect runs the connect hook; it returns the user id to use.
func (c *Conn) scriptConnect(w *worker, a *appState, claims *protocol.Claims, raw []byte) (string, error) {
	in := script.Input{Hook: script.HookConnect, App: a.cfg.ID, ClientID: c.clientID, UserID: claims.Sub,
		Claims: raw, Origin: c.origin, TraceID: w.traceString()}
	out, err := a.runScripts(&in)
	return out.UserID, err
}

func (c *Conn) scriptSubscribe(w *worker, a *appState, ch string) error {
	in := script.Input{Hook: script.HookSubscribe, App: a.cfg.ID, ClientID: c.clientID, UserID: c.userID,
		Channel: ch, Claims: c.claims, TraceID: w.traceString()}
	_, err := a.runScripts(&in)
	return err
}

// scriptPublish runs the publish hook and returns the data to publish: the script's rewrite,
// or data itself.
func (s *Server) scriptPublish(a *appState, from ConnInfo, ch string, data []byte, source, trace string) ([]byte, error) {
	in := script.Input{Hook: script.HookPublish, App: a.cfg.ID, ClientID: from.ClientID, UserID: from.UserID,
		Channel: ch, Data: data, Source: source, TraceID: trace}
	out, err := a.runScripts(&in)
	if err != nil {
		return nil, err
	}
	if out.Data != nil {
		return out.Data, nil
	}
	return data, nil
}

var errNoRPC = errors.New("the app has no rpc script")

// onRPC answers the rpc event with the app's rpc scripts:
// {"method":"…","data":<the script's answer>}.
func (c *Conn) onRPC(w *worker) error {
	if !protocol.ValidMethod(w.pl.Method) {
		return protocol.Errorf(protocol.InvalidParams, "rpc method %q: want 1-64 bytes of [A-Za-z0-9_.:-]", w.pl.Method)
	}
	a := c.app()
	if a == nil {
		return protocol.Errorf(protocol.AppNotFound, "app %q was removed", c.appID)
	}
	if !a.scripts.Has(script.HookRPC) {
		return protocol.NewError(protocol.UnsupportedEvent, errNoRPC)
	}
	data := w.pl.Data
	if data == nil {
		data = []byte("null")
	}
	in := script.Input{Hook: script.HookRPC, App: a.cfg.ID, ClientID: c.clientID, UserID: c.userID,
		Method: string(w.pl.Method), Data: data, TraceID: w.traceString()}
	out, err := a.runScripts(&in)
	if err != nil {
		return err
	}
	d := append(w.data[:0], `{"method":`...)
	d = protocol.AppendStringBytes(d, w.pl.Method)
	d = append(d, `,"data":`...)
	if out.Data != nil {
		d = append(d, out.Data...)
	} else {
		d = append(d, "null"...)
	}
	d = append(d, '}')
	w.data = d
	c.reply(w, protocol.Success, d)
	return nil
}

// tokenClaims returns the JSON claims of a compact JWS that has been validated already: the
// connect hook sees every claim (custom ones such as admins too), not only those the server
// uses. nil when the token is not a compact JWS (it would not have validated).
func tokenClaims(token []byte) []byte {
	first := bytes.IndexByte(token, '.')
	if first < 0 {
		return nil
	}
	rest := token[first+1:]
	second := bytes.IndexByte(rest, '.')
	if second < 0 {
		return nil
	}
	raw, err := base64.RawURLEncoding.AppendDecode(nil, rest[:second])
	if err != nil || !protocol.Valid(raw) {
		return nil
	}
	return raw
}

// scriptPublishAPI runs the publish hook (source "api") for each channel of an API
// publication and returns the data to publish to each.
func (s *Server) scriptPublishAPI(a *appState, from ConnInfo, channels []string, data []byte) ([][]byte, error) {
	datas := make([][]byte, len(channels))
	for i, ch := range channels {
		datas[i] = data
		if !a.scripts.Has(script.HookPublish) {
			continue
		}
		d, err := s.scriptPublish(a, from, ch, data, "api", "")
		if err != nil {
			return nil, err
		}
		datas[i] = d
	}
	return datas, nil
}
