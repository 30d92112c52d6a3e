package edgehttp_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/durable-go/durable/edgehttp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func dial(t testing.TB, url string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, url, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

func readText(t testing.TB, c *websocket.Conn) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, data, err := c.Read(ctx)
	require.NoError(t, err)
	return string(data)
}

func writeText(t testing.TB, c *websocket.Conn, s string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(s)))
}

func TestWebSocketEcho(t *testing.T) {
	h := newHarness(t, nil, nil)
	c := dial(t, h.wsURL("room", "welcome&tag=a"))
	assert.Equal(t, "welcome", readText(t, c), "a send in the accepting turn")
	writeText(t, c, "ping-pong")
	assert.Equal(t, "ping-pong", readText(t, c))
	writeText(t, c, "count")
	assert.Equal(t, "1", readText(t, c))
}

func TestWebSocketHibernation(t *testing.T) {
	h := newHarness(t, nil, nil)
	c := dial(t, h.wsURL("sleepy", "name=alice&tag=user"))
	writeText(t, c, "whoami")
	require.Equal(t, "alice", readText(t, c))
	require.Equal(t, int64(1), h.rec.constructed.Load())

	require.NoError(t, h.ns.Evict(context.Background(), h.ns.IDFromName("sleepy")))

	// The runtime replies to a ping without activating the object.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The client must read for the pong to be seen; CloseRead would stop
	// data messages, so read in the background instead.
	pings := make(chan error, 1)
	readCtx, stopRead := context.WithCancel(context.Background())
	msgs := make(chan string, 1)
	go func() {
		for {
			_, data, err := c.Read(readCtx)
			if err != nil {
				return
			}
			msgs <- string(data)
		}
	}()
	go func() { pings <- c.Ping(ctx) }()
	require.NoError(t, receive(t, pings))
	assert.Equal(t, int64(1), h.rec.constructed.Load(), "a ping must not activate the object")

	writeText(t, c, "whoami")
	assert.Equal(t, "alice", receive(t, msgs), "the attachment survives eviction")
	assert.Equal(t, int64(2), h.rec.constructed.Load(), "the message activates the object again")
	// Count the sockets before the reader stops: cancelling a Read's
	// context makes coder/websocket close the connection, and the server
	// may drop the socket at once.
	assert.Equal(t, 1, h.sockets(t, "sleepy", "user"))
	stopRead()
}

func TestWebSocketClientClose(t *testing.T) {
	h := newHarness(t, nil, nil)
	c := dial(t, h.wsURL("closer", ""))
	writeText(t, c, "count")
	require.Equal(t, "1", readText(t, c))

	// Close returns nil only once the server has replied with a close
	// frame carrying the same code. The close handshake must finish
	// within a second, well inside the library's own five-second wait.
	start := time.Now()
	err := c.Close(websocket.StatusNormalClosure, "bye")
	elapsed := time.Since(start)
	require.NoError(t, err)
	assert.Less(t, elapsed, time.Second)

	ev := receive(t, h.rec.closes)
	assert.Equal(t, websocket.StatusNormalClosure, ev.code)
	assert.Equal(t, "bye", ev.reason)
	assert.Equal(t, 0, ev.remaining, "a closed socket is no longer listed")
}

func TestWebSocketKilledConnection(t *testing.T) {
	h := newHarness(t, nil, nil)
	var raw atomic.Pointer[net.Conn]
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil {
				raw.Store(&conn)
			}
			return conn, err
		},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, h.wsURL("killed", "tag=x"), &websocket.DialOptions{HTTPClient: client})
	require.NoError(t, err)
	defer c.CloseNow()
	writeText(t, c, "count")
	require.Equal(t, "1", readText(t, c))

	require.NoError(t, (*raw.Load()).Close())

	ev := receive(t, h.rec.closes)
	assert.Equal(t, websocket.StatusAbnormalClosure, ev.code)
	assert.Equal(t, 0, ev.remaining)
	assert.Equal(t, 0, h.sockets(t, "killed", ""))
}

