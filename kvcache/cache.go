package kvcache

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/durable-go/durable/clock"
	"github.com/maypok86/otter/v2"
	"go.opentelemetry.io/otel/metric"
)

// Cache defaults.
const (
	DefaultMaxBytes    = 64 << 20
	DefaultTTL         = time.Minute
	DefaultLoadTimeout = 30 * time.Second
	// DefaultClockResolution is how often hits see the real clock move.
	DefaultClockResolution = time.Millisecond
)

// entryOverhead estimates the bytes a cached entry costs beyond its key and
// value: the entry struct and otter's node.
const entryOverhead = 128

// Status records how Cache.Get produced its result.
type Status uint8

const (
	// Miss means the value was loaded during the call, or the load failed.
	Miss Status = iota
	// Hit means the value, or a cached "not found", was fresh in the cache.
	Hit
	// Stale means the value is past its TTL: it was served while a
	// background refresh runs, or because the load failed.
	Stale
)

// String returns "MISS", "HIT" or "STALE", the values of an X-Cache
// response header.
func (s Status) String() string {
	switch s {
	case Miss:
		return "MISS"
	case Hit:
		return "HIT"
	case Stale:
		return "STALE"
	}
	return fmt.Sprintf("Status(%d)", uint8(s))
}

// LoadFunc loads the value of key from the origin behind a Cache. It
// returns ErrNotFound, possibly wrapped, when key has no value. It may be
// called from a goroutine of the Cache, with a context that carries the
// values of the Get that started the load but ends only on
// CacheOptions.LoadTimeout or Close.
type LoadFunc[V any] func(ctx context.Context, key string) (V, error)

// CacheOptions configures a Cache. The zero value is ready to use; every
// zero field means its documented default.
type CacheOptions[V any] struct {
	// Clock decides when entries go stale and expire. Nil means
	// clock.Real.
	Clock clock.Clock
	// Logger receives failures of background refreshes. Nil means
	// slog.Default().
	Logger *slog.Logger
	// MeterProvider receives the cache's metrics. Nil means the global
	// provider of go.opentelemetry.io/otel.
	MeterProvider metric.MeterProvider
	// Name is the value of the "cache" attribute of the cache's metrics.
	Name string

	// MaxBytes bounds the estimated memory of the cached entries; past it
	// the entries least likely to be read again are evicted. The default
	// is DefaultMaxBytes (64 MiB).
	MaxBytes int64
	// SizeOf returns the size in bytes of a value. Nil means len for
	// []byte and string values and 64 for any other type. Each entry
	// also counts its key and a fixed overhead.
	SizeOf func(key string, value V) int

	// TTL is how long a loaded or written value is served as fresh. The
	// default is DefaultTTL (one minute).
	TTL time.Duration
	// TTLFunc, when set, returns the TTL of each value instead of TTL. A
	// result of zero or less means the value is not cached.
	TTLFunc func(key string, value V) time.Duration
	// NotFoundTTL is how long a "not found" is cached. Zero means TTL; a
	// negative value turns negative caching off.
	NotFoundTTL time.Duration
	// StaleWhileRevalidate is how long past its TTL a value is still
	// served, with status Stale, while one background load refreshes it.
	// Zero turns it off.
	StaleWhileRevalidate time.Duration
	// StaleIfError is how long past its TTL a value is still served, with
	// status Stale, when loading a new one fails. Zero turns it off.
	StaleIfError time.Duration
	// LoadTimeout bounds each call of the loader. The default is
	// DefaultLoadTimeout (30 seconds); a negative value means no bound.
	LoadTimeout time.Duration
	// ClockResolution is how often hits on the real clock see the time
	// move. Hits read a clock that a goroutine, shared by the caches of
	// one resolution, updates once per resolution, because reading the
	// time is the largest cost of a hit. An entry may be served as fresh
	// up to about one resolution past its TTL, longer when that goroutine
	// is starved of CPU. Values are still never served past their key's
	// expiration in a Namespace. The default is DefaultClockResolution
	// (one millisecond), the maximum is a second, and a negative value
	// makes every hit read the time. It has no effect on another Clock.
	ClockResolution time.Duration
}

