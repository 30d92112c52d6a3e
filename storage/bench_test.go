package storage

import (
	"flag"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"
)

// The benchmarks run each case twice in the same process: impl=storage
// through this package, and impl=pebble doing the same work with Pebble
// directly, writing the same keys. See BENCHMARKS.md for the figures.

const benchValueSize = 100

// benchPebbleFirst swaps the order of the two implementations, so that a
// series of runs can alternate which one goes first.
var benchPebbleFirst = flag.Bool("bench.pebblefirst", false, "run impl=pebble before impl=storage in each benchmark")

// runImpls runs the sub-benchmarks impl=storage and impl=pebble, with
// prefix prepended to their names, in the order -bench.pebblefirst sets.
func runImpls(b *testing.B, prefix string, storage, pebble func(b *testing.B)) {
	impls := []struct {
		name string
		fn   func(b *testing.B)
	}{{"impl=storage", storage}, {"impl=pebble", pebble}}
	if *benchPebbleFirst {
		impls[0], impls[1] = impls[1], impls[0]
	}
	for _, impl := range impls {
		b.Run(prefix+impl.name, impl.fn)
	}
}

var benchValue = make([]byte, benchValueSize)

// cpuTime returns the user and system CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuMeter reports the process's CPU time per operation, background
// goroutines such as Pebble's included, as the metric cpu-ns/op. On a
// shared machine it varies less than wall time, which depends on how much
// of the CPU other processes take.
type cpuMeter struct{ start time.Duration }

func startCPU() cpuMeter { return cpuMeter{cpuTime()} }

func (m cpuMeter) report(b *testing.B) {
	b.ReportMetric(float64(cpuTime()-m.start)/float64(b.N), "cpu-ns/op")
}

func benchDB(b *testing.B) *DB {
	b.Helper()
	db, err := Open(b.TempDir(), &Options{Logger: quiet})
	require.NoError(b, err)
	b.Cleanup(func() { _ = db.Close() })
	return db
}

// benchTarget returns the object and key that commit i writes.
func benchTarget(i int) (ObjectID, string) {
	return ObjectID{byte(i), byte(i >> 8)}, fmt.Sprintf("key%010d", i)
}

// storageCommit writes one key in one Txn and commits it.
func storageCommit(b *testing.B, db *DB, i int) *Handle {
	id, key := benchTarget(i)
	tx := db.Begin(1, id)
	if err := tx.Put(key, benchValue); err != nil {
		b.Fatal(err)
	}
	h, err := tx.Commit()
	if err != nil {
		b.Fatal(err)
	}
	return h
}

// pebbleCommit writes the same key as storageCommit in a raw Pebble batch
// with ApplyNoSyncWait.
func pebbleCommit(b *testing.B, pdb *pebble.DB, i int) *pebble.Batch {
	id, key := benchTarget(i)
	batch := pdb.NewBatch()
	if err := batch.Set(appendUserKey(objectKeyPrefix(1, id), key), benchValue, nil); err != nil {
		b.Fatal(err)
	}
	if err := pdb.ApplyNoSyncWait(batch, pebble.Sync); err != nil {
		b.Fatal(err)
	}
	return batch
}

func pebbleWait(b *testing.B, batch *pebble.Batch) {
	if err := batch.SyncWait(); err != nil {
		b.Error(err)
	}
	_ = batch.Close()
}

// BenchmarkCommitNoWait commits from one goroutine that never waits. A
// second goroutine waits for each commit's durability, as the actor
// runtime's output gate does while the next turn runs.
func BenchmarkCommitNoWait(b *testing.B) {
	runImpls(b, "", func(b *testing.B) {
		db := benchDB(b)
		handles := make(chan *Handle, 4096)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for h := range handles {
				if err := h.Wait(); err != nil {
					b.Error(err)
				}
			}
		}()
		b.ReportAllocs()
		b.ResetTimer()
		cpu := startCPU()
		for i := range b.N {
			handles <- storageCommit(b, db, i)
		}
		close(handles)
		<-done
		cpu.report(b)
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
	}, func(b *testing.B) {
		pdb := benchDB(b).Pebble()
		batches := make(chan *pebble.Batch, 4096)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for batch := range batches {
				pebbleWait(b, batch)
			}
		}()
		b.ReportAllocs()
		b.ResetTimer()
		cpu := startCPU()
		for i := range b.N {
			batches <- pebbleCommit(b, pdb, i)
		}
		close(batches)
		<-done
		cpu.report(b)
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
	})
}

