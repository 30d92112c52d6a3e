package kvcache

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/durable-go/durable/clock"
	"github.com/durable-go/durable/storage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func openDB(t testing.TB) (*storage.DB, string) {
	t.Helper()
	dir := t.TempDir()
	db, err := storage.Open(dir, nil)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db, dir
}

// openNamespace opens a namespace on clk with the background sweep off,
// unless opts sets its own options.
func openNamespace(t testing.TB, db *storage.DB, clk clock.Clock, opts *Options) *Namespace {
	t.Helper()
	if opts == nil {
		opts = &Options{SweepInterval: -1}
	}
	opts.Clock = clk
	ns, err := Open(db, "TEST", opts)
	require.NoError(t, err)
	t.Cleanup(func() { ns.Close() })
	return ns
}

// rawKeys returns every key stored in the namespace's key space, data
// and expiry index alike.
func rawKeys(t testing.TB, ns *Namespace) []string {
	t.Helper()
	var keys []string
	require.NoError(t, ns.ks.Scan(nil, nil, func(k, _ []byte) bool {
		keys = append(keys, string(k))
		return true
	}))
	return keys
}

func TestNamespacePutGetDelete(t *testing.T) {
	ctx := context.Background()
	db, _ := openDB(t)
	ns := openNamespace(t, db, clock.NewFake(t0), nil)

	v, ok, err := ns.Get(ctx, "missing")
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Nil(t, v)

	require.NoError(t, ns.Put(ctx, "k", []byte("one"), PutOptions{}))
	require.NoError(t, ns.Put(ctx, "k", []byte("two"), PutOptions{}))
	v, ok, err = ns.Get(ctx, "k")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "two", string(v))

	require.NoError(t, ns.Delete(ctx, "k"))
	_, ok, err = ns.Get(ctx, "k")
	require.NoError(t, err)
	assert.False(t, ok)
	assert.NoError(t, ns.Delete(ctx, "k"), "deleting a missing key succeeds")
	assert.Empty(t, rawKeys(t, ns))
}

func TestNamespaceEmptyValue(t *testing.T) {
	ctx := context.Background()
	db, _ := openDB(t)
	ns := openNamespace(t, db, clock.NewFake(t0), nil)

	require.NoError(t, ns.Put(ctx, "empty", nil, PutOptions{}))
	v, ok, err := ns.Get(ctx, "empty")
	require.NoError(t, err)
	assert.True(t, ok, "an empty value is a value")
	assert.NotNil(t, v)
	assert.Empty(t, v)

	e, ok, err := ns.GetWithMetadata(ctx, "empty")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, []byte{}, e.Value)
	assert.Nil(t, e.Metadata)
	assert.True(t, e.Expiration.IsZero())

	got, err := ns.GetMany(ctx, []string{"empty"})
	require.NoError(t, err)
	assert.Equal(t, []byte{}, got["empty"].Value)

	l, err := ns.List(ctx, ListOptions{})
	require.NoError(t, err)
	require.Len(t, l.Keys, 1)
	assert.Equal(t, "empty", l.Keys[0].Name)
}

func TestNamespaceTTLBoundary(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(t0)
	db, _ := openDB(t)
	ns := openNamespace(t, db, clk, nil)

	require.NoError(t, ns.Put(ctx, "ttl", []byte("v"), PutOptions{TTL: 10 * time.Second}))
	require.NoError(t, ns.Put(ctx, "abs", []byte("v"), PutOptions{Expiration: t0.Add(20 * time.Second)}))

	e, ok, err := ns.GetWithMetadata(ctx, "ttl")
	require.NoError(t, err)
	require.True(t, ok)
	assert.True(t, e.Expiration.Equal(t0.Add(10*time.Second)), "expiration %v", e.Expiration)

	clk.Set(t0.Add(10*time.Second - time.Nanosecond))
	_, ok, err = ns.Get(ctx, "ttl")
	require.NoError(t, err)
	assert.True(t, ok, "readable just before t+d")

	clk.Set(t0.Add(10 * time.Second))
	_, ok, err = ns.Get(ctx, "ttl")
	require.NoError(t, err)
	assert.False(t, ok, "not readable at exactly t+d")

	clk.Set(t0.Add(20*time.Second - time.Nanosecond))
	_, ok, err = ns.Get(ctx, "abs")
	require.NoError(t, err)
	assert.True(t, ok)
	clk.Set(t0.Add(20 * time.Second))
	_, ok, err = ns.Get(ctx, "abs")
	require.NoError(t, err)
	assert.False(t, ok)
}

