package edgehttp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
	"github.com/felixge/httpsnoop"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// ServerOptions configures NewServer. The zero value is ready to use;
// every zero field means its documented default.
type ServerOptions struct {
	// Logger receives the start and stop lines, the access log and the
	// HTTP server's own errors. Nil means slog.Default().
	Logger *slog.Logger
	// Metrics receives the HTTP server metrics and is served at /metrics.
	// Nil means a new Metrics of the Server's own, which Run shuts down on
	// return.
	Metrics *Metrics
	// TracerProvider receives a span per request. When the handler
	// forwards to an object with the request's context, that span is the
	// parent of the spans of the turn and its storage commit. Nil means
	// the global provider of go.opentelemetry.io/otel.
	TracerProvider trace.TracerProvider
	// Propagators extract a caller's trace context from the request
	// headers. Nil means the global propagators of go.opentelemetry.io/otel.
	Propagators propagation.TextMapPropagator
	// ShutdownTimeout bounds the graceful shutdown: finishing in-flight
	// requests and closing WebSockets. Connections still open after it are
	// closed. The default is 30 seconds.
	ShutdownTimeout time.Duration
	// ReadHeaderTimeout bounds reading a request's headers. The default is
	// 10 seconds.
	ReadHeaderTimeout time.Duration
	// IgnoreSignals stops Run from shutting down on SIGINT and SIGTERM;
	// only its context ends it then.
	IgnoreSignals bool
	// NoAccessLog turns off the access log line per request.
	NoAccessLog bool
}

// Server serves a handler over HTTP with what a production deployment
// expects around it: /healthz, Prometheus /metrics, OpenTelemetry spans
// and metrics per request, and an access log through slog. Its graceful
// shutdown finishes in-flight requests and closes WebSockets with 1001
// (going away).
type Server struct {
	addr        string
	opts        ServerOptions
	logger      *slog.Logger
	metrics     *Metrics
	ownsMetrics bool
	metricsErr  error
	handler     http.Handler
	group       *socketGroup
	draining    atomic.Bool
	ready       chan struct{}

	mu       sync.Mutex
	listener net.Addr // guarded by mu
	started  bool     // guarded by mu, and set by the first Serve
}

// NewServer returns a Server that will listen on addr, in the form
// net.Listen takes ("127.0.0.1:8080"; port 0 picks a free port), and
// serve h. The Server routes GET /healthz and GET /metrics itself and
// everything else to h. /healthz responds 200 with "ok" while serving.
// Shutdown closes the listener at once, so new connections are refused,
// and net/http closes idle connections and drops requests read after that
// point. A health check whose handler is already running gets 503.
func NewServer(addr string, h http.Handler, opts *ServerOptions) *Server {
	if h == nil {
		panic("edgehttp: NewServer called with a nil handler")
	}
	s := &Server{addr: addr, group: newSocketGroup(), ready: make(chan struct{})}
	if opts != nil {
		s.opts = *opts
	}
	if s.opts.ShutdownTimeout <= 0 {
		s.opts.ShutdownTimeout = 30 * time.Second
	}
	if s.opts.ReadHeaderTimeout <= 0 {
		s.opts.ReadHeaderTimeout = 10 * time.Second
	}
	s.logger = s.opts.Logger
	if s.logger == nil {
		s.logger = slog.Default()
	}
	s.metrics = s.opts.Metrics
	if s.metrics == nil {
		s.metrics, s.metricsErr = NewMetrics()
		s.ownsMetrics = true
	}
	s.handler = s.buildHandler(h)
	return s
}

