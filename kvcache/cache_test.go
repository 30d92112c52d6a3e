package kvcache

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durable-go/durable/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// origin is a loader backed by a map. Loads can be held at a gate, and
// each load announces its start on started when that is set.
type origin struct {
	mu      sync.Mutex
	values  map[string]string // guarded by mu
	err     error             // guarded by mu; returned by every load when set
	gate    chan struct{}     // guarded by mu; loads wait for it when set
	started chan string       // guarded by mu; receives each loaded key when set

	calls atomic.Int32
}

func newOrigin(kv ...string) *origin {
	o := &origin{values: map[string]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		o.values[kv[i]] = kv[i+1]
	}
	return o
}

func (o *origin) set(key, value string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.values[key] = value
}

func (o *origin) fail(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.err = err
}

// hold makes later loads wait until the returned function is called.
func (o *origin) hold() (release func()) {
	gate := make(chan struct{})
	o.mu.Lock()
	o.gate = gate
	o.mu.Unlock()
	return sync.OnceFunc(func() { close(gate) })
}

func (o *origin) announce() <-chan string {
	ch := make(chan string, 1000)
	o.mu.Lock()
	o.started = ch
	o.mu.Unlock()
	return ch
}

// load reads the value when it starts, then waits at the gate, like a
// slow origin whose reply is already on its way.
func (o *origin) load(ctx context.Context, key string) (string, error) {
	o.calls.Add(1)
	o.mu.Lock()
	gate, started, err := o.gate, o.started, o.err
	v, ok := o.values[key]
	o.mu.Unlock()
	if started != nil {
		started <- key
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	if err != nil {
		return "", err
	}
	if !ok {
		return "", ErrNotFound
	}
	return v, nil
}

func newTestCache(t testing.TB, o *origin, clk clock.Clock, opts *CacheOptions[string]) *Cache[string] {
	t.Helper()
	if opts == nil {
		opts = &CacheOptions[string]{}
	}
	opts.Clock = clk
	c, err := NewCache(o.load, opts)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// get calls c.Get and returns its results as one comparable value.
type getResult struct {
	value  string
	status Status
	err    error
}

func get(c *Cache[string], key string) getResult {
	v, s, err := c.Get(context.Background(), key)
	return getResult{v, s, err}
}

func TestStatusString(t *testing.T) {
	assert.Equal(t, "HIT", Hit.String())
	assert.Equal(t, "MISS", Miss.String())
	assert.Equal(t, "STALE", Stale.String())
	assert.Equal(t, "Status(9)", Status(9).String())
}

func TestCacheMissThenHit(t *testing.T) {
	o := newOrigin("k", "v")
	c := newTestCache(t, o, clock.NewFake(t0), nil)

	assert.Equal(t, getResult{"v", Miss, nil}, get(c, "k"))
	assert.Equal(t, getResult{"v", Hit, nil}, get(c, "k"))
	assert.Equal(t, int32(1), o.calls.Load())
	s := c.Stats()
	assert.Equal(t, uint64(1), s.Hits)
	assert.Equal(t, uint64(1), s.Misses)
	assert.Equal(t, uint64(1), s.Loads)
}

func TestCacheTTLBoundary(t *testing.T) {
	clk := clock.NewFake(t0)
	o := newOrigin("k", "v1")
	c := newTestCache(t, o, clk, &CacheOptions[string]{TTL: 10 * time.Second})

	assert.Equal(t, getResult{"v1", Miss, nil}, get(c, "k"))
	o.set("k", "v2")
	clk.Set(t0.Add(10*time.Second - time.Nanosecond))
	assert.Equal(t, getResult{"v1", Hit, nil}, get(c, "k"), "fresh just before t+d")
	clk.Set(t0.Add(10 * time.Second))
	assert.Equal(t, getResult{"v2", Miss, nil}, get(c, "k"), "reloaded at exactly t+d")
	assert.Equal(t, int32(2), o.calls.Load())
}

func TestCacheTTLFunc(t *testing.T) {
	clk := clock.NewFake(t0)
	o := newOrigin("short", "a", "long", "b", "never", "c")
	c := newTestCache(t, o, clk, &CacheOptions[string]{
		TTLFunc: func(key, _ string) time.Duration {
			switch key {
			case "short":
				return time.Second
			case "long":
				return time.Hour
			}
			return 0
		},
	})
	for _, k := range []string{"short", "long", "never"} {
		require.Equal(t, Miss, get(c, k).status)
	}
	assert.Equal(t, Miss, get(c, "never").status, "a TTL of zero is not cached")
	clk.Advance(time.Second)
	assert.Equal(t, Miss, get(c, "short").status)
	assert.Equal(t, Hit, get(c, "long").status)
}

func TestCacheStaleWhileRevalidate(t *testing.T) {
	clk := clock.NewFake(t0)
	o := newOrigin("k", "v1")
	c := newTestCache(t, o, clk, &CacheOptions[string]{
		TTL: 10 * time.Second, StaleWhileRevalidate: 30 * time.Second,
	})
	require.Equal(t, getResult{"v1", Miss, nil}, get(c, "k"))

	o.set("k", "v2")
	release := o.hold()
	started := o.announce()
	clk.Set(t0.Add(15 * time.Second))

	// 100 readers in the window all get the old value at once, and start
	// exactly one background refresh between them.
	var wg sync.WaitGroup
	results := make([]getResult, 100)
	for i := range results {
		wg.Go(func() { results[i] = get(c, "k") })
	}
	wg.Wait()
	for _, r := range results {
		assert.Equal(t, getResult{"v1", Stale, nil}, r)
	}
	assert.Equal(t, "k", <-started)
	assert.Equal(t, int32(2), o.calls.Load(), "one initial load and one refresh")

	release()
	c.loads.Wait()
	assert.Equal(t, getResult{"v2", Hit, nil}, get(c, "k"), "the refresh stored its result")
	assert.Equal(t, int32(2), o.calls.Load())
	assert.Equal(t, uint64(100), c.Stats().StaleServes)

	// Past TTL plus the window, a Get waits for the load again.
	o.set("k", "v3")
	clk.Set(t0.Add(15*time.Second + 40*time.Second))
	assert.Equal(t, getResult{"v3", Miss, nil}, get(c, "k"))
}

func TestCacheStaleWhileRevalidateRefreshFails(t *testing.T) {
	clk := clock.NewFake(t0)
	o := newOrigin("k", "v1")
	c := newTestCache(t, o, clk, &CacheOptions[string]{
		TTL: 10 * time.Second, StaleWhileRevalidate: 30 * time.Second,
	})
	require.Equal(t, Miss, get(c, "k").status)
	o.fail(errors.New("origin down"))
	clk.Advance(11 * time.Second)

	assert.Equal(t, getResult{"v1", Stale, nil}, get(c, "k"))
	c.loads.Wait()
	assert.Equal(t, getResult{"v1", Stale, nil}, get(c, "k"), "a failed refresh keeps the old value")
	c.loads.Wait()
	assert.Equal(t, uint64(2), c.Stats().LoadErrors)
}

func TestCacheStaleIfError(t *testing.T) {
	clk := clock.NewFake(t0)
	o := newOrigin("k", "v1")
	c := newTestCache(t, o, clk, &CacheOptions[string]{
		TTL: 10 * time.Second, StaleIfError: time.Minute,
	})
	require.Equal(t, Miss, get(c, "k").status)
	down := errors.New("origin down")
	o.fail(down)

	clk.Set(t0.Add(10*time.Second + time.Minute - time.Nanosecond))
	assert.Equal(t, getResult{"v1", Stale, nil}, get(c, "k"), "within the maximum staleness")

	clk.Set(t0.Add(10*time.Second + time.Minute))
	r := get(c, "k")
	assert.Equal(t, Miss, r.status)
	assert.Empty(t, r.value)
	require.ErrorIs(t, r.err, down, "past the maximum staleness the error is returned")
	assert.Contains(t, r.err.Error(), `kvcache: load "k"`)
	assert.Equal(t, uint64(2), c.Stats().LoadErrors)

	// The origin recovers and the next Get loads a fresh value.
	o.fail(nil)
	o.set("k", "v2")
	assert.Equal(t, getResult{"v2", Miss, nil}, get(c, "k"))
}

func TestCacheStaleIfErrorRespectsInvalidate(t *testing.T) {
	clk := clock.NewFake(t0)
	o := newOrigin("k", "v1")
	c := newTestCache(t, o, clk, &CacheOptions[string]{TTL: time.Second, StaleIfError: time.Hour})
	require.Equal(t, Miss, get(c, "k").status)
	o.fail(errors.New("origin down"))
	clk.Advance(2 * time.Second)
	c.Invalidate("k")
	r := get(c, "k")
	assert.Equal(t, Miss, r.status)
	assert.Error(t, r.err, "an invalidated value is not served stale")
}

func TestCacheStampede(t *testing.T) {
	o := newOrigin("k", "v")
	release := o.hold()
	started := o.announce()
	c := newTestCache(t, o, clock.NewFake(t0), nil)

	var wg, waiting sync.WaitGroup
	results := make([]getResult, 100)
	for i := range results {
		waiting.Add(1)
		wg.Go(func() {
			waiting.Done()
			results[i] = get(c, "k")
		})
	}
	<-started
	waiting.Wait()
	release()
	wg.Wait()

	assert.Equal(t, int32(1), o.calls.Load(), "100 readers, one load")
	for _, r := range results {
		assert.Equal(t, "v", r.value)
		assert.NoError(t, r.err)
		assert.Contains(t, []Status{Miss, Hit}, r.status)
	}
}

func TestCacheNegativeCaching(t *testing.T) {
	clk := clock.NewFake(t0)
	o := newOrigin()
	c := newTestCache(t, o, clk, &CacheOptions[string]{TTL: time.Hour, NotFoundTTL: 5 * time.Second})

	assert.Equal(t, getResult{"", Miss, ErrNotFound}, get(c, "k"))
	o.set("k", "v")
	assert.Equal(t, getResult{"", Hit, ErrNotFound}, get(c, "k"), "the absence is cached")
	assert.Equal(t, int32(1), o.calls.Load())

	clk.Set(t0.Add(5*time.Second - time.Nanosecond))
	assert.Equal(t, getResult{"", Hit, ErrNotFound}, get(c, "k"))
	clk.Set(t0.Add(5 * time.Second))
	assert.Equal(t, getResult{"v", Miss, nil}, get(c, "k"), "the absence expires on its own TTL")
	assert.Equal(t, uint64(0), c.Stats().LoadErrors, "not found is not a load error")
}

func TestCacheNegativeCachingOff(t *testing.T) {
	clk := clock.NewFake(t0)
	o := newOrigin("k", "v")
	c := newTestCache(t, o, clk, &CacheOptions[string]{
		TTL: time.Second, NotFoundTTL: -1, StaleIfError: time.Hour, StaleWhileRevalidate: time.Hour,
	})
	require.Equal(t, Miss, get(c, "k").status)
	o.mu.Lock()
	delete(o.values, "k")
	o.mu.Unlock()
	clk.Advance(2 * time.Second)
	assert.Equal(t, getResult{"v", Stale, nil}, get(c, "k"))
	c.loads.Wait()
	// The refresh found the key gone: the stale value is dropped, and
	// every Get loads again.
	assert.Equal(t, getResult{"", Miss, ErrNotFound}, get(c, "k"))
	assert.Equal(t, getResult{"", Miss, ErrNotFound}, get(c, "k"))
	assert.Equal(t, int32(4), o.calls.Load())
}

func TestCacheInvalidationRace(t *testing.T) {
	for _, write := range []string{"invalidate", "set"} {
		t.Run(write, func(t *testing.T) {
			o := newOrigin("k", "old")
			release := o.hold()
			started := o.announce()
			c := newTestCache(t, o, clock.NewFake(t0), nil)

			first := make(chan getResult, 1)
			go func() { first <- get(c, "k") }()
			<-started // the load of "old" is running

			o.set("k", "new")
			if write == "set" {
				c.Set("k", "new")
			} else {
				c.Invalidate("k")
			}
			// A Get after the invalidation does not join the old load.
			second := make(chan getResult, 1)
			go func() { second <- get(c, "k") }()
			if write == "invalidate" {
				<-started
			}
			release()
			assert.Equal(t, getResult{"old", Miss, nil}, <-first,
				"the Get that started before the write may see the old value")
			r := <-second
			assert.Equal(t, "new", r.value)
			c.loads.Wait()

			assert.Equal(t, getResult{"new", Hit, nil}, get(c, "k"), "the old load did not put its value back")
		})
	}
}

func TestCacheInvalidateAll(t *testing.T) {
	o := newOrigin("a", "1", "b", "2")
	c := newTestCache(t, o, clock.NewFake(t0), nil)
	require.Equal(t, Miss, get(c, "a").status)
	require.Equal(t, Miss, get(c, "b").status)
	c.InvalidateAll()
	assert.Equal(t, Miss, get(c, "a").status)
	assert.Equal(t, Miss, get(c, "b").status)
}

func TestCacheContextCanceledWhileWaiting(t *testing.T) {
	o := newOrigin("k", "v")
	release := o.hold()
	started := o.announce()
	c := newTestCache(t, o, clock.NewFake(t0), nil)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, _, err := c.Get(ctx, "k")
		done <- err
	}()
	<-started
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	release()
	c.loads.Wait()
	assert.Equal(t, getResult{"v", Hit, nil}, get(c, "k"), "the load went on and stored its value")
}

func TestCacheLoaderPanics(t *testing.T) {
	c, err := NewCache(func(context.Context, string) (int, error) { panic("boom") },
		&CacheOptions[int]{Clock: clock.NewFake(t0)})
	require.NoError(t, err)
	defer c.Close()
	_, status, err := c.Get(context.Background(), "k")
	assert.Equal(t, Miss, status)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "loader panicked: boom")
}

