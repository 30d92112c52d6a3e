package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/durable-go/durable/actor"
	"github.com/durable-go/durable/clock"
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
	// Logger receives every log line; nil means slog.Default().
	Logger *slog.Logger
	// Clock drives the runtime and the /data cache; nil means clock.Real.
	Clock clock.Clock
}

// server is the counter example's runtime and routes.
type server struct {
	logger   *slog.Logger
	sys      *actor.System
	counters *actor.Namespace[*Counter]
	handler  http.Handler
}

// newServer opens the data directory and builds the routes. Close releases
// what it opened.
func newServer(cfg serverConfig) (*server, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	sys, err := actor.Open(cfg.DataDir, &actor.Options{Logger: logger, Clock: cfg.Clock})
	if err != nil {
		return nil, fmt.Errorf("counter: open %s: %w", cfg.DataDir, err)
	}
	counters, err := actor.Register(sys, "counter", newCounter)
	if err != nil {
		sys.Close()
		return nil, fmt.Errorf("counter: register namespace: %w", err)
	}
	s := &server{logger: logger, sys: sys, counters: counters}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", serveGreeting)
	mux.Handle("POST /counter/{name...}", s.counterHandler())
	mux.Handle("GET /counter/{name...}", s.counterHandler())
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

func serveGreeting(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, greeting)
}

// counterHandler checks the name in the path and forwards the request to
// that name's Counter.
func (s *server) counterHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if err := validateName(name); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		resp, err := s.counters.Fetch(r.Context(), s.counters.IDFromName(name), r)
		if err != nil {
			s.writeFetchError(w, r, err)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	})
}

func (s *server) writeFetchError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, actor.ErrOverloaded):
		w.Header().Set("Retry-After", "1")
		http.Error(w, "counter: too many requests queued for this counter; retry later", http.StatusServiceUnavailable)
	case errors.Is(err, actor.ErrClosed):
		http.Error(w, "counter: server is shutting down; retry later", http.StatusServiceUnavailable)
	case r.Context().Err() != nil:
		// The client is gone; nobody reads a response.
	default:
		s.logger.ErrorContext(r.Context(), "counter: request failed", "path", r.URL.Path, "err", err)
		http.Error(w, "counter: internal error", http.StatusInternalServerError)
	}
}

// serve listens on cfg.Addr and serves until ctx ends, then finishes the
// requests in flight and closes the runtime.
func serve(ctx context.Context, cfg serverConfig) error {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	s, err := newServer(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		s.Close(context.Background())
		return fmt.Errorf("counter: listen: %w", err)
	}
	logger.Info("counter: listening", "addr", ln.Addr().String(), "data", cfg.DataDir)

	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()

	select {
	case err = <-serveErr:
	case <-ctx.Done():
		logger.Info("counter: shutting down")
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		logger.Warn("counter: requests still in flight at shutdown", "err", err)
	}
	if cerr := s.Close(shutdownCtx); cerr != nil {
		return errors.Join(err, fmt.Errorf("counter: close runtime: %w", cerr))
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("counter: serve: %w", err)
	}
	logger.Info("counter: stopped")
	return nil
}
