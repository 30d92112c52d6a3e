package storage

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Entry is one key and its raw value, as returned by List.
type Entry struct {
	Key   string
	Value []byte
}

// ListOptions selects a range of one object's keys. Keys order by their
// bytes. The range is the intersection of every bound given.
type ListOptions struct {
	// Prefix keeps only keys that start with it.
	Prefix string
	// Start is the first key of the range, inclusive.
	Start string
	// StartAfter is the key just before the range, exclusive. Setting both
	// Start and StartAfter is an error.
	StartAfter string
	// End is the key just after the range, exclusive. Empty means no bound.
	End string
	// Reverse returns keys in descending order. It does not change what
	// Start and End mean.
	Reverse bool
	// Limit returns at most this many keys, the first ones in the chosen
	// order. Zero means no limit.
	Limit int
}

// write is one pending write of a key: a value or a deletion.
type write struct {
	value   []byte
	deleted bool
}

// alarmWrite is a pending change of the object's alarm.
type alarmWrite struct {
	t       time.Time
	deleted bool
}

// layer holds the writes of one transaction level.
type layer struct {
	writes writeSet
	// cleared means DeleteAll ran at this level: everything below it,
	// durable data included, is hidden.
	cleared bool
	alarm   *alarmWrite
}

// txnState is shared by a Txn and the nested transactions it opens. When
// the Txn ends, its state goes back to txnPool for a later Begin, and gen
// changes, so that every Txn made for the earlier use returns ErrTxnDone.
type txnState struct {
	mu     sync.Mutex // guards every field below and serialises all calls
	gen    uint64     // use count; a Txn whose gen differs has ended
	layers []*layer
	done   bool
	keyBuf []byte // scratch space for encoded keys
	values []byte // copies of the values of pending writes

	root       layer
	rootLayers [1]*layer
	prefixBuf  [objectPrefix]byte // the object's key prefix
	upperBuf   [objectPrefix]byte // the successor of the prefix, upperLen bytes
	upperLen   int
	cache      *Cache      // nil when reads go to Pebble
	name       string      // see Txn.SetName
	smallBuf   [2]keyWrite // the first writes of the root layer
	keyArr     [64]byte    // the first key buffer
}

// txnPool keeps the state of ended Txns. Reusing it saves Begin most of
// its allocation, which shows in commit throughput through the garbage
// collector's work.
var txnPool = sync.Pool{New: func() any { return new(txnState) }}

// release ends the use of st. The caller holds st.mu, unlocks it and then
// passes st to putState; the pool must never hand out a locked state.
func (st *txnState) release() {
	st.gen++
	st.done = true
	clear(st.smallBuf[:]) // drop references to values
	st.root = layer{}
	st.layers = nil
	st.cache = nil
	st.name = ""
	if cap(st.keyBuf) > 4096 {
		st.keyBuf = nil
	}
	// Pending writes are gone and Get and List return copies, so nothing
	// refers to the values any longer.
	st.values = st.values[:0]
	if cap(st.values) > 64<<10 {
		st.values = nil
	}
}

// keep copies v to the end of st.values and returns the copy, whose
// capacity ends with it.
func (st *txnState) keep(v []byte) []byte {
	start := len(st.values)
	st.values = append(st.values, v...)
	return st.values[start:len(st.values):len(st.values)]
}

// prefix returns the prefix of every data key of the Txn's object.
func (st *txnState) prefix() []byte { return st.prefixBuf[:objectPrefix:objectPrefix] }

// upper returns the smallest key after every data key of the Txn's object.
func (st *txnState) upper() []byte { return st.upperBuf[:st.upperLen:st.upperLen] }

// putState returns a released st to txnPool.
func putState(st *txnState) { txnPool.Put(st) }

// Txn is the pending write set of one object for one turn. Reads see the
// object's committed data overlaid with the writes made so far; nothing is
// visible outside the Txn until Commit, which applies every write in one
// atomic batch. A Txn is safe for concurrent use, but a turn normally uses
// it from one goroutine.
type Txn struct {
	db *DB
	ns uint32
	id ObjectID
	// st holds what the Txn shares with its nested transactions. It is
	// pooled, and belongs to this Txn while gen matches.
	st     *txnState
	gen    uint64 // st.gen of the use that this Txn belongs to
	depth  int    // index of this Txn's layer in st.layers
	lay    *layer // st.layers[depth] while this Txn is usable
	handle Handle // returned by Commit of a root Txn
}

