package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/durable-go/durable/actor"
	"github.com/durable-go/durable/edgehttp"
	"github.com/durable-go/durable/storage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPageServed(t *testing.T) {
	s := startServer(t, "", appConfig{})
	for path, want := range map[string]string{
		"/":                `<form id="join-form"`,
		"/static/chat.js":  "new WebSocket(",
		"/static/chat.css": "#chat-log",
	} {
		resp, err := http.Get(s.URL + path)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, resp.StatusCode, path)
		assert.Contains(t, string(body), want, path)
	}
}

func TestCreatePrivateRoom(t *testing.T) {
	s := startServer(t, "", appConfig{})
	id1 := createRoom(t, s)
	id2 := createRoom(t, s)
	assert.Regexp(t, regexp.MustCompile(`^[0-9a-f]{64}$`), id1)
	assert.NotEqual(t, id1, id2)

	a := s.dial(id1, dialOptions{})
	a.join("ann")
	a.say("private hello")
	assert.Equal(t, "private hello", *a.nextMessage().Message)

	// The same room is not reachable by another ID.
	b := s.dial(id2, dialOptions{})
	assert.Empty(t, messages(b.join("bob")))
}

func createRoom(t *testing.T, s *testServer) string {
	t.Helper()
	resp, err := http.Post(s.URL+"/api/room", "", nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	assert.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"))
	return string(body)
}

func TestRoomNameRules(t *testing.T) {
	s := startServer(t, "", appConfig{})
	cases := []struct {
		room   string
		status int
	}{
		{strings.Repeat("r", 33), http.StatusBadRequest},
		{strings.Repeat("ab", 32), http.StatusBadRequest}, // 64 hex digits, not minted here
		{strings.Repeat("AB", 32), http.StatusBadRequest}, // upper case is no ID and too long
	}
	for _, tc := range cases {
		resp, err := http.Get(s.URL + "/api/room/" + tc.room + "/websocket")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, tc.status, resp.StatusCode, "room %q", tc.room)
	}

	// A plain GET without an upgrade is rejected, and a 32-character name
	// is a valid room.
	resp, err := http.Get(s.URL + "/api/room/" + strings.Repeat("r", 32) + "/websocket")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)

	c := s.dial(strings.Repeat("r", 32), dialOptions{})
	assert.Empty(t, c.join("ann"))
}

func TestJoinAnnouncesMembers(t *testing.T) {
	s := startServer(t, "", appConfig{})
	a := s.dial("lobby", dialOptions{})
	assert.Empty(t, a.join("ann"), "first member sees nobody")

	b := s.dial("lobby", dialOptions{})
	assert.Equal(t, []string{"ann"}, joinedNames(b.join("bob")))
	assert.Equal(t, "bob", *a.next().Joined)

	c := s.dial("lobby", dialOptions{})
	assert.ElementsMatch(t, []string{"ann", "bob"}, joinedNames(c.join("cat")))
	assert.Equal(t, "cat", *a.next().Joined)
	assert.Equal(t, "cat", *b.next().Joined)

	// A socket that has not sent its name is no member yet.
	s.dial("lobby", dialOptions{})
	d := s.dial("lobby", dialOptions{})
	assert.ElementsMatch(t, []string{"ann", "bob", "cat"}, joinedNames(d.join("dan")))
}

func TestHistoryExactlyOnce(t *testing.T) {
	// The default rate limit lets one client send the 120 messages at once.
	s := startServer(t, "", appConfig{})
	a := s.dial("lobby", dialOptions{})
	a.join("ann")
	for i := range 120 {
		a.say(fmt.Sprintf("m%03d", i))
		require.Equal(t, fmt.Sprintf("m%03d", i), *a.nextMessage().Message)
	}
	want := make([]string, 100)
	for i := range want {
		want[i] = fmt.Sprintf("m%03d", i+20)
	}

	// Each connect gets the last 100 messages, oldest first, each once;
	// reconnecting neither repeats nor stores them again.
	for range 3 {
		b := s.dial("lobby", dialOptions{})
		before := b.join("bob")
		assert.Equal(t, want, texts(messages(before)))
		assert.Equal(t, []string{"ann"}, joinedNames(before))
		assert.Equal(t, "bob", *a.next().Joined)
		require.NoError(t, b.conn.Close(websocket.StatusNormalClosure, "bye"))
		// The quit frame comes from the close turn, after the room freed
		// the name, so the next "bob" cannot find it taken.
		assert.Equal(t, "bob", *a.next().Quit)
	}
	// The 101st message pruned the oldest, and 19 came after it.
	assert.Equal(t, 119, storedMessages(t, s, "lobby"))
}

