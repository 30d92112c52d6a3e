package storage

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGetPutDelete(t *testing.T) {
	db, _ := openTest(t, nil)
	tx := db.Begin(1, ObjectID{1})
	v, ok, err := tx.Get("missing")
	require.NoError(t, err, "a missing key is not an error")
	assert.False(t, ok)
	assert.Nil(t, v)

	value := []byte("one")
	require.NoError(t, tx.Put("k", value))
	value[0] = 'X' // Put copied the value.
	require.NoError(t, tx.Put("empty", nil))
	pending, ok, err := tx.Get("k")
	require.NoError(t, err)
	require.True(t, ok)
	pending[1] = 'X' // Get returned a copy of the pending value.
	commit(t, tx)
	// The ended Txn's buffers serve a new Txn; the copy stays intact.
	other := db.Begin(1, ObjectID{2})
	require.NoError(t, other.Put("z", []byte("zzz")))
	other.Discard()
	assert.Equal(t, "oXe", string(pending))

	tx = db.Begin(1, ObjectID{1})
	v, ok, err = tx.Get("k")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "one", string(v))
	v, ok, err = tx.Get("empty")
	require.NoError(t, err)
	assert.True(t, ok, "an empty value is a value")
	assert.Empty(t, v)

	existed, err := tx.Delete("k")
	require.NoError(t, err)
	assert.True(t, existed)
	existed, err = tx.Delete("k")
	require.NoError(t, err)
	assert.False(t, existed, "deleted earlier in the same Txn")
	_, ok, err = tx.Get("k")
	require.NoError(t, err)
	assert.False(t, ok)
	commit(t, tx)

	tx = db.Begin(1, ObjectID{1})
	_, ok, err = tx.Get("k")
	require.NoError(t, err)
	assert.False(t, ok)
}

func TestManyCalls(t *testing.T) {
	db, _ := openTest(t, nil)
	tx := db.Begin(1, ObjectID{1})
	require.NoError(t, tx.PutMany(map[string][]byte{"a": []byte("1"), "b": []byte("2"), "c": []byte("3")}))
	commit(t, tx)

	tx = db.Begin(1, ObjectID{1})
	got, err := tx.GetMany([]string{"a", "c", "missing"})
	require.NoError(t, err)
	assert.Equal(t, map[string][]byte{"a": []byte("1"), "c": []byte("3")}, got)
	n, err := tx.DeleteMany([]string{"a", "a", "missing", "b"})
	require.NoError(t, err)
	assert.Equal(t, 2, n, "a duplicate key counts once")
	got, err = tx.GetMany([]string{"a", "b", "c"})
	require.NoError(t, err)
	assert.Equal(t, map[string][]byte{"c": []byte("3")}, got)
}

func TestTypedHelpers(t *testing.T) {
	type point struct{ X, Y int }
	db, _ := openTest(t, nil)
	tx := db.Begin(1, ObjectID{1})
	require.NoError(t, Put(tx, "p", point{1, 2}))
	commit(t, tx)
	tx = db.Begin(1, ObjectID{1})
	p, ok, err := Get[point](tx, "p")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, point{1, 2}, p)
	p, ok, err = Get[point](tx, "missing")
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Equal(t, point{}, p)
	err = Put(tx, "bad", make(chan int))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `storage: encode "bad"`)
}