// Begin starts a write set for the object id of namespace ns.
func (db *DB) Begin(ns uint32, id ObjectID) *Txn { return db.begin(ns, id, nil) }

// begin is Begin with the Cache of BeginCached.
func (db *DB) begin(ns uint32, id ObjectID, c *Cache) *Txn {
	st := txnPool.Get().(*txnState)
	st.mu.Lock()
	defer st.mu.Unlock()
	st.gen++
	st.done = false

	prefix := st.prefixBuf[:]
	putObjectKeyPrefix(prefix, ns, id)
	// The prefix starts with tagObject, so it always has a successor.
	upper := append(st.upperBuf[:0], prefix...)
	for i := len(upper) - 1; ; i-- {
		if upper[i] != 0xff {
			upper[i]++
			st.upperLen = i + 1
			break
		}
	}
	st.cache = c

	st.root = layer{writes: writeSet{small: st.smallBuf[:0]}}
	if st.keyBuf == nil {
		st.keyBuf = st.keyArr[:0]
	}
	st.rootLayers[0] = &st.root
	st.layers = st.rootLayers[:]
	return &Txn{db: db, ns: ns, id: id, st: st, gen: st.gen, lay: &st.root}
}

// BeginCached is Begin with a Cache that serves the reads of committed
// values and learns the Txn's writes when it commits. c must belong to the
// object id and be used by no other Txn until this one ends. A commit
// that fails after building its batch clears it. A commit rejected before
// that, which changed nothing, leaves it as it was.
func (db *DB) BeginCached(ns uint32, id ObjectID, c *Cache) *Txn {
	return db.begin(ns, id, c)
}

// SetName records the name the object's ID was derived from, if any. An
// alarm that the Txn sets is stored with it, and Alarms and NextAlarm
// return it, so that the alarm's delivery can address the object by the
// same name. An alarm set without a name keeps the name stored with the
// object's earlier alarm, and so does one set under a name longer than
// MaxNameSize, which is not stored. SetName is not a write: a Txn with
// nothing else commits nothing.
func (t *Txn) SetName(name string) {
	if len(name) > MaxNameSize {
		name = ""
	}
	if t.lock() != nil {
		return
	}
	t.st.name = name
	t.st.mu.Unlock()
}

// MaxNameSize is the maximum length of a name, in bytes, that SetName
// stores with an alarm.
const MaxNameSize = 1024

// Namespace returns the namespace number the Txn writes to.
func (t *Txn) Namespace() uint32 { return t.ns }

// ID returns the object the Txn writes to.
func (t *Txn) ID() ObjectID { return t.id }

// lock takes the state lock and checks that t is still usable: not ended,
// not the outer Txn of a running Transaction, not a nested Txn whose
// Transaction has returned, and its DB neither closed nor failed.
func (t *Txn) lock() error {
	t.st.mu.Lock()
	if t.gen != t.st.gen || t.st.done || t.depth != len(t.st.layers)-1 || t.st.layers[t.depth] != t.lay {
		t.st.mu.Unlock()
		return ErrTxnDone
	}
	if err := t.db.state(); err != nil {
		t.st.mu.Unlock()
		return err
	}
	return nil
}

func (t *Txn) checkKey(key string) error {
	if len(key) < 1 || len(key) > t.db.limits.MaxKeySize {
		return &LimitError{Limit: "key size", Key: truncateKey(key), Size: len(key), Min: 1, Max: t.db.limits.MaxKeySize}
	}
	return nil
}

func (t *Txn) checkCount(n int) error {
	if n > t.db.limits.MaxBatchKeys {
		return &LimitError{Limit: "keys per call", Size: n, Min: 0, Max: t.db.limits.MaxBatchKeys}
	}
	return nil
}

func (t *Txn) checkValue(key string, v []byte) error {
	if len(v) > t.db.limits.MaxValueSize {
		return &LimitError{Limit: "value size", Key: truncateKey(key), Size: len(v), Min: 0, Max: t.db.limits.MaxValueSize}
	}
	return nil
}

