package kvcache

import (
	"context"
	"testing"
	"time"

	"github.com/durable-go/durable/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newNamespaceCache(t testing.TB, ns *Namespace, clk clock.Clock, opts *CacheOptions[string]) *Cache[string] {
	t.Helper()
	if opts == nil {
		opts = &CacheOptions[string]{}
	}
	opts.Clock = clk
	c, err := NewNamespaceCache[string](ns, String{}, opts)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestNamespaceCacheWriteThrough(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(t0)
	db, _ := openDB(t)
	ns := openNamespace(t, db, clk, nil)
	a := newNamespaceCache(t, ns, clk, &CacheOptions[string]{TTL: 30 * time.Second})
	b := newNamespaceCache(t, ns, clk, &CacheOptions[string]{TTL: 30 * time.Second})

	require.NoError(t, a.Put(ctx, "k", "v1", PutOptions{}))
	assert.Equal(t, getResult{"v1", Hit, nil}, get(a, "k"), "a write is read back at once through its cache")
	assert.Equal(t, getResult{"v1", Miss, nil}, get(b, "k"))

	clk.Advance(10 * time.Second)
	require.NoError(t, a.Put(ctx, "k", "v2", PutOptions{}))
	assert.Equal(t, getResult{"v2", Hit, nil}, get(a, "k"))
	v, ok, err := ns.Get(ctx, "k")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "v2", string(v), "the write reached the namespace")

	// The other cache serves what it cached until its TTL runs out.
	clk.Set(t0.Add(30*time.Second - time.Nanosecond))
	assert.Equal(t, getResult{"v1", Hit, nil}, get(b, "k"))
	clk.Set(t0.Add(30 * time.Second))
	assert.Equal(t, getResult{"v2", Miss, nil}, get(b, "k"))

	require.NoError(t, a.Delete(ctx, "k"))
	assert.Equal(t, getResult{"", Hit, ErrNotFound}, get(a, "k"), "a delete is read back at once")
	_, ok, err = ns.Get(ctx, "k")
	require.NoError(t, err)
	assert.False(t, ok)
}

func TestNamespaceCacheHonoursKeyExpiration(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(t0)
	db, _ := openDB(t)
	ns := openNamespace(t, db, clk, nil)
	c := newNamespaceCache(t, ns, clk, &CacheOptions[string]{
		TTL: time.Hour, StaleWhileRevalidate: time.Hour, StaleIfError: time.Hour,
	})

	require.NoError(t, ns.Put(ctx, "loaded", []byte("v"), PutOptions{TTL: 5 * time.Second}))
	require.NoError(t, c.Put(ctx, "written", "v", PutOptions{TTL: 5 * time.Second}))
	assert.Equal(t, getResult{"v", Miss, nil}, get(c, "loaded"))
	assert.Equal(t, getResult{"v", Hit, nil}, get(c, "written"))

	clk.Set(t0.Add(5*time.Second - time.Nanosecond))
	assert.Equal(t, getResult{"v", Hit, nil}, get(c, "loaded"))
	assert.Equal(t, getResult{"v", Hit, nil}, get(c, "written"))
	clk.Set(t0.Add(5 * time.Second))
	assert.Equal(t, getResult{"", Miss, ErrNotFound}, get(c, "loaded"), "never served past the key's expiration")
	assert.Equal(t, getResult{"", Miss, ErrNotFound}, get(c, "written"))
}

func TestNamespaceCacheRejectsOverLimit(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(t0)
	db, _ := openDB(t)
	ns := openNamespace(t, db, clk, &Options{SweepInterval: -1, Limits: Limits{MaxValueSize: 3}})
	c := newNamespaceCache(t, ns, clk, nil)

	require.NoError(t, c.Put(ctx, "k", "abc", PutOptions{}))
	var le *LimitError
	require.ErrorAs(t, c.Put(ctx, "k", "abcd", PutOptions{}), &le)
	assert.Equal(t, "value size", le.Limit)
	assert.Equal(t, getResult{"abc", Hit, nil}, get(c, "k"), "the cache kept the old value")
	v, _, err := ns.Get(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, "abc", string(v))
}