func TestCacheClose(t *testing.T) {
	o := newOrigin("k", "v")
	release := o.hold()
	defer release()
	started := o.announce()
	c, err := NewCache(o.load, &CacheOptions[string]{Clock: clock.NewFake(t0)})
	require.NoError(t, err)

	done := make(chan getResult, 1)
	go func() { done <- get(c, "k") }()
	<-started
	require.NoError(t, c.Close(), "Close cancels the running load")
	r := <-done
	require.ErrorIs(t, r.err, context.Canceled)
	assert.Equal(t, getResult{"", Miss, ErrClosed}, get(c, "k"))
}

func TestCacheGetAfterClose(t *testing.T) {
	o := newOrigin("k", "v")
	c := newTestCache(t, o, clock.NewFake(t0), nil)
	require.Equal(t, Miss, get(c, "k").status)
	require.NoError(t, c.Close())
	assert.Equal(t, getResult{"", Miss, ErrClosed}, get(c, "k"), "a cached key too")
	assert.Equal(t, getResult{"", Miss, ErrClosed}, get(c, "other"))
}

func TestCacheEvictsByBytes(t *testing.T) {
	o := newOrigin()
	for i := range 200 {
		o.set(fmt.Sprintf("k%03d", i), strings.Repeat("x", 1000))
	}
	c := newTestCache(t, o, clock.NewFake(t0), &CacheOptions[string]{MaxBytes: 20_000})
	for i := range 200 {
		require.NoError(t, get(c, fmt.Sprintf("k%03d", i)).err)
	}
	c.otter.CleanUp()
	assert.LessOrEqual(t, c.Bytes(), int64(20_000))
	assert.Positive(t, c.Bytes())
	assert.Less(t, c.Len(), 200)
	assert.Positive(t, c.Stats().Evictions)
}

