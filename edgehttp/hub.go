package edgehttp

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/durable-go/durable/actor"
	"github.com/durable-go/durable/clock"
)

// hubKey is the System.Extension key of a System's hub.
type hubKey struct{}

// hub holds the sockets of every object of one System, so they outlive
// the objects' activations.
type hub struct {
	mu      sync.Mutex
	seq     uint64                             // last accept number; guarded by mu
	objects map[string]map[*WebSocket]struct{} // by objectKey; guarded by mu
	groups  map[*http.Server]*socketGroup      // guarded by mu
}

func hubFor(sys *actor.System) *hub {
	return sys.Extension(hubKey{}, func() any {
		return &hub{
			objects: make(map[string]map[*WebSocket]struct{}),
			groups:  make(map[*http.Server]*socketGroup),
		}
	}).(*hub)
}

// objectKey names one object across namespaces.
func objectKey(namespace string, id actor.ID) string {
	return namespace + "/" + id.String()
}

func (h *hub) add(ws *WebSocket) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	ws.seq = h.seq
	set := h.objects[ws.key]
	if set == nil {
		set = make(map[*WebSocket]struct{})
		h.objects[ws.key] = set
	}
	set[ws] = struct{}{}
}

func (h *hub) remove(ws *WebSocket) {
	h.mu.Lock()
	defer h.mu.Unlock()
	set := h.objects[ws.key]
	delete(set, ws)
	if len(set) == 0 {
		delete(h.objects, ws.key)
	}
}

// list returns the object's sockets that are not closing, with tag if tag
// is not empty, in accept order.
func (h *hub) list(key, tag string) []*WebSocket {
	h.mu.Lock()
	out := make([]*WebSocket, 0, len(h.objects[key]))
	for ws := range h.objects[key] {
		if tag == "" || slices.Contains(ws.tags, tag) {
			out = append(out, ws)
		}
	}
	h.mu.Unlock()
	out = slices.DeleteFunc(out, (*WebSocket).closing)
	slices.SortFunc(out, func(a, b *WebSocket) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	return out
}

// groupFor returns the socketGroup of the server that received r: the one
// Server attached to the request context, or else one tied to the
// *http.Server through RegisterOnShutdown.
func (h *hub) groupFor(r *http.Request) *socketGroup {
	if g, ok := r.Context().Value(socketGroupKey{}).(*socketGroup); ok {
		return g
	}
	srv, ok := r.Context().Value(http.ServerContextKey).(*http.Server)
	if !ok {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	g := h.groups[srv]
	if g == nil {
		g = newSocketGroup()
		h.groups[srv] = g
		srv.RegisterOnShutdown(func() {
			g.closeAll(websocket.StatusGoingAway, "server shutting down")
			h.mu.Lock()
			delete(h.groups, srv)
			h.mu.Unlock()
		})
	}
	return g
}

// socketGroupKey is the context key under which Server attaches its
// socketGroup to every request.
type socketGroupKey struct{}

// socketGroup tracks the sockets one server upgraded, so its shutdown can
// close them with 1001 and wait for them.
type socketGroup struct {
	mu      sync.Mutex
	closed  bool                    // guarded by mu
	sockets map[*WebSocket]struct{} // guarded by mu
}

func newSocketGroup() *socketGroup {
	return &socketGroup{sockets: make(map[*WebSocket]struct{})}
}

// add adds ws and reports whether the group is still open.
func (g *socketGroup) add(ws *WebSocket) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.sockets[ws] = struct{}{}
	return true
}

func (g *socketGroup) remove(ws *WebSocket) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.sockets, ws)
}

// closeAll closes every socket of the group after its queued messages and
// makes the group close sockets added later at once.
func (g *socketGroup) closeAll(code websocket.StatusCode, reason string) {
	g.mu.Lock()
	g.closed = true
	sockets := make([]*WebSocket, 0, len(g.sockets))
	for ws := range g.sockets {
		sockets = append(sockets, ws)
	}
	g.mu.Unlock()
	for _, ws := range sockets {
		ws.requestClose(code, reason, false)
	}
}

