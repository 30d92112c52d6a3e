package kvcache

import (
	"context"
	"fmt"
	"sync/atomic"
	"unsafe"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// meterName is the instrumentation scope of the package's metrics.
const meterName = "github.com/durable-go/durable/kvcache"

// counters are the running totals of a Cache. Get increments them with
// plain atomic adds, and the metric callback reads them, so a hit costs no
// call into the metrics SDK.
type counters struct {
	hits       stripedCounter
	stale      stripedCounter
	misses     atomic.Uint64
	loads      atomic.Uint64
	loadErrors atomic.Uint64
	evictions  atomic.Uint64
}

// CacheStats are the totals of a Cache since it was made.
type CacheStats struct {
	// Hits counts Gets served from a fresh entry.
	Hits uint64
	// Misses counts Gets that waited for a load.
	Misses uint64
	// StaleServes counts Gets that returned a value past its TTL.
	StaleServes uint64
	// Loads counts calls of the loader, background refreshes included.
	Loads uint64
	// LoadErrors counts loader calls that failed with an error other than
	// ErrNotFound.
	LoadErrors uint64
	// Evictions counts entries removed for space or on expiry.
	Evictions uint64
}

// Stats returns the cache's totals.
func (c *Cache[V]) Stats() CacheStats {
	s := &c.stats
	return CacheStats{
		Hits:        s.hits.load(),
		Misses:      s.misses.Load(),
		StaleServes: s.stale.load(),
		Loads:       s.loads.Load(),
		LoadErrors:  s.loadErrors.Load(),
		Evictions:   s.evictions.Load(),
	}
}

// registerMetrics creates the cache's observable counters, which report s
// with the attribute cache=name.
func registerMetrics(mp metric.MeterProvider, name string, s *counters) (metric.Registration, error) {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	m := mp.Meter(meterName)
	type instrument struct {
		name, desc string
		value      func() uint64
	}
	defs := []instrument{
		{"kvcache.cache.hits", "Gets answered from a fresh cache entry.", s.hits.load},
		{"kvcache.cache.misses", "Gets that waited for a load.", s.misses.Load},
		{"kvcache.cache.stale", "Gets that returned a value past its TTL.", s.stale.load},
		{"kvcache.cache.loads", "Calls of the loader, refreshes included.", s.loads.Load},
		{"kvcache.cache.load_errors", "Loader calls that failed.", s.loadErrors.Load},
		{"kvcache.cache.evictions", "Entries removed for space or on expiry.", s.evictions.Load},
	}
	insts := make([]metric.Int64ObservableCounter, len(defs))
	observables := make([]metric.Observable, len(defs))
	for i, d := range defs {
		inst, err := m.Int64ObservableCounter(d.name, metric.WithDescription(d.desc))
		if err != nil {
			return nil, fmt.Errorf("kvcache: new cache: create metric %s: %w", d.name, err)
		}
		insts[i], observables[i] = inst, inst
	}
	attrs := metric.WithAttributeSet(attribute.NewSet(attribute.String("cache", name)))
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for i, d := range defs {
			o.ObserveInt64(insts[i], int64(d.value()), attrs)
		}
		return nil
	}, observables...)
	if err != nil {
		return nil, fmt.Errorf("kvcache: new cache: register metrics: %w", err)
	}
	return reg, nil
}

// counterStripes is the number of cache lines a stripedCounter spreads
// its adds over.
const counterStripes = 16

// stripedCounter is a counter for the hit path. Each goroutine adds to
// its own cache line most of the time, so parallel hits do not bounce one
// line between cores.
type stripedCounter struct {
	stripes [counterStripes]struct {
		n atomic.Uint64
		// The padding keeps every stripe on its own 64-byte line whatever
		// the array's alignment, and apart from the neighbouring line that
		// x86 processors prefetch in pairs.
		_ [120]byte
	}
}

// inc adds one to the stripe of the calling goroutine. The stripe comes
// from the address of the goroutine's stack, which differs between
// goroutines and stays put while one runs, so two goroutines hitting the
// cache on two cores usually add to different lines. A goroutine whose
// stack grows may move to another stripe, which costs nothing but a miss.
func (c *stripedCounter) inc() {
	var marker byte
	addr := uintptr(unsafe.Pointer(&marker))
	c.stripes[(addr>>13^addr>>17)%counterStripes].n.Add(1)
}

func (c *stripedCounter) load() uint64 {
	var sum uint64
	for i := range c.stripes {
		sum += c.stripes[i].n.Load()
	}
	return sum
}