// viewLocked returns the value of key in the Txn's view: pending writes
// first, then the cache, then committed data. Unless fresh is true, the
// value is shared: it must not be modified, and it is valid only while
// t.st.mu is held.
func (t *Txn) viewLocked(key string) (v []byte, ok, fresh bool, err error) {
	for i := len(t.st.layers) - 1; i >= 0; i-- {
		l := t.st.layers[i]
		if w, ok := l.writes.get(key); ok {
			if w.deleted {
				return nil, false, false, nil
			}
			return w.value, true, false, nil
		}
		if l.cleared {
			return nil, false, false, nil
		}
	}
	if t.st.cache != nil {
		if e, ok := t.st.cache.get(key); ok {
			return e.value, e.found, false, nil
		}
	}
	t.st.keyBuf = append(append(t.st.keyBuf[:0], t.st.prefix()...), key...)
	v, ok, err = t.db.get(t.st.keyBuf)
	if err != nil {
		return nil, false, false, err
	}
	if !ok {
		if t.st.cache != nil {
			t.st.cache.put(key, nil, false)
		}
		return nil, false, false, nil
	}
	if t.st.cache != nil && t.st.cache.put(key, v, true) {
		return v, true, false, nil // the cache owns v now
	}
	return v, true, true, nil
}

// getLocked returns a copy of the value of key in the Txn's view.
func (t *Txn) getLocked(key string) ([]byte, bool, error) {
	v, ok, fresh, err := t.viewLocked(key)
	if err != nil || !ok {
		return nil, false, err
	}
	if !fresh {
		v = clone(v)
	}
	return v, true, nil
}

// beginView returns the value of key without copying it. When it returns
// a value, the Txn stays locked until the caller calls endView, and the
// caller must neither modify nor keep the slice.
func (t *Txn) beginView(key string) ([]byte, bool, error) {
	if err := t.checkKey(key); err != nil {
		return nil, false, err
	}
	if err := t.lock(); err != nil {
		return nil, false, err
	}
	v, ok, _, err := t.viewLocked(key)
	if err != nil || !ok {
		t.st.mu.Unlock()
		return nil, false, err
	}
	return v, true, nil
}

// endView ends the view that beginView started.
func (t *Txn) endView() { t.st.mu.Unlock() }

func (t *Txn) top() *layer {
	return t.st.layers[len(t.st.layers)-1]
}

// Get returns the value stored under key, or nil and false when there is
// none. The returned slice is a copy that the caller owns.
func (t *Txn) Get(key string) ([]byte, bool, error) {
	if err := t.checkKey(key); err != nil {
		return nil, false, err
	}
	if err := t.lock(); err != nil {
		return nil, false, err
	}
	defer t.st.mu.Unlock()
	return t.getLocked(key)
}

// GetMany returns the values of the keys that exist; missing keys are
// absent from the map.
func (t *Txn) GetMany(keys []string) (map[string][]byte, error) {
	if err := t.checkCount(len(keys)); err != nil {
		return nil, err
	}
	for _, k := range keys {
		if err := t.checkKey(k); err != nil {
			return nil, err
		}
	}
	if err := t.lock(); err != nil {
		return nil, err
	}
	defer t.st.mu.Unlock()
	out := make(map[string][]byte, len(keys))
	for _, k := range keys {
		v, ok, err := t.getLocked(k)
		if err != nil {
			return nil, err
		}
		if ok {
			out[k] = v
		}
	}
	return out, nil
}

// Put stores value under key. The value is copied.
func (t *Txn) Put(key string, value []byte) error {
	if err := t.checkKey(key); err != nil {
		return err
	}
	if err := t.checkValue(key, value); err != nil {
		return err
	}
	if err := t.lock(); err != nil {
		return err
	}
	defer t.st.mu.Unlock()
	t.top().writes.set(key, write{value: t.st.keep(value)})
	return nil
}

// PutMany stores every entry, or none of them if any is outside a limit.
func (t *Txn) PutMany(entries map[string][]byte) error {
	if err := t.checkCount(len(entries)); err != nil {
		return err
	}
	for k, v := range entries {
		if err := t.checkKey(k); err != nil {
			return err
		}
		if err := t.checkValue(k, v); err != nil {
			return err
		}
	}
	if err := t.lock(); err != nil {
		return err
	}
	defer t.st.mu.Unlock()
	top := t.top()
	for k, v := range entries {
		top.writes.set(k, write{value: t.st.keep(v)})
	}
	return nil
}

// Delete removes key and reports whether it existed.
func (t *Txn) Delete(key string) (bool, error) {
	n, err := t.DeleteMany([]string{key})
	return n == 1, err
}

