package storage

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Default limits, the values Cloudflare Durable Objects enforce.
const (
	DefaultMaxKeySize   = 2048
	DefaultMaxValueSize = 128 << 10
	DefaultMaxBatchKeys = 128
)

// Limits bounds the keys and values of object storage. A zero field means
// the default.
type Limits struct {
	// MaxKeySize is the largest key in bytes; the default is 2,048.
	MaxKeySize int
	// MaxValueSize is the largest value in bytes; the default is 131,072.
	MaxValueSize int
	// MaxBatchKeys is the most keys one GetMany, PutMany or DeleteMany call
	// takes; the default is 128.
	MaxBatchKeys int
}

func (l Limits) withDefaults() Limits {
	if l.MaxKeySize <= 0 {
		l.MaxKeySize = DefaultMaxKeySize
	}
	if l.MaxValueSize <= 0 {
		l.MaxValueSize = DefaultMaxValueSize
	}
	if l.MaxBatchKeys <= 0 {
		l.MaxBatchKeys = DefaultMaxBatchKeys
	}
	return l
}

// Options configures Open. The zero value is ready to use.
type Options struct {
	// Logger receives the database's own log lines; Pebble's informational
	// messages are logged at debug level. Nil means slog.Default().
	Logger *slog.Logger
	// Limits bounds keys, values and many-calls.
	Limits Limits
	// Codec encodes the values of the typed helpers Get, Put and ListOf.
	// Nil means JSON.
	Codec Codec
	// FS replaces the file system, for tests that inject faults. Nil means
	// the operating system's file system.
	FS vfs.FS
	// Pebble, when set, is used as the base of the Pebble options; Open
	// still sets FS, Logger and the event listener. Nil means Pebble's
	// defaults.
	Pebble *pebble.Options
	// GroupSyncDelay is how long a sync of the write-ahead log waits after
	// the previous one ended, when that one covered more than one commit.
	// Under concurrent load the commits that arrive meanwhile share the
	// sync, so fewer fsyncs cover the same commits. A writer that waits
	// for each commit alone gets one commit per sync and never waits. The
	// default is DefaultGroupSyncDelay, and a negative value turns the wait
	// off. A WALMinSyncInterval set in Pebble replaces it.
	GroupSyncDelay time.Duration
}

// DefaultGroupSyncDelay is the default of Options.GroupSyncDelay.
//
// NOTE: 75 us is an estimate. Of the delays from 25 to 300 us, it gave the
// most commits per second for 64 concurrent writers on the 2-core machine
// that BENCHMARKS.md describes. Other disks may favour another value.
const DefaultGroupSyncDelay = 75 * time.Microsecond

// DB is one Pebble database holding the storage of every object namespace
// and KV key space of a process. It is safe for concurrent use.
type DB struct {
	pdb    *pebble.DB
	logger *slog.Logger
	limits Limits
	codec  Codec

	// closeMu is held for reading by every call that reaches Pebble and for
	// writing by Close, because Pebble panics on any use after Close.
	closeMu sync.RWMutex
	closed  atomic.Bool

	// failure is the first write or sync error; once set, every call
	// returns it. stuck reports that Pebble panicked inside its commit
	// pipeline, which then keeps its own lock forever, so that calling
	// Pebble's Close would never return.
	failure atomic.Pointer[error]
	stuck   atomic.Bool

	// nsMu serialises the allocation of namespace numbers.
	nsMu sync.Mutex

	// commits counts the batches applied since the last log sync began,
	// and group is that count as of the last sync.
	commits   atomic.Int64
	group     atomic.Int64
	syncDelay time.Duration // Options.GroupSyncDelay, defaults filled in
}

// onSync records the commit count as each sync of the write-ahead log
// begins.
func (db *DB) onSync() { db.group.Store(db.commits.Swap(0)) }

// minSyncInterval returns Pebble's WALMinSyncInterval: the group sync
// delay after a sync that covered more than one commit, else zero.
func (db *DB) minSyncInterval() time.Duration {
	if db.group.Load() > 1 {
		return db.syncDelay
	}
	return 0
}

