package storage

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCacheMatchesStore runs random transactions on one object through a
// cached Txn and checks every read against a model of the committed data
// and against an uncached Txn on the same database.
func TestCacheMatchesStore(t *testing.T) {
	db, _ := openTest(t, nil)
	id := ObjectID{7}
	// Small enough that random eviction runs often.
	cache := &Cache{MaxBytes: 8 * (cacheEntryOverhead + 16)}
	model := map[string]string{}
	rng := rand.New(rand.NewPCG(1, 2))
	keys := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"}
	key := func() string { return keys[rng.IntN(len(keys))] }

	check := func(step int, tx *Txn, view map[string]string) {
		t.Helper()
		for _, k := range keys {
			v, ok, err := tx.Get(k)
			require.NoError(t, err)
			want, wantOK := view[k]
			require.Equal(t, wantOK, ok, "step %d key %q", step, k)
			if ok {
				require.Equal(t, want, string(v), "step %d key %q", step, k)
				v[0] = '!' // the caller owns the returned slice
			}
		}
	}

	for step := range 400 {
		tx := db.BeginCached(1, id, cache)
		view := maps.Clone(model)
		check(step, tx, view)
		for range 1 + rng.IntN(4) {
			switch op := rng.IntN(10); {
			case op < 5:
				k, v := key(), fmt.Sprint(step, rng.IntN(1000))
				require.NoError(t, tx.Put(k, []byte(v)))
				view[k] = v
			case op < 8:
				k := key()
				_, err := tx.Delete(k)
				require.NoError(t, err)
				delete(view, k)
			case op < 9:
				// A nested transaction that commits or rolls back.
				inner := maps.Clone(view)
				keep := rng.IntN(2) == 0
				err := tx.Transaction(func(tx *Txn) error {
					k, v := key(), fmt.Sprint("n", step)
					if err := tx.Put(k, []byte(v)); err != nil {
						return err
					}
					inner[k] = v
					if !keep {
						return errors.New("roll back")
					}
					return nil
				})
				if keep {
					require.NoError(t, err)
					view = inner
				}
			default:
				if rng.IntN(8) == 0 {
					require.NoError(t, tx.DeleteAll())
					view = map[string]string{}
				}
			}
		}
		check(step, tx, view)
		if rng.IntN(5) == 0 {
			tx.Discard()
			continue
		}
		commit(t, tx)
		model = view
		require.LessOrEqual(t, cache.size, cache.MaxBytes)

		plain := db.Begin(1, id)
		check(step, plain, model)
		plain.Discard()
	}
	assert.Positive(t, cache.Len(), "the cache kept nothing")
}

// TestCacheServesReads shows that a cached read does not reach Pebble: a
// value changed behind the cache's back is not seen, which is why every
// write must go through Txns that use the cache.
func TestCacheServesReads(t *testing.T) {
	db, _ := openTest(t, nil)
	id := ObjectID{1}
	cache := &Cache{MaxBytes: 1 << 10}
	put(t, db, 1, id, "k", "old")

	tx := db.BeginCached(1, id, cache)
	v, ok, err := tx.Get("k")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "old", string(v))
	tx.Discard()

	put(t, db, 1, id, "k", "new") // not through the cache

	tx = db.BeginCached(1, id, cache)
	v, _, err = tx.Get("k")
	require.NoError(t, err)
	assert.Equal(t, "old", string(v), "the second read reached Pebble")
	tx.Discard()

	cache.Clear()
	tx = db.BeginCached(1, id, cache)
	v, _, err = tx.Get("k")
	require.NoError(t, err)
	assert.Equal(t, "new", string(v))
	tx.Discard()
}

// TestCacheBounds checks that values too large for the cache are not kept,
// that a zero MaxBytes keeps nothing, and that a refused commit changes
// nothing.
func TestCacheBounds(t *testing.T) {
	db, _ := openTest(t, nil)
	id := ObjectID{1}

	cache := &Cache{MaxBytes: 4 * (cacheEntryOverhead + 10)}
	tx := db.BeginCached(1, id, cache)
	require.NoError(t, tx.Put("big", make([]byte, 200)))
	require.NoError(t, tx.Put("small", []byte("v")))
	commit(t, tx)
	_, big := cache.get("big")
	_, small := cache.get("small")
	assert.False(t, big, "a value over a quarter of MaxBytes was kept")
	assert.True(t, small)

	var off Cache
	tx = db.BeginCached(1, id, &off)
	_, _, err := tx.Get("small")
	require.NoError(t, err)
	require.NoError(t, tx.Put("x", []byte("y")))
	commit(t, tx)
	assert.Zero(t, off.Len())

	// A refused commit applies nothing, and the cache keeps the last
	// committed value.
	tx = db.BeginCached(1, id, cache)
	require.NoError(t, tx.Put("small", []byte("w")))
	require.NoError(t, db.Close())
	_, err = tx.Commit()
	require.ErrorIs(t, err, ErrClosed)
	e, ok := cache.get("small")
	require.True(t, ok)
	assert.Equal(t, "v", string(e.value))
}

// TestCacheCountsRetainedMemory overwrites large values with one-byte
// ones: the memory the cache keeps must stay within MaxBytes, whatever
// arrays it reuses.
func TestCacheCountsRetainedMemory(t *testing.T) {
	db, _ := openTest(t, nil)
	id := ObjectID{9}
	cache := &Cache{MaxBytes: 64 << 10}
	big := bytes.Repeat([]byte("x"), cache.MaxBytes/4-cacheEntryOverhead-16)
	const keys = 200
	for i := range keys {
		k := fmt.Sprintf("k%04d", i)
		tx := db.BeginCached(1, id, cache)
		require.NoError(t, tx.Put(k, big))
		commit(t, tx)
		tx = db.BeginCached(1, id, cache)
		require.NoError(t, tx.Put(k, []byte("1")))
		commit(t, tx)
	}

	retained := 0
	for k, e := range cache.entries {
		retained += len(k) + cap(e.value) + cacheEntryOverhead
	}
	assert.Equal(t, keys, cache.Len(), "every small value fits")
	assert.LessOrEqual(t, retained, cache.MaxBytes)
	assert.Equal(t, cache.size, retained, "the cache's own count")
}

// TestCacheKeepsAbsentKeys checks that a key found missing is kept as
// missing, so that reading it again skips Pebble.
func TestCacheKeepsAbsentKeys(t *testing.T) {
	db, _ := openTest(t, nil)
	id := ObjectID{3}
	cache := &Cache{MaxBytes: 1 << 10}
	tx := db.BeginCached(1, id, cache)
	_, ok, err := tx.Get("missing")
	require.NoError(t, err)
	require.False(t, ok)
	tx.Discard()
	e, cached := cache.get("missing")
	require.True(t, cached)
	assert.False(t, e.found)
}