// TestDeleteAll checks that DeleteAll hides every durable key and the alarm
// at once, that later puts in the same Txn survive it, and that the commit
// leaves exactly those puts.
func TestDeleteAll(t *testing.T) {
	db, _ := openTest(t, nil)
	id := ObjectID{4}
	tx := db.Begin(1, id)
	require.NoError(t, tx.PutMany(map[string][]byte{"a": []byte("1"), "b": []byte("2"), "c": []byte("3")}))
	require.NoError(t, tx.SetAlarm(time.Unix(500, 0)))
	commit(t, tx)
	put(t, db, 1, ObjectID{5}, "a", "neighbour")

	tx = db.Begin(1, id)
	require.NoError(t, tx.Put("z", []byte("before")))
	require.NoError(t, tx.DeleteAll())
	_, ok, err := tx.Get("a")
	require.NoError(t, err)
	assert.False(t, ok)
	_, ok, err = tx.GetAlarm()
	require.NoError(t, err)
	assert.False(t, ok)
	l, err := tx.List(ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, l)

	require.NoError(t, tx.Put("b", []byte("new")))
	require.NoError(t, tx.Put("d", []byte("new")))
	existed, err := tx.Delete("d")
	require.NoError(t, err)
	assert.True(t, existed)
	l, err = tx.List(ListOptions{})
	require.NoError(t, err)
	assert.Equal(t, []Entry{{"b", []byte("new")}}, l)
	commit(t, tx)

	assert.Equal(t, []string{"b"}, listKeys(t, db, 1, id, ListOptions{}))
	assert.Equal(t, []string{"a"}, listKeys(t, db, 1, ObjectID{5}, ListOptions{}), "neighbour untouched")
	tx = db.Begin(1, id)
	v, ok, err := tx.Get("b")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "new", string(v))
	_, ok, err = tx.GetAlarm()
	require.NoError(t, err)
	assert.False(t, ok)
	alarms, err := db.Alarms(time.Unix(1000, 0), 0)
	require.NoError(t, err)
	assert.Empty(t, alarms, "DeleteAll removes the alarm index entry")
}

func TestDeleteAllThenSetAlarm(t *testing.T) {
	db, _ := openTest(t, nil)
	tx := db.Begin(1, ObjectID{1})
	require.NoError(t, tx.SetAlarm(time.Unix(10, 0)))
	commit(t, tx)
	tx = db.Begin(1, ObjectID{1})
	require.NoError(t, tx.DeleteAll())
	require.NoError(t, tx.SetAlarm(time.Unix(20, 0)))
	commit(t, tx)
	alarms, err := db.Alarms(time.Unix(100, 0), 0)
	require.NoError(t, err)
	require.Len(t, alarms, 1)
	assert.True(t, alarms[0].Time.Equal(time.Unix(20, 0)))
}

func TestTransactionCommitsOnNil(t *testing.T) {
	db, _ := openTest(t, nil)
	tx := db.Begin(1, ObjectID{1})
	require.NoError(t, tx.Put("outer", []byte("1")))
	err := tx.Transaction(func(in *Txn) error {
		v, ok, err := in.Get("outer")
		require.NoError(t, err)
		assert.True(t, ok, "nested reads see outer writes")
		assert.Equal(t, "1", string(v))
		return in.Put("inner", []byte("2"))
	})
	require.NoError(t, err)
	commit(t, tx)
	assert.Equal(t, []string{"inner", "outer"}, listKeys(t, db, 1, ObjectID{1}, ListOptions{}))
}

func TestTransactionRollsBackOnError(t *testing.T) {
	db, _ := openTest(t, nil)
	put(t, db, 1, ObjectID{1}, "keep", "durable")
	tx := db.Begin(1, ObjectID{1})
	require.NoError(t, tx.Put("outer", []byte("1")))
	require.NoError(t, tx.SetAlarm(time.Unix(50, 0)))
	errBoom := errors.New("boom")
	err := tx.Transaction(func(in *Txn) error {
		require.NoError(t, in.Put("inner", []byte("2")))
		require.NoError(t, in.Put("outer", []byte("changed")))
		require.NoError(t, in.DeleteAll())
		require.NoError(t, in.SetAlarm(time.Unix(99, 0)))
		l, err := in.List(ListOptions{})
		require.NoError(t, err)
		assert.Empty(t, l)
		return errBoom
	})
	require.ErrorIs(t, err, errBoom)

	v, ok, err := tx.Get("outer")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "1", string(v))
	at, ok, err := tx.GetAlarm()
	require.NoError(t, err)
	assert.True(t, ok)
	assert.True(t, at.Equal(time.Unix(50, 0)))
	commit(t, tx)
	assert.Equal(t, []string{"keep", "outer"}, listKeys(t, db, 1, ObjectID{1}, ListOptions{}))
}

