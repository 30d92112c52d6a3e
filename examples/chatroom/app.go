package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/durable-go/durable/actor"
	"github.com/durable-go/durable/clock"
	"github.com/durable-go/durable/edgehttp"
	"github.com/durable-go/durable/examples/ratelimit/limiter"
	"go.opentelemetry.io/otel/metric"
)

// Defaults of appConfig.
const (
	// defaultRateLimit and defaultRatePeriod let one client IP address send
	// at most 200 messages in any 10-second span: far more than anyone
	// types, so only scripts meet the limit, and enough for a script to
	// fill a room's history of 100 messages in one burst.
	defaultRateLimit  = 200
	defaultRatePeriod = 10 * time.Second
	// roomNamespace and limiterNamespace name the object namespaces in
	// the data directory. Renaming one orphans what is stored under it.
	roomNamespace    = "ROOMS"
	limiterNamespace = "chat-ratelimit"
)

// appConfig configures openApp. Zero fields mean the documented defaults.
type appConfig struct {
	// Logger receives the server's and the runtime's log lines. Nil means
	// slog.Default().
	Logger *slog.Logger
	// Clock stamps messages and drives eviction and rate limits. Nil
	// means clock.Real.
	Clock clock.Clock
	// IdleTimeout is how long a room stays in memory without events. Zero
	// means the runtime's default of one minute.
	IdleTimeout time.Duration
	// RateLimit is the number of messages one client IP address may send
	// in any RatePeriod-long span, over all rooms. The default is 200. A
	// negative value turns rate limiting off.
	RateLimit int
	// RatePeriod is the rate limit's sliding window. The default is 10 s.
	RatePeriod time.Duration
	// WebSocket bounds each member's send queue and frames. Its defaults
	// are those of edgehttp.WebSocketOptions, except that ReadLimit
	// defaults to defaultReadLimit.
	WebSocket edgehttp.WebSocketOptions
	// MeterProvider receives the runtime's metrics. Nil means the global
	// provider of go.opentelemetry.io/otel.
	MeterProvider metric.MeterProvider
}

// defaultReadLimit bounds one client frame. The largest valid frame, a
// message of 256 characters each escaped as a 12-byte surrogate pair, is
// about 3 KiB; a larger frame closes the socket with 1009.
const defaultReadLimit = 8 << 10

// app is the chat server's runtime: the actor system with its room and
// limiter namespaces, and the HTTP handler in front of them.
type app struct {
	sys     *actor.System
	rooms   *actor.Namespace[*Room]
	limiter *limiter.Limiter // nil when rate limiting is off
	handler http.Handler
}

// openApp opens the data directory dir and builds the chat server on it.
func openApp(dir string, cfg appConfig) (*app, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RateLimit == 0 {
		cfg.RateLimit = defaultRateLimit
	}
	if cfg.RatePeriod == 0 {
		cfg.RatePeriod = defaultRatePeriod
	}
	if cfg.WebSocket.ReadLimit == 0 {
		cfg.WebSocket.ReadLimit = defaultReadLimit
	}

	sys, err := actor.Open(dir, &actor.Options{
		Logger:        cfg.Logger,
		Clock:         cfg.Clock,
		IdleTimeout:   cfg.IdleTimeout,
		MeterProvider: cfg.MeterProvider,
	})
	if err != nil {
		return nil, fmt.Errorf("chatroom: open %s: %w", dir, err)
	}

	a := &app{sys: sys}
	var lim *limiter.Limiter
	if cfg.RateLimit > 0 {
		lim, err = limiter.New(sys, limiter.Options{
			Namespace: limiterNamespace,
			Limit:     cfg.RateLimit,
			Period:    cfg.RatePeriod,
		})
		if err != nil {
			sys.Close()
			return nil, fmt.Errorf("chatroom: rate limiter: %w", err)
		}
		a.limiter = lim
	}

	a.rooms, err = actor.Register(sys, roomNamespace, func(s *actor.State) *Room {
		return newRoom(s, lim)
	})
	if err != nil {
		sys.Close()
		return nil, fmt.Errorf("chatroom: %w", err)
	}
	a.handler = newHandler(a.rooms, &edgehttp.ForwardOptions{
		Logger:    cfg.Logger,
		WebSocket: cfg.WebSocket,
	})
	return a, nil
}

// Close stops the runtime, waiting for in-flight turns until ctx ends.
func (a *app) Close(ctx context.Context) error { return a.sys.Shutdown(ctx) }
