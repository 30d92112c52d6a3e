// Package kvcache provides KV namespaces with expirations and metadata,
// kept in durable's Pebble database, and a read-through cache that serves
// them, or any other origin, from memory.
//
// # Namespaces
//
// A [Namespace] maps string keys to byte values, each with an optional
// expiration and JSON metadata, in its own key space of a storage.DB:
//
//	ns, err := kvcache.Open(db, "CONFIG", nil)
//	err = ns.Put(ctx, "flags", []byte(`{"beta":true}`), kvcache.PutOptions{TTL: time.Hour})
//	v, ok, err := ns.Get(ctx, "flags")
//
// A write is durable when Put or Delete returns. Reads see it as soon as it
// is committed, shortly before.
//
// Expiry is exact against the namespace's clock: a key written at t with a
// TTL of d is readable on [t, t+d) and never from t+d on, whether or not
// the background sweep has deleted it from disk yet. The sweep runs every
// Options.SweepInterval without blocking readers, and never deletes a key
// that was written again after it expired.
//
// An empty value is a value: Get returns an empty slice and true. A
// missing key is not an error: Get and GetWithMetadata return false.
// GetMany reads up to 100 keys in one call.
//
// [Namespace.List] returns keys in byte order, a page of at most 1,000 at
// a time, with their expiration and metadata. Follow ListResult.Cursor
// with the same prefix until ListComplete is true. A cursor carries its
// prefix: it never leads outside it, and List rejects a cursor passed with
// another prefix with [ErrInvalidCursor].
//
// Keys are 1 to 512 bytes, values at most 25 MiB and metadata at most
// 1,024 bytes of JSON, as in Cloudflare Workers KV; [Limits] changes them.
// A call over a limit returns a [*LimitError] naming the limit and changes
// nothing.
//
// # Read-through cache
//
// A [Cache] keeps values in memory, bounded in bytes, in front of a
// Namespace ([NewNamespaceCache]) or any [LoadFunc] ([NewCache]).
// [Cache.Get] returns the value with a [Status]: Hit, Miss or Stale, the
// values of an X-Cache header.
//
//   - Each entry is fresh for its TTL ([CacheOptions.TTL] or TTLFunc),
//     never past the expiration of its key in the namespace.
//   - Stale-while-revalidate: within StaleWhileRevalidate past the TTL,
//     Get returns the old value as Stale and starts one background load
//     whose result is stored.
//   - Stale-if-error: within StaleIfError past the TTL, a failed load
//     returns the old value as Stale instead of the error.
//   - One load per key at a time: concurrent Gets of a missing key share
//     one call of the loader.
//   - Negative caching: a "not found" is cached for NotFoundTTL.
//   - A load that started before [Cache.Invalidate], [Cache.Set],
//     [Cache.Put] or [Cache.Delete] of its key never stores its result.
//
// # Consistency
//
// A write through a cache (Put, Delete, Set) is read back at once through
// that same cache. Other caches over the same namespace keep serving what
// they cached until its TTL runs out, plus StaleWhileRevalidate: they see
// the write within that time, or up to StaleIfError past the TTL while
// their loads fail. This is the eventual consistency of Workers KV. Every
// cache treats a write made straight to the Namespace as such a write of
// another cache. Reads straight from the Namespace always see the latest
// committed write.
//
// # Time
//
// Namespaces and caches read the clock of their options, so tests can
// move time with clock.Fake. With the real clock a cache measures its
// deadlines on the monotonic clock from when it stored each entry.
// NOTE: after a step of the system clock, a cached value may therefore
// outlive its key's expiration by the size of the step.
//
// Reading the time is the largest cost of a cache hit, so on the real
// clock hits read a clock that one goroutine updates every millisecond
// ([CacheOptions.ClockResolution]). An entry may be served as fresh about
// a millisecond past its TTL. Entries that end at their key's expiration
// are checked against the precise time.
//
// # Concurrency
//
// Namespace and Cache are safe for concurrent use. The loader of a Cache
// runs on a goroutine of the cache. Its context keeps the values of the
// Get that started it and ends after CacheOptions.LoadTimeout or on
// Close, but not when that Get gives up. A failed background refresh is
// logged at warning level, since no caller receives its error.
//
// # Metrics
//
// A Cache reports the OpenTelemetry counters kvcache.cache.hits, misses,
// stale, loads, load_errors and evictions, with the attribute cache set to
// CacheOptions.Name. A Namespace reports kvcache.namespace.swept.
package kvcache