func TestNamespaceExpiredBeforeSweep(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(t0)
	db, _ := openDB(t)
	ns := openNamespace(t, db, clk, nil)

	require.NoError(t, ns.Put(ctx, "a", []byte("1"), PutOptions{TTL: time.Second}))
	require.NoError(t, ns.Put(ctx, "b", []byte("2"), PutOptions{}))
	clk.Advance(time.Hour)

	// The record is still on disk: no sweep has run.
	assert.Contains(t, rawKeys(t, ns), "da")

	_, ok, err := ns.Get(ctx, "a")
	require.NoError(t, err)
	assert.False(t, ok)
	_, ok, err = ns.GetWithMetadata(ctx, "a")
	require.NoError(t, err)
	assert.False(t, ok)
	many, err := ns.GetMany(ctx, []string{"a", "b"})
	require.NoError(t, err)
	assert.Len(t, many, 1)
	assert.Contains(t, many, "b")
	l, err := ns.List(ctx, ListOptions{})
	require.NoError(t, err)
	require.Len(t, l.Keys, 1)
	assert.Equal(t, "b", l.Keys[0].Name)
	assert.True(t, l.ListComplete)

	n, err := ns.Sweep(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, []string{"db"}, rawKeys(t, ns), "the sweep removed the record and its index entry")
}

func TestNamespaceSweepKeepsRewrittenKey(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(t0)
	db, _ := openDB(t)
	ns := openNamespace(t, db, clk, nil)

	require.NoError(t, ns.Put(ctx, "k", []byte("old"), PutOptions{TTL: time.Second}))
	clk.Advance(2 * time.Second)

	// Take the sweep's view of the due keys, then rewrite the key before
	// the sweep deletes them, as a concurrent Put would.
	due := []expiryRef{{index: expiryKey(t0.Add(time.Second).UnixNano(), "k"), key: "k",
		expiration: t0.Add(time.Second).UnixNano()}}
	require.NoError(t, ns.Put(ctx, "k", []byte("new"), PutOptions{}))
	n, h, err := ns.deleteExpired(due)
	require.NoError(t, err)
	require.NoError(t, h.Wait())
	assert.Equal(t, 0, n)

	v, ok, err := ns.Get(ctx, "k")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "new", string(v))

	// A rewrite with a later expiration survives a sweep at the old one.
	require.NoError(t, ns.Put(ctx, "k", []byte("later"), PutOptions{TTL: time.Minute}))
	n, err = ns.Sweep(ctx)
	require.NoError(t, err)
	assert.Equal(t, 0, n)
	v, ok, err = ns.Get(ctx, "k")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "later", string(v))
	assert.Len(t, rawKeys(t, ns), 2, "one record and one index entry")
}

func TestNamespaceBackgroundSweep(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(t0)
	db, _ := openDB(t)
	ns := openNamespace(t, db, clk, &Options{SweepInterval: time.Minute})

	for i := range 300 {
		key := fmt.Sprintf("k%03d", i)
		require.NoError(t, ns.Put(ctx, key, []byte("v"), PutOptions{TTL: 10 * time.Second}))
	}
	require.NoError(t, ns.Put(ctx, "keep", []byte("v"), PutOptions{}))
	require.True(t, clk.WaitForTimers(1, 5*time.Second), "the sweeper armed its timer")
	clk.Advance(time.Minute)
	// The sweep runs on its own goroutine and rearms its timer when done.
	require.True(t, clk.WaitForTimers(1, 5*time.Second), "the sweeper rearmed its timer")
	assert.Equal(t, []string{"dkeep"}, rawKeys(t, ns))
}

