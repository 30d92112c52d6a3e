package storage

// Cache keeps the values of one object's keys as of its last commit, so
// that the reads of later transactions of that object skip Pebble. A key
// read from Pebble is kept, absent or not, and every commit made through a
// Txn that uses the Cache updates it.
//
// A Cache is only correct while every write to the object goes through
// Txns that use it, one at a time, as the turns of one activation do. It is
// not safe for concurrent use. The zero value is an empty Cache that keeps
// nothing until MaxBytes is set.
type Cache struct {
	// MaxBytes bounds the keys and values kept, plus a fixed overhead per
	// entry. Past it, entries chosen at random are dropped. Zero or less
	// keeps nothing.
	MaxBytes int

	entries map[string]cacheEntry
	size    int
}

// cacheEntryOverhead approximates the memory of one entry beside its key
// and value: the map slot, the string and slice headers.
const cacheEntryOverhead = 64

type cacheEntry struct {
	value []byte // owned by the Cache
	found bool   // false for a key known to be absent
}

// cost returns the memory an entry holds: its key, the whole array behind
// its value, and the fixed overhead.
func (c *Cache) cost(key string, value []byte) int {
	return len(key) + cap(value) + cacheEntryOverhead
}

// Len returns the number of keys kept.
func (c *Cache) Len() int { return len(c.entries) }

// Clear drops every entry.
func (c *Cache) Clear() {
	clear(c.entries)
	c.size = 0
}

// get returns the kept state of key.
func (c *Cache) get(key string) (cacheEntry, bool) {
	e, ok := c.entries[key]
	return e, ok
}

// put stores value, which the Cache then owns, as the state of key, and
// reports whether it did. A value over a quarter of MaxBytes is not
// stored, and any earlier entry of key is dropped, so the key reads from
// Pebble again.
func (c *Cache) put(key string, value []byte, found bool) bool {
	if old, ok := c.entries[key]; ok {
		c.size -= c.cost(key, old.value)
		delete(c.entries, key)
	}
	n := c.cost(key, value)
	if n > c.MaxBytes/4 {
		return false // one value would push out too many others
	}
	if c.entries == nil {
		c.entries = make(map[string]cacheEntry)
	}
	for k, e := range c.entries {
		if c.size+n <= c.MaxBytes {
			break
		}
		// Go's map iteration starts at a random entry.
		c.size -= c.cost(k, e.value)
		delete(c.entries, k)
	}
	c.entries[key] = cacheEntry{value: value, found: found}
	c.size += n
	return true
}

// apply records the writes of a committed root layer.
func (c *Cache) apply(l *layer) {
	if l.cleared {
		c.Clear()
	}
	for k, w := range l.writes.all() {
		if w.deleted {
			c.put(k, nil, false)
			continue
		}
		// Reuse the kept value's memory when the new value fills most
		// of it. Nothing outside the Cache refers to that memory once the
		// Txn that read it has unlocked: Get hands out copies, and typed
		// reads decode under the lock.
		var v []byte
		if old, ok := c.entries[k]; ok && cap(old.value) >= len(w.value) && cap(old.value) <= 2*len(w.value)+16 {
			v = append(old.value[:0], w.value...)
		} else {
			v = clone(w.value)
		}
		c.put(k, v, true)
	}
}

// clone returns a copy of v that is never nil, even for a nil v, unlike
// bytes.Clone, so that a stored empty value reads back as an empty slice.
func clone(v []byte) []byte {
	out := make([]byte, len(v))
	copy(out, v)
	return out
}