func TestCacheEntriesLeaveOtterWhenExpired(t *testing.T) {
	clk := clock.NewFake(t0)
	o := newOrigin("k", "v")
	c := newTestCache(t, o, clk, &CacheOptions[string]{TTL: time.Second, StaleIfError: time.Second})
	require.Equal(t, Miss, get(c, "k").status)
	clk.Advance(2*time.Second - time.Nanosecond)
	_, ok := c.otter.GetEntryQuietly("k")
	assert.True(t, ok, "kept while it may be served on error")
	clk.Advance(time.Nanosecond)
	_, ok = c.otter.GetEntryQuietly("k")
	assert.False(t, ok)
	// Otter's timer wheel removes the entry within a few seconds of its
	// deadline.
	clk.Advance(time.Minute)
	c.otter.CleanUp()
	assert.Equal(t, 0, c.Len())
	assert.Equal(t, uint64(1), c.Stats().Evictions)
}

func TestCacheSetAndReadOnly(t *testing.T) {
	o := newOrigin()
	c := newTestCache(t, o, clock.NewFake(t0), nil)
	c.Set("k", "set")
	assert.Equal(t, getResult{"set", Hit, nil}, get(c, "k"))
	assert.Equal(t, int32(0), o.calls.Load())
	require.ErrorIs(t, c.Put(context.Background(), "k", "v", PutOptions{}), ErrReadOnly)
	require.ErrorIs(t, c.Delete(context.Background(), "k"), ErrReadOnly)
}

func TestCacheMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	clk := clock.NewFake(t0)
	o := newOrigin("k", "v")
	c := newTestCache(t, o, clk, &CacheOptions[string]{
		Name: "flags", MeterProvider: mp, TTL: time.Second, StaleIfError: time.Hour,
	})
	get(c, "k")
	get(c, "k")
	get(c, "k")
	o.fail(errors.New("down"))
	clk.Advance(time.Second)
	get(c, "k")

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			sum, ok := m.Data.(metricdata.Sum[int64])
			require.True(t, ok, m.Name)
			require.Len(t, sum.DataPoints, 1)
			v, _ := sum.DataPoints[0].Attributes.Value("cache")
			assert.Equal(t, "flags", v.AsString())
			got[m.Name] = sum.DataPoints[0].Value
		}
	}
	assert.Equal(t, map[string]int64{
		"kvcache.cache.hits":        2,
		"kvcache.cache.misses":      2,
		"kvcache.cache.stale":       1,
		"kvcache.cache.loads":       2,
		"kvcache.cache.load_errors": 1,
		"kvcache.cache.evictions":   0,
	}, got)

	require.NoError(t, c.Close())
	rm = metricdata.ResourceMetrics{}
	require.NoError(t, reader.Collect(context.Background(), &rm))
	assert.Empty(t, rm.ScopeMetrics, "Close unregisters the metrics")
}

func TestCacheLoadTimeout(t *testing.T) {
	o := newOrigin("k", "v")
	release := o.hold()
	defer release()
	c := newTestCache(t, o, clock.NewFake(t0), &CacheOptions[string]{LoadTimeout: 20 * time.Millisecond})
	r := get(c, "k")
	assert.Equal(t, Miss, r.status)
	require.ErrorIs(t, r.err, context.DeadlineExceeded)
	assert.Equal(t, uint64(1), c.Stats().LoadErrors)
}

func TestNewCacheRejectsNilLoader(t *testing.T) {
	_, err := NewCache[string](nil, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nil LoadFunc")
	_, err = NewNamespaceCache[string](nil, String{}, nil)
	require.Error(t, err)
}
