package edgehttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/durable-go/durable/actor"
)

// Limits on what an object keeps per socket, after those of Cloudflare's
// WebSocket hibernation API.
const (
	// MaxTags is the number of tags one socket may carry.
	MaxTags = 10
	// MaxTagBytes is the length limit of one tag.
	MaxTagBytes = 256
	// MaxAttachmentBytes is the size limit of a socket's encoded
	// attachment.
	MaxAttachmentBytes = 16 << 10
)

var (
	// ErrNotUpgrade is returned by AcceptWebSocket for a request that is
	// not a valid WebSocket upgrade. The object should respond with 400
	// Bad Request or 426 Upgrade Required.
	ErrNotUpgrade = errors.New("edgehttp: request is not a WebSocket upgrade")
	// ErrNotForwarded is returned by AcceptWebSocket for a request that did
	// not reach the object through Forward, so no runtime can hold the
	// connection.
	ErrNotForwarded = errors.New("edgehttp: WebSocket upgrade did not come through Forward")
	// ErrWebSocketClosed is returned by Send and Close on a socket that is
	// closed or closing.
	ErrWebSocketClosed = errors.New("edgehttp: WebSocket closed")
	// ErrInvalidTags is returned by AcceptWebSocket for more than MaxTags
	// tags or a tag that is empty or longer than MaxTagBytes.
	ErrInvalidTags = errors.New("edgehttp: invalid WebSocket tags")
	// ErrAttachmentTooLarge is returned by SetAttachment for a value whose
	// JSON encoding exceeds MaxAttachmentBytes.
	ErrAttachmentTooLarge = errors.New("edgehttp: WebSocket attachment too large")
)

// WebSocketMessageHandler is implemented by objects that receive messages
// on the sockets they accepted. WebSocketMessage runs as a turn, activating
// the object if it was evicted; messages of one socket arrive in order. An
// error or a panic is logged and the socket stays open.
type WebSocketMessageHandler interface {
	WebSocketMessage(ctx context.Context, ws *WebSocket, typ websocket.MessageType, data []byte) error
}

// WebSocketCloseHandler is implemented by objects that want to know when a
// socket they accepted is gone. WebSocketClose runs once per socket, as a
// turn, after its last message, whether the client, the object or the
// runtime closed it. The code is the one the client sent, the one the
// runtime or the object closed with, or websocket.StatusAbnormalClosure
// (1006) when the connection broke without a close frame. By then the
// socket no longer appears in WebSockets. A socket closed because its send
// queue filled gets its close turn at once, with 1008, and messages from
// its client that have not reached the object by then are dropped.
type WebSocketCloseHandler interface {
	WebSocketClose(ctx context.Context, ws *WebSocket, code websocket.StatusCode, reason string) error
}

// WebSocketOptions configures the sockets accepted on requests that one
// Forward handler forwarded. Every zero field means its documented
// default.
type WebSocketOptions struct {
	// SendQueue bounds the messages waiting to be written to one socket.
	// A socket whose queue would exceed it is closed with
	// websocket.StatusPolicyViolation (1008): the queued messages are
	// dropped and the close turn runs at once, while a write already
	// under way may go on for up to WriteTimeout. The default is 1,024.
	SendQueue int
	// SendQueueBytes bounds the bytes of the messages waiting to be
	// written to one socket, with the same effect. The default is 4 MiB.
	SendQueueBytes int
	// WriteTimeout bounds one write to the client; past it the connection
	// is dropped. The default is 10 seconds.
	WriteTimeout time.Duration
	// ReadLimit bounds the size of one message from the client; a larger
	// one closes the socket with websocket.StatusMessageTooBig (1009). The
	// default is 1 MiB.
	ReadLimit int64
	// OriginPatterns lists the origins, besides the request's own host,
	// allowed to open sockets; see websocket.AcceptOptions.
	OriginPatterns []string
	// InsecureSkipVerify turns off the origin check; see
	// websocket.AcceptOptions.
	InsecureSkipVerify bool
}

