package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/coder/websocket"
	"github.com/durable-go/durable/actor"
	"github.com/durable-go/durable/edgehttp"
	"github.com/durable-go/durable/examples/ratelimit/limiter"
	"github.com/durable-go/durable/storage"
)

// messagePrefix starts the storage key of every chat message. The rest of
// the key is the message's timestamp as 16 decimal digits, so keys sort in
// timestamp order.
const messagePrefix = "msg/"

func messageKey(ts int64) string { return fmt.Sprintf("%s%016d", messagePrefix, ts) }

// member is the attachment of each socket. The runtime keeps it while the
// room is evicted, so a woken room can still list who is connected.
type member struct {
	// Name is empty until the client has sent its name frame.
	Name string `json:"name,omitempty"`
	// IP is the client's address, the key of its rate limit.
	IP string `json:"ip"`
}

// Room is one chat room. Its only durable state is its messages, keyed by
// timestamp. Its members live in the runtime as hibernatable sockets with a
// member attachment each. The runtime runs one event of a room at a time,
// so Room needs no lock.
//
// Only the newest 100 messages are ever read, so every 100th message
// deletes the older ones (see prune). Once a long history from before
// pruning is gone, a room stores at most 199.
type Room struct {
	state   *actor.State
	limiter *limiter.Limiter // nil when rate limiting is off
	// lastTimestamp is the newest message's timestamp in milliseconds. Init
	// loads it from storage, so timestamps keep increasing across
	// evictions and restarts even if the clock steps back.
	lastTimestamp int64
	// unpruned counts the messages stored since the last prune. Init sets
	// it so that the first message of an activation prunes.
	unpruned int
}

func newRoom(s *actor.State, lim *limiter.Limiter) *Room {
	return &Room{state: s, limiter: lim}
}

// Init loads the newest message's timestamp before the first event of an
// activation.
func (r *Room) Init(ctx context.Context) error {
	last, err := r.state.Storage().List(storage.ListOptions{Prefix: messagePrefix, Reverse: true, Limit: 1})
	if err != nil {
		return fmt.Errorf("chatroom: load last message: %w", err)
	}
	if len(last) == 1 {
		ts, err := strconv.ParseInt(last[0].Key[len(messagePrefix):], 10, 64)
		if err != nil {
			return fmt.Errorf("chatroom: stored message key %q: %w", last[0].Key, err)
		}
		r.lastTimestamp = ts
	}
	r.unpruned = historySize - 1
	return nil
}

// pruneBatches is the most DeleteMany calls one prune makes, so that a turn
// stays short in a room with a long history. Later prunes delete the rest.
const pruneBatches = 8

// prune deletes every message older than the newest historySize, in the
// turn that stores a message, so the deletion and the new message commit
// together.
func (r *Room) prune() error {
	r.unpruned = 0
	st := r.state.Storage()
	newest, err := st.List(storage.ListOptions{Prefix: messagePrefix, Reverse: true, Limit: historySize})
	if err != nil || len(newest) < historySize {
		return err
	}
	oldestKept := newest[len(newest)-1].Key
	perCall := r.state.System().Storage().Limits().MaxBatchKeys
	for range pruneBatches {
		old, err := st.List(storage.ListOptions{Prefix: messagePrefix, End: oldestKept, Limit: perCall})
		if err != nil {
			return err
		}
		if len(old) == 0 {
			break
		}
		keys := make([]string, len(old))
		for i, e := range old {
			keys[i] = e.Key
		}
		if _, err := st.DeleteMany(keys); err != nil {
			return err
		}
	}
	return nil
}

// ServeHTTP accepts a WebSocket upgrade on /api/room/{room}/websocket. The
// member joins when its first frame names it, in WebSocketMessage.
func (r *Room) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	ws, err := edgehttp.AcceptWebSocket(w, req, nil)
	switch {
	case errors.Is(err, edgehttp.ErrNotUpgrade):
		http.Error(w, "chatroom: expected a WebSocket upgrade request", http.StatusBadRequest)
		return
	case err != nil:
		r.state.Logger().ErrorContext(req.Context(), "chatroom: accept WebSocket failed", "err", err)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	ip := clientIP(req)
	if err := ws.SetAttachment(member{IP: ip}); err != nil {
		// A member attachment is far below the size limit.
		panic(fmt.Sprintf("chatroom: set socket attachment: %v", err))
	}
}

