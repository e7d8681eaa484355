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
	"syscall"
	"time"

	"go.uber.org/zap"

	auth "github.com/rtmate/rtmate/rtmate-auth"
	"github.com/rtmate/rtmate/rtmate-server/internal/api"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/demo"
	"github.com/rtmate/rtmate/rtmate-server/internal/engine"
	"github.com/rtmate/rtmate/rtmate-server/internal/logging"
	"github.com/rtmate/rtmate/rtmate-server/internal/metrics"
	"github.com/rtmate/rtmate/rtmate-server/internal/pusherapi"
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
	flag.Parse()

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

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	log.Info("listening", zap.String("addr", ln.Addr().String()), zap.String("ws", "ws://"+ln.Addr().String()+"/ws"),
		zap.String("engine", cfg.Engine.Type), zap.Int("apps", len(cfg.Apps)))

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ctx, ln) }()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	for {
		select {
		case err := <-serveErr:
			return err
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				if newCfg := reload(srv, *configPath, *listen, log); newCfg != nil {
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

func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Dev(), nil
	}
	return config.Load(path)
}

// reload applies the config file again and returns it, or nil when it was not applied.
func reload(srv *server.Server, path, listen string, log *zap.Logger) *config.Config {
	if path == "" {
		log.Warn("SIGHUP ignored: no config file in development mode")
		return nil
	}
	cfg, err := config.Load(path)
	if err == nil && listen != "" {
		cfg.Listen = listen
	}
	if err == nil {
		err = srv.Reload(cfg)
	}
	if err != nil {
		log.Error("reload failed; keeping the running config", zap.Error(err))
		return nil
	}
	log.Info("config reloaded", zap.Int("apps", len(cfg.Apps)))
	return cfg
}
