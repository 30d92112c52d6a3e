package edgehttp_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"

	"github.com/coder/websocket"
	"github.com/durable-go/durable/actor"
	"github.com/durable-go/durable/edgehttp"
	"github.com/durable-go/durable/storage"
)

// Counter counts the requests sent to it, one count per name.
type Counter struct{ state *actor.State }

func (c *Counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := c.state.Storage()
	n, _, err := storage.Get[int](st, "n")
	if err == nil {
		err = storage.Put(st, "n", n+1)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	fmt.Fprintf(w, "%s: %d\n", r.PathValue("name"), n+1)
}

func ExampleForward() {
	dir, err := os.MkdirTemp("", "edgehttp-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	sys, err := actor.Open(dir, &actor.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	defer sys.Close()
	counters, err := actor.Register(sys, "COUNTER", func(s *actor.State) *Counter {
		return &Counter{state: s}
	})
	if err != nil {
		panic(err)
	}

	mux := http.NewServeMux()
	mux.Handle("POST /counter/{name}", edgehttp.Forward(counters, edgehttp.PathName("name"), nil))

	for _, name := range []string{"a", "a", "b"} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/counter/"+name, nil))
		body, _ := io.ReadAll(w.Result().Body)
		fmt.Print(w.Code, " ", string(body))
	}
	// Output:
	// 200 a: 1
	// 200 a: 2
	// 200 b: 1
}

// Room relays every message to every socket of the room.
type Room struct{ state *actor.State }

func (r *Room) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	ws, err := edgehttp.AcceptWebSocket(w, req, &edgehttp.AcceptOptions{Tags: []string{"member"}})
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	_ = ws.SetAttachment(map[string]string{"joined": strconv.Itoa(len(edgehttp.WebSockets(r.state, "")))})
}

// WebSocketMessage runs as a turn, activating the room if it was evicted.
func (r *Room) WebSocketMessage(ctx context.Context, from *edgehttp.WebSocket, typ websocket.MessageType, data []byte) error {
	for _, ws := range edgehttp.WebSockets(r.state, "member") {
		_ = ws.Send(ctx, typ, data)
	}
	return nil
}

func ExampleAcceptWebSocket() {
	dir, err := os.MkdirTemp("", "edgehttp-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	sys, err := actor.Open(dir, &actor.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	defer sys.Close()
	rooms, err := actor.Register(sys, "ROOM", func(s *actor.State) *Room { return &Room{state: s} })
	if err != nil {
		panic(err)
	}

	mux := http.NewServeMux()
	mux.Handle("GET /room/{name}/websocket", edgehttp.Forward(rooms, edgehttp.PathName("name"), nil))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ctx := context.Background()
	url := "ws" + srv.URL[len("http"):] + "/room/lobby/websocket"
	alice, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		panic(err)
	}
	defer alice.CloseNow()
	bob, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		panic(err)
	}
	defer bob.CloseNow()

	if err := alice.Write(ctx, websocket.MessageText, []byte("hi from alice")); err != nil {
		panic(err)
	}
	_, msg, err := bob.Read(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(msg))
	// Output: hi from alice
}

func ExampleServer() {
	metrics, err := edgehttp.NewMetrics()
	if err != nil {
		panic(err)
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello")
	})
	srv := edgehttp.NewServer("127.0.0.1:0", handler, &edgehttp.ServerOptions{
		Logger:  slog.New(slog.DiscardHandler),
		Metrics: metrics,
	})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	<-srv.Ready()

	resp, err := http.Get("http://" + srv.Addr().String() + "/healthz")
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(string(body))

	stop()
	fmt.Println(<-done)
	// Output:
	// ok
	// <nil>
}