func TestNamespaceMetadata(t *testing.T) {
	ctx := context.Background()
	db, _ := openDB(t)
	ns := openNamespace(t, db, clock.NewFake(t0), nil)

	meta := map[string]any{"owner": "ops", "version": 3}
	require.NoError(t, ns.Put(ctx, "k", []byte("v"), PutOptions{Metadata: meta}))
	e, ok, err := ns.GetWithMetadata(ctx, "k")
	require.NoError(t, err)
	require.True(t, ok)
	assert.JSONEq(t, `{"owner":"ops","version":3}`, string(e.Metadata))
	assert.Equal(t, "v", string(e.Value))

	e, ok, err = ns.GetWithMetadata(ctx, "missing")
	require.NoError(t, err, "metadata of a missing key is not an error")
	assert.False(t, ok)
	assert.Nil(t, e.Metadata)

	// A Put without metadata drops the earlier metadata.
	require.NoError(t, ns.Put(ctx, "k", []byte("v2"), PutOptions{}))
	e, _, err = ns.GetWithMetadata(ctx, "k")
	require.NoError(t, err)
	assert.Nil(t, e.Metadata)

	err = ns.Put(ctx, "bad", []byte("v"), PutOptions{Metadata: func() {}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "encode metadata")
}

func TestNamespaceLimits(t *testing.T) {
	ctx := context.Background()
	db, _ := openDB(t)
	ns := openNamespace(t, db, clock.NewFake(t0), nil)
	require.NoError(t, ns.Put(ctx, "keep", []byte("original"), PutOptions{}))

	// meta returns metadata whose JSON form is n bytes long.
	meta := func(n int) string { return strings.Repeat("m", n-2) }
	cases := []struct {
		name  string
		key   string
		value []byte
		opts  PutOptions
		limit string // empty when the Put must succeed
	}{
		{"key 1 byte", "k", nil, PutOptions{}, ""},
		{"key 512 bytes", strings.Repeat("k", 512), nil, PutOptions{}, ""},
		{"key 513 bytes", strings.Repeat("k", 513), nil, PutOptions{}, "key size"},
		{"key empty", "", nil, PutOptions{}, "key size"},
		{"value 25 MiB", "big", make([]byte, 25<<20), PutOptions{}, ""},
		{"value over 25 MiB", "keep", make([]byte, 25<<20+1), PutOptions{}, "value size"},
		{"metadata 1024 bytes", "m", nil, PutOptions{Metadata: meta(1024)}, ""},
		{"metadata 1025 bytes", "keep", nil, PutOptions{Metadata: meta(1025)}, "metadata size"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := ns.Put(ctx, tc.key, tc.value, tc.opts)
			if tc.limit == "" {
				require.NoError(t, err)
				_, ok, err := ns.Get(ctx, tc.key)
				require.NoError(t, err)
				assert.True(t, ok)
				return
			}
			require.ErrorIs(t, err, ErrLimit)
			var le *LimitError
			require.ErrorAs(t, err, &le)
			assert.Equal(t, tc.limit, le.Limit)
			assert.Contains(t, err.Error(), tc.limit)
			v, ok, err := ns.Get(ctx, "keep")
			require.NoError(t, err)
			assert.True(t, ok)
			assert.Equal(t, "original", string(v), "a rejected Put changes nothing")
		})
	}

	keys := make([]string, 101)
	for i := range keys {
		keys[i] = fmt.Sprint(i)
	}
	_, err := ns.GetMany(ctx, keys[:100])
	require.NoError(t, err)
	_, err = ns.GetMany(ctx, keys)
	var le *LimitError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, "keys per call", le.Limit)
	assert.Equal(t, 101, le.Size)

	_, err = ns.List(ctx, ListOptions{Limit: 1000})
	require.NoError(t, err)
	_, err = ns.List(ctx, ListOptions{Limit: 1001})
	require.ErrorAs(t, err, &le)
	assert.Equal(t, "list limit", le.Limit)
	_, err = ns.List(ctx, ListOptions{Limit: -1})
	require.ErrorIs(t, err, ErrLimit)

	_, _, err = ns.Get(ctx, strings.Repeat("k", 513))
	require.ErrorIs(t, err, ErrLimit)
	require.ErrorIs(t, ns.Delete(ctx, ""), ErrLimit)
}