func TestTransactionRollsBackOnPanic(t *testing.T) {
	db, _ := openTest(t, nil)
	tx := db.Begin(1, ObjectID{1})
	require.NoError(t, tx.Put("outer", []byte("1")))
	assert.PanicsWithValue(t, "boom", func() {
		_ = tx.Transaction(func(in *Txn) error {
			require.NoError(t, in.Put("inner", []byte("2")))
			panic("boom")
		})
	})
	// The outer Txn is usable again and holds only its own write.
	require.NoError(t, tx.Put("after", []byte("3")))
	commit(t, tx)
	assert.Equal(t, []string{"after", "outer"}, listKeys(t, db, 1, ObjectID{1}, ListOptions{}))
}

func TestTransactionNested(t *testing.T) {
	db, _ := openTest(t, nil)
	tx := db.Begin(1, ObjectID{1})
	var stale *Txn
	err := tx.Transaction(func(l1 *Txn) error {
		require.NoError(t, l1.Put("l1", []byte("1")))
		err := l1.Transaction(func(l2 *Txn) error {
			require.NoError(t, l2.Put("l2", []byte("2")))
			return l2.Transaction(func(l3 *Txn) error {
				require.NoError(t, l3.Put("l3", []byte("3")))
				return errors.New("roll back l3")
			})
		})
		require.Error(t, err, "the error of l3 passes through l2")
		err = l1.Transaction(func(l2 *Txn) error {
			stale = l2
			_, err := l2.Delete("l1")
			return err
		})
		require.NoError(t, err)
		_, ok, err := l1.Get("l1")
		require.NoError(t, err)
		assert.False(t, ok, "the committed nested delete is visible")

		// While l1 runs, the outer Txn is not usable.
		require.ErrorIs(t, tx.Put("x", nil), ErrTxnDone)
		_, err = tx.Commit()
		require.ErrorIs(t, err, ErrTxnDone)
		_, err = l1.Commit()
		require.ErrorIs(t, err, ErrTxnDone, "only the outermost Txn commits")
		return l1.Put("l1b", []byte("4"))
	})
	require.NoError(t, err)

	// A nested Txn whose Transaction returned stays unusable, even while
	// another Transaction at its depth runs.
	require.ErrorIs(t, stale.Put("late", nil), ErrTxnDone)
	require.NoError(t, tx.Transaction(func(*Txn) error {
		require.ErrorIs(t, stale.Put("late", nil), ErrTxnDone)
		return nil
	}))
	commit(t, tx)
	assert.Equal(t, []string{"l1b"}, listKeys(t, db, 1, ObjectID{1}, ListOptions{}))
}

