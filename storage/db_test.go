package storage

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func setAlarm(t *testing.T, db *DB, ns uint32, id ObjectID, at time.Time) {
	t.Helper()
	tx := db.Begin(ns, id)
	require.NoError(t, tx.SetAlarm(at))
	commit(t, tx)
}

// TestAlarmIndexOrder sets alarms on objects of two namespaces in an order
// unrelated to their times and reads them back in time order.
func TestAlarmIndexOrder(t *testing.T) {
	db, _ := openTest(t, nil)
	base := time.Unix(1_700_000_000, 0)
	setAlarm(t, db, 2, ObjectID{1}, base.Add(3*time.Second))
	setAlarm(t, db, 1, ObjectID{9}, base.Add(1*time.Second))
	setAlarm(t, db, 1, ObjectID{2}, base.Add(5*time.Second))
	setAlarm(t, db, 1, ObjectID{3}, base.Add(3*time.Second))
	setAlarm(t, db, 1, ObjectID{4}, time.Unix(-100, 0)) // before 1970
	setAlarm(t, db, 3, ObjectID{1}, base.Add(time.Hour))

	// Replacing an alarm moves its index entry.
	setAlarm(t, db, 1, ObjectID{2}, base.Add(2*time.Second))

	alarms, err := db.Alarms(base.Add(5*time.Second), 0)
	require.NoError(t, err)
	type entry struct {
		ns  uint32
		id  ObjectID
		sec int64
	}
	var got []entry
	for _, a := range alarms {
		got = append(got, entry{a.Namespace, a.ID, a.Time.Unix()})
	}
	b := base.Unix()
	assert.Equal(t, []entry{
		{1, ObjectID{4}, -100},
		{1, ObjectID{9}, b + 1},
		{1, ObjectID{2}, b + 2},
		{1, ObjectID{3}, b + 3}, // equal times order by namespace, then ID
		{2, ObjectID{1}, b + 3},
	}, got)

	// until is inclusive, and limit keeps the earliest.
	alarms, err = db.Alarms(base.Add(2*time.Second), 2)
	require.NoError(t, err)
	require.Len(t, alarms, 2)
	assert.Equal(t, ObjectID{4}, alarms[0].ID)
	assert.Equal(t, ObjectID{9}, alarms[1].ID)
	alarms, err = db.Alarms(base.Add(2*time.Second-time.Nanosecond), 0)
	require.NoError(t, err)
	assert.Len(t, alarms, 2)

	// Times outside what the index can hold do not wrap around.
	alarms, err = db.Alarms(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), 0)
	require.NoError(t, err)
	assert.Len(t, alarms, 6)
	alarms, err = db.Alarms(time.Time{}, 0)
	require.NoError(t, err)
	assert.Empty(t, alarms)

	next, ok, err := db.NextAlarm()
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, ObjectID{4}, next.ID)
	assert.True(t, next.Time.Equal(time.Unix(-100, 0)))

	// Deleting an alarm removes its record and index entry.
	tx := db.Begin(1, ObjectID{4})
	require.NoError(t, tx.DeleteAlarm())
	_, ok, err = tx.GetAlarm()
	require.NoError(t, err)
	assert.False(t, ok, "the Txn sees its own deletion")
	commit(t, tx)
	next, _, err = db.NextAlarm()
	require.NoError(t, err)
	assert.Equal(t, ObjectID{9}, next.ID)
	alarms, err = db.Alarms(base.Add(10*time.Hour), 0)
	require.NoError(t, err)
	assert.Len(t, alarms, 5)
}

