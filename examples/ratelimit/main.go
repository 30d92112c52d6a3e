// Command ratelimit serves an exact, durable per-key rate limiter over
// HTTP: at most -limit requests per key in any -period-long span, kept
// in durable objects so that a restart or a crash hands out no fresh
// budget.
//
//	go run ./examples/ratelimit              # serve on 127.0.0.1:8788
//	go run ./examples/ratelimit -limit 5 -period 10s
//
// It serves:
//
//	POST /check/{key}  consumes one unit of key's budget; 200 when
//	                   admitted, 429 with Retry-After when not, and a
//	                   small JSON body either way
//	GET  /hello        a greeting, rate limited per client IP
//
// Every response of both routes carries RateLimit-Limit,
// RateLimit-Remaining and RateLimit-Reset. The importable limiter and
// middleware are in the limiter package below this one.
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

	"github.com/durable-go/durable/examples/ratelimit/limiter"
)

func main() {
	os.Exit(serveMain(os.Args[1:], os.Stderr))
}

// serveMain parses the flags and serves until SIGINT or SIGTERM.
func serveMain(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("ratelimit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := serverConfig{}
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:8788", "TCP `address` to listen on; port 0 picks a free port")
	fs.StringVar(&cfg.DataDir, "data", "./data/ratelimit", "`directory` of the database; created if missing")
	fs.IntVar(&cfg.Limit, "limit", limiter.DefaultLimit, "maximum requests admitted per key in any period")
	fs.DurationVar(&cfg.Period, "period", limiter.DefaultPeriod, "length of the sliding window, such as 1m or 30s")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ratelimit: unexpected argument %q; see -help\n", fs.Arg(0))
		return 2
	}
	if cfg.Limit < 1 {
		fmt.Fprintf(stderr, "ratelimit: invalid -limit %d; use 1 or more\n", cfg.Limit)
		return 2
	}
	if cfg.Period <= 0 {
		fmt.Fprintf(stderr, "ratelimit: invalid -period %v; use a positive duration such as 1m\n", cfg.Period)
		return 2
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, nil))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg); err != nil {
		cfg.Logger.Error("ratelimit: server failed", "err", err)
		return 1
	}
	return 0
}
