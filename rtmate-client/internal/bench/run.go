package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// WorkerFlag is the argument that makes rtmate-bench serve as a worker (ServeWorker).
const WorkerFlag = "-worker"

// Options are Run's settings that are not part of the run's description.
type Options struct {
	// WorkerCommand builds the command of one worker process when Procs > 1. Default: this
	// executable with WorkerFlag.
	WorkerCommand func(ctx context.Context) (*exec.Cmd, error)
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// Run executes one benchmark run and returns its merged result. It stops by itself after
// Duration plus the drain, and in any case at Timeout.
func Run(ctx context.Context, cfg Config, opt Options) (*Result, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if cfg.Channel == "" {
		var b [3]byte
		_, _ = rand.Read(b[:])
		cfg.Channel = "bench-" + hex.EncodeToString(b[:])
	}
	if err := normalizeHost(&cfg); err != nil {
		return nil, err
	}
	if err := RaiseOpenFilesLimit(); err != nil {
		logf(opt.Log, "cannot raise the open files limit: %v", err)
	}
	if opt.WorkerCommand == nil {
		opt.WorkerCommand = selfWorker
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()

	probe := newServerProbe(cfg.ServerPID)
	probe.sample(&probe.baseline)

	shares := cfg.shares()
	workers := make([]*workerProc, len(shares))
	defer func() {
		for _, w := range workers {
			if w != nil {
				w.stop()
			}
		}
	}()
	total := cfg.Total()
	for i, sh := range shares {
		spec := &workerSpec{Config: cfg, Index: i, From: sh[0], To: sh[1], Deadline: deadline.UnixNano()}
		// With -procs 1 the first share runs in this process (and -cpuprofile sees it).
		w, err := startWorker(ctx, i == 0 && cfg.Procs == 1, opt)
		if err != nil {
			return nil, fmt.Errorf("start worker %d: %w", i, err)
		}
		workers[i] = w
		if err := w.send(message{Phase: phaseSpec, Spec: spec}); err != nil {
			return nil, fmt.Errorf("worker %d: %w", i, err)
		}
	}
	logf(opt.Log, "%s: %d connections over %d worker(s), channel prefix %s", cfg.Scenario, total, len(shares), cfg.Channel)

	if _, err := collect(ctx, workers, phaseReady); err != nil {
		return nil, err
	}
	probe.sample(&probe.connected)
	t0 := time.Now().Add(50 * time.Millisecond)
	for _, w := range workers {
		if err := w.send(message{Phase: phaseGo, T0: t0.UnixNano()}); err != nil {
			return nil, err
		}
	}
	sleepUntil(ctx, t0)
	probe.sample(&probe.start)
	logf(opt.Log, "measuring for %v", cfg.Duration)

	published, err := collect(ctx, workers, phasePublished)
	if err != nil {
		return nil, err
	}
	probe.sample(&probe.loaded)
	acked := map[int]int64{}
	for _, m := range published {
		acked = addCounts(acked, m.Acked)
	}
	for _, w := range workers {
		if err := w.send(message{Phase: phaseAcked, Acked: acked}); err != nil {
			return nil, err
		}
	}
	reports, err := collect(ctx, workers, phaseReport)
	if err != nil {
		return nil, err
	}
	measuredEnd := time.Now()
	probe.sample(&probe.end)

	var merged workerReport
	lat, connLat := newHist(), newHist()
	for _, m := range reports {
		if err := merged.merge(m.Report, lat, connLat); err != nil {
			return nil, err
		}
	}
	for _, w := range workers {
		w.stop()
	}
	return buildResult(&cfg, &merged, lat, connLat, acked, t0, measuredEnd, probe), nil
}

// normalizeHost replaces "localhost" by 127.0.0.1 so that source addresses can be chosen.
func normalizeHost(cfg *Config) error {
	us := cfg.urls()
	for i, raw := range us {
		u, err := url.Parse(raw)
		if err != nil {
			return err
		}
		if u.Hostname() == "localhost" {
			u.Host = "127.0.0.1:" + u.Port()
			if u.Port() == "" {
				u.Host = "127.0.0.1"
			}
			us[i] = u.String()
		}
	}
	cfg.URL = strings.Join(us, ",")
	return nil
}

func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, "rtmate-bench: "+format+"\n", args...)
	}
}

// RaiseOpenFilesLimit lifts the soft limit on open files to the hard one: each connection
// is a file descriptor.
func RaiseOpenFilesLimit() error {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return err
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
	return nil
}

func selfWorker(ctx context.Context) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return exec.CommandContext(ctx, exe, WorkerFlag), nil // #nosec G204 -- re-executes this very binary as a worker
}

// workerProc is the parent's handle on one worker: a process, or a goroutine when the run
// has a single worker.
type workerProc struct {
	enc   *json.Encoder
	in    io.Closer
	msgs  chan message
	stopF func()
}

func startWorker(ctx context.Context, inProcess bool, opt Options) (*workerProc, error) {
	toR, toW := io.Pipe()
	w := &workerProc{enc: json.NewEncoder(toW), in: toW, msgs: make(chan message, 4)}
	var fromR io.Reader
	if inProcess {
		fromR2, fromW := io.Pipe()
		fromR = fromR2
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			err := ServeWorker(wctx, toR, fromW)
			fromW.CloseWithError(errors.Join(err, io.EOF))
		}()
		w.stopF = func() {
			cancel()
			toW.Close()
			toR.Close()
			<-done
		}
	} else {
		cmd, err := opt.WorkerCommand(ctx)
		if err != nil {
			return nil, err
		}
		cmd.Stdin = toR
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		// A worker must not outlive a parent that crashes.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		fromR = out
		exited := make(chan struct{})
		go func() {
			_ = cmd.Wait()
			close(exited)
		}()
		w.stopF = func() {
			toW.Close()
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
		}
	}
	go func() {
		defer close(w.msgs)
		dec := json.NewDecoder(fromR)
		for {
			var m message
			if err := dec.Decode(&m); err != nil {
				return
			}
			w.msgs <- m
		}
	}()
	return w, nil
}

func (w *workerProc) send(m message) error { return w.enc.Encode(m) }

func (w *workerProc) stop() {
	if w.stopF != nil {
		w.stopF()
		w.stopF = nil
	}
}

// collect waits for every worker's message of the given phase.
func collect(ctx context.Context, workers []*workerProc, phase string) ([]message, error) {
	out := make([]message, len(workers))
	for i, w := range workers {
		select {
		case m, ok := <-w.msgs:
			switch {
			case !ok:
				return nil, fmt.Errorf("worker %d exited before %s", i, phase)
			case m.Phase == phaseError:
				return nil, fmt.Errorf("worker %d: %s", i, m.Error)
			case m.Phase != phase:
				return nil, fmt.Errorf("worker %d: want %s, got %s", i, phase, m.Phase)
			}
			out[i] = m
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for %s: %w", phase, ctx.Err())
		}
	}
	return out, nil
}

// serverProbe samples the server process at the run's milestones.
type serverProbe struct {
	pid                                     int
	err                                     error
	baseline, connected, start, loaded, end procSample
}

func newServerProbe(pid int) *serverProbe { return &serverProbe{pid: pid} }

func (p *serverProbe) sample(dst *procSample) {
	if p.pid == 0 || p.err != nil {
		return
	}
	s, err := sampleProc(p.pid)
	if err != nil {
		p.err = err
		return
	}
	*dst = s
}
