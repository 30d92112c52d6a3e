package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/durable-go/durable/clock"
	"github.com/durable-go/durable/kvcache"
	"github.com/durable-go/durable/storage"
	"go.opentelemetry.io/otel/metric"
)

// primeLimit is the bound below which /data counts primes: about 7 ms of
// work on one core of the machine in BENCHMARKS.md, so a cache hit is
// visibly cheaper.
const primeLimit = 5_000_000

// dataTTL is how long a computed /data body stays in the KV namespace and
// is served as fresh.
const dataTTL = 60 * time.Second

// dataStaleTTL is how long past dataTTL the old body is still served, with
// X-Cache: STALE, while one background refresh computes a new one. A
// failed refresh keeps it in service for as long.
const dataStaleTTL = 60 * time.Second

// dataKey is the key of the /data body in the KV namespace.
const dataKey = "report"

// dataEntry is a /data body as the read-through cache keeps it.
type dataEntry struct {
	body    []byte
	expires time.Time // the expiration of the body's key in the namespace
	// computed is true when the load that produced the entry computed the
	// body, and false when it read the body from the namespace.
	computed bool
}

// dataCache serves GET /data: a read-through cache in front of the KV
// namespace "data", whose loader computes the body when the namespace has
// none and stores it there for dataTTL.
type dataCache struct {
	kv     *kvcache.Namespace
	cache  *kvcache.Cache[dataEntry]
	clock  clock.Clock
	logger *slog.Logger
	// compute produces a new body; tests replace it to count calls.
	compute func(now time.Time) ([]byte, error)
}

func newDataCache(db *storage.DB, clk clock.Clock, logger *slog.Logger, mp metric.MeterProvider) (*dataCache, error) {
	if clk == nil {
		clk = clock.Real
	}
	kv, err := kvcache.Open(db, "data", &kvcache.Options{Clock: clk, Logger: logger, MeterProvider: mp})
	if err != nil {
		return nil, err
	}
	d := &dataCache{kv: kv, clock: clk, logger: logger, compute: computeReport}
	d.cache, err = kvcache.NewCache(d.load, &kvcache.CacheOptions[dataEntry]{
		Clock:         clk,
		Logger:        logger,
		MeterProvider: mp,
		Name:          "data",
		// An entry is fresh exactly as long as its key lives in the
		// namespace, also when it was read from there after a restart.
		TTLFunc: func(_ string, e dataEntry) time.Duration {
			return e.expires.Sub(clk.Now())
		},
		StaleWhileRevalidate: dataStaleTTL,
		StaleIfError:         dataStaleTTL,
		SizeOf:               func(_ string, e dataEntry) int { return len(e.body) },
	})
	if err != nil {
		kv.Close()
		return nil, err
	}
	return d, nil
}

// load returns the body stored in the namespace, or computes one and
// stores it with dataTTL when the namespace has none.
func (d *dataCache) load(ctx context.Context, key string) (dataEntry, error) {
	stored, ok, err := d.kv.GetWithMetadata(ctx, key)
	if err != nil {
		return dataEntry{}, err
	}
	if ok {
		return dataEntry{body: stored.Value, expires: stored.Expiration}, nil
	}
	now := d.clock.Now()
	body, err := d.compute(now)
	if err != nil {
		return dataEntry{}, fmt.Errorf("compute %s: %w", key, err)
	}
	expires := now.Add(dataTTL)
	if err := d.kv.Put(ctx, key, body, kvcache.PutOptions{Expiration: expires}); err != nil {
		return dataEntry{}, fmt.Errorf("store %s: %w", key, err)
	}
	return dataEntry{body: body, expires: expires, computed: true}, nil
}

// ServeHTTP returns the cached body. X-Cache is MISS when the body was
// computed for this request, HIT when it came from the cache or the
// namespace, and STALE when an expired body was served while a refresh
// runs or after a failed one.
func (d *dataCache) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e, status, err := d.cache.Get(r.Context(), dataKey)
	if err != nil {
		if r.Context().Err() == nil {
			d.logger.ErrorContext(r.Context(), "counter: load /data failed", "key", dataKey, "err", err)
			http.Error(w, "counter: could not compute /data; retry later", http.StatusServiceUnavailable)
		}
		return
	}
	xcache := status.String()
	if status == kvcache.Miss && !e.computed {
		// The in-memory cache missed, but the namespace had the body.
		xcache = kvcache.Hit.String()
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Cache", xcache)
	w.Header().Set("Cache-Control", "no-store")
	w.Write(e.body)
}

// Close stops the cache and closes the namespace; the stored body stays.
func (d *dataCache) Close() error {
	cerr := d.cache.Close()
	kerr := d.kv.Close()
	if cerr != nil {
		return cerr
	}
	return kerr
}

// report is the JSON body of GET /data.
type report struct {
	PrimesBelow int `json:"primes_below"`
	PrimeCount  int `json:"prime_count"`
	// ComputedAt is when the body was computed; it stays the same on every
	// hit until the entry expires.
	ComputedAt time.Time `json:"computed_at"`
	// ComputeMillis is how long the computation took, in milliseconds.
	ComputeMillis float64 `json:"compute_ms"`
}

// computeReport counts the primes below primeLimit, standing in for a
// costly upstream call that a Worker would cache in KV.
func computeReport(now time.Time) ([]byte, error) {
	start := time.Now()
	n := countPrimes(primeLimit)
	elapsed := time.Since(start)
	return json.Marshal(report{
		PrimesBelow:   primeLimit,
		PrimeCount:    n,
		ComputedAt:    now.UTC(),
		ComputeMillis: float64(elapsed.Microseconds()) / 1000,
	})
}

// countPrimes returns the number of primes below n with a sieve of
// Eratosthenes.
func countPrimes(n int) int {
	if n < 3 {
		return 0
	}
	composite := make([]bool, n)
	count := 1 // 2
	for i := 3; i < n; i += 2 {
		if composite[i] {
			continue
		}
		count++
		for j := i * i; j < n; j += 2 * i {
			composite[j] = true
		}
	}
	return count
}