// TestLimits writes at and just over every limit. Over a limit the call
// returns a *LimitError and changes nothing: the previous value stays
// readable, inside the Txn and after commit.
func TestLimits(t *testing.T) {
	db, _ := openTest(t, nil)
	id := ObjectID{2}
	maxKey := strings.Repeat("k", DefaultMaxKeySize)
	overKey := maxKey + "k"
	maxValue := make([]byte, DefaultMaxValueSize)
	overValue := make([]byte, DefaultMaxValueSize+1)

	tx := db.Begin(1, id)
	require.NoError(t, tx.Put(maxKey, []byte("old")), "a key of exactly the limit")
	require.NoError(t, tx.Put("v", []byte("old")))
	require.NoError(t, tx.Put("k", maxValue), "a value of exactly the limit")
	commit(t, tx)

	tx = db.Begin(1, id)
	checkLimit := func(err error, limit string, size, min, max int) {
		t.Helper()
		require.ErrorIs(t, err, ErrLimit)
		var le *LimitError
		require.ErrorAs(t, err, &le)
		assert.Equal(t, limit, le.Limit)
		assert.Equal(t, size, le.Size)
		assert.Equal(t, min, le.Min)
		assert.Equal(t, max, le.Max)
		assert.True(t, strings.HasPrefix(err.Error(), "storage: "+limit), err.Error())
	}

	checkLimit(tx.Put(overKey, []byte("x")), "key size", DefaultMaxKeySize+1, 1, DefaultMaxKeySize)
	checkLimit(tx.Put("", []byte("x")), "key size", 0, 1, DefaultMaxKeySize)
	_, _, err := tx.Get(overKey)
	checkLimit(err, "key size", DefaultMaxKeySize+1, 1, DefaultMaxKeySize)
	_, _, err = tx.Get("")
	checkLimit(err, "key size", 0, 1, DefaultMaxKeySize)
	_, err = tx.Delete(overKey)
	checkLimit(err, "key size", DefaultMaxKeySize+1, 1, DefaultMaxKeySize)

	err = tx.Put("v", overValue)
	checkLimit(err, "value size", DefaultMaxValueSize+1, 0, DefaultMaxValueSize)
	var le *LimitError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, "v", le.Key)
	require.NoError(t, tx.Put("v2", maxValue))

	// Key is truncated in the error so that a huge key stays readable.
	require.ErrorAs(t, tx.Put(overKey, nil), &le)
	assert.Len(t, le.Key, 64+len("..."))

	keys := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = strings.Repeat("n", i+1)
		}
		return out
	}
	entries := func(n int) map[string][]byte {
		out := make(map[string][]byte, n)
		for _, k := range keys(n) {
			out[k] = []byte("new")
		}
		return out
	}
	_, err = tx.GetMany(keys(DefaultMaxBatchKeys))
	require.NoError(t, err, "exactly the batch limit")
	_, err = tx.GetMany(keys(DefaultMaxBatchKeys + 1))
	checkLimit(err, "keys per call", DefaultMaxBatchKeys+1, 0, DefaultMaxBatchKeys)

	over := entries(DefaultMaxBatchKeys + 1)
	checkLimit(tx.PutMany(over), "keys per call", DefaultMaxBatchKeys+1, 0, DefaultMaxBatchKeys)
	bad := map[string][]byte{"v": []byte("new"), "w": []byte("new"), overKey: []byte("new")}
	checkLimit(tx.PutMany(bad), "key size", DefaultMaxKeySize+1, 1, DefaultMaxKeySize)
	bad = map[string][]byte{"v": []byte("new"), "w": overValue}
	checkLimit(tx.PutMany(bad), "value size", DefaultMaxValueSize+1, 0, DefaultMaxValueSize)
	_, err = tx.DeleteMany(append(keys(DefaultMaxBatchKeys), "v"))
	checkLimit(err, "keys per call", DefaultMaxBatchKeys+1, 0, DefaultMaxBatchKeys)
	_, err = tx.DeleteMany([]string{"v", overKey})
	checkLimit(err, "key size", DefaultMaxKeySize+1, 1, DefaultMaxKeySize)

	// Nothing of the rejected calls happened.
	got, err := tx.GetMany([]string{"v", "w", maxKey})
	require.NoError(t, err)
	assert.Equal(t, map[string][]byte{"v": []byte("old"), maxKey: []byte("old")}, got)
	require.NoError(t, tx.PutMany(entries(DefaultMaxBatchKeys)), "exactly the batch limit")
	n, err := tx.DeleteMany(keys(DefaultMaxBatchKeys))
	require.NoError(t, err)
	assert.Equal(t, DefaultMaxBatchKeys, n)
	commit(t, tx)

	tx = db.Begin(1, id)
	got, err = tx.GetMany([]string{"v", "v2", "w", maxKey, "k"})
	require.NoError(t, err)
	assert.Equal(t, map[string][]byte{"v": []byte("old"), "v2": maxValue, maxKey: []byte("old"), "k": maxValue}, got)
}

func TestLimitsConfigurable(t *testing.T) {
	db, _ := openTest(t, &Options{Limits: Limits{MaxKeySize: 4, MaxValueSize: 2, MaxBatchKeys: 2}})
	assert.Equal(t, Limits{MaxKeySize: 4, MaxValueSize: 2, MaxBatchKeys: 2}, db.Limits())
	tx := db.Begin(1, ObjectID{1})
	require.NoError(t, tx.Put("abcd", []byte("xy")))
	require.ErrorIs(t, tx.Put("abcde", nil), ErrLimit)
	require.ErrorIs(t, tx.Put("a", []byte("xyz")), ErrLimit)
	require.ErrorIs(t, tx.PutMany(map[string][]byte{"a": nil, "b": nil, "c": nil}), ErrLimit)

	def, _ := openTest(t, nil)
	assert.Equal(t, Limits{MaxKeySize: 2048, MaxValueSize: 131072, MaxBatchKeys: 128}, def.Limits())
}

