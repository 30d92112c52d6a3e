package limiter

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durable-go/durable/actor"
	"golang.org/x/time/rate"
)

// benchParallelism is the number of goroutines per GOMAXPROCS that send
// checks, enough to keep many turns and commits in flight at once.
const benchParallelism = 32

// benchCase is one workload, run on the durable limiter and on
// golang.org/x/time/rate with the same limit and period.
type benchCase struct {
	name string
	// keys is the number of keys the checks cycle through, each checked
	// once before the timer starts. Zero means a new key for every check.
	keys   int
	limit  int
	period time.Duration
}

var benchCases = []benchCase{
	// One key over its limit: nearly every check is rejected, so the
	// durable limiter writes almost nothing.
	{name: "keys=1/rejected", keys: 1, limit: 10, period: time.Minute},
	// One key that is never over its limit: every check is admitted and,
	// in the durable limiter, written and fsynced.
	{name: "keys=1/admitted", keys: 1, limit: 1 << 13, period: time.Millisecond},
	// Checks spread over 10,000 keys under their limit: every check is
	// admitted, and every key is an object of its own.
	{name: "keys=10000", keys: 10000, limit: 1000, period: time.Minute},
	// A key never seen before on every check: in the durable limiter each
	// check activates an object, reads its empty state and writes it.
	{name: "keys=new", keys: 0, limit: 10, period: time.Minute},
}

// keyFunc returns the key of the i-th check of c.
func (c benchCase) keyFunc() func(i int64) string {
	if c.keys == 0 {
		return func(i int64) string { return "client-" + strconv.FormatInt(i, 10) }
	}
	keys := make([]string, c.keys)
	for i := range keys {
		keys[i] = fmt.Sprintf("client-%05d", i)
	}
	return func(i int64) string { return keys[i%int64(len(keys))] }
}

// run checks every key of c once, then calls check from many goroutines,
// each call on the next key in turn, and reports checks/s and the
// fraction of checks admitted.
func (c benchCase) run(b *testing.B, check func(key string) (bool, error)) {
	key := c.keyFunc()
	for i := range c.keys {
		if _, err := check(key(int64(i))); err != nil {
			b.Fatal(err)
		}
	}
	next := atomic.Int64{}
	next.Store(int64(c.keys))
	var admitted atomic.Int64
	b.SetParallelism(benchParallelism)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ok, err := check(key(next.Add(1) - 1))
			if err != nil {
				b.Error(err)
				return
			}
			if ok {
				admitted.Add(1)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checks/s")
	b.ReportMetric(float64(admitted.Load())/float64(b.N), "admitted/op")
}

// BenchmarkAllow measures Allow on real Pebble with the real clock. Every
// admission is durable before Allow returns.
func BenchmarkAllow(b *testing.B) {
	for _, c := range benchCases {
		b.Run(c.name, func(b *testing.B) {
			sys, err := actor.Open(b.TempDir(), &actor.Options{
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			if err != nil {
				b.Fatal(err)
			}
			defer sys.Close()
			l, err := New(sys, Options{Limit: c.limit, Period: c.period})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			c.run(b, func(key string) (bool, error) {
				d, err := l.Allow(ctx, key)
				return d.Allowed, err
			})
		})
	}
}

// BenchmarkXTimeRate is the in-memory reference: a token bucket of
// golang.org/x/time/rate per key, refilled at limit per period with a
// burst of limit, in a map guarded by a mutex as a per-client limiter
// usually keeps them. It is neither durable nor exact over sliding spans.
func BenchmarkXTimeRate(b *testing.B) {
	for _, c := range benchCases {
		b.Run(c.name, func(b *testing.B) {
			var mu sync.Mutex
			limiters := make(map[string]*rate.Limiter)
			every := rate.Every(c.period / time.Duration(c.limit))
			c.run(b, func(key string) (bool, error) {
				mu.Lock()
				rl, ok := limiters[key]
				if !ok {
					rl = rate.NewLimiter(every, c.limit)
					limiters[key] = rl
				}
				mu.Unlock()
				return rl.Allow(), nil
			})
		})
	}
}

// noop is an object with no state, for BenchmarkCallFloor.
type noop struct{}

// BenchmarkCallFloor measures a Call that does nothing on one object, the
// runtime's cost per turn without storage, as a floor for BenchmarkAllow.
func BenchmarkCallFloor(b *testing.B) {
	sys, err := actor.Open(b.TempDir(), &actor.Options{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sys.Close()
	ns, err := actor.Register(sys, "noop", func(*actor.State) *noop { return &noop{} })
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	c := benchCase{keys: 1}
	c.run(b, func(key string) (bool, error) {
		return actor.Call(ctx, ns.Get(ns.IDFromName(key)), func(context.Context, *noop) (bool, error) {
			return true, nil
		})
	})
}