// clientIP returns the host part of the request's remote address.
//
// NOTE: behind a reverse proxy every client shares the proxy's address and
// therefore one rate limit; the server does not trust X-Forwarded-For.
func clientIP(req *http.Request) string {
	host, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		return req.RemoteAddr
	}
	return host
}

// WebSocketMessage handles one frame of a member: the name frame before it
// has joined, chat messages after.
//
// Every failure sends the member an error frame and returns nil, because a
// turn that returns an error commits nothing and sends nothing, not even
// the error frame.
func (r *Room) WebSocketMessage(ctx context.Context, ws *edgehttp.WebSocket, typ websocket.MessageType, data []byte) error {
	m := r.member(ctx, ws)
	if typ != websocket.MessageText {
		r.send(ctx, ws, errorFrame("invalid frame: send JSON in text frames"))
		return nil
	}
	f, err := parseClientFrame(data)
	if err != nil {
		r.send(ctx, ws, errorFrame(err.Error()))
		return nil
	}
	if m.Name == "" {
		return r.join(ctx, ws, m, f)
	}
	return r.post(ctx, ws, m, f)
}

// join handles the name frame: it checks the name, sends the new member
// the current members, the history and the ready frame, then announces it
// to the whole room. Everything happens in one turn, so every message is
// either in the history or broadcast to the new member later, never both.
func (r *Room) join(ctx context.Context, ws *edgehttp.WebSocket, m member, f clientFrame) error {
	if f.Name == nil {
		r.send(ctx, ws, errorFrame(`send your name first, as {"name": "..."}`))
		return nil
	}

	name := *f.Name
	if err := validateMemberName(name); err != nil {
		r.send(ctx, ws, errorFrame(err.Error()))
		return nil
	}
	others := r.members(ws)
	for _, o := range others {
		if o.name == name {
			r.send(ctx, ws, errorFrame(fmt.Sprintf("name %q is taken in this room; pick another", name)))
			return nil
		}
	}

	history, err := r.state.Storage().List(storage.ListOptions{
		Prefix: messagePrefix, Reverse: true, Limit: historySize,
	})
	if err != nil {
		r.state.Logger().ErrorContext(ctx, "chatroom: load history failed", "err", err)
		r.send(ctx, ws, errorFrame("could not load the room's history; send your name again"))
		return nil
	}

	m.Name = name
	if err := ws.SetAttachment(m); err != nil {
		// A member attachment is far below the size limit.
		panic(fmt.Sprintf("chatroom: set socket attachment: %v", err))
	}

	for _, o := range others {
		r.send(ctx, ws, joinedFrame(o.name))
	}
	for i := len(history) - 1; i >= 0; i-- {
		r.send(ctx, ws, history[i].Value)
	}
	r.send(ctx, ws, readyFrame())

	// The announcement goes to the whole room, the new member included, as
	// in Cloudflare's chat demo, whose page adds its own name to the member
	// list only when this frame arrives.
	announce := joinedFrame(name)
	r.send(ctx, ws, announce)
	for _, o := range others {
		r.send(ctx, o.ws, announce)
	}
	return nil
}