func TestNamespaceCacheJSON(t *testing.T) {
	type flags struct {
		Beta bool `json:"beta"`
	}
	ctx := context.Background()
	clk := clock.NewFake(t0)
	db, _ := openDB(t)
	ns := openNamespace(t, db, clk, nil)
	c, err := NewNamespaceCache(ns, JSON[flags]{}, &CacheOptions[flags]{Clock: clk})
	require.NoError(t, err)
	defer c.Close()

	require.NoError(t, ns.Put(ctx, "flags", []byte(`{"beta":true}`), PutOptions{}))
	f, status, err := c.Get(ctx, "flags")
	require.NoError(t, err)
	assert.Equal(t, Miss, status)
	assert.Equal(t, flags{Beta: true}, f)

	require.NoError(t, ns.Put(ctx, "broken", []byte(`{`), PutOptions{}))
	_, _, err = c.Get(ctx, "broken")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `decode "broken"`)
}

func TestNamespaceCacheWriteWinsOverSlowLoad(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(t0)
	db, _ := openDB(t)
	ns := openNamespace(t, db, clk, nil)
	require.NoError(t, ns.Put(ctx, "k", []byte("old"), PutOptions{}))

	// A codec that holds the decode of the old value until released, so
	// the load of "old" finishes after the write of "new".
	gate := make(chan struct{})
	started := make(chan struct{}, 1)
	codec := gatedCodec{gate: gate, started: started}
	c, err := NewNamespaceCache[string](ns, codec, &CacheOptions[string]{Clock: clk})
	require.NoError(t, err)
	defer c.Close()

	first := make(chan getResult, 1)
	go func() { first <- get(c, "k") }()
	<-started
	require.NoError(t, c.Put(ctx, "k", "new", PutOptions{}))
	close(gate)
	assert.Equal(t, "old", (<-first).value)
	c.loads.Wait()
	assert.Equal(t, getResult{"new", Hit, nil}, get(c, "k"))
}

type gatedCodec struct {
	gate    chan struct{}
	started chan struct{}
}

func (gatedCodec) Encode(v string) ([]byte, error) { return []byte(v), nil }

func (g gatedCodec) Decode(b []byte) (string, error) {
	if string(b) == "old" {
		g.started <- struct{}{}
		<-g.gate
	}
	return string(b), nil
}

func TestNamespaceCacheCoarseClockHonoursKeyExpiration(t *testing.T) {
	// The real clock is the point here: hits read a clock updated once a
	// second, and the key's expiration must still be exact.
	ctx := context.Background()
	db, _ := openDB(t)
	ns := openNamespace(t, db, clock.Real, nil)
	c := newNamespaceCache(t, ns, nil, &CacheOptions[string]{TTL: time.Hour, ClockResolution: time.Second})
	require.True(t, c.coarseHits)
	precise := newNamespaceCache(t, ns, nil, &CacheOptions[string]{ClockResolution: -1})
	assert.False(t, precise.coarseHits)
	byDefault := newNamespaceCache(t, ns, nil, nil)
	assert.True(t, byDefault.coarseHits)
	assert.Same(t, byDefault.coarse, sharedCoarseClock(DefaultClockResolution), "caches share a clock")

	require.NoError(t, ns.Put(ctx, "k", []byte("v"), PutOptions{TTL: 50 * time.Millisecond}))
	require.NoError(t, ns.Put(ctx, "forever", []byte("v"), PutOptions{}))
	assert.Equal(t, getResult{"v", Miss, nil}, get(c, "k"))
	assert.Equal(t, getResult{"v", Miss, nil}, get(c, "forever"))
	require.Eventually(t, func() bool {
		_, ok, err := ns.Get(ctx, "k")
		return err == nil && !ok
	}, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, getResult{"", Miss, ErrNotFound}, get(c, "k"))
	assert.Equal(t, getResult{"v", Hit, nil}, get(c, "forever"))
}
