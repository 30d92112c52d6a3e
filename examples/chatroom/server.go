package main

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"regexp"
	"unicode/utf8"

	"github.com/durable-go/durable/actor"
	"github.com/durable-go/durable/edgehttp"
)

//go:embed static
var staticFiles embed.FS

// roomIDPattern matches the 64-hex-digit form of a private room's ID.
var roomIDPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// errInvalidRoom matches every error roomKey returns for a bad room name.
var errInvalidRoom = errors.New("chatroom: invalid room")

// roomKey derives the room object from the {room} path value: a 64-hex-digit
// string is a private room's ID, anything else of 1 to 32 characters is a
// public room's name.
func roomKey(r *http.Request, b actor.Binding) (actor.ID, error) {
	room := r.PathValue("room")
	if roomIDPattern.MatchString(room) {
		id, err := b.IDFromString(room)
		if err != nil {
			return actor.ID{}, fmt.Errorf("%w: %q is not a room ID of this server; create one with POST /api/room", errInvalidRoom, room)
		}
		return id, nil
	}
	n := utf8.RuneCountInString(room)
	if n == 0 || n > maxRoomNameChars || !utf8.ValidString(room) {
		return actor.ID{}, fmt.Errorf("%w: %q is neither a public name of 1 to %d characters nor a 64-hex-digit room ID", errInvalidRoom, room, maxRoomNameChars)
	}
	return b.IDFromName(room), nil
}

// newHandler returns the chat server's routes:
//
//	GET  /                           the chat page
//	GET  /static/...                 its script and style sheet
//	POST /api/room                   creates a private room, returns its ID
//	GET  /api/room/{room}/websocket  joins a room over a WebSocket
func newHandler(rooms *actor.Namespace[*Room], opts *edgehttp.ForwardOptions) http.Handler {
	mux := http.NewServeMux()
	static, err := fs.Sub(staticFiles, "static")
	if err != nil {
		panic(fmt.Sprintf("chatroom: embedded static files: %v", err))
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, static, "index.html")
	})
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("POST /api/room", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprint(w, rooms.NewUniqueID().String())
	})
	mux.Handle("GET /api/room/{room}/websocket", edgehttp.Forward(rooms, roomKey, opts))
	return mux
}