func TestAlarmName(t *testing.T) {
	db, dir := openTest(t, nil)
	base := time.Unix(1_700_000_000, 0)
	set := func(id ObjectID, name string, at time.Time) {
		t.Helper()
		tx := db.Begin(1, id)
		tx.SetName(name)
		require.NoError(t, tx.SetAlarm(at))
		commit(t, tx)
	}
	names := func() map[ObjectID]string {
		t.Helper()
		alarms, err := db.Alarms(base.Add(time.Hour), 0)
		require.NoError(t, err)
		out := map[ObjectID]string{}
		for _, a := range alarms {
			out[a.ID] = a.Name
		}
		return out
	}

	set(ObjectID{1}, "first", base)
	set(ObjectID{2}, "", base.Add(time.Second))
	assert.Equal(t, map[ObjectID]string{{1}: "first", {2}: ""}, names())
	// The alarm record keeps the format of builds without names, which
	// reject any other length.
	rec, _, err := db.get(alarmKey(1, ObjectID{1}))
	require.NoError(t, err)
	assert.Len(t, rec, 8)
	al, ok, err := db.Alarm(1, ObjectID{1})
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, Alarm{Namespace: 1, ID: ObjectID{1}, Time: base, Name: "first"}, al)
	next, _, err := db.NextAlarm()
	require.NoError(t, err)
	assert.Equal(t, "first", next.Name)

	// An alarm set without a name keeps the stored one; a new name
	// replaces it.
	set(ObjectID{1}, "", base.Add(2*time.Second))
	set(ObjectID{2}, "second", base.Add(3*time.Second))
	assert.Equal(t, map[ObjectID]string{{1}: "first", {2}: "second"}, names())

	// A name over the limit is not stored.
	set(ObjectID{4}, strings.Repeat("n", MaxNameSize+1), base.Add(4*time.Second))
	assert.Equal(t, "", names()[ObjectID{4}])
	tx := db.Begin(1, ObjectID{4})
	require.NoError(t, tx.DeleteAlarm())
	commit(t, tx)

	// A name alone is no write, and deleting an alarm drops its name.
	tx = db.Begin(1, ObjectID{3})
	tx.SetName("third")
	assert.True(t, tx.Empty())
	commit(t, tx)
	tx = db.Begin(1, ObjectID{1})
	require.NoError(t, tx.DeleteAlarm())
	commit(t, tx)
	set(ObjectID{1}, "", base)
	assert.Equal(t, map[ObjectID]string{{1}: "", {2}: "second"}, names())

	// Names survive a restart, and the Txn still reads the time alone.
	require.NoError(t, db.Close())
	db, err = Open(dir, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	assert.Equal(t, map[ObjectID]string{{1}: "", {2}: "second"}, names())
	tx = db.Begin(1, ObjectID{2})
	defer tx.Discard()
	at, ok, err := tx.GetAlarm()
	require.NoError(t, err)
	assert.True(t, ok)
	assert.True(t, at.Equal(base.Add(3*time.Second)), "alarm time %s", at)
}

func TestAlarmNanosecondsAndRange(t *testing.T) {
	db, _ := openTest(t, nil)
	at := time.Unix(1_700_000_000, 123456789)
	tx := db.Begin(1, ObjectID{1})
	require.NoError(t, tx.SetAlarm(at))
	got, ok, err := tx.GetAlarm()
	require.NoError(t, err)
	assert.True(t, ok)
	assert.True(t, got.Equal(at), "pending alarm")
	commit(t, tx)
	tx = db.Begin(1, ObjectID{1})
	got, ok, err = tx.GetAlarm()
	require.NoError(t, err)
	assert.True(t, ok)
	assert.True(t, got.Equal(at), "durable alarm %v", got)

	assert.ErrorIs(t, tx.SetAlarm(time.Time{}), ErrInvalidAlarm)
	assert.ErrorIs(t, tx.SetAlarm(time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)), ErrInvalidAlarm)
	require.NoError(t, tx.SetAlarm(maxAlarmTime))
	require.NoError(t, tx.SetAlarm(minAlarmTime))
}

func TestNextAlarmEmpty(t *testing.T) {
	db, _ := openTest(t, nil)
	_, ok, err := db.NextAlarm()
	require.NoError(t, err)
	assert.False(t, ok)
	alarms, err := db.Alarms(time.Now(), 0)
	require.NoError(t, err)
	assert.Empty(t, alarms)
}