func TestPruneLongHistory(t *testing.T) {
	s := startServer(t, "", appConfig{})
	// A history from before pruning: 1,200 messages, more than one prune
	// deletes.
	stub := s.app.rooms.Get(s.app.rooms.IDFromName("old"))
	_, err := actor.Call(context.Background(), stub, func(ctx context.Context, r *Room) (int, error) {
		for start := 1; start <= 1200; start += 100 {
			batch := map[string][]byte{}
			for ts := start; ts < start+100; ts++ {
				batch[messageKey(int64(ts))] = mustMarshal(chatMessage{Name: "old", Message: fmt.Sprint(ts), Timestamp: int64(ts)})
			}
			if err := r.state.Storage().PutMany(batch); err != nil {
				return 0, err
			}
		}
		return 0, nil
	})
	require.NoError(t, err)

	a := s.dial("old", dialOptions{})
	require.Len(t, messages(a.join("ann")), historySize)
	a.say("new 0")
	a.nextMessage()
	// The first message of the activation deleted 8 times 128 of the 1,101
	// messages older than the newest 100.
	assert.Equal(t, 1201-8*128, storedMessages(t, s, "old"))
	for i := 1; i <= historySize; i++ {
		a.say(fmt.Sprintf("new %d", i))
		a.nextMessage()
	}
	// The 100th message after it pruned the rest.
	assert.Equal(t, historySize, storedMessages(t, s, "old"))

	var want []string
	for i := 1; i <= historySize; i++ {
		want = append(want, fmt.Sprintf("new %d", i))
	}
	b := s.dial("old", dialOptions{})
	assert.Equal(t, want, texts(messages(b.join("bob"))))
}

// storedMessages returns the number of messages room holds in storage.
func storedMessages(t *testing.T, s *testServer, room string) int {
	t.Helper()
	stub := s.app.rooms.Get(s.app.rooms.IDFromName(room))
	n, err := actor.Call(context.Background(), stub, func(ctx context.Context, r *Room) (int, error) {
		all, err := r.state.Storage().List(storage.ListOptions{Prefix: messagePrefix})
		return len(all), err
	})
	require.NoError(t, err)
	return n
}

func TestPendingMemberGetsMessageOnce(t *testing.T) {
	s := startServer(t, "", appConfig{})
	a := s.dial("lobby", dialOptions{})
	a.join("ann")
	// b is connected but has not sent its name when ann speaks.
	b := s.dial("lobby", dialOptions{})
	a.say("while you were connecting")
	a.nextMessage()
	before := b.join("bob")
	assert.Equal(t, []string{"while you were connecting"}, texts(messages(before)))

	a.say("after ready")
	f := b.nextMessage()
	assert.Equal(t, "after ready", *f.Message)
}

func TestBroadcastOrder(t *testing.T) {
	s := startServer(t, "", appConfig{RateLimit: 1000})
	const perSender = 40
	names := []string{"ann", "bob", "cat"}
	clients := make([]*client, len(names))
	for i, name := range names {
		clients[i] = s.dial("order", dialOptions{})
		clients[i].join(name)
	}
	// Everyone sends at once; every member must see the same sequence.
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			for j := range perSender {
				c.say(fmt.Sprintf("%s-%02d", names[i], j))
			}
		})
	}
	wg.Wait()

	var sequences [][]string
	for _, c := range clients {
		var got []string
		var last int64
		for range perSender * len(names) {
			f := c.nextMessage()
			assert.Greater(t, *f.Timestamp, last, "timestamps strictly increase")
			last = *f.Timestamp
			assert.True(t, strings.HasPrefix(*f.Message, *f.Name+"-"), "sender name %s on %s", *f.Name, *f.Message)
			got = append(got, *f.Message)
		}
		sequences = append(sequences, got)
	}
	assert.Equal(t, sequences[0], sequences[1])
	assert.Equal(t, sequences[0], sequences[2])
	// Each sender's messages arrive in the order it sent them.
	for _, name := range names {
		var mine []string
		for _, m := range sequences[0] {
			if strings.HasPrefix(m, name+"-") {
				mine = append(mine, m)
			}
		}
		require.Len(t, mine, perSender)
		for j, m := range mine {
			assert.Equal(t, fmt.Sprintf("%s-%02d", name, j), m)
		}
	}
}

func TestNameRules(t *testing.T) {
	s := startServer(t, "", appConfig{})
	a := s.dial("names", dialOptions{})
	a.join("ann")

	b := s.dial("names", dialOptions{})
	b.say("hello before my name")
	b.expectError("send your name first")
	b.sendJSON(map[string]string{"name": ""})
	b.expectError("invalid name: empty")
	b.sendJSON(map[string]string{"name": strings.Repeat("é", 33)})
	b.expectError("33 characters long")
	b.sendJSON(map[string]any{"name": 7})
	b.expectError(`"name" must be a string`)
	b.sendJSON(map[string]string{"name": "bad\nname"})
	b.expectError("control character")
	b.sendJSON(map[string]string{"name": "ann"})
	b.expectError(`name "ann" is taken`)

	// The same socket may still join under a free name of 32 characters.
	long := strings.Repeat("é", 32)
	assert.Equal(t, []string{"ann"}, joinedNames(b.join(long)))
	assert.Equal(t, long, *a.next().Joined)
	b.sendJSON(map[string]string{"name": "again"})
	b.expectError("already joined")

	// A name is free again once its member has left.
	require.NoError(t, a.conn.Close(websocket.StatusNormalClosure, ""))
	assert.Equal(t, "ann", *b.next().Quit)
	c := s.dial("names", dialOptions{})
	assert.Equal(t, []string{long}, joinedNames(c.join("ann")))
}