// runCommitters runs b.N commits from n goroutines, each committing and
// then waiting for durability before its next commit.
func runCommitters(b *testing.B, n int, commitAndWait func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU()
	for range n {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				commitAndWait(i)
			}
		})
	}
	wg.Wait()
	cpu.report(b)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
}

// BenchmarkCommitWait runs concurrent committers that each wait for their
// commit to be durable, so that their fsyncs are shared.
func BenchmarkCommitWait(b *testing.B) {
	for _, n := range []int{1, 16, 64, 256} {
		runImpls(b, fmt.Sprintf("committers=%d/", n), func(b *testing.B) {
			db := benchDB(b)
			runCommitters(b, n, func(i int) {
				if err := storageCommit(b, db, i).Wait(); err != nil {
					b.Error(err)
				}
			})
		}, func(b *testing.B) {
			pdb := benchDB(b).Pebble()
			runCommitters(b, n, func(i int) {
				pebbleWait(b, pebbleCommit(b, pdb, i))
			})
		})
	}
}

// benchReadDB returns a database holding 100 objects of 100 keys each.
func benchReadDB(b *testing.B) *DB {
	db := benchDB(b)
	for o := range 100 {
		tx := db.Begin(1, ObjectID{byte(o), byte(o >> 8)})
		for k := range 100 {
			require.NoError(b, tx.Put(fmt.Sprintf("key%04d", k), benchValue))
		}
		h, err := tx.Commit()
		require.NoError(b, err)
		require.NoError(b, h.Wait())
	}
	require.NoError(b, db.Pebble().Flush())
	return db
}

// BenchmarkGet reads one existing key. The raw reference uses Pebble's Get
// and releases the value without copying it; Txn.Get returns a copy.
func BenchmarkGet(b *testing.B) {
	db := benchReadDB(b)
	runImpls(b, "", func(b *testing.B) {
		tx := db.Begin(1, ObjectID{7})
		b.ReportAllocs()
		cpu := startCPU()
		defer cpu.report(b)
		for i := 0; b.Loop(); i++ {
			_, ok, err := tx.Get(benchGetKeys[i%100])
			if err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	}, func(b *testing.B) {
		prefix := objectKeyPrefix(1, ObjectID{7})
		keys := make([][]byte, 100)
		for i := range keys {
			keys[i] = appendUserKey(prefix, benchGetKeys[i])
		}
		b.ReportAllocs()
		cpu := startCPU()
		defer cpu.report(b)
		for i := 0; b.Loop(); i++ {
			_, closer, err := db.Pebble().Get(keys[i%100])
			if err != nil {
				b.Fatal(err)
			}
			_ = closer.Close()
		}
	})
}

var benchGetKeys = func() []string {
	out := make([]string, 100)
	for k := range out {
		out[k] = fmt.Sprintf("key%04d", k)
	}
	return out
}()

// BenchmarkList lists the 100 keys of one object. The raw reference
// iterates the same range with Pebble and copies each key and value into a
// slice, the least work that returns the entries to a caller.
func BenchmarkList(b *testing.B) {
	db := benchReadDB(b)
	runImpls(b, "", func(b *testing.B) {
		tx := db.Begin(1, ObjectID{7})
		b.ReportAllocs()
		cpu := startCPU()
		defer cpu.report(b)
		for b.Loop() {
			l, err := tx.List(ListOptions{})
			if err != nil || len(l) != 100 {
				b.Fatal(len(l), err)
			}
		}
	}, func(b *testing.B) {
		prefix := objectKeyPrefix(1, ObjectID{7})
		upper := successor(prefix)
		b.ReportAllocs()
		cpu := startCPU()
		defer cpu.report(b)
		for b.Loop() {
			it, err := db.Pebble().NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: upper})
			if err != nil {
				b.Fatal(err)
			}
			var out []Entry
			for valid := it.First(); valid; valid = it.Next() {
				v, err := it.ValueAndErr()
				if err != nil {
					b.Fatal(err)
				}
				out = append(out, Entry{Key: string(it.Key()[len(prefix):]), Value: append([]byte(nil), v...)})
			}
			if err := it.Close(); err != nil || len(out) != 100 {
				b.Fatal(len(out), err)
			}
		}
	})
}