// wait blocks until every socket of the group has closed or ctx ends.
func (g *socketGroup) wait(ctx context.Context) error {
	g.mu.Lock()
	sockets := make([]*WebSocket, 0, len(g.sockets))
	for ws := range g.sockets {
		sockets = append(sockets, ws)
	}
	g.mu.Unlock()
	for _, ws := range sockets {
		select {
		case <-ws.finished:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// upgrade performs the upgrade an object accepted, once its turn is known
// to have succeeded and its writes are durable.
func (f *forwarder) upgrade(w http.ResponseWriter, r *http.Request, resp *http.Response, up *upgrade) {
	ws := up.accepted()
	var err error
	select {
	case err = <-up.decided:
	case <-r.Context().Done():
		up.abandon()
		return
	}
	if err != nil || resp.StatusCode >= 300 {
		// The turn failed, or the object accepted and then responded with
		// an error status. The response goes out and the socket is dropped.
		ws.abandon(err == nil)
		copyResponse(w, resp)
		return
	}
	h := w.Header()
	for k, v := range resp.Header {
		switch k {
		case "Content-Length", "Content-Type", "Transfer-Encoding":
			continue
		}
		h[k] = v
	}
	opts := &f.opts.WebSocket
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols:       ws.protos,
		OriginPatterns:     opts.OriginPatterns,
		InsecureSkipVerify: opts.InsecureSkipVerify,
	})
	if err != nil {
		// Accept has already written an error response.
		f.log().Debug("edgehttp: WebSocket upgrade failed", "namespace", f.binding.Name(),
			"id", ws.id.String(), "err", err)
		ws.abandon(true)
		return
	}
	conn.SetReadLimit(opts.ReadLimit)
	ws.start(conn, f.binding.System().Clock(), ws.hub.groupFor(r))
}

// abandon drops a socket whose upgrade will not happen. With notify, the
// object, which saw the accept succeed, gets a close turn with 1006.
func (ws *WebSocket) abandon(notify bool) {
	ws.mu.Lock()
	ws.state = stateClosed
	ws.queue = nil
	ws.mu.Unlock()
	ws.hub.remove(ws)
	close(ws.stopped)
	close(ws.finished)
	if notify {
		go ws.notifyAbandoned()
	}
}

// notifyAbandoned runs the close turn of a socket whose upgrade failed.
func (ws *WebSocket) notifyAbandoned() {
	_ = ws.deliver(context.Background(), inEvent{
		close: true, code: websocket.StatusAbnormalClosure, reason: "upgrade failed",
	})
}

// start runs the socket on conn: a reader, a writer and a deliverer.
func (ws *WebSocket) start(conn *websocket.Conn, clk clock.Clock, group *socketGroup) {
	ws.mu.Lock()
	ws.conn = conn
	if ws.state == statePending {
		ws.state = stateOpen
	}
	ws.mu.Unlock()
	if group != nil && !group.add(ws) {
		ws.requestClose(websocket.StatusGoingAway, "server shutting down", false)
	}

	ws.forwarder.metrics.opened()
	inbound := make(chan inEvent, 16)
	writerDone := make(chan struct{})
	go ws.readLoop(conn, inbound)
	go func() {
		defer close(writerDone)
		ws.writeLoop(conn)
	}()
	go ws.deliverLoop(clk, inbound)
	go func() {
		<-ws.stopped
		<-writerDone
		if group != nil {
			group.remove(ws)
		}
		close(ws.finished)
	}()
	ws.wake()
}

// readLoop reads messages until the connection ends, then hands the close
// to the deliverer and removes the socket from the hub. Reading also makes
// the library reply to pings and to the client's close frame.
//
// NOTE: when the object falls behind and inbound is full, the reader waits,
// so TCP flow control slows the client down. Until the object catches up,
// pings and a close frame from the client wait behind the queued messages.
func (ws *WebSocket) readLoop(conn *websocket.Conn, inbound chan<- inEvent) {
	defer close(inbound)
	for {
		typ, data, err := conn.Read(context.Background())
		if err != nil {
			code, reason := ws.closeCause(err)
			ws.mu.Lock()
			ws.state = stateClosed
			ws.queue = nil
			requested := ws.closeReq != nil
			ws.mu.Unlock()
			ws.hub.remove(ws)
			close(ws.stopped)
			if !requested {
				// The writer is not closing the connection, so close it
				// here.
				_ = conn.CloseNow()
			}
			ws.forwarder.metrics.closed(int(code))
			inbound <- inEvent{close: true, code: code, reason: reason}
			return
		}
		ws.forwarder.metrics.messages.Add(context.Background(), 1, ws.forwarder.metrics.received)
		inbound <- inEvent{typ: typ, data: data}
	}
}

// closeCause returns the close code to report to the object for the error
// that ended reading.
func (ws *WebSocket) closeCause(err error) (websocket.StatusCode, string) {
	ws.mu.Lock()
	req := ws.closeReq
	ws.mu.Unlock()
	if req != nil {
		return req.code, req.reason
	}
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code, ce.Reason
	}
	if errors.Is(err, websocket.ErrMessageTooBig) {
		return websocket.StatusMessageTooBig, "message too big"
	}
	return websocket.StatusAbnormalClosure, ""
}