func TestNamespaceInvalidKeys(t *testing.T) {
	ctx := context.Background()
	db, _ := openDB(t)
	ns := openNamespace(t, db, clock.NewFake(t0), nil)
	for _, key := range []string{".", "..", "a\xffb"} {
		err := ns.Put(ctx, key, []byte("v"), PutOptions{})
		require.ErrorIs(t, err, ErrInvalidKey, "Put %q", key)
		_, _, err = ns.Get(ctx, key)
		require.ErrorIs(t, err, ErrInvalidKey, "Get %q", key)
		require.ErrorIs(t, ns.Delete(ctx, key), ErrInvalidKey, "Delete %q", key)
	}
	list, err := ns.List(ctx, ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, list.Keys, "a rejected key was stored")

	// Keys that only contain dots, or start with them, are fine.
	for _, key := range []string{"...", ".a", "a.", "./x", "café"} {
		require.NoError(t, ns.Put(ctx, key, []byte("v"), PutOptions{}), "Put %q", key)
	}
}

func TestNamespaceConfiguredLimits(t *testing.T) {
	ctx := context.Background()
	db, _ := openDB(t)
	ns := openNamespace(t, db, clock.NewFake(t0), &Options{SweepInterval: -1,
		Limits: Limits{MaxKeySize: 4, MaxValueSize: 8, MaxMetadataSize: 16, MaxGetKeys: 2, MaxListLimit: 3}})

	require.NoError(t, ns.Put(ctx, "abcd", make([]byte, 8), PutOptions{}))
	require.ErrorIs(t, ns.Put(ctx, "abcde", nil, PutOptions{}), ErrLimit)
	require.ErrorIs(t, ns.Put(ctx, "a", make([]byte, 9), PutOptions{}), ErrLimit)
	require.NoError(t, ns.Put(ctx, "a", nil, PutOptions{Metadata: strings.Repeat("x", 14)}))
	require.ErrorIs(t, ns.Put(ctx, "a", nil, PutOptions{Metadata: strings.Repeat("x", 15)}), ErrLimit)
	_, err := ns.GetMany(ctx, []string{"a", "b", "c"})
	require.ErrorIs(t, err, ErrLimit)
	l, err := ns.List(ctx, ListOptions{})
	require.NoError(t, err)
	assert.Len(t, l.Keys, 2, "the default page size is the configured maximum")
	_, err = ns.List(ctx, ListOptions{Limit: 4})
	require.ErrorIs(t, err, ErrLimit)
}

func TestNamespaceInvalidExpiration(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(t0)
	db, _ := openDB(t)
	ns := openNamespace(t, db, clk, &Options{SweepInterval: -1, Limits: Limits{MinTTL: time.Minute}})

	cases := []struct {
		name string
		opts PutOptions
	}{
		{"both set", PutOptions{TTL: time.Hour, Expiration: t0.Add(time.Hour)}},
		{"in the past", PutOptions{Expiration: t0.Add(-time.Second)}},
		{"now", PutOptions{Expiration: t0}},
		{"negative TTL", PutOptions{TTL: -time.Minute}},
		{"below MinTTL", PutOptions{TTL: time.Minute - time.Nanosecond}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := ns.Put(ctx, "k", []byte("v"), tc.opts)
			require.ErrorIs(t, err, ErrInvalidExpiration)
			_, ok, err := ns.Get(ctx, "k")
			require.NoError(t, err)
			assert.False(t, ok)
		})
	}
	require.NoError(t, ns.Put(ctx, "k", []byte("v"), PutOptions{TTL: time.Minute}))
}

func TestNamespaceListPagination(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(t0)
	db, _ := openDB(t)
	ns := openNamespace(t, db, clk, nil)

	var want []string
	for i := range 25 {
		key := fmt.Sprintf("user/%02d", i)
		opts := PutOptions{Metadata: map[string]int{"n": i}}
		if i == 7 {
			opts = PutOptions{TTL: time.Second} // expires before the listing
		} else {
			want = append(want, key)
		}
		require.NoError(t, ns.Put(ctx, key, []byte("v"), opts))
	}
	// Neighbours just outside the prefix on both sides.
	for _, key := range []string{"user", "user.", "user0", "users/1", "a", "z"} {
		require.NoError(t, ns.Put(ctx, key, []byte("v"), PutOptions{}))
	}
	require.NoError(t, ns.Put(ctx, "user/99", []byte("v"), PutOptions{TTL: time.Hour}))
	want = append(want, "user/99")
	clk.Advance(2 * time.Second)

	var got []string
	var pages []int
	cursor := ""
	for {
		l, err := ns.List(ctx, ListOptions{Prefix: "user/", Limit: 10, Cursor: cursor})
		require.NoError(t, err)
		pages = append(pages, len(l.Keys))
		for _, k := range l.Keys {
			got = append(got, k.Name)
			if k.Name == "user/99" {
				assert.True(t, k.Expiration.Equal(t0.Add(time.Hour)))
				assert.Nil(t, k.Metadata)
			} else {
				assert.True(t, k.Expiration.IsZero())
				var m map[string]int
				require.NoError(t, json.Unmarshal(k.Metadata, &m))
				assert.Equal(t, k.Name, fmt.Sprintf("user/%02d", m["n"]))
			}
		}
		if l.ListComplete {
			assert.Empty(t, l.Cursor)
			break
		}
		require.NotEmpty(t, l.Cursor)
		cursor = l.Cursor
	}
	assert.Equal(t, want, got)
	assert.True(t, sort.StringsAreSorted(got))
	assert.Equal(t, []int{10, 10, 5}, pages)

	// A listing that ends exactly at a page boundary is complete on that
	// page.
	l, err := ns.List(ctx, ListOptions{Prefix: "user/", Limit: 25})
	require.NoError(t, err)
	assert.Len(t, l.Keys, 25)
	assert.True(t, l.ListComplete)
}

