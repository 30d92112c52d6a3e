package storage

import (
	"bytes"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Keyspace is a flat, ordered key space inside the database, separate from
// every object's storage, for layers such as kvcache that keep their own
// encoding. Keys and values are raw bytes and are not limited here. It is
// safe for concurrent use.
type Keyspace struct {
	db     *DB
	prefix []byte
	upper  []byte
}

// Keyspace returns the key space called name, creating it the first time.
// Key spaces and object namespaces have separate names.
func (db *DB) Keyspace(name string) (*Keyspace, error) {
	n, err := db.number("kv/" + name)
	if err != nil {
		return nil, err
	}
	p := keyspacePrefix(n)
	return &Keyspace{db: db, prefix: p, upper: successor(p)}, nil
}

// Get returns a copy of the value stored under key, or nil and false.
func (k *Keyspace) Get(key []byte) ([]byte, bool, error) {
	return k.db.get(append(bytes.Clone(k.prefix), key...))
}

// Scan calls fn for each key in [lower, upper) in ascending order until fn
// returns false. A nil upper means the end of the key space. The slices
// passed to fn are valid only during the call.
func (k *Keyspace) Scan(lower, upper []byte, fn func(key, value []byte) bool) error {
	if err := k.db.enter(); err != nil {
		return err
	}
	defer k.db.leave()
	opts := &pebble.IterOptions{
		LowerBound: append(bytes.Clone(k.prefix), lower...),
		UpperBound: k.upper,
	}
	if upper != nil {
		opts.UpperBound = append(bytes.Clone(k.prefix), upper...)
	}
	it, err := k.db.pdb.NewIter(opts)
	if err != nil {
		return fmt.Errorf("storage: scan: %w", err)
	}
	defer it.Close()
	for valid := it.First(); valid; valid = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return fmt.Errorf("storage: scan: %w", err)
		}
		if !fn(it.Key()[len(k.prefix):], v) {
			break
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("storage: scan: %w", err)
	}
	return nil
}

// Batch returns an empty write batch for the key space.
func (k *Keyspace) Batch() *KeyspaceBatch {
	return &KeyspaceBatch{ks: k, b: k.db.pdb.NewBatch()}
}

// KeyspaceBatch collects writes to one key space and commits them
// atomically. It is not safe for concurrent use.
type KeyspaceBatch struct {
	ks *Keyspace
	b  *pebble.Batch
}

// Set adds a write of value under key.
func (b *KeyspaceBatch) Set(key, value []byte) {
	_ = b.b.Set(append(bytes.Clone(b.ks.prefix), key...), value, nil)
}

// Delete adds a deletion of key.
func (b *KeyspaceBatch) Delete(key []byte) {
	_ = b.b.Delete(append(bytes.Clone(b.ks.prefix), key...), nil)
}

// Len returns the number of writes in the batch.
func (b *KeyspaceBatch) Len() int { return int(b.b.Count()) }

// Commit applies the batch; the returned Handle waits for durability. The
// batch must not be used afterwards.
func (b *KeyspaceBatch) Commit() (*Handle, error) {
	if b.b.Count() == 0 {
		b.b.Close()
		return doneHandle, nil
	}
	return b.ks.db.apply(b.b)
}

// Discard drops the batch without committing it.
func (b *KeyspaceBatch) Discard() { b.b.Close() }