func (o WebSocketOptions) withDefaults() WebSocketOptions {
	if o.SendQueue <= 0 {
		o.SendQueue = 1024
	}
	if o.SendQueueBytes <= 0 {
		o.SendQueueBytes = 4 << 20
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.ReadLimit <= 0 {
		o.ReadLimit = 1 << 20
	}
	return o
}

// AcceptOptions configures AcceptWebSocket.
type AcceptOptions struct {
	// Tags label the socket for WebSockets; at most MaxTags, each 1 to
	// MaxTagBytes bytes.
	Tags []string
	// Subprotocols lists the subprotocols the object speaks, in order of
	// preference; see websocket.AcceptOptions.
	Subprotocols []string
}

// upgradeKey is the context key of the *upgrade that Forward attaches to a
// WebSocket upgrade request.
type upgradeKey struct{}

// upgrade carries a WebSocket accept from the object's turn back to
// Forward, which performs the real upgrade after the turn.
type upgrade struct {
	forwarder *forwarder
	// id is the object Forward sent the request to.
	id actor.ID
	// decided receives the outcome of the turn that accepted the socket,
	// once its writes are durable.
	decided chan error

	mu     sync.Mutex
	socket *WebSocket // set by AcceptWebSocket; guarded by mu
	done   bool       // Forward stopped waiting; guarded by mu
}

func (u *upgrade) accepted() *WebSocket {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.socket
}

// abandon drops an accepted socket when the request failed before the
// upgrade. Once the accepting turn's outcome is known, an object whose
// turn succeeded gets the close turn it would get for any other socket.
func (u *upgrade) abandon() {
	u.mu.Lock()
	ws := u.socket
	u.done = true
	u.mu.Unlock()
	if ws == nil {
		return
	}
	ws.abandon(false)
	go func() {
		if err := <-u.decided; err == nil {
			ws.notifyAbandoned()
		}
	}()
}

// isUpgradeRequest reports whether r requests a WebSocket upgrade.
func isUpgradeRequest(r *http.Request) bool {
	return headerHasToken(r.Header, "Upgrade", "websocket")
}

func headerHasToken(h http.Header, field, token string) bool {
	for _, v := range h.Values(field) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// validateUpgrade returns an error wrapping ErrNotUpgrade if r is not a
// WebSocket handshake that websocket.Accept will take.
func validateUpgrade(r *http.Request) error {
	switch {
	case r.Method != http.MethodGet:
		return fmt.Errorf("%w: method is %s, not GET", ErrNotUpgrade, r.Method)
	case !headerHasToken(r.Header, "Connection", "upgrade"):
		return fmt.Errorf("%w: Connection header lacks the upgrade token", ErrNotUpgrade)
	case !headerHasToken(r.Header, "Upgrade", "websocket"):
		return fmt.Errorf("%w: Upgrade header lacks the websocket token", ErrNotUpgrade)
	case r.Header.Get("Sec-WebSocket-Version") != "13":
		return fmt.Errorf("%w: Sec-WebSocket-Version must be 13", ErrNotUpgrade)
	case r.Header.Get("Sec-WebSocket-Key") == "":
		return fmt.Errorf("%w: Sec-WebSocket-Key header is missing", ErrNotUpgrade)
	}
	return nil
}

func validateTags(tags []string) error {
	if len(tags) > MaxTags {
		return fmt.Errorf("%w: %d tags, at most %d allowed", ErrInvalidTags, len(tags), MaxTags)
	}
	for _, t := range tags {
		if t == "" || len(t) > MaxTagBytes {
			return fmt.Errorf("%w: tag %q must be 1 to %d bytes", ErrInvalidTags, t, MaxTagBytes)
		}
	}
	return nil
}

// AcceptWebSocket accepts the WebSocket upgrade r inside the object's
// ServeHTTP, for a request that reached the object through Forward. The
// runtime, not the object, then holds the connection. It performs the
// upgrade on the client's connection once the turn's writes are durable.
// It delivers each message and the close as a turn through
// WebSocketMessageHandler and WebSocketCloseHandler, and it keeps the
// socket open while the object is evicted.
//
// The object should write nothing to w after a successful accept; headers
// it set, such as cookies, go out with the 101 Switching Protocols response.
// If the turn fails, or its response has a status of 300 or more, the
// socket is dropped and the response goes out instead. Messages sent in
// the accepting turn are queued until the upgrade.
//
// Errors: ErrNotUpgrade, ErrNotForwarded, ErrInvalidTags.
func AcceptWebSocket(w http.ResponseWriter, r *http.Request, opts *AcceptOptions) (*WebSocket, error) {
	if err := validateUpgrade(r); err != nil {
		return nil, err
	}
	up, _ := r.Context().Value(upgradeKey{}).(*upgrade)
	state := actor.FromContext(r.Context())
	if up == nil || state == nil {
		return nil, ErrNotForwarded
	}
	if state.Namespace() != up.forwarder.binding.Name() || !state.ID().Equal(up.id) {
		// The object that received the request from Forward passed it on
		// to another object; only the first can hold the socket.
		return nil, ErrNotForwarded
	}
	var o AcceptOptions
	if opts != nil {
		o = *opts
	}
	if err := validateTags(o.Tags); err != nil {
		return nil, err
	}

	up.mu.Lock()
	defer up.mu.Unlock()
	if up.socket != nil {
		return nil, errors.New("edgehttp: WebSocket already accepted on this request")
	}
	if up.done {
		return nil, fmt.Errorf("edgehttp: accept WebSocket: %w", context.Canceled)
	}
	ws := newWebSocket(hubFor(state.System()), up.forwarder, state, o)
	ws.hub.add(ws)
	up.socket = ws
	state.OnDurable(func(err error) { up.decided <- err })
	return ws, nil
}

// WebSockets returns the open sockets of the object whose State is state,
// in the order they were accepted. With a non-empty tag it returns only
// the sockets that carry the tag. The list includes sockets accepted in
// the current turn that are still waiting for their upgrade.
func WebSockets(state *actor.State, tag string) []*WebSocket {
	return hubFor(state.System()).list(objectKey(state.Namespace(), state.ID()), tag)
}

// Socket states, in the order a socket moves through them.
const (
	statePending = iota // accepted, waiting for the upgrade
	stateOpen           // upgraded; reading and writing
	stateClosing        // a close is queued or under way
	stateClosed         // gone from the hub
)

// outFrame is one queued message.
type outFrame struct {
	typ  websocket.MessageType
	data []byte
}

// closeRequest is a close frame waiting behind the queued messages.
type closeRequest struct {
	code   websocket.StatusCode
	reason string
}

// inEvent is a message or the close, on its way to the object.
type inEvent struct {
	typ    websocket.MessageType
	data   []byte
	close  bool
	code   websocket.StatusCode
	reason string
}

// WebSocket is one client connection accepted by an object. The runtime
// holds the connection, so the value stays valid while the object is
// evicted: an object finds its sockets again through WebSockets. Its
// methods are safe for concurrent use.
type WebSocket struct {
	hub       *hub
	forwarder *forwarder
	binding   actor.Binding
	id        actor.ID
	key       string // objectKey of the owning object
	seq       uint64 // accept order within the hub
	tags      []string
	protos    []string

	// notify is signalled when frames are queued or a close is requested.
	notify chan struct{}
	// stopped is closed once the reader has ended.
	stopped chan struct{}
	// finished is closed once the connection is fully closed.
	finished chan struct{}
	// overflowed is closed when a full send queue closes the socket, so
	// the close turn runs without waiting for the writer.
	overflowed chan struct{}

	mu           sync.Mutex
	state        int             // guarded by mu
	conn         *websocket.Conn // set by start; guarded by mu
	queue        []outFrame      // guarded by mu
	queuedBytes  int             // guarded by mu
	closeReq     *closeRequest   // guarded by mu
	attachment   []byte          // JSON; guarded by mu
	warnedNoRecv bool            // guarded by mu
}

func newWebSocket(h *hub, f *forwarder, state *actor.State, o AcceptOptions) *WebSocket {
	return &WebSocket{
		hub:        h,
		forwarder:  f,
		binding:    f.binding,
		id:         state.ID(),
		key:        objectKey(state.Namespace(), state.ID()),
		tags:       slices.Clone(o.Tags),
		protos:     slices.Clone(o.Subprotocols),
		notify:     make(chan struct{}, 1),
		stopped:    make(chan struct{}),
		finished:   make(chan struct{}),
		overflowed: make(chan struct{}),
	}
}

// Tags returns the socket's tags.
func (ws *WebSocket) Tags() []string { return slices.Clone(ws.tags) }

// Subprotocol returns the negotiated subprotocol, or "" before the upgrade
// or when none was negotiated.
func (ws *WebSocket) Subprotocol() string {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.conn == nil {
		return ""
	}
	return ws.conn.Subprotocol()
}

// Send queues a message to the client. Inside a turn, found through ctx,
// the message leaves only once the turn's writes are durable, and not at
// all if the turn fails. Outside a turn it is queued at once. Send never
// blocks on the client: if the socket's send queue is full, the socket is
// closed with websocket.StatusPolicyViolation (1008). Messages of one
// socket leave in the order they were sent. Send copies data.
//
// Send returns ErrWebSocketClosed if the socket is closed or closing.
func (ws *WebSocket) Send(ctx context.Context, typ websocket.MessageType, data []byte) error {
	if ws.closing() {
		return ErrWebSocketClosed
	}
	f := outFrame{typ: typ, data: bytes.Clone(data)}
	if state := actor.FromContext(ctx); state != nil {
		state.OnDurable(func(err error) {
			if err == nil {
				ws.enqueue(f)
			}
		})
		return nil
	}
	ws.enqueue(f)
	return nil
}

// SendText queues a text message; see Send.
func (ws *WebSocket) SendText(ctx context.Context, text string) error {
	return ws.Send(ctx, websocket.MessageText, []byte(text))
}

// Close closes the socket with code and reason after the messages already
// sent, gated on the turn's durability as Send is. The reason is at most
// 123 bytes. Close returns ErrWebSocketClosed if the socket is already
// closed or closing.
func (ws *WebSocket) Close(ctx context.Context, code websocket.StatusCode, reason string) error {
	if len(reason) > 123 {
		return fmt.Errorf("edgehttp: close reason is %d bytes, at most 123 allowed", len(reason))
	}
	if ws.closing() {
		return ErrWebSocketClosed
	}
	if state := actor.FromContext(ctx); state != nil {
		state.OnDurable(func(err error) {
			if err == nil {
				ws.requestClose(code, reason, false)
			}
		})
		return nil
	}
	ws.requestClose(code, reason, false)
	return nil
}

// SetAttachment stores v, encoded as JSON, with the socket. The
// attachment lives with the connection, not the object, so it survives
// eviction; it does not survive a restart. A nil v removes it. Errors:
// ErrAttachmentTooLarge, or the encoding error.
func (ws *WebSocket) SetAttachment(v any) error {
	var b []byte
	if v != nil {
		var err error
		b, err = json.Marshal(v)
		if err != nil {
			return fmt.Errorf("edgehttp: encode WebSocket attachment: %w", err)
		}
		if len(b) > MaxAttachmentBytes {
			return fmt.Errorf("%w: %d bytes encoded, at most %d allowed",
				ErrAttachmentTooLarge, len(b), MaxAttachmentBytes)
		}
	}
	ws.mu.Lock()
	ws.attachment = b
	ws.mu.Unlock()
	return nil
}

// Attachment decodes the socket's attachment into v, which must be a
// pointer, and reports whether there was one.
func (ws *WebSocket) Attachment(v any) (bool, error) {
	ws.mu.Lock()
	b := ws.attachment
	ws.mu.Unlock()
	if b == nil {
		return false, nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return true, fmt.Errorf("edgehttp: decode WebSocket attachment: %w", err)
	}
	return true, nil
}

// closing reports whether the socket is closing or closed.
func (ws *WebSocket) closing() bool {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return ws.state >= stateClosing
}

func (ws *WebSocket) wake() {
	select {
	case ws.notify <- struct{}{}:
	default:
	}
}

// enqueue adds f to the send queue, or closes the socket with 1008 if the
// queue is full.
func (ws *WebSocket) enqueue(f outFrame) {
	opts := &ws.forwarder.opts.WebSocket
	ws.mu.Lock()
	if ws.state >= stateClosing {
		ws.mu.Unlock()
		return
	}
	if len(ws.queue) >= opts.SendQueue || ws.queuedBytes+len(f.data) > opts.SendQueueBytes {
		queued := len(ws.queue)
		ws.mu.Unlock()
		ws.forwarder.metrics.messages.Add(context.Background(), int64(queued+1), ws.forwarder.metrics.dropped)
		ws.forwarder.log().Warn("edgehttp: WebSocket send queue full; closing",
			"namespace", ws.binding.Name(), "id", ws.id.String(), "queued", queued)
		if ws.requestClose(websocket.StatusPolicyViolation, "send queue full", true) {
			close(ws.overflowed)
		}
		return
	}
	ws.queue = append(ws.queue, f)
	ws.queuedBytes += len(f.data)
	ws.mu.Unlock()
	ws.wake()
}

// requestClose makes the writer close the socket with code. With drop,
// messages still queued are discarded; otherwise they go out first. It
// reports whether this call started the close, which is false if the
// socket was already closing or closed.
func (ws *WebSocket) requestClose(code websocket.StatusCode, reason string, drop bool) bool {
	ws.mu.Lock()
	if ws.state >= stateClosing {
		ws.mu.Unlock()
		return false
	}
	pending := ws.state == statePending
	ws.state = stateClosing
	ws.closeReq = &closeRequest{code: code, reason: reason}
	if drop {
		clear(ws.queue)
		ws.queue = nil
		ws.queuedBytes = 0
	}
	ws.mu.Unlock()
	if pending {
		// The upgrade has not happened; it will find the socket closing
		// and close the connection right after the handshake.
		return true
	}
	ws.wake()
	return true
}
