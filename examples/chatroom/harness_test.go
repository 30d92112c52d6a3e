package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/durable-go/durable/clock"
	"github.com/durable-go/durable/edgehttp"
	"github.com/stretchr/testify/require"
)

// frameTimeout bounds every wait for a frame, so a missing frame fails the
// test instead of hanging it.
const frameTimeout = 10 * time.Second

// testServer is the chat server on a real loopback listener, over a real
// Pebble database in a temporary directory.
type testServer struct {
	t   testing.TB
	dir string
	cfg appConfig
	app *app
	// cancel stops the HTTP server; done receives Serve's result.
	cancel context.CancelFunc
	done   chan error
	// clients are the clients dialled so far, closed before a restart.
	clients []*client
	// URL is the server's base URL, such as http://127.0.0.1:41234.
	URL string
}

// startServer starts a chat server on dir, a fresh directory if dir is
// empty. It is shut down when the test ends.
func startServer(t testing.TB, dir string, cfg appConfig) *testServer {
	t.Helper()
	return startServerBuffered(t, dir, cfg, 0)
}

// startServerBuffered is startServer with the send buffer of every
// accepted connection set to sendBuffer bytes, if positive, so that a
// client that stops reading fills it quickly.
func startServerBuffered(t testing.TB, dir string, cfg appConfig, sendBuffer int) *testServer {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	a, err := openApp(dir, cfg)
	require.NoError(t, err)
	var ln net.Listener
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	if sendBuffer > 0 {
		ln = sendBufferListener{ln.(*net.TCPListener), sendBuffer}
	}
	srv := edgehttp.NewServer("", a.handler, &edgehttp.ServerOptions{
		Logger:          cfg.Logger,
		IgnoreSignals:   true,
		NoAccessLog:     true,
		ShutdownTimeout: 10 * time.Second,
	})
	ctx, cancel := context.WithCancel(context.Background())
	s := &testServer{t: t, dir: dir, cfg: cfg, app: a, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- srv.Serve(ctx, ln) }()
	s.URL = "http://" + ln.Addr().String()
	t.Cleanup(s.stop)
	return s
}

// sendBufferListener sets the send buffer of every connection it accepts.
type sendBufferListener struct {
	*net.TCPListener
	size int
}

func (l sendBufferListener) Accept() (net.Conn, error) {
	conn, err := l.TCPListener.AcceptTCP()
	if err != nil {
		return nil, err
	}
	if err := conn.SetWriteBuffer(l.size); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// stop shuts the HTTP server down, closing every socket with 1001, then
// the runtime. It is safe to call twice.
func (s *testServer) stop() {
	if s.app == nil {
		return
	}
	s.cancel()
	require.NoError(s.t, <-s.done)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(s.t, s.app.Close(ctx))
	s.app = nil
}

// restart stops the server and starts a new one on the same directory.
// Its clients are closed first, so the shutdown need not wait for clients
// that are not reading to reply to the server's close frame.
func (s *testServer) restart() *testServer {
	for _, c := range s.clients {
		c.conn.CloseNow()
	}
	s.stop()
	return startServer(s.t, s.dir, s.cfg)
}

// fakeClock returns a fake clock set to a fixed, realistic time.
func fakeClock() *clock.Fake {
	return clock.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
}

// frame is any server frame. Fields absent from the frame are nil.
type frame struct {
	Name      *string `json:"name"`
	Message   *string `json:"message"`
	Timestamp *int64  `json:"timestamp"`
	Joined    *string `json:"joined"`
	Quit      *string `json:"quit"`
	Ready     *bool   `json:"ready"`
	Error     *string `json:"error"`
	// raw is the frame as received.
	raw string
}

func (f frame) String() string { return f.raw }

// isMessage reports whether f is a chat message.
func (f frame) isMessage() bool { return f.Timestamp != nil }

// client is one WebSocket member of a room.
type client struct {
	t    testing.TB
	conn *websocket.Conn
	// tcp is the client's side of the TCP connection, to break it without
	// a close frame.
	tcp net.Conn
}

// dialOptions configure dial.
type dialOptions struct {
	// localIP is the loopback address the client connects from, such as
	// 127.0.0.2; empty means the system's choice. The server rate-limits
	// by this address.
	localIP string
	// recvBuffer, if positive, sets the socket's receive buffer in bytes.
	recvBuffer int
}

// dial connects a client to room without sending anything.
func (s *testServer) dial(room string, opts dialOptions) *client {
	s.t.Helper()
	c, err := dialRoom(context.Background(), s.URL, room, opts)
	require.NoError(s.t, err)
	c.t = s.t
	s.t.Cleanup(func() { c.conn.CloseNow() })
	s.clients = append(s.clients, c)
	return c
}

// dialRoom connects to room on the server at baseURL.
func dialRoom(ctx context.Context, baseURL, room string, opts dialOptions) (*client, error) {
	c := &client{}
	d := &net.Dialer{}
	if opts.localIP != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(opts.localIP)}
	}
	var mu sync.Mutex
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			if opts.recvBuffer > 0 {
				if err := conn.(*net.TCPConn).SetReadBuffer(opts.recvBuffer); err != nil {
					conn.Close()
					return nil, err
				}
			}
			mu.Lock()
			c.tcp = conn
			mu.Unlock()
			return conn, nil
		},
	}
	u := "ws" + strings.TrimPrefix(baseURL, "http") + "/api/room/" + room + "/websocket"
	conn, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(1 << 20)
	c.conn = conn
	return c, nil
}

