package storage

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

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
	// Codec encodes the values of the typed helpers Get, Put and List.
	// Nil means JSON.
	Codec Codec
	// FS replaces the file system, for tests that inject faults. Nil means
	// the operating system's file system.
	FS vfs.FS
	// Pebble, when set, is used as the base of the Pebble options; Open
	// still sets FS, Logger and the event listener. Nil means Pebble's
	// defaults.
	Pebble *pebble.Options
}

// DB is one Pebble database holding the storage of every object namespace
// and KV key space of a process. It is safe for concurrent use.
type DB struct {
	pdb    *pebble.DB
	logger *slog.Logger
	limits Limits
	codec  Codec

	// closeMu is held for reading by every write that reaches Pebble and for
	// writing by Close, because Pebble panics on a write after Close.
	closeMu sync.RWMutex
	closed  atomic.Bool

	// nsMu serialises the allocation of namespace numbers.
	nsMu sync.Mutex
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
	pl := pebbleLogger{logger: logger.With("component", "pebble")}
	po.Logger = pl
	el := pebble.MakeLoggingEventListener(pl)
	el.EnsureDefaults(pl)
	po.EventListener = &el
	pdb, err := pebble.Open(dir, po)
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", dir, err)
	}
	codec := opts.Codec
	if codec == nil {
		codec = JSON{}
	}
	return &DB{pdb: pdb, logger: logger, limits: opts.Limits.withDefaults(), codec: codec}, nil
}

// Limits returns the limits in force, defaults filled in.
func (db *DB) Limits() Limits { return db.limits }

// Codec returns the codec of the typed helpers.
func (db *DB) Codec() Codec { return db.codec }

// Pebble returns the underlying Pebble database, for metrics and
// benchmarks. Writing to it directly bypasses every invariant of this
// package.
func (db *DB) Pebble() *pebble.DB { return db.pdb }

// Close flushes and closes the database. Handles not yet durable return an
// error from Wait. Close is idempotent.
func (db *DB) Close() error {
	db.closeMu.Lock()
	defer db.closeMu.Unlock()
	if db.closed.Swap(true) {
		return nil
	}
	if err := db.pdb.Close(); err != nil {
		return fmt.Errorf("storage: close: %w", err)
	}
	return nil
}

// apply commits b without waiting for the fsync, and returns the handle
// that waits for it.
func (db *DB) apply(b *pebble.Batch) (*Handle, error) {
	db.closeMu.RLock()
	defer db.closeMu.RUnlock()
	if db.closed.Load() {
		b.Close()
		return nil, ErrClosed
	}
	if err := db.pdb.ApplyNoSyncWait(b, pebble.Sync); err != nil {
		b.Close()
		return nil, fmt.Errorf("storage: commit: %w", err)
	}
	return &Handle{batch: b}, nil
}

// get reads one raw key, copying the value. It returns nil, false for a
// missing key.
func (db *DB) get(key []byte) ([]byte, bool, error) {
	if db.closed.Load() {
		return nil, false, ErrClosed
	}
	v, closer, err := db.pdb.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("storage: get: %w", err)
	}
	out := make([]byte, len(v))
	copy(out, v)
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

func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.logger.Error(msg, "fatal", true)
	panic("pebble: " + msg)
}