func TestMessageRules(t *testing.T) {
	s := startServer(t, "", appConfig{RateLimit: 1000})
	a := s.dial("rules", dialOptions{})
	a.join("ann")

	a.say("")
	a.expectError("invalid message: empty")
	a.say(strings.Repeat("ü", 257))
	a.expectError("257 characters long")
	a.sendText("not json")
	a.expectError("invalid frame")
	a.sendText(`["message"]`)
	a.expectError("invalid frame")
	a.sendText(`{"message": 12}`)
	a.expectError(`"message" must be a string`)
	a.sendText(`{"other": "field"}`)
	a.expectError(`expected {"message"`)
	ctx, cancel := context.WithTimeout(context.Background(), frameTimeout)
	defer cancel()
	require.NoError(t, a.conn.Write(ctx, websocket.MessageBinary, []byte(`{"message":"hi"}`)))
	a.expectError("text frames")

	// The socket still works, and 256 characters are accepted.
	long := strings.Repeat("ü", 256)
	a.say(long)
	f := a.nextMessage()
	assert.Equal(t, long, *f.Message)
	assert.Equal(t, "ann", *f.Name)
	assert.Equal(t, 1, storedMessages(t, s, "rules"), "rejected frames are not stored")
}

func TestRateLimitPerIP(t *testing.T) {
	clk := fakeClock()
	s := startServer(t, "", appConfig{Clock: clk, RateLimit: 3, RatePeriod: time.Minute})
	a := s.dial("limits", dialOptions{localIP: "127.0.0.1"})
	a.join("ann")
	// Another member on the same address, in another room, shares the limit.
	a2 := s.dial("other-room", dialOptions{localIP: "127.0.0.1"})
	a2.join("ann2")
	b := s.dial("limits", dialOptions{localIP: "127.0.0.2"})
	b.join("bob")
	a.next() // {"joined": "bob"}

	// a0 at 0 s, a1 at 10 s, a2 at 20 s: the limit of 3 per minute is used.
	a.say("a0")
	assert.Equal(t, "a0", *a.nextMessage().Message)
	clk.Advance(10 * time.Second)
	a.say("a1")
	assert.Equal(t, "a1", *a.nextMessage().Message)
	clk.Advance(10 * time.Second)
	a2.say("a2")
	assert.Equal(t, "a2", *a2.nextMessage().Message)

	// At 30 s the fourth is refused until a0 leaves the window at 60 s.
	clk.Advance(10 * time.Second)
	a.say("one too many")
	a.expectError("retry in 30 seconds")

	// The refused message was not broadcast, and bob's limit is his own.
	b.say("b0")
	assert.Equal(t, "b0", *a.nextMessage().Message)
	got := []string{*b.nextMessage().Message, *b.nextMessage().Message, *b.nextMessage().Message}
	assert.Equal(t, []string{"a0", "a1", "b0"}, got)

	// At 60 s a0 has left: one more is let in, then a1 blocks until 70 s.
	clk.Advance(30 * time.Second)
	a.say("later")
	assert.Equal(t, "later", *a.nextMessage().Message)
	a.say("too soon")
	a.expectError("retry in 10 seconds")
}

func TestCleanCloseAnswered(t *testing.T) {
	s := startServer(t, "", appConfig{})
	a := s.dial("close", dialOptions{})
	a.join("ann")
	b := s.dial("close", dialOptions{})
	b.join("bob")
	a.next() // {"joined": "bob"}

	// Close returns nil only if the server replied to the close frame.
	require.NoError(t, b.conn.Close(websocket.StatusNormalClosure, "bye"))
	assert.Equal(t, "bob", *a.next().Quit)
}

func TestVanishedMemberDoesNotBlock(t *testing.T) {
	s := startServer(t, "", appConfig{})
	a := s.dial("vanish", dialOptions{})
	a.join("ann")
	v := s.dial("vanish", dialOptions{})
	v.join("vic")
	a.next() // {"joined": "vic"}

	// The TCP connection goes away without a close frame.
	require.NoError(t, v.tcp.Close())
	assert.Equal(t, "vic", *a.next().Quit)
	a.say("still here")
	assert.Equal(t, "still here", *a.nextMessage().Message)
}

