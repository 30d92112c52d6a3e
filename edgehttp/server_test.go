package edgehttp_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/durable-go/durable/actor"
	"github.com/durable-go/durable/edgehttp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// logCapture is a slog.Handler that keeps records and signals each
// message a test waits for.
type logCapture struct {
	mu      sync.Mutex
	records []slog.Record
	waiters map[string]chan struct{}
}

func newLogCapture() *logCapture {
	return &logCapture{waiters: make(map[string]chan struct{})}
}

func (c *logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (c *logCapture) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *logCapture) WithGroup(string) slog.Handler            { return c }

func (c *logCapture) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.records = append(c.records, r.Clone())
	if ch, ok := c.waiters[r.Message]; ok {
		close(ch)
		delete(c.waiters, r.Message)
	}
	return nil
}

// logged returns a channel closed when a record with msg is logged after
// the call.
func (c *logCapture) logged(msg string) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan struct{})
	c.waiters[msg] = ch
	return ch
}

// find returns the attributes of the records with msg.
func (c *logCapture) find(msg string) []map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []map[string]string
	for _, r := range c.records {
		if r.Message != msg {
			continue
		}
		attrs := make(map[string]string)
		r.Attrs(func(a slog.Attr) bool {
			attrs[a.Key] = a.Value.String()
			return true
		})
		out = append(out, attrs)
	}
	return out
}

// startServer serves h through a Server on 127.0.0.1 and returns its base
// URL, a function that stops it and the channel Run's error arrives on.
func startServer(t testing.TB, h http.Handler, opts *edgehttp.ServerOptions) (*edgehttp.Server, string, context.CancelFunc, <-chan error) {
	t.Helper()
	o := edgehttp.ServerOptions{IgnoreSignals: true}
	if opts != nil {
		o = *opts
		o.IgnoreSignals = true
	}
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	srv := edgehttp.NewServer("127.0.0.1:0", h, &o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	stopped := make(chan struct{})
	go func() {
		done <- srv.Run(ctx)
		close(stopped)
	}()
	select {
	case <-srv.Ready():
	case err := <-done:
		t.Fatalf("server stopped before listening: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		<-stopped
	})
	return srv, "http://" + srv.Addr().String(), cancel, done
}

func TestServerHealthAndMetrics(t *testing.T) {
	logs := newLogCapture()
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "app")
	})
	srv, base, _, _ := startServer(t, handler, &edgehttp.ServerOptions{Logger: slog.New(logs)})

	addr, ok := srv.Addr().(*net.TCPAddr)
	require.True(t, ok)
	assert.NotZero(t, addr.Port, "port 0 is replaced by the real one")
	listening := logs.find("edgehttp: listening")
	require.Len(t, listening, 1)
	assert.Equal(t, srv.Addr().String(), listening[0]["addr"])

	resp, body := get(t, base+"/healthz")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "ok\n", string(body))

	resp, body = get(t, base+"/anything")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "app", string(body))

	resp, body = get(t, base+"/metrics")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), "http_server_request_duration_seconds")
	assert.Contains(t, string(body), "go_goroutines")

	access := logs.find("http request")
	require.NotEmpty(t, access)
	var app map[string]string
	for _, a := range access {
		if a["path"] == "/anything" {
			app = a
		}
	}
	require.NotNil(t, app, "access log line for /anything")
	assert.Equal(t, "GET", app["method"])
	assert.Equal(t, "200", app["status"])
	assert.Equal(t, "3", app["bytes"])
}

func TestServerGracefulShutdown(t *testing.T) {
	logs := newLogCapture()
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		_, _ = io.WriteString(w, "finished")
	})
	_, base, stop, done := startServer(t, handler, &edgehttp.ServerOptions{Logger: slog.New(logs)})

	type result struct {
		status int
		body   string
		err    error
	}
	results := make(chan result, 1)
	go func() {
		resp, err := http.Get(base + "/slow")
		if err != nil {
			results <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		results <- result{resp.StatusCode, string(b), err}
	}()
	receive(t, entered)

	shuttingDown := logs.logged("edgehttp: shutting down")
	stop()
	receive(t, shuttingDown)

	// New connections are refused while the in-flight request finishes.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	_, err := client.Get(base + "/healthz")
	require.Error(t, err)
	select {
	case err := <-done:
		t.Fatalf("Run returned with a request in flight: %v", err)
	default:
	}

	close(release)
	r := receive(t, results)
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "finished", r.body)
	assert.NoError(t, receive(t, done))
}