func TestNamespaceListCursorBoundToPrefix(t *testing.T) {
	ctx := context.Background()
	db, _ := openDB(t)
	ns := openNamespace(t, db, clock.NewFake(t0), nil)
	for _, key := range []string{"a/1", "a/2", "a/3", "b/1", "b/2"} {
		require.NoError(t, ns.Put(ctx, key, []byte("v"), PutOptions{}))
	}

	l, err := ns.List(ctx, ListOptions{Prefix: "a/", Limit: 2})
	require.NoError(t, err)
	require.False(t, l.ListComplete)

	// The same cursor with another prefix, or with none, is rejected.
	for _, prefix := range []string{"b/", "", "a"} {
		_, err = ns.List(ctx, ListOptions{Prefix: prefix, Limit: 2, Cursor: l.Cursor})
		require.ErrorIs(t, err, ErrInvalidCursor, "prefix %q", prefix)
		assert.Contains(t, err.Error(), `prefix "a/"`)
	}

	// Following it with its own prefix stays inside the prefix.
	next, err := ns.List(ctx, ListOptions{Prefix: "a/", Limit: 2, Cursor: l.Cursor})
	require.NoError(t, err)
	require.Len(t, next.Keys, 1)
	assert.Equal(t, "a/3", next.Keys[0].Name)
	assert.True(t, next.ListComplete)

	for _, bad := range []string{"not a cursor", "AAAA", l.Cursor[:len(l.Cursor)-2] + "xx"} {
		_, err = ns.List(ctx, ListOptions{Prefix: "a/", Cursor: bad})
		require.ErrorIs(t, err, ErrInvalidCursor, "cursor %q", bad)
	}
}

func TestNamespaceGetMany(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(t0)
	db, _ := openDB(t)
	ns := openNamespace(t, db, clk, nil)
	require.NoError(t, ns.Put(ctx, "a", []byte("1"), PutOptions{Metadata: "m"}))
	require.NoError(t, ns.Put(ctx, "b", []byte("2"), PutOptions{TTL: time.Second}))
	clk.Advance(time.Second)

	got, err := ns.GetMany(ctx, []string{"a", "b", "c"})
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, "1", string(got["a"].Value))
	assert.JSONEq(t, `"m"`, string(got["a"].Metadata))
}

