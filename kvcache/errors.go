package kvcache

import (
	"errors"
	"fmt"
)

var (
	// ErrClosed is returned by every call on a Namespace after Close and by
	// every call on a Cache after Close.
	ErrClosed = errors.New("kvcache: closed")

	// ErrNotFound is returned by Cache.Get for a key that has no value, and
	// is what a LoadFunc returns (possibly wrapped) to report one. A
	// Namespace reports a missing key with ok false instead.
	ErrNotFound = errors.New("kvcache: key not found")

	// ErrInvalidKey is returned for a key that Workers KV would reject
	// although its size is within the limit: "." and "..", which would
	// name a directory in a URL path, and keys that are not valid UTF-8.
	ErrInvalidKey = errors.New("kvcache: invalid key")

	// ErrLimit matches every *LimitError through errors.Is.
	ErrLimit = errors.New("kvcache: limit exceeded")

	// ErrInvalidExpiration is returned by Put when both an expiration and a
	// TTL are set, when the expiration is not in the future, or when it is
	// sooner than Limits.MinTTL.
	ErrInvalidExpiration = errors.New("kvcache: invalid expiration")

	// ErrInvalidCursor is returned by List for a cursor that it did not
	// produce, or that belongs to a listing with another prefix.
	ErrInvalidCursor = errors.New("kvcache: invalid list cursor")

	// ErrReadOnly is returned by Cache.Put and Cache.Delete on a cache made
	// with NewCache, which has no namespace to write to. Write to the
	// origin yourself and call Cache.Set or Cache.Invalidate.
	ErrReadOnly = errors.New("kvcache: cache has no namespace to write to")
)

// LimitError reports a key, value, metadata or request outside a
// configured limit. The call that returned it changed nothing.
type LimitError struct {
	// Limit names the limit: "key size", "value size", "metadata size",
	// "keys per call" or "list limit".
	Limit string
	// Key is the key involved, truncated to 64 bytes; empty when the limit
	// is not about one key.
	Key string
	// Size is the offending size in bytes, or the offending count.
	Size int
	// Min and Max are the allowed bounds, inclusive.
	Min, Max int
}

// Error returns a message that names the limit, the key and the size.
func (e *LimitError) Error() string {
	if e.Key != "" {
		return fmt.Sprintf("kvcache: %s %d of key %q outside the allowed range [%d, %d]",
			e.Limit, e.Size, e.Key, e.Min, e.Max)
	}
	return fmt.Sprintf("kvcache: %s %d outside the allowed range [%d, %d]",
		e.Limit, e.Size, e.Min, e.Max)
}

// Is reports whether target is ErrLimit.
func (e *LimitError) Is(target error) bool { return target == ErrLimit }

// truncateKey shortens a key for error messages.
func truncateKey(k string) string {
	if len(k) > 64 {
		return k[:64] + "..."
	}
	return k
}
