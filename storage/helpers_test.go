package storage

import (
	"context"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
)

// openTest opens a database in a new temporary directory and closes it when
// the test ends.
func openTest(t testing.TB, opts *Options) (*DB, string) {
	t.Helper()
	dir := t.TempDir()
	db, err := Open(dir, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db, dir
}

// commit commits tx and waits until it is durable.
func commit(t testing.TB, tx *Txn) {
	t.Helper()
	h, err := tx.Commit()
	require.NoError(t, err)
	require.NoError(t, h.Wait())
}

// put commits one write of key to the object id of namespace ns.
func put(t testing.TB, db *DB, ns uint32, id ObjectID, key, value string) {
	t.Helper()
	tx := db.Begin(ns, id)
	require.NoError(t, tx.Put(key, []byte(value)))
	commit(t, tx)
}

// keysOf returns the keys of entries in order.
func keysOf(entries []Entry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Key
	}
	return out
}

// listKeys lists the keys of a new Txn on id.
func listKeys(t testing.TB, db *DB, ns uint32, id ObjectID, opts ListOptions) []string {
	t.Helper()
	tx := db.Begin(ns, id)
	defer tx.Discard()
	l, err := tx.List(opts)
	require.NoError(t, err)
	return keysOf(l)
}

// contextCanceled returns a context that is already canceled.
func contextCanceled(t testing.TB) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	return ctx, cancel
}

// quiet is a logger that drops everything, for tests whose failures are
// expected and checked.
var quiet = slog.New(slog.DiscardHandler)