// Cache is a read-through cache in front of a Namespace or a LoadFunc,
// bounded in bytes, built on otter. It is safe for concurrent use.
//
// See the package documentation for its consistency guarantees.
type Cache[V any] struct {
	otter *otter.Cache[string, *entry[V]]
	load  func(ctx context.Context, key string) (V, int64, error)
	// precise is the cache's clock in Unix nanoseconds. Hits read
	// hitClock, which on the real clock is coarse unless
	// CacheOptions.ClockResolution is negative; coarseHits reports which.
	precise    otter.Clock
	hitClock   otter.Clock
	coarse     *otter.CoarseClock // otter's clock; nil on a custom clock
	coarseHits bool
	logger     *slog.Logger

	// ns and codec are set for a cache made with NewNamespaceCache, which
	// writes through to ns.
	ns    *Namespace
	codec Codec[V]

	sizeOf       func(key string, value V) int
	ttl          time.Duration
	ttlFunc      func(key string, value V) time.Duration
	notFoundTTL  time.Duration
	swr          time.Duration
	staleIfError time.Duration
	loadTimeout  time.Duration

	seed   maphash.Seed
	shards [numShards]shard[V]

	stats   counters
	metrics metric.Registration

	// closeMu orders Close against the start of loads, so that no load
	// starts after Close has waited for the running ones.
	closeMu sync.RWMutex
	closed  atomic.Bool
	loads   sync.WaitGroup // running loads
	base    context.Context
	cancel  context.CancelFunc // ends base, and with it every load
}

// numShards is the number of locks that guard in-flight loads.
const numShards = 64

// shard guards the loads in flight for the keys that hash to it. Every
// change of the cached entry of a key other than a plain hit happens under
// the key's shard lock, so a load that finishes can tell whether an
// invalidation or a write came after it started.
type shard[V any] struct {
	mu      sync.Mutex
	flights map[string]*flight[V] // guarded by mu
	_       [48]byte              // pads the shard to a 64-byte cache line
}

// flight is one running load of a key, shared by every Get that waits for
// it. Its fields other than done are written before done is closed.
type flight[V any] struct {
	done  chan struct{}
	value V
	err   error
}

// entry is a cached value or a cached "not found". Times are in Unix
// nanoseconds of the cache's clock. An entry is not changed once stored.
// Otter keeps it by pointer because otter reads a pointer value with one
// atomic load, and a larger value at a higher cost.
type entry[V any] struct {
	value V
	// fresh is the end of the entry's hits. Until stale, it is served
	// while a refresh runs, and until staleIfError, when a load fails.
	// The entry leaves otter at the latest of the three.
	fresh, stale, staleIfError int64
	weight                     uint32
	found                      bool
	// exact reports whether hits must check the entry on the precise
	// clock, because its deadlines end at its key's expiration.
	exact bool
}

func (e *entry[V]) expires() int64 { return max(e.fresh, e.stale, e.staleIfError) }

// NewCache returns a read-through cache that loads missing keys with load.
// It has no namespace to write to: after changing the origin, call Set or
// Invalidate.
func NewCache[V any](load LoadFunc[V], opts *CacheOptions[V]) (*Cache[V], error) {
	if load == nil {
		return nil, errors.New("kvcache: new cache: nil LoadFunc; pass the function that loads a key")
	}
	return newCache(func(ctx context.Context, key string) (V, int64, error) {
		v, err := load(ctx, key)
		return v, 0, err
	}, opts)
}

// NewNamespaceCache returns a read-through cache in front of ns that
// decodes values with codec. A cached value is never served past the
// expiration of its key. Put and Delete write through to ns.
func NewNamespaceCache[V any](ns *Namespace, codec Codec[V], opts *CacheOptions[V]) (*Cache[V], error) {
	if ns == nil || codec == nil {
		return nil, errors.New("kvcache: new namespace cache: nil Namespace or Codec")
	}
	c, err := newCache(func(ctx context.Context, key string) (V, int64, error) {
		var zero V
		e, ok, err := ns.GetWithMetadata(ctx, key)
		if err != nil {
			return zero, 0, err
		}
		if !ok {
			return zero, 0, ErrNotFound
		}
		v, err := codec.Decode(e.Value)
		if err != nil {
			return zero, 0, fmt.Errorf("kvcache: decode %q: %w", truncateKey(key), err)
		}
		return v, unixNano(e.Expiration), nil
	}, opts)
	if err != nil {
		return nil, err
	}
	c.ns, c.codec = ns, codec
	return c, nil
}

