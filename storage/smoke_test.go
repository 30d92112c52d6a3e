package storage

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSmoke(t *testing.T) {
	db, err := Open(t.TempDir(), nil)
	require.NoError(t, err)
	defer db.Close()
	ns, err := db.Namespace("A")
	require.NoError(t, err)
	tx := db.Begin(ns, ObjectID{1})
	require.NoError(t, tx.Put("b", []byte("2")))
	require.NoError(t, tx.Put("a", []byte("1")))
	require.NoError(t, tx.SetAlarm(time.Unix(100, 0)))
	h, err := tx.Commit()
	require.NoError(t, err)
	require.NoError(t, h.Wait())
	tx = db.Begin(ns, ObjectID{1})
	require.NoError(t, tx.Put("c", []byte("3")))
	_, err = tx.Delete("a")
	require.NoError(t, err)
	l, err := tx.List(ListOptions{})
	require.NoError(t, err)
	require.Equal(t, []Entry{{"b", []byte("2")}, {"c", []byte("3")}}, l)
	l, err = tx.List(ListOptions{Reverse: true, Limit: 1})
	require.NoError(t, err)
	require.Equal(t, []Entry{{"c", []byte("3")}}, l)
	as, err := db.Alarms(time.Unix(100, 0), 0)
	require.NoError(t, err)
	require.Len(t, as, 1)
	ids, err := db.ObjectIDs(ns, nil, 0)
	require.NoError(t, err)
	require.Equal(t, []ObjectID{{1}}, ids)
}