func TestTxnDoneAfterCommit(t *testing.T) {
	db, _ := openTest(t, nil)
	tx := db.Begin(1, ObjectID{1})
	require.NoError(t, tx.Put("a", []byte("1")))
	commit(t, tx)

	_, _, err := tx.Get("a")
	assert.ErrorIs(t, err, ErrTxnDone)
	assert.ErrorIs(t, tx.Put("a", nil), ErrTxnDone)
	_, err = tx.GetMany([]string{"a"})
	assert.ErrorIs(t, err, ErrTxnDone)
	assert.ErrorIs(t, tx.PutMany(map[string][]byte{"a": nil}), ErrTxnDone)
	_, err = tx.Delete("a")
	assert.ErrorIs(t, err, ErrTxnDone)
	_, err = tx.DeleteMany([]string{"a"})
	assert.ErrorIs(t, err, ErrTxnDone)
	assert.ErrorIs(t, tx.DeleteAll(), ErrTxnDone)
	_, err = tx.List(ListOptions{})
	assert.ErrorIs(t, err, ErrTxnDone)
	_, _, err = tx.GetAlarm()
	assert.ErrorIs(t, err, ErrTxnDone)
	assert.ErrorIs(t, tx.SetAlarm(time.Unix(1, 0)), ErrTxnDone)
	assert.ErrorIs(t, tx.DeleteAlarm(), ErrTxnDone)
	assert.ErrorIs(t, tx.Transaction(func(*Txn) error { return nil }), ErrTxnDone)
	_, err = tx.Commit()
	assert.ErrorIs(t, err, ErrTxnDone)

	d := db.Begin(1, ObjectID{1})
	require.NoError(t, d.Put("b", []byte("2")))
	d.Discard()
	assert.ErrorIs(t, d.Put("b", nil), ErrTxnDone)
	_, err = d.Commit()
	assert.ErrorIs(t, err, ErrTxnDone)
	assert.Equal(t, []string{"a"}, listKeys(t, db, 1, ObjectID{1}, ListOptions{}), "a discarded write")
}

func TestEmptyCommit(t *testing.T) {
	db, _ := openTest(t, nil)
	tx := db.Begin(1, ObjectID{1})
	assert.True(t, tx.Empty())
	_, _, err := tx.Get("a")
	require.NoError(t, err)
	h, err := tx.Commit()
	require.NoError(t, err)
	require.NoError(t, h.Wait())

	tx = db.Begin(1, ObjectID{1})
	require.NoError(t, tx.Put("a", nil))
	assert.False(t, tx.Empty())
	var nilHandle *Handle
	assert.NoError(t, nilHandle.Wait())
}

// TestClosedDB checks that every call after Close returns ErrClosed rather
// than reaching Pebble, which panics on use after close.
func TestClosedDB(t *testing.T) {
	db, err := Open(t.TempDir(), nil)
	require.NoError(t, err)
	ns, err := db.Namespace("n")
	require.NoError(t, err)
	ks, err := db.Keyspace("k")
	require.NoError(t, err)
	open := db.Begin(ns, ObjectID{1})
	require.NoError(t, open.Put("a", []byte("1")))
	h, err := open.Commit()
	require.NoError(t, err)
	pending := db.Begin(ns, ObjectID{1})
	require.NoError(t, pending.Put("b", []byte("2")))

	require.NoError(t, db.Close())
	require.NoError(t, db.Close(), "Close is idempotent")
	assert.NoError(t, h.Wait(), "Close syncs committed batches")

	_, err = db.Namespace("n")
	assert.ErrorIs(t, err, ErrClosed)
	_, err = db.Keyspace("k")
	assert.ErrorIs(t, err, ErrClosed)
	_, _, err = db.Meta("m")
	assert.ErrorIs(t, err, ErrClosed)
	assert.ErrorIs(t, db.SetMeta(t.Context(), "m", nil), ErrClosed)
	_, err = db.Alarms(time.Now(), 0)
	assert.ErrorIs(t, err, ErrClosed)
	_, _, err = db.NextAlarm()
	assert.ErrorIs(t, err, ErrClosed)
	_, err = db.ObjectIDs(ns, nil, 0)
	assert.ErrorIs(t, err, ErrClosed)

	_, _, err = pending.Get("a")
	assert.ErrorIs(t, err, ErrClosed)
	_, err = pending.List(ListOptions{})
	assert.ErrorIs(t, err, ErrClosed)
	assert.ErrorIs(t, pending.Put("c", nil), ErrClosed)
	_, err = pending.Commit()
	assert.ErrorIs(t, err, ErrClosed)
	tx := db.Begin(ns, ObjectID{2})
	_, _, err = tx.GetAlarm()
	assert.ErrorIs(t, err, ErrClosed)
	assert.ErrorIs(t, tx.DeleteAll(), ErrClosed)

	_, _, err = ks.Get([]byte("a"))
	assert.ErrorIs(t, err, ErrClosed)
	assert.ErrorIs(t, ks.Scan(nil, nil, func(_, _ []byte) bool { return true }), ErrClosed)
	b := ks.Batch()
	b.Set([]byte("a"), []byte("1"))
	_, err = b.Commit()
	assert.ErrorIs(t, err, ErrClosed)
}

