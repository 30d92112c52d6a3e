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
	"time"

	"github.com/durable-go/durable/edgehttp"
)

func main() {
	os.Exit(serveMain(os.Args[1:], os.Stderr))
}

// serveMain parses the flags and serves until SIGINT or SIGTERM.
func serveMain(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("chatroom", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8789", "TCP `address` to listen on; port 0 picks a free port")
	dir := fs.String("data", "./data/chatroom", "`directory` of the database; created if missing")
	cfg := appConfig{}
	fs.IntVar(&cfg.RateLimit, "rate-limit", defaultRateLimit, "messages one client IP address may send per rate period; negative turns rate limiting off")
	fs.DurationVar(&cfg.RatePeriod, "rate-period", defaultRatePeriod, "sliding window of the rate limit")
	fs.DurationVar(&cfg.IdleTimeout, "idle", 0, "time a room stays in memory without events; 0 means 1m")
	accessLog := fs.Bool("access-log", false, "log one line per HTTP request")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "chatroom: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, nil))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, *addr, *dir, cfg, *accessLog); err != nil {
		cfg.Logger.Error("chatroom: server failed", "err", err)
		return 1
	}
	return 0
}

// serve runs the chat server on addr over the data directory dir until
// ctx ends, then shuts it down: sockets first, then the runtime.
func serve(ctx context.Context, addr, dir string, cfg appConfig, accessLog bool) error {
	metrics, err := edgehttp.NewMetrics()
	if err != nil {
		return fmt.Errorf("chatroom: create metrics: %w", err)
	}
	cfg.MeterProvider = metrics.MeterProvider()
	a, err := openApp(dir, cfg)
	if err != nil {
		return err
	}
	srv := edgehttp.NewServer(addr, a.handler, &edgehttp.ServerOptions{
		Logger:        cfg.Logger,
		Metrics:       metrics,
		NoAccessLog:   !accessLog,
		IgnoreSignals: true, // serveMain turns them into ctx
	})
	err = srv.Run(ctx)
	closeCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if cerr := a.Close(closeCtx); err == nil {
		err = cerr
	}
	return err
}
