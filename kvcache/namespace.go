package kvcache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
	"weak"

	"github.com/durable-go/durable/clock"
	"github.com/durable-go/durable/storage"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
)

// Default limits, the values Cloudflare Workers KV enforces.
const (
	DefaultMaxKeySize      = 512
	DefaultMaxValueSize    = 25 << 20
	DefaultMaxMetadataSize = 1024
	DefaultMaxGetKeys      = 100
	DefaultMaxListLimit    = 1000
)

// DefaultSweepInterval is the default of Options.SweepInterval, the time
// between two sweeps that delete expired keys from disk.
const DefaultSweepInterval = time.Minute

// Limits bounds the keys, values and metadata of a Namespace. A zero field
// means the default.
type Limits struct {
	// MaxKeySize is the largest key in bytes; the default is 512. Keys
	// are at least 1 byte of valid UTF-8, and neither "." nor "..".
	MaxKeySize int
	// MaxValueSize is the largest value in bytes; the default is 25 MiB.
	MaxValueSize int
	// MaxMetadataSize is the largest metadata, serialized as JSON, in
	// bytes; the default is 1,024.
	MaxMetadataSize int
	// MaxGetKeys is the most keys one GetMany call takes; the default is
	// 100.
	MaxGetKeys int
	// MaxListLimit is the largest ListOptions.Limit and the default page
	// size; the default is 1,000.
	MaxListLimit int
	// MinTTL is the shortest time from now that an expiration may be.
	// Zero means any time in the future. Workers KV requires 60 seconds.
	MinTTL time.Duration
}

func (l Limits) withDefaults() Limits {
	if l.MaxKeySize <= 0 {
		l.MaxKeySize = DefaultMaxKeySize
	}
	if l.MaxValueSize <= 0 {
		l.MaxValueSize = DefaultMaxValueSize
	}
	if l.MaxMetadataSize <= 0 {
		l.MaxMetadataSize = DefaultMaxMetadataSize
	}
	if l.MaxGetKeys <= 0 {
		l.MaxGetKeys = DefaultMaxGetKeys
	}
	if l.MaxListLimit <= 0 {
		l.MaxListLimit = DefaultMaxListLimit
	}
	return l
}

// Options configures Open. The zero value is ready to use; every zero field
// means its documented default.
type Options struct {
	// Clock decides which keys have expired and drives the sweep. Nil
	// means clock.Real.
	Clock clock.Clock
	// Logger receives sweep failures. Nil means slog.Default().
	Logger *slog.Logger
	// Limits bounds keys, values, metadata and calls.
	Limits Limits
	// SweepInterval is the time between two background sweeps that delete
	// expired keys from disk. The default is DefaultSweepInterval; a
	// negative value turns the background sweep off. Reads never return an
	// expired key, swept or not.
	SweepInterval time.Duration
	// MeterProvider receives the namespace's metrics. Nil means the global
	// provider of go.opentelemetry.io/otel.
	MeterProvider metric.MeterProvider
}

// Namespace is a KV namespace: string keys mapped to byte values with an
// optional expiration and JSON metadata, kept in its own key space of a
// storage.DB. It is safe for concurrent use.
//
// A write is durable (fsynced) when Put or Delete returns nil. Reads see a
// write as soon as it is committed, which is shortly before it is durable.
type Namespace struct {
	name   string
	ks     *storage.Keyspace
	clock  clock.Clock
	logger *slog.Logger
	limits Limits

	// writeMu serialises the commits of writers and of the sweep over this
	// key space, so the sweep never deletes a key rewritten after it read
	// the key's expiration. It is shared by every Namespace opened on the
	// same database and name.
	writeMu *sync.Mutex

	swept metric.Int64Counter

	closed    atomic.Bool
	closeOnce sync.Once
	stop      chan struct{} // closed by Close
	done      chan struct{} // closed when the sweeper has returned
}

// writeLocks maps a database and key space name to the mutex its writers
// share. The key holds the database weakly, so a closed database can be
// collected.
//
// NOTE: entries are never removed; there is one per namespace name ever
// opened on a database, a few dozen bytes each.
var writeLocks sync.Map // writeLockKey -> *sync.Mutex