func TestWebSocketSlowClient(t *testing.T) {
	const (
		messages   = 20_000
		size       = 2048
		windowSize = 256
	)
	h := newHarness(t, &edgehttp.ForwardOptions{WebSocket: edgehttp.WebSocketOptions{
		SendQueue: 512,
		// Long enough that the stalled write is still pending when the
		// slow client reads again, so the close frame reaches it.
		WriteTimeout: time.Minute,
	}}, nil)

	slow := dial(t, h.wsURL("feed", "tag=slow"))
	fast := dial(t, h.wsURL("feed", "tag=fast"))
	require.Equal(t, 2, h.sockets(t, "feed", ""))

	// window bounds the messages sent but not yet read by the fast client,
	// so only the slow client can fill its queue.
	window := make(chan struct{}, windowSize)
	var received atomic.Int64
	fastErr := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for i := range messages {
			_, data, err := fast.Read(ctx)
			if err != nil {
				fastErr <- err
				return
			}
			if got := binary.BigEndian.Uint64(data); got != uint64(i) || len(data) != size {
				fastErr <- fmt.Errorf("message %d: got sequence %d, %d bytes", i, got, len(data))
				return
			}
			received.Add(1)
			<-window
		}
		fastErr <- nil
	}()

	// Each turn sends one message to both sockets; the slow client never
	// reads.
	for i := range messages {
		select {
		case window <- struct{}{}:
		case err := <-fastErr:
			t.Fatalf("fast client stopped after %d messages: %v", received.Load(), err)
		}
		msg := make([]byte, size)
		binary.BigEndian.PutUint64(msg, uint64(i))
		h.broadcast(t, "feed", "", msg)
	}
	require.NoError(t, receive(t, fastErr))
	assert.Equal(t, int64(messages), received.Load())

	// The slow client was dropped from the list once its queue filled.
	assert.Equal(t, 1, h.sockets(t, "feed", ""))
	assert.Equal(t, 0, h.sockets(t, "feed", "slow"))

	// Reading again, the slow client gets a prefix of the messages in
	// order, then the policy-violation close.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	next := uint64(0)
	var err error
	for {
		var data []byte
		_, data, err = slow.Read(ctx)
		if err != nil {
			break
		}
		require.Equal(t, next, binary.BigEndian.Uint64(data))
		next++
	}
	assert.Equal(t, websocket.StatusPolicyViolation, websocket.CloseStatus(err), "err: %v", err)
	assert.Less(t, next, uint64(messages))

	ev := receive(t, h.rec.closes)
	assert.Equal(t, websocket.StatusPolicyViolation, ev.code)
	assert.Equal(t, "send queue full", ev.reason)
}

func TestWebSocketOverflowCloseTurn(t *testing.T) {
	const (
		// bigSize is far more than loopback socket buffers take while
		// the client reads nothing, so writing it blocks.
		bigSize   = 16 << 20
		sendQueue = 16
	)
	h := newHarness(t, &edgehttp.ForwardOptions{WebSocket: edgehttp.WebSocketOptions{
		SendQueue:      sendQueue,
		SendQueueBytes: 2 * bigSize,
		// Far longer than receive waits, so a close turn that waits for
		// the stalled write fails the test.
		WriteTimeout: time.Minute,
	}}, nil)

	slow := dial(t, h.wsURL("stall", "tag=slow"))
	slow.SetReadLimit(-1)
	require.Equal(t, 1, h.sockets(t, "stall", "slow"))

	// The client reads only the big message's header, which shows that
	// the writer took the message off the queue and is blocked writing
	// its payload.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h.broadcast(t, "stall", "slow", make([]byte, bigSize))
	_, big, err := slow.Reader(ctx)
	require.NoError(t, err)

	// Small messages fill the queue behind the stalled write.
	turns := 0
	for h.sockets(t, "stall", "slow") > 0 {
		require.Less(t, turns, 4*sendQueue, "send queue never filled")
		h.broadcast(t, "stall", "slow", []byte("small"))
		turns++
	}

	ev := receive(t, h.rec.closes)
	assert.Equal(t, websocket.StatusPolicyViolation, ev.code)
	assert.Equal(t, "send queue full", ev.reason)
	assert.Equal(t, 0, ev.remaining)

	// The stalled write was left running, so the client, reading again,
	// gets the rest of the big message and then the close frame.
	n, err := io.Copy(io.Discard, big)
	require.NoError(t, err)
	assert.Equal(t, int64(bigSize), n)
	_, _, err = slow.Read(ctx)
	assert.Equal(t, websocket.StatusPolicyViolation, websocket.CloseStatus(err), "err: %v", err)

	select {
	case extra := <-h.rec.closes:
		t.Fatalf("second close turn: %+v", extra)
	default:
	}
}