func TestObjectIDs(t *testing.T) {
	db, _ := openTest(t, nil)
	last := ObjectID{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	for _, id := range []ObjectID{{5}, {1}, last, {3}} {
		put(t, db, 7, id, "a", "1")
		put(t, db, 7, id, "b", "2")
	}
	put(t, db, 6, ObjectID{2}, "a", "other namespace")
	put(t, db, 8, ObjectID{0}, "a", "other namespace")
	// An object with only an alarm holds no key.
	setAlarm(t, db, 7, ObjectID{4}, time.Unix(1, 0))

	ids, err := db.ObjectIDs(7, nil, 0)
	require.NoError(t, err)
	assert.Equal(t, []ObjectID{{1}, {3}, {5}, last}, ids)
	ids, err = db.ObjectIDs(7, &ObjectID{1}, 2)
	require.NoError(t, err)
	assert.Equal(t, []ObjectID{{3}, {5}}, ids)
	ids, err = db.ObjectIDs(7, &last, 0)
	require.NoError(t, err)
	assert.Empty(t, ids)
	ids, err = db.ObjectIDs(9, nil, 0)
	require.NoError(t, err)
	assert.Empty(t, ids)

	// DeleteAll removes the object from the listing.
	tx := db.Begin(7, ObjectID{3})
	require.NoError(t, tx.DeleteAll())
	commit(t, tx)
	ids, err = db.ObjectIDs(7, nil, 0)
	require.NoError(t, err)
	assert.Equal(t, []ObjectID{{1}, {5}, last}, ids)
}

func TestNamespaceNumbers(t *testing.T) {
	db, dir := openTest(t, nil)
	a, err := db.Namespace("A")
	require.NoError(t, err)
	b, err := db.Namespace("B")
	require.NoError(t, err)
	assert.NotEqual(t, a, b)
	again, err := db.Namespace("A")
	require.NoError(t, err)
	assert.Equal(t, a, again)
	ks, err := db.Keyspace("A")
	require.NoError(t, err, "key spaces have their own names")
	assert.NotNil(t, ks)

	_, err = db.Namespace("")
	assert.ErrorIs(t, err, ErrInvalidName)
	_, err = db.Namespace(string(bytes.Repeat([]byte("n"), 256)))
	assert.ErrorIs(t, err, ErrInvalidName)
	_, err = db.Namespace(string(bytes.Repeat([]byte("n"), 255)))
	assert.NoError(t, err)
	_, err = db.Keyspace("")
	assert.ErrorIs(t, err, ErrInvalidName)

	require.NoError(t, db.Close())
	db2, err := Open(dir, nil)
	require.NoError(t, err)
	defer db2.Close()
	b2, err := db2.Namespace("B")
	require.NoError(t, err)
	assert.Equal(t, b, b2, "numbers are stable across reopen")
	c, err := db2.Namespace("C")
	require.NoError(t, err)
	assert.NotContains(t, []uint32{a, b}, c)
}

func TestKeyspace(t *testing.T) {
	db, _ := openTest(t, nil)
	ks, err := db.Keyspace("cache")
	require.NoError(t, err)
	other, err := db.Keyspace("other")
	require.NoError(t, err)

	b := ks.Batch()
	b.Set([]byte("b"), []byte("2"))
	b.Set([]byte("a"), []byte("1"))
	b.Set([]byte("\xff"), []byte("ff"))
	b.Set([]byte("c"), []byte("3"))
	b.Delete([]byte("c"))
	assert.Equal(t, 5, b.Len())
	_, ok, err := ks.Get([]byte("a"))
	require.NoError(t, err)
	assert.False(t, ok, "nothing is visible before Commit")
	h, err := b.Commit()
	require.NoError(t, err)
	require.NoError(t, h.Wait())

	ob := other.Batch()
	ob.Set([]byte("a"), []byte("other"))
	h, err = ob.Commit()
	require.NoError(t, err)
	require.NoError(t, h.Wait())
	// An object key must not show in a key space either.
	put(t, db, 1, ObjectID{1}, "a", "object")

	v, ok, err := ks.Get([]byte("a"))
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "1", string(v))

	scan := func(lower, upper []byte, max int) []string {
		var out []string
		err := ks.Scan(lower, upper, func(k, v []byte) bool {
			out = append(out, string(k)+"="+string(v))
			return len(out) < max
		})
		require.NoError(t, err)
		return out
	}
	assert.Equal(t, []string{"a=1", "b=2", "\xff=ff"}, scan(nil, nil, 100))
	assert.Equal(t, []string{"b=2"}, scan([]byte("b"), []byte("c"), 100))
	assert.Equal(t, []string{"a=1"}, scan(nil, nil, 1))

	empty := ks.Batch()
	h, err = empty.Commit()
	require.NoError(t, err)
	require.NoError(t, h.Wait())
	d := ks.Batch()
	d.Set([]byte("z"), nil)
	d.Discard()
	_, ok, err = ks.Get([]byte("z"))
	require.NoError(t, err)
	assert.False(t, ok)
}

func TestMeta(t *testing.T) {
	db, _ := openTest(t, nil)
	_, ok, err := db.Meta("secret")
	require.NoError(t, err)
	assert.False(t, ok)
	require.NoError(t, db.SetMeta(t.Context(), "secret", []byte("k")))
	v, ok, err := db.Meta("secret")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "k", string(v))
}

