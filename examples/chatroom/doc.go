// Command chatroom is durable's WebSocket example: chat rooms in the
// protocol of Cloudflare's public edge chat demo, with each room one
// durable object that keeps its history on disk and may be evicted from
// memory while its members stay connected.
//
//	go run ./examples/chatroom    # serve on 127.0.0.1:8789
//	go run ./examples/chatroom -h # list the flags
//
// It serves:
//
//	GET  /                           the chat page
//	POST /api/room                   creates a private room; returns its
//	                                 64-hex-digit ID as text
//	GET  /api/room/{room}/websocket  joins the room named by a public name
//	                                 of up to 32 characters or by an ID
//
// A client first sends {"name": "..."}. It receives {"joined": name} for
// each member present, the room's last 100 messages oldest first and
// {"ready": true}, after which the whole room, the new member included,
// receives {"joined": name}. It then sends {"message": "..."} frames, which every
// member receives as {"name", "message", "timestamp"}. Members leaving are
// announced as {"quit": name}, and bad frames get {"error": "..."}.
//
// # How a room uses the runtime
//
// Each room is a [Room] object in the "ROOMS" namespace. A public name maps
// to its ID through IDFromName, and a private room has a random ID. The
// room accepts each socket with edgehttp.AcceptWebSocket, which hands the
// connection to the runtime, and keeps the member's name and address in
// the socket's attachment. Messages and closes arrive as turns, so a room
// evicted after its idle timeout is activated again by the next message,
// finds its members through edgehttp.WebSockets and reloads its newest
// timestamp in Init. Each message is stored under its timestamp and
// broadcast in the same turn, and the runtime releases the broadcast only
// once the message is on disk. Every 100th message also deletes the
// messages older than the newest 100.
//
// Rate limits come from the ratelimit example's limiter, one object per
// client IP address, called from the room's turn before a message is
// stored.
package main