func TestWebSocketManySockets(t *testing.T) {
	const sockets = 200
	h := newHarness(t, nil, nil)
	conns := make([]*websocket.Conn, sockets)
	for i := range conns {
		tag := "even"
		if i%2 == 1 {
			tag = "odd"
		}
		conns[i] = dial(t, h.wsURL("crowd", "tag=all&tag="+tag))
	}
	assert.Equal(t, sockets, h.sockets(t, "crowd", ""))
	assert.Equal(t, sockets, h.sockets(t, "crowd", "all"))
	assert.Equal(t, sockets/2, h.sockets(t, "crowd", "even"))
	assert.Equal(t, sockets/2, h.sockets(t, "crowd", "odd"))
	assert.Equal(t, 0, h.sockets(t, "crowd", "none"))

	h.broadcast(t, "crowd", "even", []byte("to even"))
	h.broadcast(t, "crowd", "all", []byte("to all"))
	for i, c := range conns {
		if i%2 == 0 {
			assert.Equal(t, "to even", readText(t, c), "socket %d", i)
		}
		assert.Equal(t, "to all", readText(t, c), "socket %d", i)
	}

	for _, c := range conns[:sockets/2] {
		require.NoError(t, c.Close(websocket.StatusNormalClosure, ""))
	}
	for range sockets / 2 {
		assert.Equal(t, websocket.StatusNormalClosure, receive(t, h.rec.closes).code)
	}
	assert.Equal(t, sockets/2, h.sockets(t, "crowd", "all"))
}

func TestWebSocketObjectClose(t *testing.T) {
	h := newHarness(t, nil, nil)
	c := dial(t, h.wsURL("bouncer", "tag=x"))
	err := h.ns.Invoke(context.Background(), h.ns.IDFromName("bouncer"), func(ctx context.Context, o any) error {
		for _, ws := range edgehttp.WebSockets(o.(*testObject).state, "x") {
			require.NoError(t, ws.SendText(ctx, "last words"))
			require.NoError(t, ws.Close(ctx, 4000, "kicked"))
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, "last words", readText(t, c), "messages before the close go out first")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _, err = c.Read(ctx)
	assert.Equal(t, websocket.StatusCode(4000), websocket.CloseStatus(err))
	ev := receive(t, h.rec.closes)
	assert.Equal(t, websocket.StatusCode(4000), ev.code)
}

func TestAcceptWebSocketErrors(t *testing.T) {
	h := newHarness(t, nil, nil)

	// A plain GET is no upgrade, so the object responds with 400.
	resp, body := get(t, h.url+"/obj/x/ws")
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, string(body), "not a WebSocket upgrade")

	// Eleven tags are too many.
	q := ""
	for i := range edgehttp.MaxTags + 1 {
		q += fmt.Sprintf("tag=t%d&", i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, h.wsURL("x", q), nil)
	require.Error(t, err)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)

	// Outside Forward there is no runtime to hold the connection.
	req, err := http.NewRequest(http.MethodGet, "/", nil)
	require.NoError(t, err)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	_, err = edgehttp.AcceptWebSocket(nil, req, nil)
	assert.ErrorIs(t, err, edgehttp.ErrNotForwarded)
}

func TestWebSocketAttachmentLimit(t *testing.T) {
	h := newHarness(t, nil, nil)
	dial(t, h.wsURL("att", "tag=x"))
	err := h.ns.Invoke(context.Background(), h.ns.IDFromName("att"), func(ctx context.Context, o any) error {
		ws := edgehttp.WebSockets(o.(*testObject).state, "x")[0]
		big := make([]byte, edgehttp.MaxAttachmentBytes)
		assert.ErrorIs(t, ws.SetAttachment(big), edgehttp.ErrAttachmentTooLarge)
		ok, err := ws.Attachment(new(attachment))
		assert.False(t, ok)
		assert.NoError(t, err)
		assert.NoError(t, ws.SetAttachment(attachment{Name: "bob"}))
		var a attachment
		ok, err = ws.Attachment(&a)
		assert.True(t, ok)
		assert.NoError(t, err)
		assert.Equal(t, "bob", a.Name)
		return nil
	})
	require.NoError(t, err)
}

func TestWebSocketTurnPanics(t *testing.T) {
	h := newHarness(t, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, h.wsURL("fragile", "tag=x&then=panic"), nil)
	require.Error(t, err)
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	assert.Equal(t, 0, h.sockets(t, "fragile", ""), "a failed turn keeps no socket")
	select {
	case ev := <-h.rec.closes:
		t.Fatalf("close turn for a socket of a failed turn: %+v", ev)
	default:
	}
}

func TestWebSocketRejectedAfterAccept(t *testing.T) {
	h := newHarness(t, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, h.wsURL("strict", "then=forbid"), nil)
	require.Error(t, err)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "the object's error response wins")
	ev := receive(t, h.rec.closes)
	assert.Equal(t, websocket.StatusAbnormalClosure, ev.code)
	assert.Equal(t, 0, ev.remaining)
}

