package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/durable-go/durable/actor"
	"github.com/durable-go/durable/clock"
	"github.com/durable-go/durable/edgehttp"
	"github.com/durable-go/durable/examples/ratelimit/limiter"
	"go.opentelemetry.io/otel/metric"
)

// greeting is the body of GET /hello.
const greeting = "Hello from durable! This greeting is rate limited per client IP.\n"

// shutdownTimeout bounds how long a stopping server waits for in-flight
// requests and their durability.
const shutdownTimeout = 30 * time.Second

// serverConfig configures newServer and serve.
type serverConfig struct {
	// Addr is the TCP address to listen on.
	Addr string
	// DataDir is the database directory, created if missing.
	DataDir string
	// Limit and Period configure the limiter; zero means its defaults.
	Limit  int
	Period time.Duration
	// Logger receives every log line; nil means slog.Default().
	Logger *slog.Logger
	// Clock drives the runtime and the limiter; nil means clock.Real.
	Clock clock.Clock
	// MeterProvider receives the runtime's metrics; nil means the global
	// provider.
	MeterProvider metric.MeterProvider
}

// server is the example's runtime, limiters and routes.
type server struct {
	logger *slog.Logger
	sys    *actor.System
	// checks counts POST /check/{key}. hello counts GET /hello per client
	// IP in a namespace of its own, so that no key of /check can spend
	// the greeting budget of an IP address.
	checks  *limiter.Limiter
	hello   *limiter.Limiter
	handler http.Handler
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
		return nil, fmt.Errorf("ratelimit: open %s: %w", cfg.DataDir, err)
	}
	checks, err := limiter.New(sys, limiter.Options{Namespace: "check", Limit: cfg.Limit, Period: cfg.Period})
	if err != nil {
		sys.Close()
		return nil, fmt.Errorf("ratelimit: %w", err)
	}
	hello, err := limiter.New(sys, limiter.Options{Namespace: "hello", Limit: cfg.Limit, Period: cfg.Period})
	if err != nil {
		sys.Close()
		return nil, fmt.Errorf("ratelimit: %w", err)
	}
	s := &server{logger: logger, sys: sys, checks: checks, hello: hello}

	mux := http.NewServeMux()
	// {key...} also matches an empty key, so that /check/ gets a 400
	// from the limiter rather than a 404.
	mux.HandleFunc("POST /check/{key...}", s.serveCheck)
	mux.Handle("GET /hello", hello.Middleware(http.HandlerFunc(serveHello), &limiter.MiddlewareOptions{Logger: logger}))
	s.handler = mux
	return s, nil
}

// Handler returns the routes.
func (s *server) Handler() http.Handler { return s.handler }

// Close stops the runtime after in-flight turns are durable, or when ctx
// ends.
func (s *server) Close(ctx context.Context) error {
	return s.sys.Shutdown(ctx)
}

func serveHello(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, greeting)
}

// checkResult is the JSON body of POST /check/{key}. Durations are whole
// seconds, rounded up, as in the header fields.
type checkResult struct {
	Key        string `json:"key"`
	Allowed    bool   `json:"allowed"`
	Limit      int    `json:"limit"`
	Remaining  int    `json:"remaining"`
	Reset      int64  `json:"reset"`
	RetryAfter int64  `json:"retry_after,omitempty"`
}

// serveCheck consumes one unit of the key's budget.
func (s *server) serveCheck(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	d, err := s.checks.Allow(r.Context(), key)
	if err != nil {
		if limiter.StatusCode(err) == http.StatusInternalServerError {
			s.logger.ErrorContext(r.Context(), "ratelimit: check failed", "key", key, "err", err)
		}
		s.checks.WriteError(w, err)
		return
	}
	s.checks.SetHeaders(w.Header(), d)
	res := checkResult{
		Key:       key,
		Allowed:   d.Allowed,
		Limit:     d.Limit,
		Remaining: d.Remaining,
		Reset:     limiter.Seconds(d.Reset),
	}
	code := http.StatusOK
	if !d.Allowed {
		code = http.StatusTooManyRequests
		res.RetryAfter = max(limiter.Seconds(d.RetryAfter), 1)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(res)
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
		return fmt.Errorf("ratelimit: create metrics: %w", err)
	}
	cfg.MeterProvider = metrics.MeterProvider()
	s, err := newServer(cfg)
	if err != nil {
		return err
	}
	srv := edgehttp.NewServer(cfg.Addr, s.Handler(), &edgehttp.ServerOptions{
		Logger:          logger,
		Metrics:         metrics,
		ShutdownTimeout: shutdownTimeout,
		// serveMain turns SIGINT and SIGTERM into the end of ctx.
		IgnoreSignals: true,
	})
	done := make(chan struct{})
	go func() {
		select {
		case <-srv.Ready():
			logger.Info("ratelimit: listening", "addr", srv.Addr().String(), "data", cfg.DataDir,
				"limit", s.checks.Limit(), "period", s.checks.Period())
		case <-done:
		}
	}()
	err = srv.Run(ctx)
	close(done)

	// The HTTP server has finished its requests; make their turns durable
	// and close the store.
	closeCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if cerr := s.Close(closeCtx); cerr != nil {
		err = errors.Join(err, fmt.Errorf("ratelimit: close runtime: %w", cerr))
	}
	if merr := metrics.Shutdown(closeCtx); merr != nil {
		logger.Warn("ratelimit: metrics shutdown failed", "err", merr)
	}
	if err != nil {
		return err
	}
	logger.Info("ratelimit: stopped")
	return nil
}