func newCache[V any](load func(context.Context, string) (V, int64, error), opts *CacheOptions[V]) (*Cache[V], error) {
	if opts == nil {
		opts = &CacheOptions[V]{}
	}
	c := &Cache[V]{
		load:         load,
		logger:       opts.Logger,
		sizeOf:       opts.SizeOf,
		ttl:          opts.TTL,
		ttlFunc:      opts.TTLFunc,
		notFoundTTL:  opts.NotFoundTTL,
		swr:          max(opts.StaleWhileRevalidate, 0),
		staleIfError: max(opts.StaleIfError, 0),
		loadTimeout:  opts.LoadTimeout,
		seed:         maphash.MakeSeed(),
	}

	c.precise = newPreciseClock(opts.Clock)
	c.hitClock = c.precise
	var otterClock otter.Clock = c.precise
	if _, real := c.precise.(*monoClock); real {
		// Otter's expiry only frees memory: the cache checks every deadline
		// against its own clocks. So otter may read a clock that lags by up
		// to a second, which costs an atomic load instead of a clock read.
		resolution := time.Second
		switch {
		case opts.ClockResolution == 0:
			resolution, c.coarseHits = DefaultClockResolution, true
		case opts.ClockResolution > 0:
			resolution, c.coarseHits = min(opts.ClockResolution, time.Second), true
		}
		c.coarse = sharedCoarseClock(resolution)
		otterClock = c.coarse
		if c.coarseHits {
			c.hitClock = c.coarse
		}
	}

	if c.logger == nil {
		c.logger = slog.Default()
	}
	if c.sizeOf == nil {
		c.sizeOf = defaultSizeOf[V]
	}
	if c.ttl <= 0 {
		c.ttl = DefaultTTL
	}
	if c.notFoundTTL == 0 {
		c.notFoundTTL = c.ttl
	}
	if c.loadTimeout == 0 {
		c.loadTimeout = DefaultLoadTimeout
	}
	maxBytes := opts.MaxBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	for i := range c.shards {
		c.shards[i].flights = make(map[string]*flight[V])
	}

	var err error
	c.otter, err = otter.New(&otter.Options[string, *entry[V]]{
		MaximumWeight: uint64(maxBytes),
		Weigher:       func(_ string, e *entry[V]) uint32 { return e.weight },
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, *entry[V]]) time.Duration {
			return time.Duration(e.Value.expires() - e.SnapshotAtNano)
		}),
		// The handler only counts, so it may run under otter's bucket lock.
		OnAtomicDeletion: c.onDeletion,
		Clock:            otterClock,
		Logger:           otterLogger{c.logger},
	})
	if err != nil {
		return nil, fmt.Errorf("kvcache: new cache: %w", err)
	}
	c.metrics, err = registerMetrics(opts.MeterProvider, opts.Name, &c.stats)
	if err != nil {
		return nil, err
	}
	c.base, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

// defaultSizeOf is the size of a value when CacheOptions.SizeOf is nil.
func defaultSizeOf[V any](_ string, v V) int {
	switch v := any(v).(type) {
	case []byte:
		return len(v)
	case string:
		return len(v)
	}
	return 64
}

// Get returns the value of key and how it was produced. A fresh cached
// value is a Hit. A value past its TTL but within StaleWhileRevalidate is
// returned as Stale, and one background load of key starts unless one is
// running. Otherwise Get waits for a load, shared with every other Get of
// key meanwhile, and returns a Miss. If that load fails and the old value
// is within StaleIfError, Get returns it as Stale instead of the error.
//
// A key without a value returns ErrNotFound, as a Hit while the "not
// found" is cached and as a Miss when it was loaded. If ctx ends while Get
// waits, Get returns ctx.Err() and the load goes on for the others.
func (c *Cache[V]) Get(ctx context.Context, key string) (V, Status, error) {
	if ent, ok := c.otter.GetIfPresent(key); ok && !c.closed.Load() {
		now := c.hitClock.NowNano()
		if ent.exact {
			now = c.precise.NowNano()
		}
		if now < ent.fresh {
			c.stats.hits.inc()
			return ent.result(Hit)
		}
		if now < ent.stale {
			c.stats.stale.inc()
			c.startLoad(ctx, key, true)
			return ent.result(Stale)
		}
	}
	return c.getSlow(ctx, key)
}