// sendJSON sends v as one JSON text frame.
func (c *client) sendJSON(v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	require.NoError(c.t, err)
	c.sendText(string(b))
}

// sendText sends s as one text frame, as it is.
func (c *client) sendText(s string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), frameTimeout)
	defer cancel()
	require.NoError(c.t, c.conn.Write(ctx, websocket.MessageText, []byte(s)))
}

// say sends a chat message.
func (c *client) say(msg string) { c.sendJSON(map[string]string{"message": msg}) }

// next returns the next frame.
func (c *client) next() frame {
	c.t.Helper()
	f, err := c.read(frameTimeout)
	require.NoError(c.t, err, "reading the next frame")
	return f
}

// read returns the next frame, or an error if none arrives within d or
// the connection ends.
func (c *client) read(d time.Duration) (frame, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	typ, data, err := c.conn.Read(ctx)
	if err != nil {
		return frame{}, err
	}
	if typ != websocket.MessageText {
		return frame{}, &json.UnsupportedValueError{Str: "binary frame"}
	}
	f := frame{raw: string(data)}
	if err := json.Unmarshal(data, &f); err != nil {
		return frame{}, err
	}
	return f, nil
}

// join sends name and returns the frames received before {"ready": true}.
func (c *client) join(name string) []frame {
	c.t.Helper()
	c.sendJSON(map[string]string{"name": name})
	var before []frame
	for {
		f := c.next()
		require.Nil(c.t, f.Error, "join as %q: %s", name, f)
		if f.Ready != nil {
			require.True(c.t, *f.Ready)
			// The room announces the new member to everyone, itself
			// included, right after the ready frame.
			own := c.next()
			require.NotNil(c.t, own.Joined, "join as %q: want own joined frame after ready, got %s", name, own)
			require.Equal(c.t, name, *own.Joined)
			return before
		}
		before = append(before, f)
	}
}

// expectError reads the next frame and checks that it is an error frame
// containing substr.
func (c *client) expectError(substr string) {
	c.t.Helper()
	f := c.next()
	require.NotNil(c.t, f.Error, "expected an error frame, got %s", f)
	require.Contains(c.t, *f.Error, substr)
}

// nextMessage reads frames until a chat message and returns it, failing on
// an error frame. Joined and quit frames are skipped.
func (c *client) nextMessage() frame {
	c.t.Helper()
	for {
		f := c.next()
		require.Nil(c.t, f.Error, "unexpected error frame %s", f)
		if f.isMessage() {
			return f
		}
	}
}

// messages returns the chat messages among frames.
func messages(frames []frame) []frame {
	var out []frame
	for _, f := range frames {
		if f.isMessage() {
			out = append(out, f)
		}
	}
	return out
}

// texts returns the message text of each frame.
func texts(frames []frame) []string {
	out := make([]string, len(frames))
	for i, f := range frames {
		if f.Message != nil {
			out[i] = *f.Message
		}
	}
	return out
}

// joinedNames returns the names of the joined frames among frames.
func joinedNames(frames []frame) []string {
	var out []string
	for _, f := range frames {
		if f.Joined != nil {
			out = append(out, *f.Joined)
		}
	}
	return out
}
