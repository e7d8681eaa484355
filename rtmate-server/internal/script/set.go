package script

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/rtmate/rtmate/rt-common/protocol"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
)

// Options are what a Set needs besides the scripts' config.
type Options struct {
	// Workers is how many instances each script keeps ready: one per worker of the pool
	// that runs the calls. Default 2.
	Workers int
	// MaxData bounds the data a publish or rpc hook may return (the app's max message
	// size). Default 65536.
	MaxData int
	// Log gets failures and the scripts' log() lines. Default: nothing.
	Log *zap.Logger
	// Metrics counts calls. Default: a private, unregistered set.
	Metrics *Metrics
}

// Set is one app's scripts, ready to run. Immutable and safe for concurrent use; a reload
// builds a new Set and closes the old one.
type Set struct {
	app     string
	scripts []*compiled
	byHook  [NumHooks][]*compiled
}

// compiled is one loaded script with its pool of instances.
type compiled struct {
	app      string
	name     string
	path     string
	hash     [32]byte
	cfg      config.Script
	timeout  time.Duration
	failOpen bool
	prog     program
	logger   *zap.Logger
	metrics  [NumHooks]*hookMetrics
	maxData  int

	mu   sync.Mutex
	free []instance
	keep int

	refilling atomic.Bool
}

// Load reads and compiles an app's scripts; dir resolves relative file names. Scripts whose
// file and settings are unchanged since prev are taken over from prev, not recompiled. The
// first script that fails is the error, naming the file (and the line, for syntax errors).
func Load(app string, scripts []config.Script, dir string, prev *Set, opts Options) (*Set, error) {
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	if opts.MaxData <= 0 {
		opts.MaxData = 64 << 10
	}
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics()
	}
	set := &Set{app: app}
	for i := range scripts {
		sc := scripts[i]
		path := sc.Path(dir)
		src, err := os.ReadFile(path) // #nosec G304 -- the operator's config names the script
		if err != nil {
			set.Close()
			return nil, fmt.Errorf("script %s: %w", sc.Name, err)
		}
		hash := sha256.Sum256(src)
		c := prev.reusable(sc, path, hash, opts)
		if c == nil {
			c, err = compile(app, sc, path, src, opts)
			if err != nil {
				set.Close()
				return nil, fmt.Errorf("script %s: %w", sc.Name, err)
			}
			c.hash = hash
		}
		set.scripts = append(set.scripts, c)
		for _, hn := range sc.Hooks {
			h, _ := ParseHook(hn)
			set.byHook[h] = append(set.byHook[h], c)
		}
	}
	return set, nil
}

func compile(app string, sc config.Script, path string, src []byte, opts Options) (*compiled, error) {
	c := &compiled{app: app, name: sc.Name, path: path, cfg: sc, timeout: sc.Timeout, failOpen: sc.FailOpen,
		keep: opts.Workers, maxData: opts.MaxData,
		logger: opts.Log.With(zap.String("app_id", app), zap.String("script", sc.Name))}
	var err error
	switch sc.Language() {
	case "lua":
		c.prog, err = compileLua(path, src, int64(sc.Memory), opts.MaxData)
	case "wasm":
		c.prog, err = compileWasm(path, src, int64(sc.Memory), opts.MaxData)
	default:
		err = fmt.Errorf("%s: not a .lua or .wasm file", path)
	}
	if err != nil {
		return nil, err
	}
	for _, hn := range sc.Hooks {
		h, _ := ParseHook(hn)
		if !c.prog.defines(h) {
			c.prog.close()
			return nil, fmt.Errorf("%s: hook %s needs a function %s", path, h, hookFuncs[h])
		}
		c.metrics[h] = opts.Metrics.forHook(app, sc.Name, h)
	}
	return c, nil
}

// reusable returns prev's script of the same name when nothing about it changed.
func (s *Set) reusable(sc config.Script, path string, hash [32]byte, opts Options) *compiled {
	if s == nil {
		return nil
	}
	for _, c := range s.scripts {
		if c.name == sc.Name && c.path == path && c.hash == hash && c.maxData == opts.MaxData && c.keep == opts.Workers &&
			c.timeout == sc.Timeout && c.failOpen == sc.FailOpen && c.cfg.Memory == sc.Memory && sameHooks(c.cfg.Hooks, sc.Hooks) {
			return c
		}
	}
	return nil
}

