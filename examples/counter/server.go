package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/durable-go/durable/actor"
	"github.com/durable-go/durable/clock"
	"github.com/durable-go/durable/edgehttp"
	"go.opentelemetry.io/otel/metric"
)

// greeting is the body of GET /.
const greeting = "Hello from durable! POST /counter/NAME to count, GET /data for a cached response.\n"

// shutdownTimeout bounds how long a stopping server waits for in-flight
// requests and their durability.
const shutdownTimeout = 30 * time.Second

// serverConfig configures newServer and serve.
type serverConfig struct {
	// Addr is the TCP address to listen on.
	Addr string
	// DataDir is the database directory, created if missing.
	DataDir string
	// AccessLog logs one line per request.
	AccessLog bool
	// Logger receives every log line; nil means slog.Default().
	Logger *slog.Logger
	// Clock drives the runtime and the /data cache; nil means clock.Real.
	Clock clock.Clock
	// MeterProvider receives the runtime's metrics; nil means the global
	// provider of go.opentelemetry.io/otel.
	MeterProvider metric.MeterProvider
}

// server is the counter example's runtime, bindings and routes.
type server struct {
	sys      *actor.System
	counters *actor.Namespace[*Counter]
	data     *dataCache
	handler  http.Handler
}

// newServer opens the data directory and builds the routes. Close releases
// what it opened.
func newServer(cfg serverConfig) (*server, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	sys, err := actor.Open(cfg.DataDir, &actor.Options{Logger: logger, Clock: cfg.Clock, MeterProvider: cfg.MeterProvider})
	if err != nil {
		return nil, fmt.Errorf("counter: open %s: %w", cfg.DataDir, err)
	}
	counters, err := actor.Register(sys, "counter", newCounter)
	if err != nil {
		sys.Close()
		return nil, fmt.Errorf("counter: register namespace: %w", err)
	}
	data, err := newDataCache(sys.Storage(), cfg.Clock, logger, cfg.MeterProvider)
	if err != nil {
		sys.Close()
		return nil, fmt.Errorf("counter: open KV namespace: %w", err)
	}
	s := &server{sys: sys, counters: counters, data: data}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", serveGreeting)
	mux.Handle("GET /data", data)
	// {name...} takes the rest of the path, so /counter/ reaches the name
	// check and gets a 400 rather than a 404, and a/b is a name.
	forward := edgehttp.Forward(counters, edgehttp.NameFunc(counterName), &edgehttp.ForwardOptions{
		Logger: logger,
		// Counters ignore the request body, so a large one gets a 413
		// before it reaches an object.
		MaxBodyBytes: 64 << 10,
	})
	mux.Handle("POST /counter/{name...}", forward)
	mux.Handle("GET /counter/{name...}", forward)
	s.handler = mux
	return s, nil
}

// counterName returns the checked counter name of a request to
// /counter/{name...}. Forward sends its error as the body of a 400
// response.
func counterName(r *http.Request) (string, error) {
	name := r.PathValue("name")
	if err := validateName(name); err != nil {
		return "", err
	}
	return name, nil
}

// Handler returns the routes.
func (s *server) Handler() http.Handler { return s.handler }

// Close stops the /data cache, then the runtime after in-flight turns are
// durable or ctx ends.
func (s *server) Close(ctx context.Context) error {
	derr := s.data.Close()
	if err := s.sys.Shutdown(ctx); err != nil {
		return err
	}
	return derr
}

func serveGreeting(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, greeting)
}

// serve listens on cfg.Addr and serves until ctx ends, then finishes the
// requests in flight and closes the runtime. Besides the example's routes
// it serves GET /healthz and Prometheus GET /metrics.
func serve(ctx context.Context, cfg serverConfig) error {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	metrics, err := edgehttp.NewMetrics()
	if err != nil {
		return fmt.Errorf("counter: create metrics: %w", err)
	}
	cfg.MeterProvider = metrics.MeterProvider()
	s, err := newServer(cfg)
	if err != nil {
		return err
	}
	logger.Info("counter: opened data directory", "dir", cfg.DataDir)

	// The server logs the one line with the address it listens on.
	srv := edgehttp.NewServer(cfg.Addr, s.Handler(), &edgehttp.ServerOptions{
		Logger:          logger,
		Metrics:         metrics,
		ShutdownTimeout: shutdownTimeout,
		// serveMain turns SIGINT and SIGTERM into the end of ctx.
		IgnoreSignals: true,
		NoAccessLog:   !cfg.AccessLog,
	})
	runErr := srv.Run(ctx)

	closeCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	closeErr := s.Close(closeCtx)
	if merr := metrics.Shutdown(closeCtx); merr != nil {
		logger.Warn("counter: stop metrics failed", "err", merr)
	}
	if err := errors.Join(runErr, closeErr); err != nil {
		return err
	}
	logger.Info("counter: stopped")
	return nil
}