func TestStalledReaderDoesNotBlock(t *testing.T) {
	// Small socket buffers on both ends make the stalled member's send
	// queue fill after a few hundred messages instead of megabytes. The
	// runtime drops the connection once a write has been blocked for the
	// write timeout.
	s := startServerBuffered(t, "", appConfig{
		RateLimit: 10000,
		WebSocket: edgehttp.WebSocketOptions{SendQueue: 64, WriteTimeout: time.Second},
	}, 8192)
	a := s.dial("stall", dialOptions{})
	a.join("ann")
	// stu joins and then never reads again.
	stu := s.dial("stall", dialOptions{recvBuffer: 4096})
	stu.join("stu")
	a.next() // {"joined": "stu"}

	// ann keeps talking and receives each of her messages in order until
	// the server gives up on stu.
	msg := strings.Repeat("x", 250)
	quit := false
	for sent := 0; !quit; sent++ {
		require.Less(t, sent, 50000, "stu was never dropped")
		text := fmt.Sprintf("%05d %s", sent, msg)
		a.say(text)
		for {
			f := a.next()
			if f.Quit != nil {
				assert.Equal(t, "stu", *f.Quit)
				quit = true
				continue
			}
			require.True(t, f.isMessage(), "unexpected frame %s", f)
			require.Equal(t, text, *f.Message)
			break
		}
	}
	a.say("after stu")
	assert.Equal(t, "after stu", *a.nextMessage().Message)

	// stu's connection ends once it drains what was buffered: with the
	// policy close code if the close frame could still be written, else
	// with a dropped connection.
	var err error
	for err == nil {
		_, err = stu.read(frameTimeout)
	}
	require.NotErrorIs(t, err, context.DeadlineExceeded)
	if code := websocket.CloseStatus(err); code != -1 {
		assert.Equal(t, websocket.StatusPolicyViolation, code)
	}
}

func TestHibernationKeepsMembers(t *testing.T) {
	clk := fakeClock()
	s := startServer(t, "", appConfig{Clock: clk, IdleTimeout: time.Minute})
	a := s.dial("sleepy", dialOptions{})
	a.join("ann")
	b := s.dial("sleepy", dialOptions{})
	b.join("bob")
	a.next() // {"joined": "bob"}
	a.say("before sleep")
	first := a.nextMessage()
	b.nextMessage()

	// Idle past the timeout: the room and the limiter objects are evicted
	// while both sockets stay open.
	require.Eventually(t, func() bool {
		clk.Advance(time.Minute)
		return s.app.sys.ActiveObjects() == 0
	}, frameTimeout, 5*time.Millisecond, "objects still active")

	// The next message wakes the room. bob's name comes from his socket's
	// attachment. The clock is set back to the first message's time, so a
	// later timestamp can only come from storage.
	clk.Set(time.UnixMilli(*first.Timestamp))
	b.say("wake up")
	for _, c := range []*client{a, b} {
		f := c.nextMessage()
		assert.Equal(t, "bob", *f.Name)
		assert.Equal(t, "wake up", *f.Message)
		assert.Greater(t, *f.Timestamp, *first.Timestamp)
	}

	// The woken room still lists both members and has its history.
	require.NoError(t, s.app.rooms.Evict(context.Background(), s.app.rooms.IDFromName("sleepy")))
	c := s.dial("sleepy", dialOptions{})
	c.sendJSON(map[string]string{"name": "ann"})
	c.expectError(`name "ann" is taken`)
	before := c.join("cat")
	assert.ElementsMatch(t, []string{"ann", "bob"}, joinedNames(before))
	assert.Equal(t, []string{"before sleep", "wake up"}, texts(messages(before)))
	assert.Equal(t, "cat", *a.next().Joined)
	assert.Equal(t, "cat", *b.next().Joined)
}

func TestRestartKeepsHistory(t *testing.T) {
	clk := fakeClock()
	s := startServer(t, "", appConfig{Clock: clk})
	private := createRoom(t, s)
	for _, room := range []string{"public", private} {
		a := s.dial(room, dialOptions{})
		a.join("ann")
		for i := range 3 {
			a.say(fmt.Sprint(room[:3], i))
			a.nextMessage()
		}
	}

	// The clock steps back across the restart; timestamps still increase.
	s = s.restart()
	clk.Set(clk.Now().Add(-time.Hour))
	for _, room := range []string{"public", private} {
		b := s.dial(room, dialOptions{})
		before := messages(b.join("bob"))
		require.Len(t, before, 3)
		assert.Equal(t, []string{room[:3] + "0", room[:3] + "1", room[:3] + "2"}, texts(before))
		b.say("after restart")
		f := b.nextMessage()
		assert.Greater(t, *f.Timestamp, *before[2].Timestamp)
	}
}