// DeleteMany removes the keys and returns how many distinct keys of them
// existed.
func (t *Txn) DeleteMany(keys []string) (int, error) {
	if err := t.checkCount(len(keys)); err != nil {
		return 0, err
	}
	for _, k := range keys {
		if err := t.checkKey(k); err != nil {
			return 0, err
		}
	}
	if err := t.lock(); err != nil {
		return 0, err
	}
	defer t.st.mu.Unlock()
	n := 0
	seen := make(map[string]struct{}, len(keys))
	for _, k := range keys {
		if _, dup := seen[k]; dup {
			continue
		}
		seen[k] = struct{}{}
		_, ok, _, err := t.viewLocked(k)
		if err != nil {
			return 0, err
		}
		if ok {
			n++
		}
	}
	top := t.top()
	for _, k := range keys {
		top.writes.set(k, write{deleted: true})
	}
	return n, nil
}

// DeleteAll removes every key of the object and its alarm.
func (t *Txn) DeleteAll() error {
	if err := t.lock(); err != nil {
		return err
	}
	defer t.st.mu.Unlock()
	top := t.top()
	top.writes.clear()
	top.cleared = true
	top.alarm = &alarmWrite{deleted: true}
	return nil
}

// listBounds turns opts into a half-open range of user keys [lo, hi). A nil hi
// means no upper bound.
func listBounds(opts ListOptions) (lo, hi []byte, err error) {
	if opts.Start != "" && opts.StartAfter != "" {
		return nil, nil, fmt.Errorf("%w: Start %q and StartAfter %q are both set; use one",
			ErrInvalidListOptions, truncateKey(opts.Start), truncateKey(opts.StartAfter))
	}
	if opts.Limit < 0 {
		return nil, nil, fmt.Errorf("%w: negative Limit %d", ErrInvalidListOptions, opts.Limit)
	}
	lo = []byte(opts.Prefix)
	if opts.Start != "" && opts.Start > string(lo) {
		lo = []byte(opts.Start)
	}
	if opts.StartAfter != "" {
		after := append([]byte(opts.StartAfter), 0)
		if bytes.Compare(after, lo) > 0 {
			lo = after
		}
	}
	if opts.Prefix != "" {
		hi = successor([]byte(opts.Prefix))
	}
	if opts.End != "" && (hi == nil || opts.End < string(hi)) {
		hi = []byte(opts.End)
	}
	return lo, hi, nil
}

// List returns the object's keys and values in the range opts selects.
// The entries share one allocation for keys and one for values, so keeping
// any of them keeps all of them in memory.
func (t *Txn) List(opts ListOptions) ([]Entry, error) {
	lo, hi, err := listBounds(opts)
	if err != nil {
		return nil, err
	}
	if err := t.lock(); err != nil {
		return nil, err
	}
	defer t.st.mu.Unlock()
	if hi != nil && bytes.Compare(lo, hi) >= 0 {
		return nil, nil
	}
	inRange := func(k string) bool {
		return k >= string(lo) && (hi == nil || k < string(hi))
	}

	// Fold the layers into one view of pending writes.
	var pending map[string]write
	hidden := false
	for _, l := range t.st.layers {
		if l.cleared {
			clear(pending)
			hidden = true
		}
		for k, w := range l.writes.all() {
			if inRange(k) {
				if pending == nil {
					pending = make(map[string]write)
				}
				pending[k] = w
			}
		}
	}
	pkeys := make([]string, 0, len(pending))
	for k := range pending {
		pkeys = append(pkeys, k)
	}
	sort.Strings(pkeys)
	if opts.Reverse {
		slices.Reverse(pkeys)
	}

	var it *pebble.Iterator
	if !hidden {
		if err := t.db.enter(); err != nil {
			return nil, err
		}
		defer t.db.leave()
		// Both bounds live in the key buffer; Pebble keeps them until the
		// iterator is closed, before List returns.
		prefix := t.st.prefix()
		buf := append(t.st.keyBuf[:0], prefix...)
		buf = append(buf, lo...)
		iopts := &pebble.IterOptions{LowerBound: buf, UpperBound: t.st.upper()}
		if hi != nil {
			buf = append(buf, prefix...)
			buf = append(buf, hi...)
			iopts.UpperBound = buf[len(prefix)+len(lo):]
		}
		iopts.LowerBound = buf[:len(prefix)+len(lo)]
		t.st.keyBuf = buf
		it, err = t.db.pdb.NewIter(iopts)
		if err != nil {
			return nil, fmt.Errorf("storage: list: %w", err)
		}
		defer it.Close()
	}
	return mergeList(it, t.st.prefix(), pending, pkeys, opts)
}