func TestNamespaceReopen(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(t0)
	dir := t.TempDir()
	db, err := storage.Open(dir, nil)
	require.NoError(t, err)

	ns, err := Open(db, "CONFIG", &Options{Clock: clk})
	require.NoError(t, err)
	require.NoError(t, ns.Put(ctx, "k", []byte("v"), PutOptions{TTL: time.Hour, Metadata: 1}))
	require.NoError(t, ns.Close())
	require.NoError(t, ns.Close(), "Close twice is fine")

	_, _, err = ns.Get(ctx, "k")
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, ns.Put(ctx, "k", nil, PutOptions{}), ErrClosed)
	_, err = ns.List(ctx, ListOptions{})
	require.ErrorIs(t, err, ErrClosed)
	_, err = ns.Sweep(ctx)
	require.ErrorIs(t, err, ErrClosed)

	ns, err = Open(db, "CONFIG", &Options{Clock: clk})
	require.NoError(t, err)
	v, ok, err := ns.Get(ctx, "k")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "v", string(v))
	require.NoError(t, ns.Close())

	// Reopen the database too: value, expiration and metadata persist.
	require.NoError(t, db.Close())
	db, err = storage.Open(dir, nil)
	require.NoError(t, err)
	defer db.Close()
	ns, err = Open(db, "CONFIG", &Options{Clock: clk})
	require.NoError(t, err)
	defer ns.Close()
	e, ok, err := ns.GetWithMetadata(ctx, "k")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "v", string(e.Value))
	assert.JSONEq(t, "1", string(e.Metadata))
	assert.True(t, e.Expiration.Equal(t0.Add(time.Hour)))

	other, err := Open(db, "OTHER", &Options{Clock: clk})
	require.NoError(t, err)
	defer other.Close()
	_, ok, err = other.Get(ctx, "k")
	require.NoError(t, err)
	assert.False(t, ok, "namespaces do not share keys")
}

func TestNamespaceCanceledContext(t *testing.T) {
	db, _ := openDB(t)
	ns := openNamespace(t, db, clock.NewFake(t0), nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := ns.Get(ctx, "k")
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, ns.Put(ctx, "k", nil, PutOptions{}), context.Canceled)
	_, ok, err := ns.Get(context.Background(), "k")
	require.NoError(t, err)
	assert.False(t, ok)
}

func TestNamespaceCorruptRecord(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(t0)
	db, _ := openDB(t)
	ns := openNamespace(t, db, clk, nil)
	b := ns.ks.Batch()
	b.Set(dataKey("bad"), []byte{9})
	h, err := b.Commit()
	require.NoError(t, err)
	require.NoError(t, h.Wait())

	_, _, err = ns.Get(ctx, "bad")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `decode "bad"`)
	_, err = ns.List(ctx, ListOptions{})
	require.Error(t, err)

	require.NoError(t, ns.Put(ctx, "bad", []byte("good"), PutOptions{}), "a corrupt record can be replaced")
	v, ok, err := ns.Get(ctx, "bad")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "good", string(v))
}

func TestNamespaceSweepConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(t0)
	db, _ := openDB(t)
	ns := openNamespace(t, db, clk, nil)

	const writers, rounds = 8, 50
	stop := make(chan struct{})
	sweeperDone := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				sweeperDone <- nil
				return
			default:
			}
			clk.Advance(time.Second)
			if _, err := ns.Sweep(ctx); err != nil {
				sweeperDone <- err
				return
			}
		}
	}()

	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			key := fmt.Sprintf("w%d", w)
			for r := range rounds {
				err := ns.Put(ctx, key, []byte(fmt.Sprint(r)), PutOptions{TTL: time.Duration(1+r%3) * time.Second})
				assert.NoError(t, err)
			}
			assert.NoError(t, ns.Put(ctx, key, []byte("final"), PutOptions{}))
		})
	}
	wg.Wait()
	close(stop)
	require.NoError(t, <-sweeperDone)

	clk.Advance(time.Hour)
	_, err := ns.Sweep(ctx)
	require.NoError(t, err)
	var want []string
	for w := range writers {
		key := fmt.Sprintf("w%d", w)
		v, ok, err := ns.Get(ctx, key)
		require.NoError(t, err)
		assert.True(t, ok, key)
		assert.Equal(t, "final", string(v), key)
		want = append(want, "d"+key)
	}
	assert.Equal(t, want, rawKeys(t, ns), "no index entries are left behind")
}

func TestNamespaceSweeperStopsWithDatabase(t *testing.T) {
	clk := clock.NewFake(t0)
	db, err := storage.Open(t.TempDir(), nil)
	require.NoError(t, err)
	ns, err := Open(db, "TEST", &Options{Clock: clk, SweepInterval: time.Minute})
	require.NoError(t, err)
	require.True(t, clk.WaitForTimers(1, 5*time.Second))
	require.NoError(t, db.Close())
	clk.Advance(time.Minute)
	select {
	case <-ns.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the sweeper did not stop after the database closed")
	}
	require.NoError(t, ns.Close())
	_, _, err = ns.Get(context.Background(), "k")
	require.ErrorIs(t, err, ErrClosed)
}
