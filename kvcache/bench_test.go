package kvcache

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durable-go/durable/clock"
	"github.com/maypok86/otter/v2"
	"github.com/stretchr/testify/require"
)

// benchKeys is the number of distinct keys the hit benchmarks read.
const benchKeys = 4096

func benchKeyNames(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "key-" + strconv.Itoa(i)
	}
	return keys
}

var benchValue = []byte("a value of about thirty-two bytes")

// newBenchOtter returns otter configured as Cache configures it: bounded
// in bytes with a weigher, entries expiring on a per-entry deadline.
func newBenchOtter(b *testing.B) *otter.Cache[string, []byte] {
	c, err := otter.New(&otter.Options[string, []byte]{
		MaximumWeight:    DefaultMaxBytes,
		Weigher:          func(k string, v []byte) uint32 { return uint32(len(k) + len(v) + entryOverhead) },
		ExpiryCalculator: otter.ExpiryWriting[string, []byte](time.Hour),
	})
	require.NoError(b, err)
	b.Cleanup(func() { c.StopAllGoroutines() })
	return c
}

// newBenchOtterPlain returns otter bounded by entry count, without
// expiration: the cheapest otter read.
func newBenchOtterPlain(b *testing.B) *otter.Cache[string, []byte] {
	c, err := otter.New(&otter.Options[string, []byte]{MaximumSize: 2 * benchKeys})
	require.NoError(b, err)
	b.Cleanup(func() { c.StopAllGoroutines() })
	return c
}

func newBenchCache(b *testing.B, load LoadFunc[[]byte], resolution time.Duration) *Cache[[]byte] {
	c, err := NewCache(load, &CacheOptions[[]byte]{
		TTL: time.Hour, StaleWhileRevalidate: time.Minute, ClockResolution: resolution,
	})
	require.NoError(b, err)
	b.Cleanup(func() { c.Close() })
	return c
}

func loadBenchValue(context.Context, string) ([]byte, error) { return benchValue, nil }

// kvcacheVariants are the Cache configurations the hit benchmarks run:
// the default, whose hits read a clock updated every millisecond, and
// every hit reading the time.
var kvcacheVariants = []struct {
	name       string
	resolution time.Duration
}{{"kvcache", 0}, {"kvcache-precise", -1}}

// BenchmarkCacheHit reads keys that are all cached, through Cache and
// through otter alone, on one goroutine.
func BenchmarkCacheHit(b *testing.B) {
	keys := benchKeyNames(benchKeys)
	for _, variant := range kvcacheVariants {
		b.Run("impl="+variant.name, func(b *testing.B) {
			c := newBenchCache(b, loadBenchValue, variant.resolution)
			for _, k := range keys {
				c.Set(k, benchValue)
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, s, _ := c.Get(ctx, keys[i%benchKeys]); s != Hit {
					b.Fatalf("status %v, want HIT", s)
				}
			}
		})
	}
	for _, ref := range []struct {
		name string
		new  func(*testing.B) *otter.Cache[string, []byte]
	}{{"otter", newBenchOtter}, {"otter-plain", newBenchOtterPlain}} {
		b.Run("impl="+ref.name, func(b *testing.B) {
			c := ref.new(b)
			for _, k := range keys {
				c.Set(k, benchValue)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, ok := c.GetIfPresent(keys[i%benchKeys]); !ok {
					b.Fatal("miss")
				}
			}
		})
	}
}