// TestTxnStateReuse ends Txns and begins new ones, which reuse their state,
// and checks that an ended Txn never reads or writes through the new one.
func TestTxnStateReuse(t *testing.T) {
	db, _ := openTest(t, nil)
	var ended []*Txn
	for i := range 50 {
		tx := db.Begin(1, ObjectID{byte(i % 3)})
		for _, old := range ended {
			require.ErrorIs(t, old.Put("stale", nil), ErrTxnDone)
			_, _, err := old.Get("k")
			require.ErrorIs(t, err, ErrTxnDone)
			_, err = old.Commit()
			require.ErrorIs(t, err, ErrTxnDone)
			old.Discard() // must not end tx
			assert.True(t, old.Empty())
		}
		require.NoError(t, tx.Put("k", []byte{byte(i)}))
		assert.False(t, tx.Empty())
		v, ok, err := tx.Get("k")
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, []byte{byte(i)}, v)
		if i%2 == 0 {
			commit(t, tx)
		} else {
			tx.Discard()
		}
		ended = append(ended, tx)
	}
	for o := range 3 {
		tx := db.Begin(1, ObjectID{byte(o)})
		v, ok, err := tx.Get("k")
		require.NoError(t, err)
		require.True(t, ok)
		// The last even i with i%3 == o committed last.
		last := 0
		for i := range 50 {
			if i%2 == 0 && i%3 == o {
				last = i
			}
		}
		assert.Equal(t, []byte{byte(last)}, v, "object %d", o)
		assert.Equal(t, []string{"k"}, listKeys(t, db, 1, ObjectID{byte(o)}, ListOptions{}))
		tx.Discard()
	}
}

// TestTxnConcurrentUse runs many Txns on many goroutines at once, under the
// race detector in CI, with stale Txns poking at reused state.
func TestTxnConcurrentUse(t *testing.T) {
	db, _ := openTest(t, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			var stale *Txn
			for i := range 200 {
				tx := db.Begin(2, ObjectID{byte(g)})
				if stale != nil {
					assert.ErrorIs(t, stale.Put("x", nil), ErrTxnDone)
				}
				n, _, err := Get[int](tx, "n")
				assert.NoError(t, err)
				assert.Equal(t, i, n)
				assert.NoError(t, Put(tx, "n", n+1))
				h, err := tx.Commit()
				assert.NoError(t, err)
				stale = tx
				if i%10 == 0 {
					assert.NoError(t, h.Wait())
				}
			}
		})
	}
	wg.Wait()
}

// TestAlarmChangeAfterReuse checks that an ended Txn reports no alarm
// change even when its state serves a new Txn that changed the alarm.
func TestAlarmChangeAfterReuse(t *testing.T) {
	db, _ := openTest(t, nil)
	old := db.Begin(1, ObjectID{1})
	require.NoError(t, old.SetAlarm(time.Unix(5, 0)))
	at, set, changed := old.AlarmChange()
	assert.True(t, changed)
	assert.True(t, set)
	assert.True(t, at.Equal(time.Unix(5, 0)))
	old.Discard()
	for range 10 {
		tx := db.Begin(1, ObjectID{2})
		require.NoError(t, tx.DeleteAlarm())
		_, _, changed = old.AlarmChange()
		assert.False(t, changed)
		tx.Discard()
	}
}
