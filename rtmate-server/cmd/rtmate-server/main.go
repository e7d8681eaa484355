// Command rtmate-server runs one RTMate node. Without -config it serves the built-in
// development app demo-app (see README.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/rtmate/rtmate/rt-common/buildinfo"
	auth "github.com/rtmate/rtmate/rtmate-auth"
	"github.com/rtmate/rtmate/rtmate-server/internal/admin"
	"github.com/rtmate/rtmate/rtmate-server/internal/api"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/demo"
	"github.com/rtmate/rtmate/rtmate-server/internal/engine"
	"github.com/rtmate/rtmate/rtmate-server/internal/healthcheck"
	"github.com/rtmate/rtmate/rtmate-server/internal/logging"
	"github.com/rtmate/rtmate/rtmate-server/internal/metrics"
	"github.com/rtmate/rtmate/rtmate-server/internal/pusherapi"
	"github.com/rtmate/rtmate/rtmate-server/internal/script"
	"github.com/rtmate/rtmate/rtmate-server/internal/server"
	"github.com/rtmate/rtmate/rtmate-server/internal/webhook"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "rtmate-server:", err)
		os.Exit(1)
	}
}

func run() error {
	configPath := flag.String("config", "", "YAML config file (default: development mode with the built-in demo-app)")
	listen := flag.String("listen", "", "listen address, overrides the config and RTMATE_LISTEN")
	version := flag.Bool("version", false, "print the version, commit, build date and Go version, and exit")
	checkConfig := flag.String("check-config", "", "check `FILE` as the server would load it (strict YAML, limits, key files), print every problem, exit 0 or 1; listens on nothing")
	healthURL := flag.String("healthcheck", "", "GET `URL` (e.g. http://127.0.0.1:3000/healthz) and exit 0 on 2xx, 1 otherwise: a HEALTHCHECK for images without a shell")
	flag.Parse()
	switch {
	case *version:
		fmt.Println(buildinfo.Get().Line("rtmate-server"))
		return nil
	case *checkConfig != "":
		return checkConfigFile(*checkConfig)
	case *healthURL != "":
		return healthcheck.Probe(context.Background(), *healthURL)
	}

	cfg, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	log, err := logging.New(cfg.Log)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	eng, err := engine.FromConfig(cfg.Engine, "", log.Named("engine"))
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	hooks := webhook.New(cfg, log.Named("webhook"))
	m := metrics.New()
	m.Registry().MustRegister(hooks.Collector())
	if r, ok := eng.(*engine.Redis); ok {
		m.Registry().MustRegister(r.Collector())
	}
	srv, err := server.New(cfg, log, server.Options{Engine: eng, Observer: server.Observers{m, hooks}, Hooks: hooks})
	if err != nil {
		if cerr := eng.Close(); cerr != nil {
			log.Warn("close engine", zap.Error(cerr))
		}
		return fmt.Errorf("new server: %w", err)
	}
	m.SetSource(srv) // the server needs its observer before it exists
	m.Registry().MustRegister(srv.ScriptMetrics())
	srv.Handle("/api/", api.New(srv, log))
	srv.Handle("/apps/", pusherapi.New(srv, log))
	srv.Handle("GET /metrics", m.Handler())
	if cfg.Development {
		srv.Handle("/demo/", demo.Handler())
		tok, err := auth.DevToken("alice", 24*time.Hour, nil)
		if err != nil {
			return fmt.Errorf("dev token: %w", err)
		}
		log.Warn("development mode: serving the built-in app demo-app, whose secret is public; pass -config for anything else",
			zap.String("app_id", auth.DevAppID), zap.String("demo_token_alice_24h", tok),
			zap.String("demo_page", "http://"+cfg.Listen+"/demo/"))
	}

	// The stored apps are applied before the server accepts anything (nil: admin off).
	adm, err := admin.Start(cfg, srv, log.Named("admin"), admin.Options{OnApply: hooks.Reload})
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	apply := func(c *config.Config) (*config.Config, error) { return c, srv.Reload(c) }
	if adm != nil {
		apply = adm.ReloadFile
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	log.Info("listening", zap.String("addr", ln.Addr().String()), zap.String("ws", "ws://"+ln.Addr().String()+"/ws"),
		zap.String("engine", cfg.Engine.Type), zap.Int("apps", len(cfg.Apps)), zap.String("version", buildinfo.Get().String()))

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ctx, ln) }()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1)
	for {
		select {
		case err := <-serveErr:
			if srv.Draining() { // the drain shut the server down: flush webhooks, then exit
				wctx, wcancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
				if werr := hooks.Close(wctx); werr != nil {
					log.Warn("webhooks not flushed", zap.Error(werr))
				}
				wcancel()
				log.Info("drained and stopped")
			}
			return err
		case sig := <-sigs:
			if sig == syscall.SIGUSR1 {
				srv.Drain(0, 0) // drain.grace and drain.timeout from the config
				continue
			}
			if sig == syscall.SIGHUP {
				if newCfg := reload(apply, *configPath, *listen, log); newCfg != nil {
					hooks.Reload(newCfg)
				}
				continue
			}
			log.Info("shutting down", zap.String("signal", sig.String()))
			sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
			err := srv.Shutdown(sctx)
			cancel()
			// Webhooks get their own budget: the disconnect events of the shutdown are the
			// last ones the backend hears.
			wctx, wcancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
			if werr := hooks.Close(wctx); werr != nil {
				log.Warn("webhooks not flushed", zap.Error(werr))
			}
			wcancel()
			if adm != nil {
				actx, acancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
				if aerr := adm.Close(actx); aerr != nil {
					log.Error("admin: closing", zap.Error(aerr))
				}
				acancel()
			}
			if err != nil {
				return fmt.Errorf("shutdown: %w", err)
			}
			if err := <-serveErr; err != nil && !errors.Is(err, net.ErrClosed) {
				return err
			}
			log.Info("stopped")
			return nil
		}
	}
}

// checkConfigFile prints every problem of the config at path to stderr, or "ok" to stdout.
func checkConfigFile(path string) error {
	problems := config.Check(path)
	if len(problems) == 0 {
		// Only a config that is valid as such can have its scripts compiled.
		if cfg, err := config.Load(path); err == nil {
			problems = script.Check(cfg)
		}
	}
	if len(problems) == 0 {
		fmt.Printf("%s: ok\n", path)
		return nil
	}
	for _, p := range problems {
		// One line a problem, whatever the message (a Lua syntax error ends in a newline).
		fmt.Fprintf(os.Stderr, "%s: %s\n", path, strings.ReplaceAll(strings.TrimSpace(p.Error()), "\n", " "))
	}
	return fmt.Errorf("%s: %d problem(s)", path, len(problems))
}

func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Dev(), nil
	}
	return config.Load(path)
}

// reload applies the config file again and returns it, or nil when it was not applied.
// apply runs cfg and returns the configuration in force (with the admin API's stored apps).
func reload(apply func(*config.Config) (*config.Config, error), path, listen string, log *zap.Logger) *config.Config {
	if path == "" {
		log.Warn("SIGHUP ignored: no config file in development mode")
		return nil
	}
	cfg, err := config.Load(path)
	if err == nil && listen != "" {
		cfg.Listen = listen
	}
	if err == nil {
		cfg, err = apply(cfg)
	}
	if err != nil {
		log.Error("reload failed; keeping the running config", zap.Error(err))
		return nil
	}
	log.Info("config reloaded", zap.Int("apps", len(cfg.Apps)))
	return cfg
}