// TestReopenKeepsEverything closes the database and opens the directory
// again: data, deletions, alarms, namespace numbers, key spaces and
// metadata are all there.
func TestReopenKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, nil)
	require.NoError(t, err)
	ns, err := db.Namespace("N")
	require.NoError(t, err)
	tx := db.Begin(ns, ObjectID{1})
	require.NoError(t, tx.PutMany(map[string][]byte{"a": []byte("1"), "b": []byte("2"), "\xff": []byte("3")}))
	require.NoError(t, tx.SetAlarm(time.Unix(42, 0)))
	commit(t, tx)
	tx = db.Begin(ns, ObjectID{1})
	_, err = tx.Delete("b")
	require.NoError(t, err)
	commit(t, tx)
	tx = db.Begin(ns, ObjectID{2})
	require.NoError(t, tx.Put("x", []byte("y")))
	require.NoError(t, tx.DeleteAll())
	commit(t, tx)
	ks, err := db.Keyspace("K")
	require.NoError(t, err)
	kb := ks.Batch()
	kb.Set([]byte("k"), []byte("v"))
	h, err := kb.Commit()
	require.NoError(t, err)
	// The last commit is not waited for: Close makes it durable.
	require.NoError(t, db.SetMeta(t.Context(), "m", []byte("meta")))
	require.NoError(t, db.Close())
	require.NoError(t, h.Wait())

	db, err = Open(dir, nil)
	require.NoError(t, err)
	defer db.Close()
	ns2, err := db.Namespace("N")
	require.NoError(t, err)
	assert.Equal(t, ns, ns2)
	tx = db.Begin(ns, ObjectID{1})
	l, err := tx.List(ListOptions{})
	require.NoError(t, err)
	assert.Equal(t, []Entry{{"a", []byte("1")}, {"\xff", []byte("3")}}, l)
	at, ok, err := tx.GetAlarm()
	require.NoError(t, err)
	assert.True(t, ok)
	assert.True(t, at.Equal(time.Unix(42, 0)))
	alarms, err := db.Alarms(time.Unix(42, 0), 0)
	require.NoError(t, err)
	assert.Len(t, alarms, 1)
	assert.Empty(t, listKeys(t, db, ns, ObjectID{2}, ListOptions{}))
	ks, err = db.Keyspace("K")
	require.NoError(t, err)
	v, ok, err := ks.Get([]byte("k"))
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "v", string(v))
	m, ok, err := db.Meta("m")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "meta", string(m))
}

func TestHandleWaitContext(t *testing.T) {
	db, _ := openTest(t, nil)
	tx := db.Begin(1, ObjectID{1})
	require.NoError(t, tx.Put("a", nil))
	h, err := tx.Commit()
	require.NoError(t, err)
	require.NoError(t, h.WaitContext(t.Context()))
	require.NoError(t, h.Wait(), "every Wait returns the same result")

	tx = db.Begin(1, ObjectID{1})
	require.NoError(t, tx.Put("b", nil))
	h, err = tx.Commit()
	require.NoError(t, err)
	ctx, cancel := contextCanceled(t)
	defer cancel()
	err = h.WaitContext(ctx)
	// The batch may already be durable, in which case Wait wins the race.
	if err != nil {
		assert.ErrorIs(t, err, ctx.Err())
	}
	require.NoError(t, h.Wait())
}

// TestGroupSyncDelay checks when a log sync waits for more commits: only
// after a sync that covered more than one commit, and never when turned
// off.
func TestGroupSyncDelay(t *testing.T) {
	db, _ := openTest(t, nil)
	interval := db.minSyncInterval
	db.commits.Store(1)
	db.onSync()
	assert.Zero(t, interval(), "a lone writer's sync waited")
	db.commits.Store(5)
	db.onSync()
	assert.Equal(t, DefaultGroupSyncDelay, interval())
	assert.Zero(t, db.commits.Load(), "the count restarts at each sync")

	// A lone writer that waits for each commit gets one commit per sync,
	// so its syncs never wait.
	lone, _ := openTest(t, nil)
	for i := range 20 {
		put(t, lone, 1, ObjectID{1}, "k", fmt.Sprint(i))
		assert.Equal(t, int64(1), lone.group.Load(), "commit %d", i)
		assert.Zero(t, lone.minSyncInterval(), "commit %d", i)
	}

	off, _ := openTest(t, &Options{GroupSyncDelay: -1})
	off.commits.Store(5)
	off.onSync()
	assert.Zero(t, off.minSyncInterval())
}