// Open opens or creates the database in dir.
func Open(dir string, opts *Options) (*DB, error) {
	if opts == nil {
		opts = &Options{}
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}

	var po *pebble.Options
	if opts.Pebble != nil {
		po = opts.Pebble.Clone()
	} else {
		po = &pebble.Options{}
	}
	if opts.FS != nil {
		po.FS = opts.FS
	}
	if po.FS == nil {
		po.FS = vfs.Default
	}

	db := &DB{logger: logger, limits: opts.Limits.withDefaults(), codec: opts.Codec}
	if db.codec == nil {
		db.codec = JSON{}
	}
	// A failed log write or sync marks the DB failed before Pebble gets
	// the error, so later calls never reach its panics (see applyNoSyncWait).
	po.FS = walWatchFS{FS: po.FS, onError: func(err error) { db.fail(err) }, onSync: db.onSync}
	if po.WALMinSyncInterval == nil && opts.GroupSyncDelay >= 0 {
		db.syncDelay = opts.GroupSyncDelay
		if db.syncDelay == 0 {
			db.syncDelay = DefaultGroupSyncDelay
		}
		po.WALMinSyncInterval = db.minSyncInterval
	}

	pl := pebbleLogger{logger: logger.With("component", "pebble")}
	po.Logger = pl
	el := pebble.MakeLoggingEventListener(pl)
	el.EnsureDefaults(pl)
	po.EventListener = &el

	pdb, err := pebble.Open(dir, po)
	if errors.Is(err, ErrLocked) {
		return nil, err // names the directory already
	}
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", dir, err)
	}
	db.pdb = pdb
	return db, nil
}

// Limits returns the limits in force, defaults filled in.
func (db *DB) Limits() Limits { return db.limits }

// Codec returns the codec of the typed helpers.
func (db *DB) Codec() Codec { return db.codec }

// Pebble returns the underlying Pebble database, for metrics and
// benchmarks. Writing to it directly bypasses every invariant of this
// package.
func (db *DB) Pebble() *pebble.DB { return db.pdb }

// Close waits for calls in progress, syncs the write-ahead log and closes
// the database. Batches committed before Close are durable when it returns,
// so their Handles' Wait returns nil. Close is idempotent; later calls on
// the DB return ErrClosed.
//
// After a failure (see ErrFailed) Close returns an error. If Pebble's commit
// pipeline is stuck, Close cannot release Pebble's files and lock: the
// process must exit before the directory can be opened again.
func (db *DB) Close() error {
	db.closeMu.Lock()
	defer db.closeMu.Unlock()
	if db.closed.Swap(true) {
		return nil
	}
	if db.stuck.Load() {
		return fmt.Errorf("storage: close: pebble's commit pipeline is stuck after %w; "+
			"exit the process before opening the directory again", *db.failure.Load())
	}
	if err := db.pdb.Close(); err != nil {
		return fmt.Errorf("storage: close: %w", err)
	}
	return nil
}

// enter takes the read side of closeMu and checks that the DB is neither
// closed nor failed. When it returns nil, the caller must call db.leave.
func (db *DB) enter() error {
	db.closeMu.RLock()
	if err := db.state(); err != nil {
		db.closeMu.RUnlock()
		return err
	}
	return nil
}

func (db *DB) leave() { db.closeMu.RUnlock() }

// state returns ErrClosed after Close, the failure after a failure, and
// nil otherwise.
func (db *DB) state() error {
	if db.closed.Load() {
		return ErrClosed
	}
	if f := db.failure.Load(); f != nil {
		return *f
	}
	return nil
}

// fail records err as the database's failure, unless an earlier one is
// recorded, and returns the recorded failure. The result matches ErrFailed
// and the cause through errors.Is.
func (db *DB) fail(cause error) error {
	err := fmt.Errorf("%w: %w", ErrFailed, cause)
	if db.failure.CompareAndSwap(nil, &err) {
		db.logger.Error("storage: database failed; restart the process to reopen it", "error", cause)
		return err
	}
	return *db.failure.Load()
}

// apply commits b without waiting for the fsync, and returns the handle
// that waits for it.
func (db *DB) apply(b *pebble.Batch) (*Handle, error) {
	return db.applyTo(b, &Handle{})
}

// applyTo is apply with the unused Handle to fill in.
func (db *DB) applyTo(b *pebble.Batch, h *Handle) (*Handle, error) {
	if err := db.enter(); err != nil {
		b.Close()
		return nil, err
	}
	defer db.leave()
	if err := db.applyNoSyncWait(b); err != nil {
		return nil, err
	}
	h.db, h.batch = db, b
	return h, nil
}

