package storage

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// walFaults injects errorfs.ErrInjected into the chosen operations on
// write-ahead log files while it is on.
type walFaults struct {
	on    atomic.Bool
	kinds map[errorfs.OpKind]bool
	hits  atomic.Int64
}

var (
	syncOps  = map[errorfs.OpKind]bool{errorfs.OpFileSync: true, errorfs.OpFileSyncData: true, errorfs.OpFileSyncTo: true}
	writeOps = map[errorfs.OpKind]bool{errorfs.OpFileWrite: true, errorfs.OpFileWriteAt: true}
)

func (w *walFaults) String() string { return "wal faults" }

func (w *walFaults) MaybeError(op errorfs.Op) error {
	if w.on.Load() && strings.HasSuffix(op.Path, ".log") && w.kinds[op.Kind] {
		w.hits.Add(1)
		return errorfs.ErrInjected
	}
	return nil
}

const keysPerBatch = 4

// batchObject returns the object that batch i writes to.
func batchObject(i int) ObjectID { return ObjectID{byte(i % 5), 0xb} }

// commitBatch commits batch i: keysPerBatch keys of one object, all
// holding the batch number.
func commitBatch(db *DB, i int, valueSize int) (*Handle, error) {
	tx := db.Begin(1, batchObject(i))
	v := []byte(fmt.Sprintf("%08d", i))
	v = append(v, make([]byte, valueSize)...)
	for k := range keysPerBatch {
		if err := tx.Put(fmt.Sprintf("b%08d/%d", i, k), v); err != nil {
			tx.Discard()
			return nil, err
		}
	}
	return tx.Commit()
}

// checkBatches checks that each of the batches 0..n-1 is either wholly
// present or wholly absent, that every acknowledged batch is present and
// that no batch at or past n exists. It returns the present batches.
func checkBatches(t *testing.T, db *DB, n int, acked func(i int) bool) map[int]bool {
	t.Helper()
	present := map[int]bool{}
	for i := range n {
		tx := db.Begin(1, batchObject(i))
		found := 0
		for k := range keysPerBatch {
			v, ok, err := tx.Get(fmt.Sprintf("b%08d/%d", i, k))
			require.NoError(t, err)
			if ok {
				found++
				require.Equal(t, fmt.Sprintf("%08d", i), string(v[:8]), "value of batch %d", i)
			}
		}
		tx.Discard()
		require.Contains(t, []int{0, keysPerBatch}, found, "batch %d is partly present: %d of %d keys", i, found, keysPerBatch)
		if acked(i) {
			require.Equal(t, keysPerBatch, found, "acknowledged batch %d is missing", i)
		}
		present[i] = found == keysPerBatch
	}
	total := 0
	for o := range 5 {
		total += len(listKeys(t, db, 1, ObjectID{byte(o), 0xb}, ListOptions{}))
	}
	count := 0
	for _, p := range present {
		if p {
			count++
		}
	}
	require.Equal(t, count*keysPerBatch, total, "keys outside batches 0..%d", n-1)
	return present
}

// closeWithin closes db and fails the test if Close does not return in
// time, as it would if it waited on Pebble's stuck commit pipeline.
func closeWithin(t *testing.T, db *DB, d time.Duration) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- db.Close() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("Close did not return within %v", d)
		return nil
	}
}

// TestFaultWALError fails writes or syncs of the write-ahead log under a
// database on disk: Wait returns the error, the DB refuses every later
// call, and after reopening each batch is wholly there or wholly absent,
// with every acknowledged batch there.
func TestFaultWALError(t *testing.T) {
	for _, c := range []struct {
		name  string
		kinds map[errorfs.OpKind]bool
	}{{"sync", syncOps}, {"write", writeOps}} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			inj := &walFaults{kinds: c.kinds}
			db, err := Open(dir, &Options{FS: errorfs.Wrap(vfs.Default, inj), Logger: quiet})
			require.NoError(t, err)
			const good = 20
			for i := range good {
				h, err := commitBatch(db, i, 100)
				require.NoError(t, err)
				require.NoError(t, h.Wait())
			}

			inj.on.Store(true)
			h, err := commitBatch(db, good, 100)
			require.NoError(t, err, "Pebble reports a log error only through SyncWait")
			err = h.Wait()
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrFailed)
			assert.ErrorIs(t, err, errorfs.ErrInjected)
			assert.Positive(t, inj.hits.Load())
			assert.Equal(t, err, h.Wait(), "every Wait returns the same result")

			// The batch is in the memtable but may not be durable: the DB
			// no longer reads or writes.
			_, err = commitBatch(db, good+1, 100)
			assert.ErrorIs(t, err, ErrFailed)
			tx := db.Begin(1, batchObject(0))
			_, _, err = tx.Get("b00000000/0")
			assert.ErrorIs(t, err, ErrFailed)
			_, err = tx.List(ListOptions{})
			assert.ErrorIs(t, err, ErrFailed)
			assert.ErrorIs(t, tx.Put("x", nil), ErrFailed)
			_, err = db.Alarms(time.Now(), 0)
			assert.ErrorIs(t, err, ErrFailed)
			_, err = db.Namespace("n")
			assert.ErrorIs(t, err, ErrFailed)

			// Close releases the files even though the log writer failed.
			_ = closeWithin(t, db, 10*time.Second)

			db, err = Open(dir, nil)
			require.NoError(t, err, "the database reopens cleanly")
			defer db.Close()
			checkBatches(t, db, good+2, func(i int) bool { return i < good })
			h, err = commitBatch(db, good+2, 100)
			require.NoError(t, err)
			require.NoError(t, h.Wait(), "the reopened database commits")
		})
	}
}