// BenchmarkCacheHitParallel is BenchmarkCacheHit on GOMAXPROCS goroutines.
func BenchmarkCacheHitParallel(b *testing.B) {
	keys := benchKeyNames(benchKeys)
	for _, variant := range kvcacheVariants {
		b.Run("impl="+variant.name, func(b *testing.B) {
			c := newBenchCache(b, loadBenchValue, variant.resolution)
			for _, k := range keys {
				c.Set(k, benchValue)
			}
			ctx := context.Background()
			var seed atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(seed.Add(1)) * 997
				for pb.Next() {
					if _, s, _ := c.Get(ctx, keys[i%benchKeys]); s != Hit {
						b.Errorf("status %v, want HIT", s)
						return
					}
					i++
				}
			})
		})
	}
	for _, ref := range []struct {
		name string
		new  func(*testing.B) *otter.Cache[string, []byte]
	}{{"otter", newBenchOtter}, {"otter-plain", newBenchOtterPlain}} {
		b.Run("impl="+ref.name, func(b *testing.B) {
			c := ref.new(b)
			for _, k := range keys {
				c.Set(k, benchValue)
			}
			var seed atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(seed.Add(1)) * 997
				for pb.Next() {
					if _, ok := c.GetIfPresent(keys[i%benchKeys]); !ok {
						b.Error("miss")
						return
					}
					i++
				}
			})
		})
	}
}

// BenchmarkNamespaceGet reads keys from a Namespace, from Pebble, beside
// the same reads from the raw key space.
func BenchmarkNamespaceGet(b *testing.B) {
	ctx := context.Background()
	db, _ := openDB(b)
	ns := openNamespace(b, db, clock.Real, nil)
	keys := benchKeyNames(benchKeys)
	for _, k := range keys {
		require.NoError(b, ns.Put(ctx, k, benchValue, PutOptions{Metadata: "m"}))
	}
	b.Run("impl=namespace", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, ok, err := ns.Get(ctx, keys[i%benchKeys]); !ok || err != nil {
				b.Fatalf("ok %v, error %v", ok, err)
			}
		}
	})
	b.Run("impl=keyspace", func(b *testing.B) {
		raw := make([][]byte, len(keys))
		for i, k := range keys {
			raw[i] = dataKey(k)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, ok, err := ns.ks.Get(raw[i%benchKeys]); !ok || err != nil {
				b.Fatalf("ok %v, error %v", ok, err)
			}
		}
	})
}

// BenchmarkCacheMixed reads with a 99% hit rate: one read in 100 is of a
// key never read before, whose loader sleeps for 1 ms.
func BenchmarkCacheMixed(b *testing.B) {
	keys := benchKeyNames(benchKeys)
	slowLoad := func(context.Context, string) ([]byte, error) {
		time.Sleep(time.Millisecond)
		return benchValue, nil
	}
	// key returns the key of read i: a cold key every 100th read.
	key := func(i int, prefix string) string {
		if i%100 == 0 {
			return prefix + strconv.Itoa(i)
		}
		return keys[i%benchKeys]
	}
	for _, parallel := range []bool{false, true} {
		b.Run(fmt.Sprintf("impl=kvcache/parallel=%v", parallel), func(b *testing.B) {
			c := newBenchCache(b, slowLoad, 0)
			for _, k := range keys {
				c.Set(k, benchValue)
			}
			ctx := context.Background()
			var seq atomic.Int64
			runMixed(b, parallel, func() {
				i := int(seq.Add(1))
				if _, _, err := c.Get(ctx, key(i, "cold-")); err != nil {
					b.Error(err)
				}
			})
			s := c.Stats()
			b.ReportMetric(100*float64(s.Hits)/float64(s.Hits+s.Misses), "hit%")
		})
		b.Run(fmt.Sprintf("impl=otter/parallel=%v", parallel), func(b *testing.B) {
			c := newBenchOtter(b)
			for _, k := range keys {
				c.Set(k, benchValue)
			}
			loader := otter.LoaderFunc[string, []byte](func(ctx context.Context, key string) ([]byte, error) {
				return slowLoad(ctx, key)
			})
			ctx := context.Background()
			var seq atomic.Int64
			runMixed(b, parallel, func() {
				i := int(seq.Add(1))
				if _, err := c.Get(ctx, key(i, "cold-"), loader); err != nil {
					b.Error(err)
				}
			})
		})
	}
}

func runMixed(b *testing.B, parallel bool, read func()) {
	b.ReportAllocs()
	b.ResetTimer()
	if !parallel {
		for i := 0; i < b.N; i++ {
			read()
		}
		return
	}
	// Eight readers per core, as in a server with requests in flight: a
	// reader waiting for the loader does not idle the core.
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			read()
		}
	})
}
