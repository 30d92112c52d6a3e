package edgehttp_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/durable-go/durable/actor"
	"github.com/durable-go/durable/clock"
	"github.com/durable-go/durable/edgehttp"
	"github.com/stretchr/testify/require"
)

// recorder is shared by the test objects of one harness and by the test.
type recorder struct {
	constructed atomic.Int64
	// entered receives the object's ID name when a "wait" request is
	// inside its turn.
	entered chan string
	// release lets every waiting turn finish.
	release chan struct{}
	// ctxErr receives the context error a waiting turn saw.
	ctxErr chan error
	// closes receives every WebSocketClose.
	closes chan closeEvent
	// binding is the test namespace, for objects that call others.
	binding actor.Binding
}

type closeEvent struct {
	code   websocket.StatusCode
	reason string
	// remaining is how many sockets the object still listed.
	remaining int
}

// attachment is what the WebSocket tests keep per socket.
type attachment struct {
	Name string `json:"name"`
}

// testObject is the object every edgehttp test forwards to. Its routes
// are picked by the last path element.
type testObject struct {
	state *actor.State
	rec   *recorder
}

func (o *testObject) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch path.Base(r.URL.Path) {
	case "echo":
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		for k, v := range r.Header {
			if len(k) > 2 && k[:2] == "X-" {
				w.Header()[k] = v
			}
		}
		w.Header().Set("X-Method", r.Method)
		w.Header().Set("X-Path", r.URL.Path)
		w.Header().Set("X-Query", r.URL.RawQuery)
		w.Header().Set("Content-Type", r.Header.Get("Content-Type"))
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(body)
	case "hello":
		_, _ = w.Write([]byte("hello, world\n"))
	case "put":
		if err := o.state.Storage().Put("hits", []byte("1")); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte("stored"))
	case "panic":
		panic("secret detail 42")
	case "wait":
		o.rec.entered <- o.state.ID().Name()
		select {
		case <-r.Context().Done():
			o.rec.ctxErr <- r.Context().Err()
		case <-o.rec.release:
			_, _ = w.Write([]byte("released"))
		}
	case "ws":
		o.accept(w, r)
	case "relay":
		// Pass the request on to the object named by the query's "to",
		// which accepts it as a WebSocket.
		name := r.URL.Query().Get("to")
		if name == o.state.ID().Name() {
			o.accept(w, r)
			return
		}
		to := o.rec.binding.IDFromName(name)
		resp, err := o.rec.binding.Fetch(r.Context(), to, r.WithContext(r.Context()))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	default:
		http.NotFound(w, r)
	}
}

