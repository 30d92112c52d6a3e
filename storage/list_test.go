package storage

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestListBounds lists a fixed set of durable keys with every combination
// of bounds that the options offer.
func TestListBounds(t *testing.T) {
	db, _ := openTest(t, nil)
	ns, err := db.Namespace("list")
	require.NoError(t, err)
	id := ObjectID{7}
	tx := db.Begin(ns, id)
	for _, k := range []string{"a", "b", "ba", "bb", "bc", "c", "d"} {
		require.NoError(t, tx.Put(k, []byte("v"+k)))
	}
	commit(t, tx)
	// A neighbouring object must never show up.
	put(t, db, ns, ObjectID{8}, "a0", "other")
	put(t, db, ns, ObjectID{6}, "zz", "other")

	all := []string{"a", "b", "ba", "bb", "bc", "c", "d"}
	cases := []struct {
		name string
		opts ListOptions
		want []string
	}{
		{"all", ListOptions{}, all},
		{"reverse", ListOptions{Reverse: true}, []string{"d", "c", "bc", "bb", "ba", "b", "a"}},
		{"limit", ListOptions{Limit: 2}, []string{"a", "b"}},
		{"reverse limit 1 is greatest", ListOptions{Reverse: true, Limit: 1}, []string{"d"}},
		{"limit over count", ListOptions{Limit: 100}, all},
		{"start inclusive", ListOptions{Start: "bb"}, []string{"bb", "bc", "c", "d"}},
		{"start missing key", ListOptions{Start: "bbb"}, []string{"bc", "c", "d"}},
		{"start after exclusive", ListOptions{StartAfter: "bb"}, []string{"bc", "c", "d"}},
		{"start after missing key", ListOptions{StartAfter: "b0"}, []string{"ba", "bb", "bc", "c", "d"}},
		{"end exclusive", ListOptions{End: "bb"}, []string{"a", "b", "ba"}},
		{"start and end", ListOptions{Start: "b", End: "c"}, []string{"b", "ba", "bb", "bc"}},
		{"start after and end", ListOptions{StartAfter: "b", End: "c"}, []string{"ba", "bb", "bc"}},
		{"prefix", ListOptions{Prefix: "b"}, []string{"b", "ba", "bb", "bc"}},
		{"prefix reverse limit 1", ListOptions{Prefix: "b", Reverse: true, Limit: 1}, []string{"bc"}},
		{"prefix and start", ListOptions{Prefix: "b", Start: "bb"}, []string{"bb", "bc"}},
		{"prefix and start before prefix", ListOptions{Prefix: "b", Start: "a"}, []string{"b", "ba", "bb", "bc"}},
		{"prefix and start after", ListOptions{Prefix: "b", StartAfter: "b"}, []string{"ba", "bb", "bc"}},
		{"prefix and end", ListOptions{Prefix: "b", End: "bb"}, []string{"b", "ba"}},
		{"prefix and end past prefix", ListOptions{Prefix: "b", End: "z"}, []string{"b", "ba", "bb", "bc"}},
		{"reverse start end limit", ListOptions{Start: "b", End: "c", Reverse: true, Limit: 2}, []string{"bc", "bb"}},
		{"reverse start after limit 1", ListOptions{StartAfter: "a", Reverse: true, Limit: 1}, []string{"d"}},
		{"reverse end limit 1", ListOptions{End: "c", Reverse: true, Limit: 1}, []string{"bc"}},
		{"end before start", ListOptions{Start: "c", End: "b"}, nil},
		{"end equals start", ListOptions{Start: "b", End: "b"}, nil},
		{"start after last", ListOptions{StartAfter: "d"}, nil},
		{"prefix without keys", ListOptions{Prefix: "x"}, nil},
		{"prefix and disjoint start", ListOptions{Prefix: "a", Start: "b"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := listKeys(t, db, ns, id, c.opts)
			if len(c.want) == 0 {
				assert.Empty(t, got)
				return
			}
			assert.Equal(t, c.want, got)
		})
	}
}

func TestListValues(t *testing.T) {
	db, _ := openTest(t, nil)
	put(t, db, 1, ObjectID{1}, "k", "value")
	tx := db.Begin(1, ObjectID{1})
	l, err := tx.List(ListOptions{})
	require.NoError(t, err)
	require.Equal(t, []Entry{{Key: "k", Value: []byte("value")}}, l)
	// The returned value is a copy: changing it changes nothing stored.
	l[0].Value[0] = 'X'
	v, ok, err := tx.Get("k")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "value", string(v))

	// Entries share memory, but an append to one value leaves the next alone.
	require.NoError(t, tx.Put("a", []byte("1")))
	require.NoError(t, tx.Put("e", nil))
	l, err = tx.List(ListOptions{})
	require.NoError(t, err)
	require.Len(t, l, 3)
	_ = append(l[0].Value, "zzzz"...)
	assert.Equal(t, []Entry{{"a", []byte("1")}, {"e", []byte{}}, {"k", []byte("value")}}, l)
	assert.NotNil(t, l[1].Value, "an empty value is not nil")
}

func TestListOptionErrors(t *testing.T) {
	db, _ := openTest(t, nil)
	tx := db.Begin(1, ObjectID{1})
	_, err := tx.List(ListOptions{Start: "a", StartAfter: "b"})
	require.ErrorIs(t, err, ErrInvalidListOptions)
	assert.Contains(t, err.Error(), "StartAfter")
	_, err = tx.List(ListOptions{Limit: -1})
	require.ErrorIs(t, err, ErrInvalidListOptions)
}