// result returns the entry's value, or ErrNotFound for a cached "not
// found".
func (e *entry[V]) result(s Status) (V, Status, error) {
	if !e.found {
		return e.value, s, ErrNotFound
	}
	return e.value, s, nil
}

// getSlow waits for a load of key, and falls back to the stale value when
// the load fails.
func (c *Cache[V]) getSlow(ctx context.Context, key string) (V, Status, error) {
	var zero V
	if c.closed.Load() {
		return zero, Miss, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return zero, Miss, err
	}

	f, fresh := c.startLoad(ctx, key, false)
	if fresh != nil {
		// A load finished between the lookup in Get and startLoad.
		c.stats.hits.inc()
		return fresh.result(Hit)
	}
	c.stats.misses.Add(1)
	select {
	case <-f.done:
	case <-ctx.Done():
		return zero, Miss, ctx.Err()
	}

	if f.err == nil {
		return f.value, Miss, nil
	}
	if errors.Is(f.err, ErrNotFound) || errors.Is(f.err, ErrClosed) {
		return zero, Miss, f.err
	}
	// Serve the current entry, not the one seen before the load: an
	// invalidation or a write may have replaced it meanwhile.
	if ent, ok := c.otter.GetIfPresent(key); ok {
		if ent.found && c.precise.NowNano() < ent.staleIfError {
			c.stats.stale.inc()
			return ent.value, Stale, nil
		}
	}
	return zero, Miss, f.err
}

// startLoad returns the running load of key, starting one if none runs.
// If instead a fresh entry is cached, which happens when a load finished
// after the caller looked, it returns that entry and no load. A
// background load is one that no caller waits for, whose failure is
// logged.
func (c *Cache[V]) startLoad(ctx context.Context, key string, background bool) (*flight[V], *entry[V]) {
	s := c.shard(key)
	s.mu.Lock()
	if f := s.flights[key]; f != nil {
		s.mu.Unlock()
		return f, nil
	}
	// Loads store their result under the shard lock, so this check finds
	// the result of every load that finished before it.
	if ent, ok := c.otter.GetIfPresent(key); ok && c.precise.NowNano() < ent.fresh {
		s.mu.Unlock()
		return nil, ent
	}
	f := &flight[V]{done: make(chan struct{})}
	c.closeMu.RLock()
	if c.closed.Load() {
		c.closeMu.RUnlock()
		s.mu.Unlock()
		f.err = ErrClosed
		close(f.done)
		return f, nil
	}
	c.loads.Add(1)
	c.closeMu.RUnlock()
	s.flights[key] = f
	s.mu.Unlock()
	go c.runLoad(context.WithoutCancel(ctx), key, f, background)
	return f, nil
}

// runLoad calls the loader for f and stores its result, unless an
// invalidation or a write of key came after f started.
func (c *Cache[V]) runLoad(ctx context.Context, key string, f *flight[V], background bool) {
	defer c.loads.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(c.base, cancel)
	defer stop()
	if c.loadTimeout > 0 {
		// NOTE: the timeout runs on real time, not on the cache's clock: it
		// bounds I/O, which a fake clock does not slow down.
		var cancelTimeout context.CancelFunc
		ctx, cancelTimeout = context.WithTimeout(ctx, c.loadTimeout)
		defer cancelTimeout()
	}

	c.stats.loads.Add(1)
	v, exp, err := c.callLoader(ctx, key)
	if err != nil && !errors.Is(err, ErrNotFound) {
		c.stats.loadErrors.Add(1)
		err = fmt.Errorf("kvcache: load %q: %w", truncateKey(key), err)
		if background {
			// NOTE: a failing origin logs one line per refresh, at most one
			// per key at a time; callers of Get see the stale value.
			c.logger.Warn("kvcache: background refresh failed; serving the stale value",
				"key", truncateKey(key), "error", err)
		}
	}

	s := c.shard(key)
	s.mu.Lock()
	if s.flights[key] == f {
		delete(s.flights, key)
		switch {
		case err == nil:
			c.storeLocked(key, v, true, exp)
		case errors.Is(err, ErrNotFound):
			var zero V
			c.storeLocked(key, zero, false, 0)
		}
	}
	s.mu.Unlock()
	f.value, f.err = v, err
	if errors.Is(err, ErrNotFound) {
		f.err = ErrNotFound
	}
	close(f.done)
}