func TestWebSocketOriginRejected(t *testing.T) {
	h := newHarness(t, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, h.wsURL("guarded", ""), &websocket.DialOptions{
		HTTPHeader: http.Header{"Origin": []string{"http://elsewhere.example"}},
	})
	require.Error(t, err)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	ev := receive(t, h.rec.closes)
	assert.Equal(t, websocket.StatusAbnormalClosure, ev.code, "the object learns the upgrade failed")
}

func TestWebSocketSubprotocol(t *testing.T) {
	h := newHarness(t, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, h.wsURL("proto", "proto=chat.v2&proto=chat.v1"), &websocket.DialOptions{
		Subprotocols: []string{"chat.v1"},
	})
	require.NoError(t, err)
	defer c.CloseNow()
	assert.Equal(t, "chat.v1", c.Subprotocol())
	writeText(t, c, "protocol")
	assert.Equal(t, "chat.v1", readText(t, c))
}

func TestWebSocketReadLimit(t *testing.T) {
	h := newHarness(t, &edgehttp.ForwardOptions{WebSocket: edgehttp.WebSocketOptions{ReadLimit: 1024}}, nil)
	c := dial(t, h.wsURL("limited", ""))
	writeText(t, c, string(make([]byte, 1024)))
	assert.Len(t, readText(t, c), 1024, "a message at the limit is delivered")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, c.Write(ctx, websocket.MessageBinary, make([]byte, 1025)))
	_, _, err := c.Read(ctx)
	assert.Equal(t, websocket.StatusMessageTooBig, websocket.CloseStatus(err), "err: %v", err)
	ev := receive(t, h.rec.closes)
	assert.Equal(t, websocket.StatusMessageTooBig, ev.code)
}

func TestWebSocketSendOutsideTurn(t *testing.T) {
	h := newHarness(t, nil, nil)
	c := dial(t, h.wsURL("pusher", "tag=x"))
	var ws *edgehttp.WebSocket
	err := h.ns.Invoke(context.Background(), h.ns.IDFromName("pusher"), func(ctx context.Context, o any) error {
		ws = edgehttp.WebSockets(o.(*testObject).state, "x")[0]
		return nil
	})
	require.NoError(t, err)
	require.NoError(t, h.ns.Evict(context.Background(), h.ns.IDFromName("pusher")))

	require.NoError(t, ws.SendText(context.Background(), "from outside"))
	assert.Equal(t, "from outside", readText(t, c))
	assert.Equal(t, []string{"x"}, ws.Tags())

	require.NoError(t, ws.Close(context.Background(), websocket.StatusNormalClosure, "done"))
	assert.ErrorIs(t, ws.SendText(context.Background(), "late"), edgehttp.ErrWebSocketClosed)
	_, _, err = c.Read(context.Background())
	assert.Equal(t, websocket.StatusNormalClosure, websocket.CloseStatus(err))
}

