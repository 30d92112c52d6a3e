// Package edgehttp puts durable objects behind HTTP the way a Cloudflare
// Worker does: a handler receives a request, derives which object should
// handle it and forwards it, and the object responds from inside one turn.
//
// # Bindings
//
// A Worker reaches its object namespaces, KV namespaces and variables
// through an Env that WithEnv attaches to every request's context:
//
//	env := &edgehttp.Env{
//		Objects: map[string]actor.Binding{"COUNTER": counters},
//		Vars:    map[string]string{"GREETING": "hello"},
//	}
//	handler := edgehttp.WithEnv(mux, env)
//
// and inside a handler, edgehttp.EnvFrom(r.Context()).Object("COUNTER").
//
// # Forwarding
//
// Forward returns a handler that sends each request to one object. A Key
// derives the object from the request: by name through PathName,
// HeaderName or NameFunc, or by the 64-hex-digit form of an ID through
// PathID or HeaderID.
//
//	mux.Handle("/counter/{name}", edgehttp.Forward(counters, edgehttp.PathName("name"), nil))
//
// The object's ServeHTTP receives the method, URL, headers and full body
// unchanged, and its status, headers and body reach the client unchanged,
// released only once the turn's storage writes are durable. The request
// body is read in full before the turn starts, up to
// ForwardOptions.MaxBodyBytes. The turn's context ends when the client goes
// away. Failures that keep the object from responding map to status codes:
//
//   - 400 for a request that names no object or an invalid ID;
//   - 413 for a body over the limit;
//   - 503 with Retry-After for an overloaded object;
//   - 500, without internal detail, for a panic or a failed commit.
//
// # WebSockets and hibernation
//
// Inside ServeHTTP of a forwarded request, an object accepts a WebSocket
// with AcceptWebSocket, optionally labelling it with tags. The runtime, not
// the object, then holds the connection. Forward performs the upgrade once
// the accepting turn's writes are durable, and a hub per actor.System
// keeps the socket. Each message and the close arrive as turns through the
// optional WebSocketMessageHandler and WebSocketCloseHandler methods. So
// an object with open sockets can be evicted like any other; the next
// message activates it again. The object finds its sockets through
// WebSockets, all of them or by tag, and can keep a small attachment per
// socket (SetAttachment) that lives with the connection and so survives
// eviction.
//
// Sends go through a bounded queue per socket and, inside a turn, leave
// only after the turn's writes are durable. A client that stops reading
// fills its queue and is closed with 1008 (policy violation). It never
// blocks the object or other clients, and the object's close turn runs at
// once, without waiting for the stalled write. The runtime replies to
// pings without activating the object, and to a client's close frame with
// the same code before the close turn runs. Both replies wait behind
// messages the object has not taken yet, so they are late while the
// object falls behind.
//
// # Server
//
// NewServer wraps a handler for production: Run listens, serves /healthz
// and Prometheus /metrics (from a Metrics with its own registry, never the
// global one), records an OpenTelemetry span per request that is the
// parent of the turn and commit spans, writes an access log line through
// slog, and on SIGINT, SIGTERM or the end of its context finishes
// in-flight requests and closes WebSockets with 1001 (going away).
//
//	metrics, err := edgehttp.NewMetrics()
//	...
//	sys, err := actor.Open(dir, &actor.Options{MeterProvider: metrics.MeterProvider()})
//	...
//	srv := edgehttp.NewServer(":8080", handler, &edgehttp.ServerOptions{Metrics: metrics})
//	err = srv.Run(ctx)
package edgehttp
