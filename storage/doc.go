// Package storage keeps the durable state of durable's objects and KV key
// spaces in one embedded Pebble database.
//
// # Object storage
//
// Every object, named by a namespace number and a 16-byte [ObjectID], owns
// a private, ordered key space. All keys of one object are contiguous in
// Pebble, so [Txn.List] is one bounded iterator and [Txn.DeleteAll] is one
// range deletion. Keys are strings of 1 to [Limits.MaxKeySize] bytes and
// order by their bytes; a key need not be valid UTF-8, and such keys are
// stored and listed like any other.
//
// A turn of an object works on a [Txn] from [DB.Begin]. Reads see the
// object's committed data overlaid with the turn's own writes. Nothing is
// visible to other readers until [Txn.Commit], which applies every write
// and the alarm change as one atomic Pebble batch. [Txn.Transaction] nests a
// transaction that rolls back when its function fails.
//
// # Durability
//
// Commit does not wait for the disk. It returns a [Handle] at once, with
// the batch already visible to later reads, and [Handle.Wait] returns when
// the batch is fsynced. Commits from many goroutines that wait at about the
// same time share one fsync (group commit), so throughput is not bounded by
// the disk's sync latency. Because the write-ahead log is synced in commit
// order, a durable batch implies every earlier batch is durable too. The
// actor runtime holds each turn's result until its Handle is durable.
//
// # Failures
//
// A batch is atomic on disk: after a crash or a kill, reopening the
// directory finds each batch wholly present or wholly absent, and every
// batch whose Wait returned nil present. When a write or sync of the
// write-ahead log fails, Wait returns an error matching [ErrFailed], and
// so does every later call on the DB: the failed batch is already visible
// in memory but may not be on disk, so nothing more is read or written
// until the directory is opened again. [DB.Close] still returns after such
// a failure.
//
// NOTE: with Pebble v2.1.7 a log error that races with a commit already
// inside Pebble can still end the process (a panic during log rotation
// that no recover can catch). Restarting recovers as after a crash.
//
// # Alarms
//
// Each object has at most one alarm time, written in the same batch as its
// data. A time-ordered index lets [DB.Alarms] return the due alarms of all
// objects in one scan.
//
// # Concurrency
//
// A [DB] and a [Keyspace] are safe for concurrent use. A [Txn] belongs to
// one turn; its methods are serialised by a mutex, and every method returns
// [ErrTxnDone] after Commit or Discard. Two Txns of the same object must
// not be open at once: the actor runtime ensures that turns of one object
// never overlap.
package storage