// callLoader calls the loader and turns a panic into an error.
func (c *Cache[V]) callLoader(ctx context.Context, key string) (v V, exp int64, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("loader panicked: %v", r)
		}
	}()
	return c.load(ctx, key)
}

// storeLocked caches v (or a "not found" when found is false) as fresh
// from now, never past expiration (Unix nanoseconds, zero for none). A
// TTL of zero or less removes the key instead. The caller holds the
// key's shard lock.
func (c *Cache[V]) storeLocked(key string, v V, found bool, expiration int64) {
	now := c.precise.NowNano()
	var e *entry[V]
	if found {
		ttl := c.ttl
		if c.ttlFunc != nil {
			ttl = c.ttlFunc(key, v)
		}
		e = &entry[V]{value: v, found: true,
			fresh:        addNanos(now, ttl),
			stale:        addNanos(now, ttl+c.swr),
			staleIfError: addNanos(now, ttl+c.staleIfError),
		}
		if ttl <= 0 {
			e = nil
		}
	} else if c.notFoundTTL > 0 {
		t := addNanos(now, c.notFoundTTL)
		e = &entry[V]{found: false, fresh: t, stale: t, staleIfError: t}
	}
	if e != nil && expiration != 0 {
		// Hits on a coarse clock read the precise one for this entry, so
		// it is never served past the expiration of its key.
		e.exact = c.coarseHits
		e.fresh = min(e.fresh, expiration)
		e.stale = min(e.stale, expiration)
		e.staleIfError = min(e.staleIfError, expiration)
	}
	if e == nil || e.expires() <= now {
		c.otter.Invalidate(key)
		return
	}
	size := int64(len(key)) + entryOverhead
	if found {
		size += int64(c.sizeOf(key, v))
	}
	e.weight = uint32(min(size, math.MaxUint32))
	c.otter.Set(key, e)
}

// detachLocked makes the running load of key, if any, finish without
// storing its result, and lets the next Get start a new one. The caller
// holds the key's shard lock.
func (s *shard[V]) detachLocked(key string) {
	delete(s.flights, key)
}

// Set caches value under key as fresh from now, without writing to the
// origin. A load of key that is running does not overwrite it.
func (c *Cache[V]) Set(key string, value V) {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.detachLocked(key)
	c.storeLocked(key, value, true, 0)
}

// Invalidate removes key from the cache, so the next Get loads it. A load
// of key that is running finishes for the Gets waiting on it but does not
// put its value back.
func (c *Cache[V]) Invalidate(key string) {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.detachLocked(key)
	c.otter.Invalidate(key)
}

// InvalidateAll removes every key from the cache.
func (c *Cache[V]) InvalidateAll() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		clear(s.flights)
	}
	c.otter.InvalidateAll()
	for i := range c.shards {
		c.shards[i].mu.Unlock()
	}
}