// writeLoop writes queued messages in order and performs a requested
// close once the queue is empty.
func (ws *WebSocket) writeLoop(conn *websocket.Conn) {
	timeout := ws.forwarder.opts.WebSocket.WriteTimeout
	for {
		select {
		case <-ws.notify:
		case <-ws.stopped:
			return
		}
		for {
			ws.mu.Lock()
			if len(ws.queue) == 0 {
				req := ws.closeReq
				ws.mu.Unlock()
				if req != nil {
					_ = conn.Close(req.code, req.reason)
					return
				}
				break
			}
			f := ws.queue[0]
			ws.queue[0] = outFrame{}
			ws.queue = ws.queue[1:]
			ws.queuedBytes -= len(f.data)
			ws.mu.Unlock()

			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			err := conn.Write(ctx, f.typ, f.data)
			cancel()
			if err == nil {
				ws.forwarder.metrics.messages.Add(context.Background(), 1, ws.forwarder.metrics.sent)
			}
			if err != nil {
				// A failed write leaves the stream unusable; dropping the
				// connection ends the reader, which removes the socket.
				ws.forwarder.log().Debug("edgehttp: WebSocket write failed", "namespace",
					ws.binding.Name(), "id", ws.id.String(), "err", err)
				_ = conn.CloseNow()
				return
			}
		}
	}
}

// deliverLoop runs the turns for the events the reader hands over, in
// order, until the close turn.
//
// A socket closed because its send queue filled gets its close turn at
// once. Its writer may stay blocked on a client that stopped reading for
// up to WriteTimeout, and that write is left running so a client that
// reads again still gets the queued messages and the close frame. Until
// the connection ends, messages from the client that have not reached
// the object yet are dropped, because none may follow the close turn.
func (ws *WebSocket) deliverLoop(clk clock.Clock, inbound <-chan inEvent) {
	defer func() {
		// Drain, so the reader never blocks on a deliverer that is done.
		for range inbound {
		}
	}()
	for {
		select {
		case <-ws.overflowed:
			ws.deliverOverflowClose(clk)
			return
		default:
		}
		select {
		case ev, ok := <-inbound:
			if !ok {
				return
			}
			ws.deliverWithRetry(clk, ev)
			if ev.close {
				return
			}
		case <-ws.overflowed:
			ws.deliverOverflowClose(clk)
			return
		}
	}
}

// deliverOverflowClose runs the close turn of a socket whose send queue
// filled, with the code and reason of its close request.
func (ws *WebSocket) deliverOverflowClose(clk clock.Clock) {
	ws.mu.Lock()
	req := ws.closeReq
	ws.mu.Unlock()
	ws.deliverWithRetry(clk, inEvent{close: true, code: req.code, reason: req.reason})
}

// overloadRetries is how often a message for an overloaded object is
// retried, with doubling delays from overloadBackoff, before the socket is
// closed with 1013.
const (
	overloadRetries = 8
	overloadBackoff = 10 * time.Millisecond
)

func (ws *WebSocket) deliverWithRetry(clk clock.Clock, ev inEvent) {
	ctx := context.Background()
	delay := overloadBackoff
	for attempt := 0; ; attempt++ {
		err := ws.deliver(ctx, ev)
		if !errors.Is(err, actor.ErrOverloaded) {
			return
		}
		if attempt == overloadRetries {
			ws.requestClose(websocket.StatusTryAgainLater, "object overloaded", true)
			return
		}
		t := clk.NewTimer(delay)
		<-t.C()
		delay *= 2
	}
}

// deliver runs one message or close event as a turn of the object and
// logs what the object could not handle. It returns the Invoke error.
func (ws *WebSocket) deliver(ctx context.Context, ev inEvent) error {
	handled := true
	err := ws.binding.Invoke(ctx, ws.id, func(ctx context.Context, obj any) error {
		if ev.close {
			h, ok := obj.(WebSocketCloseHandler)
			if !ok {
				return nil
			}
			return h.WebSocketClose(ctx, ws, ev.code, ev.reason)
		}
		h, ok := obj.(WebSocketMessageHandler)
		if !ok {
			handled = false
			return nil
		}
		return h.WebSocketMessage(ctx, ws, ev.typ, ev.data)
	})
	log := ws.forwarder.log()
	switch {
	case err == nil:
		if !handled {
			ws.mu.Lock()
			warned := ws.warnedNoRecv
			ws.warnedNoRecv = true
			ws.mu.Unlock()
			if !warned {
				log.Warn("edgehttp: object does not implement WebSocketMessageHandler; dropping messages",
					"namespace", ws.binding.Name(), "id", ws.id.String())
			}
		}
	case errors.Is(err, actor.ErrOverloaded):
	case errors.Is(err, actor.ErrClosed):
		ws.requestClose(websocket.StatusGoingAway, "server shutting down", true)
	default:
		event := "message"
		if ev.close {
			event = "close"
		}
		log.Error("edgehttp: WebSocket "+event+" handler failed", "namespace",
			ws.binding.Name(), "id", ws.id.String(), "err", err)
	}
	return err
}