// post handles a chat message of a member that has joined: it checks the
// message and the sender's rate limit, stores the message under a
// timestamp newer than every earlier one, and broadcasts it to every
// member, the sender included.
func (r *Room) post(ctx context.Context, ws *edgehttp.WebSocket, m member, f clientFrame) error {
	if f.Name != nil && f.Message == nil {
		r.send(ctx, ws, errorFrame(fmt.Sprintf("already joined as %q; reconnect to change your name", m.Name)))
		return nil
	}
	if f.Message == nil {
		r.send(ctx, ws, errorFrame(`invalid frame: expected {"message": "..."}`))
		return nil
	}
	if err := validateMessage(*f.Message); err != nil {
		r.send(ctx, ws, errorFrame(err.Error()))
		return nil
	}
	if !r.allow(ctx, ws, m) {
		return nil
	}

	ts := max(r.state.System().Clock().Now().UnixMilli(), r.lastTimestamp+1)
	frame := mustMarshal(chatMessage{Name: m.Name, Message: *f.Message, Timestamp: ts})
	if err := r.state.Storage().Put(messageKey(ts), frame); err != nil {
		r.state.Logger().ErrorContext(ctx, "chatroom: store message failed", "err", err)
		r.send(ctx, ws, errorFrame("could not store the message; send it again"))
		return nil
	}
	r.lastTimestamp = ts
	r.unpruned++
	if r.unpruned >= historySize {
		if err := r.prune(); err != nil {
			// The message is stored, and the next prune tries again.
			r.state.Logger().WarnContext(ctx, "chatroom: delete old messages failed", "err", err)
		}
	}
	for _, o := range r.members(nil) {
		r.send(ctx, o.ws, frame)
	}
	return nil
}

// allow counts a message against the sender's rate limit and reports
// whether it may be sent. Otherwise it has sent the sender an error frame.
func (r *Room) allow(ctx context.Context, ws *edgehttp.WebSocket, m member) bool {
	if r.limiter == nil {
		return true
	}
	d, err := r.limiter.Allow(ctx, m.IP)
	if err != nil {
		r.state.Logger().WarnContext(ctx, "chatroom: rate limit check failed", "ip", m.IP, "err", err)
		r.send(ctx, ws, errorFrame("could not check your rate limit; send the message again"))
		return false
	}
	if !d.Allowed {
		r.send(ctx, ws, errorFrame(rateLimitMessage(d, r.limiter.Period())))
		return false
	}
	return true
}

// rateLimitMessage returns the error text for a refused message, with the
// wait in whole seconds, rounded up.
func rateLimitMessage(d limiter.Decision, period time.Duration) string {
	secs := int64(math.Ceil(d.RetryAfter.Seconds()))
	if secs < 1 {
		secs = 1
	}
	return fmt.Sprintf("rate limit exceeded: your IP address may send %d messages per %v; retry in %d seconds",
		d.Limit, period, secs)
}

// WebSocketClose announces that a member left. The runtime calls it for a
// clean close, a broken connection and a socket it closed itself.
func (r *Room) WebSocketClose(ctx context.Context, ws *edgehttp.WebSocket, code websocket.StatusCode, reason string) error {
	m := r.member(ctx, ws)
	if m.Name == "" {
		return nil
	}
	quit := quitFrame(m.Name)
	for _, o := range r.members(ws) {
		r.send(ctx, o.ws, quit)
	}
	return nil
}

// member returns the attachment of ws, or an empty member if it has none.
func (r *Room) member(ctx context.Context, ws *edgehttp.WebSocket) member {
	var m member
	if _, err := ws.Attachment(&m); err != nil {
		r.state.Logger().ErrorContext(ctx, "chatroom: read socket attachment failed", "err", err)
	}
	return m
}

// joinedMember is one socket whose member has sent its name.
type joinedMember struct {
	ws   *edgehttp.WebSocket
	name string
}

// members returns the room's joined members, without the socket except.
//
// NOTE: edgehttp stops listing a socket as soon as it starts closing, but
// its close turn, and so the quit frame, comes only when the connection is
// gone. For a member that stopped reading that is up to the write timeout
// (10 s by default) later, and its name is free in between.
func (r *Room) members(except *edgehttp.WebSocket) []joinedMember {
	var out []joinedMember
	for _, ws := range edgehttp.WebSockets(r.state, "") {
		if ws == except {
			continue
		}
		var m member
		if _, err := ws.Attachment(&m); err != nil || m.Name == "" {
			continue
		}
		out = append(out, joinedMember{ws: ws, name: m.Name})
	}
	return out
}

// send queues frame on ws. A socket whose queue is full is closed by the
// runtime, which then calls WebSocketClose, so a failed send needs no
// handling here.
func (r *Room) send(ctx context.Context, ws *edgehttp.WebSocket, frame []byte) {
	if err := ws.Send(ctx, websocket.MessageText, frame); err != nil {
		r.state.Logger().DebugContext(ctx, "chatroom: send failed", "err", err)
	}
}