// Put writes value under key to the cache's namespace, with opts, and
// caches it, so the next Get through this cache returns it at once. It
// returns once the write is durable, and ErrReadOnly for a cache made with
// NewCache.
func (c *Cache[V]) Put(ctx context.Context, key string, value V, opts PutOptions) error {
	if c.ns == nil {
		return ErrReadOnly
	}
	if c.closed.Load() {
		return ErrClosed
	}
	if err := c.ns.check(ctx); err != nil {
		return err
	}
	raw, err := c.codec.Encode(value)
	if err != nil {
		return fmt.Errorf("kvcache: encode %q: %w", truncateKey(key), err)
	}
	r, err := c.ns.prepare(key, raw, opts)
	if err != nil {
		return err
	}

	// The shard lock is held across the commit, so the cache takes
	// concurrent writes of one key in the order the namespace commits them.
	s := c.shard(key)
	s.mu.Lock()
	h, err := c.ns.commitPut(key, r)
	if err == nil {
		s.detachLocked(key)
		c.storeLocked(key, value, true, r.expiration)
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return c.ns.wait(ctx, key, h)
}

// Delete deletes key from the cache's namespace and caches its absence,
// so the next Get through this cache returns ErrNotFound at once. It
// returns once the deletion is durable, and ErrReadOnly for a cache made
// with NewCache.
func (c *Cache[V]) Delete(ctx context.Context, key string) error {
	if c.ns == nil {
		return ErrReadOnly
	}
	if c.closed.Load() {
		return ErrClosed
	}
	if err := c.ns.check(ctx); err != nil {
		return err
	}
	if err := c.ns.checkKey(key); err != nil {
		return err
	}
	s := c.shard(key)
	s.mu.Lock()
	h, err := c.ns.commitDelete(key)
	if err == nil {
		s.detachLocked(key)
		var zero V
		c.storeLocked(key, zero, false, 0)
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return c.ns.wait(ctx, key, h)
}

// Len returns the number of cached entries, "not found" entries included.
func (c *Cache[V]) Len() int { return c.otter.EstimatedSize() }

// Bytes returns the estimated memory of the cached entries.
func (c *Cache[V]) Bytes() int64 { return int64(c.otter.WeightedSize()) }

// Close cancels the running loads, waits for them to return and stops the
// cache's metrics. Later Gets return ErrClosed. Close does not close the
// namespace.
func (c *Cache[V]) Close() error {
	c.closeMu.Lock()
	c.closed.Store(true)
	c.closeMu.Unlock()
	c.cancel()
	c.loads.Wait()
	c.otter.StopAllGoroutines()
	if c.metrics != nil {
		return c.metrics.Unregister()
	}
	return nil
}

func (c *Cache[V]) shard(key string) *shard[V] {
	return &c.shards[maphash.String(c.seed, key)%numShards]
}

func (c *Cache[V]) onDeletion(e otter.DeletionEvent[string, *entry[V]]) {
	if e.WasEvicted() {
		c.stats.evictions.Add(1)
	}
}

// addNanos returns now+d, saturating instead of overflowing.
func addNanos(now int64, d time.Duration) int64 {
	if d > 0 && now > math.MaxInt64-int64(d) {
		return math.MaxInt64
	}
	return now + int64(d)
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// newPreciseClock adapts c to the clock interface of otter, in Unix
// nanoseconds. For the real clock it reads the monotonic clock from a
// fixed start, which costs less than time.Now and agrees with otter's
// CoarseClock.
func newPreciseClock(c clock.Clock) otter.Clock {
	if c == nil || c == clock.Real {
		now := time.Now()
		return &monoClock{start: now, startNanos: now.UnixNano()}
	}
	return fakeableClock{c}
}

// monoClock returns the Unix time of its start plus the monotonic time
// elapsed since, so wall clock steps do not move it.
type monoClock struct {
	start      time.Time
	startNanos int64
}

func (m *monoClock) NowNano() int64 { return m.startNanos + int64(time.Since(m.start)) }

// Tick returns nil: the cache does without otter's periodic clean-up and
// removes expired entries during its regular maintenance.
func (m *monoClock) Tick(time.Duration) <-chan time.Time { return nil }

// coarseClocks holds one coarse clock per resolution for all caches. It
// holds them weakly: a clock's goroutine stops once no cache uses it.
var coarseClocks struct {
	mu     sync.Mutex
	clocks map[time.Duration]weak.Pointer[otter.CoarseClock] // guarded by mu
}

// sharedCoarseClock returns the coarse clock of resolution, starting one
// if no cache uses it.
func sharedCoarseClock(resolution time.Duration) *otter.CoarseClock {
	coarseClocks.mu.Lock()
	defer coarseClocks.mu.Unlock()
	if c := coarseClocks.clocks[resolution].Value(); c != nil {
		return c
	}
	if coarseClocks.clocks == nil {
		coarseClocks.clocks = make(map[time.Duration]weak.Pointer[otter.CoarseClock])
	}
	c := otter.NewCoarseClock(resolution)
	coarseClocks.clocks[resolution] = weak.Make(c)
	return c
}

// fakeableClock reads any clock.Clock, such as clock.Fake in tests.
type fakeableClock struct{ c clock.Clock }

func (f fakeableClock) NowNano() int64 { return f.c.Now().UnixNano() }

// Tick returns nil, as monoClock.Tick does.
func (f fakeableClock) Tick(time.Duration) <-chan time.Time { return nil }

// otterLogger routes otter's log lines to the cache's logger.
type otterLogger struct{ l *slog.Logger }

func (o otterLogger) Warn(ctx context.Context, msg string, err error) {
	o.l.WarnContext(ctx, "kvcache: otter: "+msg, "error", err)
}

func (o otterLogger) Error(ctx context.Context, msg string, err error) {
	o.l.ErrorContext(ctx, "kvcache: otter: "+msg, "error", err)
}
