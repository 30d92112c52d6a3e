// Command counter is durable's walk-through example: a greeting, a JSON
// response cached in a KV namespace, and a durable counter object per name.
//
//	go run ./examples/counter                  # serve on 127.0.0.1:8787
//	go run ./examples/counter bench -c 64 -d 10s
//
// It serves:
//
//	GET  /                a plain-text greeting
//	GET  /data            JSON computed on a miss and cached for 60 s; the
//	                      X-Cache header says MISS, HIT or STALE
//	POST /counter/{name}  increments the counter and returns its new value
//	GET  /counter/{name}  returns the counter's value without changing it
//	GET  /healthz         ok, or 503 while shutting down
//	GET  /metrics         Prometheus metrics of the server and the runtime
//
// SIGINT or SIGTERM stops it gracefully: requests in flight finish and
// their writes become durable. A second signal stops it at once.
//
// The bench subcommand loads a running server over loopback and prints
// requests/s and latency percentiles for GET / and POST /counter/{name}.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "bench" {
		os.Exit(benchMain(args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(serveMain(args, os.Stderr))
}

// serveMain parses the server's flags and serves until SIGINT or SIGTERM.
func serveMain(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("counter", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := serverConfig{}
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:8787", "TCP `address` to listen on; port 0 picks a free port")
	fs.StringVar(&cfg.DataDir, "data", "./data/counter", "`directory` of the database; created if missing")
	fs.BoolVar(&cfg.AccessLog, "access-log", false, "log one line per request")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "counter: unexpected argument %q; run 'counter bench' for the load generator\n", fs.Arg(0))
		return 2
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, nil))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Once the first signal has started the shutdown, restore the default
	// action, so that a second signal ends the process at once.
	context.AfterFunc(ctx, stop)
	if err := serve(ctx, cfg); err != nil {
		cfg.Logger.Error("counter: server failed", "err", err)
		return 1
	}
	return 0
}

// benchMain parses the bench subcommand's flags and runs the load.
func benchMain(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseBenchFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2 // parseBenchFlags has printed it
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runBench(ctx, cfg, stdout); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}