// mergeList merges the durable keys of it with the pending writes, in the
// order opts selects, up to opts.Limit entries.
func mergeList(it *pebble.Iterator, prefix []byte, pending map[string]write, pkeys []string, opts ListOptions) ([]Entry, error) {
	var out entryArena
	valid := false
	if it != nil {
		if opts.Reverse {
			valid = it.Last()
		} else {
			valid = it.First()
		}
	}
	advance := func() {
		if opts.Reverse {
			valid = it.Prev()
		} else {
			valid = it.Next()
		}
	}
	// before reports whether a comes before b in the listing order.
	before := func(a, b []byte) bool {
		if opts.Reverse {
			return bytes.Compare(a, b) > 0
		}
		return bytes.Compare(a, b) < 0
	}
	pi := 0
	for opts.Limit == 0 || out.len() < opts.Limit {
		var dk []byte
		if valid {
			dk = it.Key()[len(prefix):]
		}
		switch {
		case pi < len(pkeys) && (!valid || !before(dk, []byte(pkeys[pi]))):
			k := pkeys[pi]
			pi++
			if valid && string(dk) == k {
				advance()
			}
			if w := pending[k]; !w.deleted {
				out.add([]byte(k), w.value)
			}
		case valid:
			v, err := it.ValueAndErr()
			if err != nil {
				return nil, fmt.Errorf("storage: list: %w", err)
			}
			out.add(dk, v)
			advance()
		default:
			return out.entries(), nil
		}
	}
	if it != nil {
		if err := it.Error(); err != nil {
			return nil, fmt.Errorf("storage: list: %w", err)
		}
	}
	return out.entries(), nil
}

// entryArena collects the keys and values of a listing in two buffers, so
// that a List of n entries makes a few allocations instead of 2n. The
// entries it returns share that memory.
type entryArena struct {
	keys, values []byte
	ends         []int // end offsets in keys and values, two per entry
}

func (a *entryArena) len() int { return len(a.ends) / 2 }

func (a *entryArena) add(key, value []byte) {
	if a.ends == nil {
		// Guess room for 64 entries like the first, to skip most of the
		// buffers' regrowth.
		a.keys = make([]byte, 0, 64*len(key))
		a.values = make([]byte, 0, 64*len(value))
		a.ends = make([]int, 0, 2*64)
	}
	a.keys = append(a.keys, key...)
	a.values = append(a.values, value...)
	a.ends = append(a.ends, len(a.keys), len(a.values))
}

func (a *entryArena) entries() []Entry {
	if len(a.ends) == 0 {
		return nil
	}
	keys := string(a.keys)
	values := a.values
	if values == nil {
		values = []byte{}
	}
	out := make([]Entry, a.len())
	ks, vs := 0, 0
	for i := range out {
		ke, ve := a.ends[2*i], a.ends[2*i+1]
		// The capacity limit keeps an append to one value from
		// overwriting the next.
		out[i] = Entry{Key: keys[ks:ke], Value: values[vs:ve:ve]}
		ks, vs = ke, ve
	}
	return out
}

// Transaction runs fn with a nested transaction. Writes made through tx are
// kept if fn returns nil and rolled back if it returns an error or panics;
// the error is returned. The outer Txn must not be used while fn runs.
func (t *Txn) Transaction(fn func(tx *Txn) error) (err error) {
	if err := t.lock(); err != nil {
		return err
	}
	t.st.layers = append(t.st.layers, &layer{})
	child := &Txn{db: t.db, ns: t.ns, id: t.id, st: t.st, gen: t.gen, depth: len(t.st.layers) - 1}
	child.lay = t.st.layers[child.depth]
	t.st.mu.Unlock()

	committed := false
	defer func() {
		t.st.mu.Lock()
		defer t.st.mu.Unlock()
		if t.gen != t.st.gen || t.st.done || len(t.st.layers) != child.depth+1 ||
			t.st.layers[child.depth] != child.lay {
			return
		}
		l := t.st.layers[child.depth]
		t.st.layers = t.st.layers[:child.depth]
		if committed {
			mergeLayer(t.st.layers[child.depth-1], l)
		}
	}()
	if err := fn(child); err != nil {
		return err
	}
	committed = true
	return nil
}