func sameHooks(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Close releases the instances of scripts that next does not take over (nil: all).
func (s *Set) Close(next ...*Set) {
	if s == nil {
		return
	}
	for _, c := range s.scripts {
		kept := false
		for _, n := range next {
			if n == nil {
				continue
			}
			for _, nc := range n.scripts {
				kept = kept || nc == c
			}
		}
		if !kept {
			c.drain()
		}
	}
}

// Has reports whether any script takes hook h. A nil Set has none.
func (s *Set) Has(h Hook) bool { return s != nil && len(s.byHook[h]) > 0 }

// Names lists the scripts, for logs.
func (s *Set) Names() []string {
	if s == nil {
		return nil
	}
	names := make([]string, len(s.scripts))
	for i, c := range s.scripts {
		names[i] = c.name
	}
	return names
}

// Run runs hook's scripts in order on in. A rejection is a *protocol.RtWsError (403
// Forbidden, or the rpc error's code) whose Cause is a *Rejection; a failure without
// fail_open is a 500 Internal whose Cause is a *Failure. The returned Output merges the
// chain: the last user_id, the data as rewritten by every publish script, rpc's answer.
// in.Data and in.UserID are updated as the chain goes.
func (s *Set) Run(ctx context.Context, in *Input) (Output, error) {
	var res Output
	if !s.Has(in.Hook) {
		return res, nil
	}
	var out Output
	for _, c := range s.byHook[in.Hook] {
		err := c.run(ctx, in, &out)
		if err != nil {
			if c.failOpen {
				continue
			}
			return Output{}, protocol.NewError(protocol.Internal, &Failure{App: s.app, Script: c.name, Hook: in.Hook, Err: err})
		}
		if in.Hook == HookRPC && out.ErrCode != 0 {
			return Output{}, protocol.NewError(rpcCode(out.ErrCode), &Rejection{Script: c.name, Reason: out.Reason})
		}
		if out.Reject {
			return Output{}, protocol.NewError(protocol.Forbidden, &Rejection{Script: c.name, Reason: out.Reason})
		}
		switch in.Hook {
		case HookConnect:
			if out.UserID != "" {
				in.UserID, res.UserID = out.UserID, out.UserID
			}
		case HookPublish:
			if out.Data != nil {
				in.Data, res.Data = out.Data, out.Data
			}
		case HookRPC:
			if out.Data != nil {
				res.Data = out.Data
				return res, nil // the first script that answers does
			}
		}
	}
	return res, nil
}

func rpcCode(code int) protocol.WsBizCode {
	switch code {
	case 403:
		return protocol.Forbidden
	case 429:
		return protocol.RateLimited
	}
	return protocol.InvalidParams
}

// run makes one call with a pooled instance, counts it and logs a failure.
func (c *compiled) run(ctx context.Context, in *Input, out *Output) error {
	hm := c.metrics[in.Hook]
	start := time.Now()
	inst, err := c.get()
	if err == nil {
		err = inst.call(ctx, in, out, &callEnv{s: c, in: in})
		if err != nil {
			inst.close() // its state may be anything after a failure
			c.refill()
		} else {
			c.put(inst)
		}
	}
	if err == nil && out.Data != nil && (len(out.Data) > c.maxData || !protocol.Valid(out.Data)) {
		err = fmt.Errorf("%w: data is not one JSON value of at most %d bytes", ErrBadOutput, c.maxData)
	}
	hm.duration.Observe(time.Since(start).Seconds())
	switch {
	case errors.Is(err, ErrTimeout):
		hm.calls[resultTimeout].Inc()
	case err != nil:
		hm.calls[resultError].Inc()
	case out.Reject || out.ErrCode != 0:
		hm.calls[resultRejected].Inc()
	default:
		hm.calls[resultOK].Inc()
	}
	if err != nil {
		c.logger.Error("script failed", zap.String("hook", in.Hook.String()), zap.String("trace_id", in.TraceID),
			zap.Bool("fail_open", c.failOpen), zap.Error(err))
	}
	return err
}

func (c *compiled) get() (instance, error) {
	c.mu.Lock()
	if n := len(c.free); n > 0 {
		inst := c.free[n-1]
		c.free[n-1] = nil
		c.free = c.free[:n-1]
		c.mu.Unlock()
		return inst, nil
	}
	c.mu.Unlock()
	inst, err := c.prog.newInstance()
	if err != nil {
		return nil, fmt.Errorf("new instance: %w", err)
	}
	return inst, nil
}

// refill builds a replacement for an instance thrown away after a failure, in the
// background: a new instance can take milliseconds (a Go plug-in starts its runtime), which
// the next call should not wait for. One refill at a time per script.
func (c *compiled) refill() {
	if !c.refilling.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer c.refilling.Store(false)
		inst, err := c.prog.newInstance()
		if err != nil {
			c.logger.Warn("script instance not rebuilt; the next call tries again", zap.Error(err))
			return
		}
		c.put(inst)
	}()
}

// put keeps an instance for the next call, up to one per worker; the rest are closed, so
// that a burst of API calls does not leave states behind.
func (c *compiled) put(inst instance) {
	c.mu.Lock()
	if len(c.free) < c.keep && c.keep > 0 {
		c.free = append(c.free, inst)
		inst = nil
	}
	c.mu.Unlock()
	if inst != nil {
		inst.close()
	}
}

// drain closes the pooled instances; instances in use are closed when returned.
func (c *compiled) drain() {
	c.mu.Lock()
	free := c.free
	c.free, c.keep = nil, 0
	c.mu.Unlock()
	for _, inst := range free {
		inst.close()
	}
	c.prog.close()
}

// log writes a script's log(level, message) line with the call's trace id.
func (c *compiled) log(in *Input, level, msg string) {
	lvl := zapcore.InfoLevel
	switch level {
	case "debug":
		lvl = zapcore.DebugLevel
	case "warn":
		lvl = zapcore.WarnLevel
	case "error":
		lvl = zapcore.ErrorLevel
	}
	if ce := c.logger.Check(lvl, "script log"); ce != nil {
		ce.Write(zap.String("hook", in.Hook.String()), zap.String("trace_id", in.TraceID), zap.String("message", msg))
	}
}