func (s *Server) buildHandler(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.serveHealth)
	if s.metrics != nil {
		mux.Handle("GET /metrics", s.metrics.Handler())
	}
	mux.Handle("/", h)

	otelOpts := []otelhttp.Option{
		otelhttp.WithFilter(func(r *http.Request) bool {
			return r.URL.Path != "/healthz" && r.URL.Path != "/metrics"
		}),
	}
	if s.opts.TracerProvider != nil {
		otelOpts = append(otelOpts, otelhttp.WithTracerProvider(s.opts.TracerProvider))
	}
	if s.opts.Propagators != nil {
		otelOpts = append(otelOpts, otelhttp.WithPropagators(s.opts.Propagators))
	}
	if s.metrics != nil {
		otelOpts = append(otelOpts, otelhttp.WithMeterProvider(s.metrics.MeterProvider()))
	}
	handler := otelhttp.NewHandler(mux, "http.server", otelOpts...)
	if s.opts.NoAccessLog {
		return handler
	}
	return s.accessLog(handler)
}

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if s.draining.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("shutting down\n"))
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// accessLog logs one line per request after it is served. httpsnoop keeps
// the optional interfaces of w, so WebSocket upgrades can still hijack.
func (s *Server) accessLog(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.logger.Enabled(r.Context(), slog.LevelInfo) {
			h.ServeHTTP(w, r)
			return
		}
		m := httpsnoop.CaptureMetrics(h, w, r)
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", m.Code),
			slog.Int64("bytes", m.Written),
			slog.Duration("duration", m.Duration),
			slog.String("remote", r.RemoteAddr),
		}
		if sc := trace.SpanContextFromContext(r.Context()); sc.HasTraceID() {
			attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()))
		}
		s.logger.LogAttrs(r.Context(), slog.LevelInfo, "http request", attrs...)
	})
}

// Handler returns the Server's full handler: the routes for /healthz and
// /metrics, the OpenTelemetry middleware and the access log around the
// handler passed to NewServer.
func (s *Server) Handler() http.Handler { return s.handler }

// Metrics returns the Metrics served at /metrics.
func (s *Server) Metrics() *Metrics { return s.metrics }

// Ready returns a channel that is closed once the Server listens.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr returns the address the Server listens on, with the real port when
// the configured one was 0, or nil before it listens.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listener
}

// Run listens on the Server's address and serves until ctx ends or, unless
// ServerOptions.IgnoreSignals is set, the process receives SIGINT or
// SIGTERM. It then shuts down gracefully and returns nil, or the error
// that stopped it.
func (s *Server) Run(ctx context.Context) error {
	if !s.opts.IgnoreSignals {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("edgehttp: listen on %q: %w; stop the process that listens there or choose another address",
				s.addr, err)
		}
		return fmt.Errorf("edgehttp: listen on %q: %w", s.addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends, then shuts down gracefully as Run
// does. It closes ln. It handles no signals.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.metricsErr != nil {
		_ = ln.Close()
		return s.metricsErr
	}
	s.mu.Lock()
	started := s.started
	s.started = true
	s.mu.Unlock()
	if started {
		_ = ln.Close()
		return errors.New("edgehttp: Server already started; create a new one")
	}
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.opts.ReadHeaderTimeout,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
		BaseContext: func(net.Listener) context.Context {
			return context.WithValue(context.Background(), socketGroupKey{}, s.group)
		},
	}
	s.mu.Lock()
	s.listener = ln.Addr()
	s.mu.Unlock()
	// Log before Ready closes, so code that waits on Ready finds the line.
	s.logger.Info("edgehttp: listening", "addr", ln.Addr().String())
	close(s.ready)

	listener := &onceCloseListener{Listener: ln}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(listener) }()
	select {
	case err := <-serveErr:
		return fmt.Errorf("edgehttp: serve: %w", err)
	case <-ctx.Done():
	}
	// Close the listener before logging the shutdown, so no connection is
	// accepted after that line. srv.Serve then returns an accept error,
	// which is discarded.
	_ = listener.Close()
	return s.shutdown(srv)
}

// onceCloseListener closes its listener on the first Close only, so the
// second Close, from http.Server.Shutdown, returns no error.
type onceCloseListener struct {
	net.Listener
	once sync.Once
}

func (l *onceCloseListener) Close() error {
	l.once.Do(func() { _ = l.Listener.Close() })
	return nil
}

// shutdown stops accepting connections, waits for in-flight requests,
// closes WebSockets with 1001 and waits for their close handshakes, all
// within ShutdownTimeout.
func (s *Server) shutdown(srv *http.Server) error {
	s.logger.Info("edgehttp: shutting down", "timeout", s.opts.ShutdownTimeout)
	s.draining.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()

	s.group.closeAll(websocket.StatusGoingAway, "server shutting down")
	err := srv.Shutdown(ctx)
	if werr := s.group.wait(ctx); err == nil {
		err = werr
	}
	if err != nil {
		_ = srv.Close()
		err = fmt.Errorf("edgehttp: graceful shutdown did not finish within %s: %w",
			s.opts.ShutdownTimeout, err)
	}
	if s.ownsMetrics {
		_ = s.metrics.Shutdown(context.Background())
	}
	s.logger.Info("edgehttp: stopped")
	return err
}