// applyNoSyncWait calls Pebble's ApplyNoSyncWait and turns its panics into
// a failure of the database.
//
// NOTE: Pebble v2.1.7 does not return write-ahead log errors from
// ApplyNoSyncWait. After a log write or sync has failed, the log writer
// keeps the error. Batches committed later still reach the memtable, and
// their SyncWait returns the error. Once the log writer has filled its
// current 32 KiB block, its next write returns the error and Pebble panics
// on the committing goroutine. commitWrite panics while it holds the commit
// pipeline's mutex. Other commit errors reach Logger.Fatalf ("fatal commit
// error"), which pebbleLogger turns into a panic. The recover here
// keeps the process alive and marks the database failed and stuck, because
// the pipeline never commits again and Pebble's Close would wait for it
// forever. A commit that rotates the log after the error is worse:
// rotateWAL panics while DB.mu is unlocked, the deferred unlock fails, and
// the Go runtime ends the process ("sync: unlock of unlocked mutex"); no
// recover can catch that. walWatchFS marks the DB failed as soon as a log
// write or sync fails, so only a commit already inside Pebble at that
// moment can still reach these panics.
func (db *DB) applyNoSyncWait(b *pebble.Batch) (err error) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		db.stuck.Store(true)
		cause, ok := r.(error)
		if !ok {
			cause = fmt.Errorf("%v", r)
		}
		err = db.fail(fmt.Errorf("storage: commit: pebble panicked: %w", cause))
	}()
	// Counted before the log write, so that a sync that begins right
	// after the write counts this commit.
	db.commits.Add(1)
	if err := db.pdb.ApplyNoSyncWait(b, pebble.Sync); err != nil {
		b.Close()
		return db.fail(fmt.Errorf("storage: commit: %w", err))
	}
	return nil
}

// get reads one raw key, copying the value. It returns nil, false for a
// missing key.
func (db *DB) get(key []byte) ([]byte, bool, error) {
	if err := db.enter(); err != nil {
		return nil, false, err
	}
	defer db.leave()
	return readKey(db.pdb, key)
}

// readKey reads one raw key from r, copying the value. It returns nil,
// false for a missing key.
func readKey(r pebble.Reader, key []byte) ([]byte, bool, error) {
	v, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("storage: get: %w", err)
	}
	out := clone(v)
	closer.Close()
	return out, true, nil
}

// Namespace returns the number of the object namespace called name,
// allocating and durably recording one the first time the name is seen.
// Numbers are stable for the life of the data directory.
func (db *DB) Namespace(name string) (uint32, error) {
	return db.number("ns/" + name)
}

func (db *DB) number(name string) (uint32, error) {
	if len(name) <= 3 || len(name) > 255+3 {
		return 0, fmt.Errorf("%w: %q must be 1 to 255 bytes", ErrInvalidName, name)
	}
	db.nsMu.Lock()
	defer db.nsMu.Unlock()
	v, ok, err := db.get(metaKey(name))
	if err != nil {
		return 0, err
	}
	if ok && len(v) == 4 {
		return binary.BigEndian.Uint32(v), nil
	}
	next := uint32(1)
	cur, ok, err := db.get(metaKey("next-number"))
	if err != nil {
		return 0, err
	}
	if ok && len(cur) == 4 {
		next = binary.BigEndian.Uint32(cur)
	}
	b := db.pdb.NewBatch()
	var buf [4]byte
	binary.BigEndian.PutUint32(buf[:], next)
	_ = b.Set(metaKey(name), buf[:], nil)
	var nbuf [4]byte
	binary.BigEndian.PutUint32(nbuf[:], next+1)
	_ = b.Set(metaKey("next-number"), nbuf[:], nil)
	h, err := db.apply(b)
	if err != nil {
		return 0, err
	}
	if err := h.Wait(); err != nil {
		return 0, err
	}
	return next, nil
}

// Meta returns the database metadata value stored under name, or nil and
// false when there is none.
func (db *DB) Meta(name string) ([]byte, bool, error) {
	return db.get(metaKey("user/" + name))
}

// SetMeta durably stores a database metadata value, such as a key that must
// stay the same for the life of the data directory.
func (db *DB) SetMeta(ctx context.Context, name string, value []byte) error {
	b := db.pdb.NewBatch()
	_ = b.Set(metaKey("user/"+name), value, nil)
	h, err := db.apply(b)
	if err != nil {
		return err
	}
	return h.WaitContext(ctx)
}

// pebbleLogger routes Pebble's log lines to slog.
type pebbleLogger struct{ logger *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	if l.logger.Enabled(context.Background(), slog.LevelDebug) {
		l.logger.Debug(fmt.Sprintf(format, args...))
	}
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.logger.Error(fmt.Sprintf(format, args...))
}

// Fatalf logs the message and panics. Pebble calls it for errors it cannot
// recover from. Called on a goroutine of the caller, inside
// ApplyNoSyncWait, the panic becomes a failure of the DB.
//
// NOTE: on Pebble's own goroutines (a failed MANIFEST write or sync during a
// flush or compaction, for example) nothing recovers the panic and the
// process exits, as it would with Pebble's default logger, which calls
// os.Exit. On restart Pebble recovers from its write-ahead log and MANIFEST.
func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.logger.Error(msg, "fatal", true)
	panic("pebble: " + msg)
}