// TestListMergesPending lists durable keys overlaid with puts, overwrites
// and deletions of the same Txn, in both directions and with limits.
func TestListMergesPending(t *testing.T) {
	db, _ := openTest(t, nil)
	id := ObjectID{3}
	tx := db.Begin(1, id)
	for _, k := range []string{"b", "d", "f", "h"} {
		require.NoError(t, tx.Put(k, []byte("old"+k)))
	}
	commit(t, tx)

	tx = db.Begin(1, id)
	require.NoError(t, tx.Put("a", []byte("new")))
	require.NoError(t, tx.Put("d", []byte("newd")))
	require.NoError(t, tx.Put("e", []byte("new")))
	require.NoError(t, tx.Put("i", []byte("new")))
	_, err := tx.Delete("f")
	require.NoError(t, err)
	_, err = tx.Delete("zz") // never existed
	require.NoError(t, err)

	l, err := tx.List(ListOptions{})
	require.NoError(t, err)
	assert.Equal(t, []Entry{
		{"a", []byte("new")}, {"b", []byte("oldb")}, {"d", []byte("newd")},
		{"e", []byte("new")}, {"h", []byte("oldh")}, {"i", []byte("new")},
	}, l)

	cases := []struct {
		opts ListOptions
		want []string
	}{
		{ListOptions{Reverse: true}, []string{"i", "h", "e", "d", "b", "a"}},
		{ListOptions{Reverse: true, Limit: 1}, []string{"i"}},
		{ListOptions{Limit: 3}, []string{"a", "b", "d"}},
		{ListOptions{Start: "c", End: "h"}, []string{"d", "e"}},
		{ListOptions{StartAfter: "d", Reverse: true, Limit: 2}, []string{"i", "h"}},
		// The deleted "f" is skipped and does not count towards the limit.
		{ListOptions{Start: "e", Limit: 2}, []string{"e", "h"}},
		{ListOptions{Start: "f", End: "h"}, nil},
	}
	for _, c := range cases {
		l, err := tx.List(c.opts)
		require.NoError(t, err)
		if c.want == nil {
			assert.Empty(t, l, "%+v", c.opts)
			continue
		}
		assert.Equal(t, c.want, keysOf(l), "%+v", c.opts)
	}

	// Other readers see none of it before Commit, and all of it after.
	assert.Equal(t, []string{"b", "d", "f", "h"}, listKeys(t, db, 1, id, ListOptions{}))
	commit(t, tx)
	assert.Equal(t, []string{"a", "b", "d", "e", "h", "i"}, listKeys(t, db, 1, id, ListOptions{}))
}

// TestKeysNonUTF8 stores keys that are not valid UTF-8 and checks that they
// round-trip and list in byte order: no key can make List fail.
func TestKeysNonUTF8(t *testing.T) {
	db, _ := openTest(t, nil)
	id := ObjectID{9}
	keys := []string{"\x00", "\x00\x00", "\x7f", "\x80", "\xc3\x28", "\xe2\x82", "\xff", "\xff\xff", "a\x00b", "\xed\xa0\x80"}
	tx := db.Begin(1, id)
	for i, k := range keys {
		require.NoError(t, tx.Put(k, []byte{byte(i)}))
	}
	commit(t, tx)
	want := []string{"\x00", "\x00\x00", "a\x00b", "\x7f", "\x80", "\xc3\x28", "\xe2\x82", "\xed\xa0\x80", "\xff", "\xff\xff"}
	assert.Equal(t, want, listKeys(t, db, 1, id, ListOptions{}))

	tx = db.Begin(1, id)
	for i, k := range keys {
		v, ok, err := tx.Get(k)
		require.NoError(t, err)
		require.True(t, ok, "key %q", k)
		assert.Equal(t, []byte{byte(i)}, v, "key %q", k)
	}
	l, err := tx.List(ListOptions{Prefix: "\xff"})
	require.NoError(t, err)
	assert.Equal(t, []string{"\xff", "\xff\xff"}, keysOf(l))
	l, err = tx.List(ListOptions{Prefix: "\xff", Reverse: true, Limit: 1})
	require.NoError(t, err)
	assert.Equal(t, []string{"\xff\xff"}, keysOf(l))
	l, err = tx.List(ListOptions{StartAfter: "\xff\xff"})
	require.NoError(t, err)
	assert.Empty(t, l)
	l, err = tx.List(ListOptions{Start: "\x80", End: "\xff"})
	require.NoError(t, err)
	assert.Equal(t, []string{"\x80", "\xc3\x28", "\xe2\x82", "\xed\xa0\x80"}, keysOf(l))

	// A key of 0xff bytes sits at the very end of the object's range and
	// still belongs to it, not to the next object.
	assert.Empty(t, listKeys(t, db, 1, ObjectID{9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, ListOptions{}))
}

// TestListTyped decodes values with ListOf and reports a bad value with the
// key that holds it.
func TestListTyped(t *testing.T) {
	db, _ := openTest(t, nil)
	tx := db.Begin(1, ObjectID{1})
	require.NoError(t, Put(tx, "a", 1))
	require.NoError(t, Put(tx, "b", 2))
	got, err := ListOf[int](tx, ListOptions{})
	require.NoError(t, err)
	assert.Equal(t, []TypedEntry[int]{{"a", 1}, {"b", 2}}, got)

	require.NoError(t, tx.Put("c", []byte("not json")))
	_, err = ListOf[int](tx, ListOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"c"`)
	var syntax *json.SyntaxError
	assert.ErrorAs(t, err, &syntax)
}