func TestAcceptWebSocketPassedOn(t *testing.T) {
	h := newHarness(t, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(h.url, "http") + "/obj/front/ws/relay?to=back"
	// The path ends in "relay", so the front object passes the request to
	// the back object, whose accept must fail: only the object Forward
	// chose can hold the socket.
	_, resp, err := websocket.Dial(ctx, url, nil)
	require.Error(t, err)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Equal(t, 0, h.sockets(t, "front", ""))
	assert.Equal(t, 0, h.sockets(t, "back", ""))
}

func TestWebSocketGoroutinesEnd(t *testing.T) {
	const sockets = 100
	h := newHarness(t, nil, nil)
	dial(t, h.wsURL("warmup", "")).Close(websocket.StatusNormalClosure, "")
	receive(t, h.rec.closes)
	before := runtime.NumGoroutine()

	conns := make([]*websocket.Conn, sockets)
	for i := range conns {
		conns[i] = dial(t, h.wsURL("churn", ""))
	}
	require.Greater(t, runtime.NumGoroutine(), before+sockets*3, "each socket runs its own goroutines")
	for _, c := range conns {
		require.NoError(t, c.Close(websocket.StatusNormalClosure, ""))
	}
	for range sockets {
		receive(t, h.rec.closes)
	}
	// The last goroutines end just after the close turns they delivered.
	assert.Eventually(t, func() bool { return runtime.NumGoroutine() <= before+5 },
		10*time.Second, 10*time.Millisecond, "goroutines before the sockets: %d", before)
	assert.Equal(t, 0, h.sockets(t, "churn", ""))
}

// TestWebSocketSoak churns sockets on one object for a while: each client
// connects, exchanges messages and closes, over and over. It runs only
// with DURABLE_LONG=1.
func TestWebSocketSoak(t *testing.T) {
	if os.Getenv("DURABLE_LONG") != "1" {
		t.Skip("set DURABLE_LONG=1 to run the WebSocket soak test")
	}
	const (
		clients  = 32
		rounds   = 100
		messages = 20
	)
	h := newHarness(t, nil, nil)
	before := runtime.NumGoroutine()

	// Drain the close events as they come, because the object's close
	// turns block once the recorder's channel is full.
	normal := make(chan int, 1)
	go func() {
		n := 0
		for range clients * rounds {
			if (<-h.rec.closes).code == websocket.StatusNormalClosure {
				n++
			}
		}
		normal <- n
	}()

	errs := make(chan error, clients)
	for c := range clients {
		go func() {
			for r := range rounds {
				if err := soakRound(h.wsURL("soak", ""), fmt.Sprintf("%d-%d", c, r), messages); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}

	for range clients {
		require.NoError(t, receiveWithin(t, errs, 5*time.Minute))
	}
	assert.Equal(t, clients*rounds, receive(t, normal))
	assert.Eventually(t, func() bool { return runtime.NumGoroutine() <= before+5 },
		10*time.Second, 10*time.Millisecond, "goroutines before the sockets: %d", before)
	assert.Equal(t, 0, h.sockets(t, "soak", ""))
}

// soakRound opens one socket, sends n messages, checks their echoes in
// order and closes.
func soakRound(url, id string, n int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return err
	}
	defer c.CloseNow()
	for i := range n {
		want := fmt.Sprintf("%s-%d", id, i)
		if err := c.Write(ctx, websocket.MessageText, []byte(want)); err != nil {
			return err
		}
		_, got, err := c.Read(ctx)
		if err != nil {
			return err
		}
		if string(got) != want {
			return fmt.Errorf("echo: got %q, want %q", got, want)
		}
	}
	return c.Close(websocket.StatusNormalClosure, "")
}