func TestServerClosesWebSockets(t *testing.T) {
	metrics, err := edgehttp.NewMetrics()
	require.NoError(t, err)
	h := newHarness(t, &edgehttp.ForwardOptions{MeterProvider: metrics.MeterProvider()}, nil)
	_, base, stop, done := startServer(t, h.mux, &edgehttp.ServerOptions{Metrics: metrics})
	url := "ws" + strings.TrimPrefix(base, "http") + "/obj/srv/ws?tag=x"
	c := dial(t, url)
	writeText(t, c, "count")
	require.Equal(t, "1", readText(t, c))

	_, body := get(t, base+"/metrics")
	assert.Contains(t, string(body), `durable_edgehttp_websocket_open{namespace="TEST"`)
	assert.Regexp(t, `durable_edgehttp_websocket_messages_total\{direction="received",namespace="TEST".*\} 1\n`, string(body))

	stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _, err = c.Read(ctx)
	assert.Equal(t, websocket.StatusGoingAway, websocket.CloseStatus(err), "err: %v", err)
	assert.NoError(t, receive(t, done))
	ev := receive(t, h.rec.closes)
	assert.Equal(t, websocket.StatusGoingAway, ev.code)
}

func TestServerTraceReachesTurn(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	h := newHarness(t, nil, &actor.Options{TracerProvider: tp})
	_, base, _, _ := startServer(t, h.mux, &edgehttp.ServerOptions{TracerProvider: tp})

	resp, _ := get(t, base+"/obj/traced/put")
	require.Equal(t, http.StatusOK, resp.StatusCode)

	ended := spans.Ended()
	var server sdktrace.ReadOnlySpan
	for _, s := range ended {
		if s.SpanKind() == trace.SpanKindServer {
			server = s
		}
	}
	require.NotNil(t, server, "server span")
	assert.Equal(t, "GET /obj/{name}/", server.Name(), "named after the route pattern")
	var inTrace []string
	for _, s := range ended {
		if s != server && s.SpanContext().TraceID() == server.SpanContext().TraceID() {
			inTrace = append(inTrace, s.Name())
		}
	}
	assert.Contains(t, inTrace, "actor.fetch", "the stub call continues the request's trace")
	assert.Contains(t, inTrace, "actor.turn")
	assert.Contains(t, inTrace, "actor.commit")
}

func TestServerStopsOnSIGTERM(t *testing.T) {
	logs := newLogCapture()
	srv := edgehttp.NewServer("127.0.0.1:0", http.NotFoundHandler(), &edgehttp.ServerOptions{
		Logger: slog.New(logs),
	})
	done := make(chan error, 1)
	go func() { done <- srv.Run(context.Background()) }()
	receive(t, srv.Ready())

	// Run watches for the signal from before it listens, so the signal
	// cannot reach the default handler and end the test process.
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	assert.NoError(t, receive(t, done))
	assert.Len(t, logs.find("edgehttp: shutting down"), 1)
	assert.Len(t, logs.find("edgehttp: stopped"), 1)
}

func TestServerServesOnce(t *testing.T) {
	srv := edgehttp.NewServer("127.0.0.1:0", http.NotFoundHandler(), &edgehttp.ServerOptions{
		IgnoreSignals: true,
		Logger:        testLogger(t),
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Two Serve calls race. One serves and the other returns an error.
	const n = 2
	done := make(chan error, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		go func() { done <- srv.Serve(ctx, ln) }()
	}
	err := receive(t, done)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "already started")
	receive(t, srv.Ready())
	cancel()
	assert.NoError(t, receive(t, done))
}

func TestServerAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()

	srv := edgehttp.NewServer(ln.Addr().String(), http.NotFoundHandler(), &edgehttp.ServerOptions{
		IgnoreSignals: true,
		Logger:        testLogger(t),
	})
	err = srv.Run(context.Background())
	require.ErrorIs(t, err, syscall.EADDRINUSE)
	assert.Contains(t, err.Error(), ln.Addr().String())
	assert.Contains(t, err.Error(), "choose another address")
}
