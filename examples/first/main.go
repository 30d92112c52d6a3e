// Command first is the smallest durable program: a durable counter per
// name, served on 127.0.0.1:8080 with its data in ./data/first.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"github.com/durable-go/durable/actor"
	"github.com/durable-go/durable/edgehttp"
	"github.com/durable-go/durable/storage"
)

// Counter is one durable counter. Each name gets its own instance.
type Counter struct{ state *actor.State }

// ServeHTTP runs inside one turn of the object: turns never overlap.
func (c *Counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := c.state.Storage()
	n, _, err := storage.Get[int64](st, "value")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if r.Method == http.MethodPost {
		n++
		if err := storage.Put(st, "value", n); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	fmt.Fprintln(w, n) // sent only once the write is durable
}

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(logger); err != nil {
		logger.Error("first: failed", "err", err)
		os.Exit(1)
	}
}

func run(logger *slog.Logger) error {
	// One metrics registry for the runtime and the server, served at /metrics.
	metrics, err := edgehttp.NewMetrics()
	if err != nil {
		return err
	}
	sys, err := actor.Open("./data/first", &actor.Options{
		Logger:        logger,
		MeterProvider: metrics.MeterProvider(),
	})
	if err != nil {
		return err
	}
	defer sys.Close()

	counters, err := actor.Register(sys, "counter", func(s *actor.State) *Counter {
		return &Counter{state: s}
	})
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	// {name} matches one path segment: /counter/a/b is a 404.
	mux.Handle("/counter/{name}", edgehttp.Forward(counters, edgehttp.PathName("name"), nil))

	// Run serves /healthz and /metrics too, and stops gracefully on
	// SIGINT or SIGTERM.
	srv := edgehttp.NewServer("127.0.0.1:8080", mux, &edgehttp.ServerOptions{
		Logger:  logger,
		Metrics: metrics,
	})
	return srv.Run(context.Background())
}
