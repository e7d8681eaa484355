package script

import (
	"context"
	"errors"
	"fmt"
)

// Hook is one of the points where scripts run.
type Hook uint8

// Hooks, in the order a connection meets them.
const (
	HookConnect Hook = iota
	HookSubscribe
	HookPublish
	HookRPC
	NumHooks
)

var hookNames = [NumHooks]string{"connect", "subscribe", "publish", "rpc"}

// hookFuncs are the Lua globals and Wasm exports that implement each hook.
var hookFuncs = [NumHooks]string{"on_connect", "on_subscribe", "on_publish", "on_rpc"}

func (h Hook) String() string {
	if h >= NumHooks {
		return "unknown"
	}
	return hookNames[h]
}

// ParseHook maps a config hook name to its Hook.
func ParseHook(s string) (Hook, bool) {
	for i, n := range hookNames {
		if n == s {
			return Hook(i), true
		}
	}
	return 0, false
}

// Input is a hook's ctx. Strings that are empty and byte slices that are nil are left out of
// the ctx a script sees, except for the fields every hook has (hook, app, client_id, user_id).
type Input struct {
	Hook     Hook
	App      string
	ClientID string
	UserID   string
	Claims   []byte // connect: the token's claims, one JSON object
	Origin   string // connect
	Channel  string // subscribe, publish
	Data     []byte // publish, rpc: one JSON value
	Source   string // publish: "client" or "api"
	Method   string // rpc
	// TraceID goes to the logs of the call and of the script's log(); it is not in ctx.
	TraceID string
}

// Output is what a script returned. The zero value allows.
type Output struct {
	Reject bool   // {"allow":false}
	Reason string // with Reject, or with ErrCode
	UserID string // connect: replaces the user id when not empty
	Data   []byte // publish: the new data; rpc: the answer (one JSON value); nil = none
	// ErrCode is rpc's {"error":{"code":…}}: 400, 403 or 429; 0 = none.
	ErrCode int
}

func (o *Output) reset() { *o = Output{} }

// instance runs one script's hooks, one call at a time. It is not safe for concurrent use;
// the pool hands it to one caller at a time.
type instance interface {
	// call runs hook with in and fills out. Any error is a failure of the script (timeout,
	// trap, runtime error, bad output); after one the instance is closed, not reused.
	call(ctx context.Context, in *Input, out *Output, env *callEnv) error
	close()
}

// program is one compiled script file: compiled once per (re)load, instantiated per worker.
type program interface {
	// defines reports whether the script implements hook.
	defines(h Hook) bool
	newInstance() (instance, error)
	close()
}

// callEnv is what host functions need during a call.
type callEnv struct {
	s  *compiled
	in *Input
}

// Failure kinds, as the result label of rtmate_script_calls_total.
var (
	// ErrTimeout is a call that ran past its timeout.
	ErrTimeout = errors.New("script timed out")
	// ErrBadOutput is a result that breaks the contract.
	ErrBadOutput = errors.New("bad script output")
)

// Rejection carries a script's reason to the wire: the response's data is
// {"reason":"…"}. It is the Cause of the *protocol.RtWsError Set.Run returns for a rejection.
type Rejection struct {
	Script string
	Reason string
}

func (r *Rejection) Error() string { return fmt.Sprintf("script %s rejected: %s", r.Script, r.Reason) }

// ReasonOf returns the script reason err carries, if any.
func ReasonOf(err error) (string, bool) {
	var r *Rejection
	if errors.As(err, &r) {
		return r.Reason, true
	}
	return "", false
}

// Failure is a script that failed (not one that rejected). It is the Cause of the 500
// internal error Set.Run returns.
type Failure struct {
	App, Script string
	Hook        Hook
	Err         error
}

func (f *Failure) Error() string {
	return fmt.Sprintf("script %s (app %s, hook %s) failed: %v", f.Script, f.App, f.Hook, f.Err)
}

func (f *Failure) Unwrap() error { return f.Err }