func (o *testObject) accept(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ws, err := edgehttp.AcceptWebSocket(w, r, &edgehttp.AcceptOptions{
		Tags:         q["tag"],
		Subprotocols: q["proto"],
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if name := q.Get("name"); name != "" {
		if err := ws.SetAttachment(attachment{Name: name}); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	if q.Has("welcome") {
		_ = ws.SendText(r.Context(), "welcome")
	}
	switch q.Get("then") {
	case "panic":
		panic("failed after accept")
	case "forbid":
		http.Error(w, "forbidden after accept", http.StatusForbidden)
	}
}

// WebSocketMessage replies to "whoami" with the attachment's name and
// "count" with the number of sockets; anything else is echoed.
func (o *testObject) WebSocketMessage(ctx context.Context, ws *edgehttp.WebSocket, typ websocket.MessageType, data []byte) error {
	switch string(data) {
	case "whoami":
		var a attachment
		if _, err := ws.Attachment(&a); err != nil {
			return err
		}
		return ws.SendText(ctx, a.Name)
	case "count":
		return ws.SendText(ctx, itoa(len(edgehttp.WebSockets(o.state, ""))))
	case "protocol":
		return ws.SendText(ctx, ws.Subprotocol())
	}
	return ws.Send(ctx, typ, data)
}

func (o *testObject) WebSocketClose(ctx context.Context, ws *edgehttp.WebSocket, code websocket.StatusCode, reason string) error {
	o.rec.closes <- closeEvent{code: code, reason: reason, remaining: len(edgehttp.WebSockets(o.state, ""))}
	return nil
}

func itoa(n int) string {
	return string(appendInt(nil, n))
}

func appendInt(b []byte, n int) []byte {
	if n >= 10 {
		b = appendInt(b, n/10)
	}
	return append(b, byte('0'+n%10))
}

// plainObject implements no http.Handler.
type plainObject struct{}

// harness is a System in a temporary directory with the test namespace
// behind Forward on a real HTTP server on 127.0.0.1.
type harness struct {
	sys   *actor.System
	ns    *actor.Namespace[*testObject]
	plain *actor.Namespace[*plainObject]
	rec   *recorder
	mux   *http.ServeMux
	url   string
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func openSystem(t testing.TB, opts *actor.Options) *actor.System {
	t.Helper()
	o := actor.Options{}
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	if o.Clock == nil {
		// A fake clock that no test moves, so no object is evicted unless
		// a test evicts it.
		o.Clock = clock.NewFake(time.Now())
	}
	sys, err := actor.Open(t.TempDir(), &o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = sys.Close() })
	return sys
}

func newHarness(t testing.TB, fopts *edgehttp.ForwardOptions, aopts *actor.Options) *harness {
	t.Helper()
	h := &harness{
		sys: openSystem(t, aopts),
		rec: &recorder{
			entered: make(chan string, 64),
			release: make(chan struct{}),
			ctxErr:  make(chan error, 64),
			closes:  make(chan closeEvent, 1024),
		},
		mux: http.NewServeMux(),
	}
	var err error
	h.ns, err = actor.Register(h.sys, "TEST", func(s *actor.State) *testObject {
		h.rec.constructed.Add(1)
		return &testObject{state: s, rec: h.rec}
	})
	require.NoError(t, err)
	h.rec.binding = h.ns
	h.plain, err = actor.Register(h.sys, "PLAIN", func(*actor.State) *plainObject { return &plainObject{} })
	require.NoError(t, err)

	h.mux.Handle("/obj/{name}/", edgehttp.Forward(h.ns, edgehttp.PathName("name"), fopts))
	h.mux.Handle("/id/{id}/", edgehttp.Forward(h.ns, edgehttp.PathID("id"), fopts))
	h.mux.Handle("/hdr/", edgehttp.Forward(h.ns, edgehttp.HeaderName("X-Object"), fopts))
	h.mux.Handle("/hdrid/", edgehttp.Forward(h.ns, edgehttp.HeaderID("X-Object-ID"), fopts))
	h.mux.Handle("/plain/{name}/", edgehttp.Forward(h.plain, edgehttp.PathName("name"), fopts))

	srv := httptest.NewServer(h.mux)
	t.Cleanup(srv.Close)
	h.url = srv.URL
	return h
}

// sockets returns how many sockets the object name lists with tag, from
// inside one of its turns.
func (h *harness) sockets(t testing.TB, name, tag string) int {
	t.Helper()
	var n int
	err := h.ns.Invoke(context.Background(), h.ns.IDFromName(name), func(_ context.Context, o any) error {
		n = len(edgehttp.WebSockets(o.(*testObject).state, tag))
		return nil
	})
	require.NoError(t, err)
	return n
}

// broadcast sends each payload, in order, to every socket of the object
// name that has tag, in one turn.
func (h *harness) broadcast(t testing.TB, name, tag string, payloads ...[]byte) {
	t.Helper()
	err := h.ns.Invoke(context.Background(), h.ns.IDFromName(name), func(ctx context.Context, o any) error {
		for _, ws := range edgehttp.WebSockets(o.(*testObject).state, tag) {
			for _, p := range payloads {
				_ = ws.Send(ctx, websocket.MessageBinary, p)
			}
		}
		return nil
	})
	require.NoError(t, err)
}

// wsURL returns the WebSocket URL of the object name with query q.
func (h *harness) wsURL(name, q string) string {
	u := "ws" + strings.TrimPrefix(h.url, "http") + "/obj/" + name + "/ws"
	if q != "" {
		u += "?" + q
	}
	return u
}