// mergeLayer applies the writes of the nested layer src onto dst.
func mergeLayer(dst, src *layer) {
	if src.cleared {
		dst.writes.clear()
		dst.cleared = true
	}
	for k, w := range src.writes.all() {
		dst.writes.set(k, w)
	}
	if src.alarm != nil {
		dst.alarm = src.alarm
	}
}

// GetAlarm returns the object's alarm time, or false when none is set.
func (t *Txn) GetAlarm() (time.Time, bool, error) {
	if err := t.lock(); err != nil {
		return time.Time{}, false, err
	}
	defer t.st.mu.Unlock()
	for i := len(t.st.layers) - 1; i >= 0; i-- {
		if a := t.st.layers[i].alarm; a != nil {
			return a.t, !a.deleted, nil
		}
	}
	return t.db.alarm(t.ns, t.id)
}

// SetAlarm sets the object's one alarm to at, replacing any earlier time.
// A time outside the years 1678 to 2262 returns an error wrapping
// ErrInvalidAlarm.
func (t *Txn) SetAlarm(at time.Time) error {
	if err := checkAlarmTime(at); err != nil {
		return err
	}
	if err := t.lock(); err != nil {
		return err
	}
	defer t.st.mu.Unlock()
	t.top().alarm = &alarmWrite{t: at}
	return nil
}

// DeleteAlarm removes the object's alarm, if any.
func (t *Txn) DeleteAlarm() error {
	if err := t.lock(); err != nil {
		return err
	}
	defer t.st.mu.Unlock()
	t.top().alarm = &alarmWrite{deleted: true}
	return nil
}

// Empty reports whether the Txn holds no writes.
func (t *Txn) Empty() bool {
	t.st.mu.Lock()
	defer t.st.mu.Unlock()
	if t.gen != t.st.gen {
		return true
	}
	for _, l := range t.st.layers {
		if l.writes.len() > 0 || l.cleared || l.alarm != nil {
			return false
		}
	}
	return true
}

// Discard drops every pending write. Later calls on t return ErrTxnDone.
func (t *Txn) Discard() {
	st := t.st
	st.mu.Lock()
	if t.gen != st.gen || st.done {
		st.mu.Unlock()
		return
	}
	st.release()
	st.mu.Unlock()
	putState(st)
}

// Commit applies every pending write in one atomic batch and ends the Txn.
// The writes are visible to reads when Commit returns; the returned Handle
// waits until they are durable. A Txn without writes returns a Handle that
// is already durable; waiting on it does not wait for earlier commits.
func (t *Txn) Commit() (*Handle, error) {
	st := t.st
	st.mu.Lock()
	if t.gen != st.gen || st.done || t.depth != 0 || len(st.layers) != 1 {
		st.mu.Unlock()
		return nil, ErrTxnDone
	}
	if err := t.db.state(); err != nil {
		st.mu.Unlock()
		return nil, err
	}
	h, err := t.commitLocked()
	if t.st.cache != nil {
		if err != nil {
			t.st.cache.Clear()
		} else {
			t.st.cache.apply(st.layers[0])
		}
	}
	st.release()
	st.mu.Unlock()
	putState(st)
	return h, err
}

// commitLocked builds and applies the batch of t, which is the root Txn.
func (t *Txn) commitLocked() (*Handle, error) {
	base := t.st.layers[0]
	if base.writes.len() == 0 && !base.cleared && base.alarm == nil {
		return doneHandle, nil
	}
	b := t.db.pdb.NewBatch()
	if base.cleared {
		_ = b.DeleteRange(t.st.prefix(), t.st.upper(), nil)
	}
	key := append(t.st.keyBuf[:0], t.st.prefix()...)
	for k, w := range base.writes.all() {
		// Pebble copies the key into the batch, so key is reused.
		key = append(key[:objectPrefix], k...)
		if w.deleted {
			if !base.cleared {
				_ = b.Delete(key, nil)
			}
			continue
		}
		_ = b.Set(key, w.value, nil)
	}
	if base.alarm != nil {
		if err := t.db.writeAlarm(b, t.ns, t.id, base.alarm, t.st.name); err != nil {
			b.Close()
			return nil, err
		}
	}
	return t.db.applyTo(b, &t.handle)
}