// TestFaultCommitsAfterLogError commits without waiting while the log's
// sync fails. The DB learns of the failure from the file system before
// Pebble does, so Commit returns ErrFailed instead of reaching Pebble's
// panics, Close returns, and the directory reopens with every batch whole
// or absent.
//
// Only a few commits race the failing sync, all within Pebble's first
// memtable. A commit that makes Pebble rotate its log after the failure,
// before the DB has seen it, ends the process (see DB.applyNoSyncWait).
// Under CPU load an unbounded stream of commits reached that point.
func TestFaultCommitsAfterLogError(t *testing.T) {
	dir := t.TempDir()
	inj := &walFaults{kinds: syncOps}
	db, err := Open(dir, &Options{FS: errorfs.Wrap(vfs.Default, inj), Logger: quiet})
	require.NoError(t, err)
	const good = 10
	for i := range good {
		h, err := commitBatch(db, i, 1000)
		require.NoError(t, err)
		require.NoError(t, h.Wait())
	}
	inj.on.Store(true)
	const racing = 8
	n := good
	var commitErr error
	var handles []*Handle
	for ; n < good+racing; n++ {
		h, err := commitBatch(db, n, 1000)
		if err != nil {
			commitErr = err
			n++
			break
		}
		handles = append(handles, h)
	}
	if commitErr == nil {
		// The first racing batch's sync has failed once its Wait returns,
		// and the DB saw the failure before Pebble returned it.
		require.Error(t, handles[0].Wait())
		_, commitErr = commitBatch(db, n, 1000)
		n++
	}
	require.Error(t, commitErr, "a commit after the failed sync")
	assert.ErrorIs(t, commitErr, ErrFailed)
	assert.ErrorIs(t, commitErr, errorfs.ErrInjected)
	assert.Contains(t, commitErr.Error(), "sync write-ahead log")
	acked := map[int]bool{}
	for i, h := range handles {
		if err := h.Wait(); err != nil {
			assert.ErrorIs(t, err, ErrFailed)
		} else {
			acked[good+i] = true
		}
	}
	_ = closeWithin(t, db, 10*time.Second)

	db, err = Open(dir, &Options{Logger: quiet})
	require.NoError(t, err)
	defer db.Close()
	checkBatches(t, db, n, func(i int) bool { return i < good || acked[i] })
}

// TestStuckPipelineClose makes Pebble panic inside ApplyNoSyncWait, here
// by applying a batch twice, the one panic that a test can cause on
// purpose without also ending the process. Commit turns the panic into
// ErrFailed, and Close returns at once instead of calling Pebble's Close.
func TestStuckPipelineClose(t *testing.T) {
	db, err := Open(t.TempDir(), &Options{Logger: quiet})
	require.NoError(t, err)
	b := db.Pebble().NewBatch()
	require.NoError(t, b.Set([]byte("x"), nil, nil))
	require.NoError(t, db.Pebble().Apply(b, nil))
	_, err = db.apply(b)
	require.ErrorIs(t, err, ErrFailed)
	assert.Contains(t, err.Error(), "pebble panicked: pebble: batch already")
	assert.True(t, db.stuck.Load())
	_, err = commitBatch(db, 0, 10)
	assert.ErrorIs(t, err, ErrFailed)
	err = closeWithin(t, db, 10*time.Second)
	require.ErrorIs(t, err, ErrFailed)
	assert.Contains(t, err.Error(), "exit the process")
	require.NoError(t, db.Close(), "a second Close does nothing")
}

// TestFaultCrashClone runs writes on a crashable in-memory file system,
// fails the log, then opens clones that keep only synced data, or synced
// data plus a random part of the rest, as a power cut could leave them.
func TestFaultCrashClone(t *testing.T) {
	mem := vfs.NewCrashableMem()
	inj := &walFaults{kinds: syncOps}
	db, err := Open("db", &Options{FS: errorfs.Wrap(mem, inj), Logger: quiet})
	require.NoError(t, err)
	const good = 30
	for i := range good {
		h, err := commitBatch(db, i, 500)
		require.NoError(t, err)
		require.NoError(t, h.Wait())
	}
	inj.on.Store(true)
	n := good
	for ; n < good+300; n++ {
		h, err := commitBatch(db, n, 500)
		if err != nil {
			n++
			break
		}
		if n%7 == 0 {
			assert.Error(t, h.Wait())
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, pct := range []int{0, 30, 70, 100} {
		t.Run(fmt.Sprintf("unsynced=%d", pct), func(t *testing.T) {
			clone := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: rand.New(rand.NewPCG(rng.Uint64(), 0))})
			db2, err := Open("db", &Options{FS: clone})
			require.NoError(t, err)
			defer db2.Close()
			checkBatches(t, db2, n, func(i int) bool { return i < good })
		})
	}
	_ = closeWithin(t, db, 10*time.Second)
}
