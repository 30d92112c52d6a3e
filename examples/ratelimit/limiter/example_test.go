package limiter_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/durable-go/durable/actor"
	"github.com/durable-go/durable/examples/ratelimit/limiter"
)

func Example() {
	dir, err := os.MkdirTemp("", "limiter-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	sys, err := actor.Open(dir, &actor.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		panic(err)
	}
	defer sys.Close()

	l, err := limiter.New(sys, limiter.Options{Limit: 2, Period: time.Hour})
	if err != nil {
		panic(err)
	}
	for range 3 {
		d, err := l.Allow(context.Background(), "alice")
		if err != nil {
			panic(err)
		}
		fmt.Printf("allowed=%v remaining=%d retry in about %v\n",
			d.Allowed, d.Remaining, d.RetryAfter.Round(time.Hour))
	}
	// Output:
	// allowed=true remaining=1 retry in about 0s
	// allowed=true remaining=0 retry in about 0s
	// allowed=false remaining=0 retry in about 1h0m0s
}

// A KeyFunc that limits per API key instead of per client IP. The example
// is compiled but not run.
func ExampleLimiter_Middleware() {
	sys, err := actor.Open("./data", nil)
	if err != nil {
		panic(err)
	}
	l, err := limiter.New(sys, limiter.Options{Limit: 100, Period: time.Minute})
	if err != nil {
		panic(err)
	}
	byAPIKey := func(r *http.Request) (string, error) {
		key := r.Header.Get("X-API-Key")
		if key == "" {
			return "", errors.New("missing X-API-Key header")
		}
		return key, nil
	}
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})
	http.Handle("/api/", l.Middleware(api, &limiter.MiddlewareOptions{Key: byAPIKey}))
}