type writeLockKey struct {
	db   weak.Pointer[storage.DB]
	name string
}

// Open opens the KV namespace called name in db, creating it the first
// time, and starts its background sweep. Opening the same name again,
// before or after Close, gives access to the same keys. Close the
// Namespace to stop the sweep. Closing it does not close db.
func Open(db *storage.DB, name string, opts *Options) (*Namespace, error) {
	if opts == nil {
		opts = &Options{}
	}
	ks, err := db.Keyspace(name)
	if err != nil {
		return nil, fmt.Errorf("kvcache: open namespace %q: %w", name, err)
	}

	mu, _ := writeLocks.LoadOrStore(writeLockKey{weak.Make(db), name}, new(sync.Mutex))
	ns := &Namespace{
		name:    name,
		ks:      ks,
		clock:   opts.Clock,
		logger:  opts.Logger,
		limits:  opts.Limits.withDefaults(),
		writeMu: mu.(*sync.Mutex),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	if ns.clock == nil {
		ns.clock = clock.Real
	}
	if ns.logger == nil {
		ns.logger = slog.Default()
	}

	mp := opts.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	ns.swept, err = mp.Meter(meterName).Int64Counter("kvcache.namespace.swept",
		metric.WithDescription("Expired keys deleted from disk by the sweep."),
		metric.WithUnit("{key}"))
	if err != nil {
		return nil, fmt.Errorf("kvcache: open namespace %q: create metric: %w", name, err)
	}

	interval := opts.SweepInterval
	if interval == 0 {
		interval = DefaultSweepInterval
	}
	if interval > 0 {
		go ns.sweepLoop(interval)
	} else {
		close(ns.done)
	}
	return ns, nil
}

// Name returns the name the namespace was opened with.
func (ns *Namespace) Name() string { return ns.name }

// Limits returns the limits in force, defaults filled in.
func (ns *Namespace) Limits() Limits { return ns.limits }

// Close stops the background sweep and waits for a running sweep to end.
// Later calls on ns return ErrClosed. Close does not close the database,
// and the namespace's keys stay on disk.
func (ns *Namespace) Close() error {
	ns.closeOnce.Do(func() {
		ns.closed.Store(true)
		close(ns.stop)
	})
	<-ns.done
	return nil
}

// Entry is a value read from a Namespace with its metadata and expiration.
type Entry struct {
	// Value is the stored value; empty, not nil, for an empty value.
	Value []byte
	// Metadata is the JSON metadata stored with the value, or nil.
	Metadata json.RawMessage
	// Expiration is when the key expires; zero when it does not.
	Expiration time.Time
}

// Get returns the value of key and true, or nil and false if key has no
// value or has expired. An empty value is returned as an empty, non-nil
// slice with true.
func (ns *Namespace) Get(ctx context.Context, key string) ([]byte, bool, error) {
	e, ok, err := ns.GetWithMetadata(ctx, key)
	return e.Value, ok, err
}

// GetWithMetadata returns the value of key with its metadata and
// expiration, and true. It returns a zero Entry and false, and no error,
// if key has no value or has expired.
func (ns *Namespace) GetWithMetadata(ctx context.Context, key string) (Entry, bool, error) {
	if err := ns.check(ctx); err != nil {
		return Entry{}, false, err
	}
	if err := ns.checkKey(key); err != nil {
		return Entry{}, false, err
	}
	return ns.read(key, ns.clock.Now().UnixNano())
}

// GetMany returns the live entries of keys, keyed by key; missing and
// expired keys are absent from the map. It takes at most
// Limits.MaxGetKeys keys.
func (ns *Namespace) GetMany(ctx context.Context, keys []string) (map[string]Entry, error) {
	if err := ns.check(ctx); err != nil {
		return nil, err
	}
	if len(keys) > ns.limits.MaxGetKeys {
		return nil, &LimitError{Limit: "keys per call", Size: len(keys), Min: 0, Max: ns.limits.MaxGetKeys}
	}
	for _, k := range keys {
		if err := ns.checkKey(k); err != nil {
			return nil, err
		}
	}
	now := ns.clock.Now().UnixNano()
	out := make(map[string]Entry, len(keys))
	for _, k := range keys {
		e, ok, err := ns.read(k, now)
		if err != nil {
			return nil, err
		}
		if ok {
			out[k] = e
		}
	}
	return out, nil
}

// read returns the entry of key if it is live at now.
func (ns *Namespace) read(key string, now int64) (Entry, bool, error) {
	raw, ok, err := ns.ks.Get(dataKey(key))
	if err != nil {
		return Entry{}, false, fmt.Errorf("kvcache: get %q: %w", truncateKey(key), err)
	}
	if !ok {
		return Entry{}, false, nil
	}
	r, err := decodeRecord(raw)
	if err != nil {
		return Entry{}, false, decodeErr(key, err)
	}
	if r.expiredAt(now) {
		return Entry{}, false, nil
	}
	if r.value == nil {
		r.value = []byte{}
	}
	return Entry{Value: r.value, Metadata: r.metadata, Expiration: r.expirationTime()}, true, nil
}

// PutOptions sets the expiration and metadata of a Put. The zero value
// stores a key that never expires and has no metadata.
type PutOptions struct {
	// Expiration is when the key expires: it is readable before this time
	// and never from it on. It must be in the future.
	Expiration time.Time
	// TTL sets the expiration to now plus TTL. Set Expiration or TTL, not
	// both.
	TTL time.Duration
	// Metadata is stored with the value, serialized with encoding/json.
	// Nil means no metadata.
	Metadata any
}

// Put stores value under key, replacing any earlier value, expiration and
// metadata, and returns once the write is durable. Over a limit it returns
// a *LimitError and changes nothing. If ctx ends while Put waits for the
// disk, Put returns ctx.Err() but the write stays committed.
func (ns *Namespace) Put(ctx context.Context, key string, value []byte, opts PutOptions) error {
	if err := ns.check(ctx); err != nil {
		return err
	}
	r, err := ns.prepare(key, value, opts)
	if err != nil {
		return err
	}
	h, err := ns.commitPut(key, r)
	if err != nil {
		return err
	}
	return ns.wait(ctx, key, h)
}

// prepare checks key, value and options against the limits and returns
// the record to store.
func (ns *Namespace) prepare(key string, value []byte, opts PutOptions) (record, error) {
	if err := ns.checkKey(key); err != nil {
		return record{}, err
	}
	if len(value) > ns.limits.MaxValueSize {
		return record{}, &LimitError{Limit: "value size", Key: truncateKey(key),
			Size: len(value), Min: 0, Max: ns.limits.MaxValueSize}
	}
	r := record{value: value}
	if opts.Metadata != nil {
		meta, err := json.Marshal(opts.Metadata)
		if err != nil {
			return record{}, fmt.Errorf("kvcache: put %q: encode metadata: %w", truncateKey(key), err)
		}
		if len(meta) > ns.limits.MaxMetadataSize {
			return record{}, &LimitError{Limit: "metadata size", Key: truncateKey(key),
				Size: len(meta), Min: 0, Max: ns.limits.MaxMetadataSize}
		}
		r.metadata = meta
	}
	exp, err := ns.expiration(key, opts)
	if err != nil {
		return record{}, err
	}
	r.expiration = exp
	return r, nil
}

// expiration returns the expiration of a Put in Unix nanoseconds, or zero.
func (ns *Namespace) expiration(key string, opts PutOptions) (int64, error) {
	hasExp, hasTTL := !opts.Expiration.IsZero(), opts.TTL != 0
	if !hasExp && !hasTTL {
		return 0, nil
	}
	if hasExp && hasTTL {
		return 0, fmt.Errorf("%w: put %q sets both Expiration and TTL; set one",
			ErrInvalidExpiration, truncateKey(key))
	}
	now := ns.clock.Now()
	exp := opts.Expiration
	if hasTTL {
		exp = now.Add(opts.TTL)
	}
	ahead := exp.Sub(now)
	if ahead <= 0 || ahead < ns.limits.MinTTL {
		return 0, fmt.Errorf("%w: put %q expires %v from now; the minimum is %v and it must be in the future",
			ErrInvalidExpiration, truncateKey(key), ahead, max(ns.limits.MinTTL, time.Nanosecond))
	}
	return exp.UnixNano(), nil
}

// commitPut commits r under key and returns the handle that waits for
// durability. It replaces the expiry index entry of the earlier value.
func (ns *Namespace) commitPut(key string, r record) (*storage.Handle, error) {
	ns.writeMu.Lock()
	defer ns.writeMu.Unlock()
	b := ns.ks.Batch()
	old, err := ns.storedExpiration(key)
	if err != nil {
		b.Discard()
		return nil, err
	}
	if old != 0 && old != r.expiration {
		b.Delete(expiryKey(old, key))
	}
	b.Set(dataKey(key), encodeRecord(r))
	if r.expiration != 0 {
		b.Set(expiryKey(r.expiration, key), nil)
	}
	h, err := b.Commit()
	if err != nil {
		return nil, fmt.Errorf("kvcache: put %q: %w", truncateKey(key), err)
	}
	return h, nil
}

// storedExpiration returns the expiration of the stored record of key, or
// zero when there is none. The caller holds writeMu.
//
// NOTE: a record that does not decode counts as one without expiration,
// so Put and Delete can replace it and the sweep does not stop at it.
func (ns *Namespace) storedExpiration(key string) (int64, error) {
	raw, ok, err := ns.ks.Get(dataKey(key))
	if err != nil {
		return 0, fmt.Errorf("kvcache: read %q: %w", truncateKey(key), err)
	}
	if !ok {
		return 0, nil
	}
	r, err := decodeRecord(raw)
	if err != nil {
		return 0, nil
	}
	return r.expiration, nil
}

// Delete removes key and returns once the removal is durable. Deleting a
// missing key succeeds.
func (ns *Namespace) Delete(ctx context.Context, key string) error {
	if err := ns.check(ctx); err != nil {
		return err
	}
	if err := ns.checkKey(key); err != nil {
		return err
	}
	h, err := ns.commitDelete(key)
	if err != nil {
		return err
	}
	return ns.wait(ctx, key, h)
}

func (ns *Namespace) commitDelete(key string) (*storage.Handle, error) {
	ns.writeMu.Lock()
	defer ns.writeMu.Unlock()
	old, err := ns.storedExpiration(key)
	if err != nil {
		return nil, err
	}
	b := ns.ks.Batch()
	if old != 0 {
		b.Delete(expiryKey(old, key))
	}
	b.Delete(dataKey(key))
	h, err := b.Commit()
	if err != nil {
		return nil, fmt.Errorf("kvcache: delete %q: %w", truncateKey(key), err)
	}
	return h, nil
}

func (ns *Namespace) wait(ctx context.Context, key string, h *storage.Handle) error {
	if err := h.WaitContext(ctx); err != nil {
		if errors.Is(err, ctx.Err()) {
			return err
		}
		return fmt.Errorf("kvcache: write %q: wait for durability: %w", truncateKey(key), err)
	}
	return nil
}

// check returns ErrClosed after Close and ctx.Err() when ctx has ended.
func (ns *Namespace) check(ctx context.Context) error {
	if ns.closed.Load() {
		return ErrClosed
	}
	return ctx.Err()
}

func (ns *Namespace) checkKey(key string) error {
	switch {
	case len(key) < 1 || len(key) > ns.limits.MaxKeySize:
		return &LimitError{Limit: "key size", Key: truncateKey(key),
			Size: len(key), Min: 1, Max: ns.limits.MaxKeySize}
	case key == "." || key == "..":
		return fmt.Errorf("%w %q: \".\" and \"..\" are reserved; use another key", ErrInvalidKey, key)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w %q: not valid UTF-8; encode binary keys, for example in hex", ErrInvalidKey, truncateKey(key))
	}
	return nil
}
