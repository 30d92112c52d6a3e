package actor_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	protoactor "github.com/asynkron/protoactor-go/actor"
	"github.com/cockroachdb/pebble/v2"
	"github.com/durable-go/durable/actor"
	"github.com/stretchr/testify/require"
)

// The benchmarks come in pairs: the runtime, and the reference it is
// measured against in the same run. BENCHMARKS.md records the figures.

func openBench(b *testing.B) *actor.System {
	b.Helper()
	sys, err := actor.Open(b.TempDir(), &actor.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(b, err)
	b.Cleanup(func() { require.NoError(b, sys.Close()) })
	return sys
}

// BenchmarkCallWarm is a typed call without writes to an active object.
func BenchmarkCallWarm(b *testing.B) {
	sys := openBench(b)
	ns := newProbes(b, sys, "P", &probeEnv{})
	stub := ns.Get(ns.IDFromName("a"))
	ctx := context.Background()
	fn := func(ctx context.Context, p *probe) (int, error) { return p.mem, nil }
	_, err := actor.Call(ctx, stub, fn)
	require.NoError(b, err)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := actor.Call(ctx, stub, fn); err != nil {
			b.Fatal(err)
		}
	}
}

type pingActor struct{}

func (pingActor) Receive(c protoactor.Context) {
	if _, ok := c.Message().(int); ok {
		c.Respond(1)
	}
}

func quietActorSystem() *protoactor.ActorSystem {
	logger := slog.New(slog.DiscardHandler)
	return protoactor.NewActorSystem(protoactor.WithLoggerFactory(
		func(*protoactor.ActorSystem) *slog.Logger { return logger }))
}

// BenchmarkProtoActorRequestFuture is the reference of BenchmarkCallWarm:
// Proto.Actor's own request and reply through a future.
func BenchmarkProtoActorRequestFuture(b *testing.B) {
	as := quietActorSystem()
	defer as.Shutdown()
	pid := as.Root.Spawn(protoactor.PropsFromProducer(func() protoactor.Actor { return pingActor{} }))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := as.Root.RequestFuture(pid, 1, 5*time.Second).Result(); err != nil {
			b.Fatal(err)
		}
	}
}

// runCallers runs b.N operations spread over callers goroutines and
// reports throughput and latency percentiles.
func runCallers(b *testing.B, callers int, op func(caller, i int) error) {
	var next atomic.Int64
	lat := make([][]time.Duration, callers)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				t0 := time.Now()
				if err := op(c, i); err != nil {
					b.Error(err)
					return
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[min(len(all)-1, int(float64(len(all))*p))].Microseconds())
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "acks/s")
	b.ReportMetric(pct(0.50), "p50-us")
	b.ReportMetric(pct(0.99), "p99-us")
	b.ReportMetric(pct(0.999), "p99.9-us")
}

// BenchmarkHotObject is one object doing durable increments for 256
// concurrent callers; every reply waits for its fsync.
func BenchmarkHotObject(b *testing.B) {
	sys := openBench(b)
	ns := newProbes(b, sys, "P", &probeEnv{})
	stub := ns.Get(ns.IDFromName("hot"))
	ctx := context.Background()
	_, err := incr(ctx, stub)
	require.NoError(b, err)
	runCallers(b, 256, func(int, int) error {
		_, err := incr(ctx, stub)
		return err
	})
}

func openPebble(b *testing.B) *pebble.DB {
	b.Helper()
	db, err := pebble.Open(b.TempDir(), &pebble.Options{Logger: quietPebble{}})
	require.NoError(b, err)
	b.Cleanup(func() { _ = db.Close() })
	return db
}

type quietPebble struct{}

func (quietPebble) Infof(string, ...any)         {}
func (quietPebble) Errorf(string, ...any)        {}
func (quietPebble) Fatalf(f string, args ...any) { panic(fmt.Sprintf(f, args...)) }

func counterBatch(db *pebble.DB, key []byte, n uint64) *pebble.Batch {
	batch := db.NewBatch()
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], n)
	_ = batch.Set(key, v[:], nil)
	return batch
}

// BenchmarkPebblePipelined is the reference of BenchmarkHotObject: one
// writer applies batches without waiting and a second goroutine
// acknowledges each once it is synced, in order.
func BenchmarkPebblePipelined(b *testing.B) {
	db := openPebble(b)
	pending := make(chan *pebble.Batch, 4096)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for batch := range pending {
			if err := batch.SyncWait(); err != nil {
				b.Error(err)
			}
			batch.Close()
		}
	}()
	key := []byte("hot")
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		batch := counterBatch(db, key, uint64(i))
		if err := db.ApplyNoSyncWait(batch, pebble.Sync); err != nil {
			b.Fatal(err)
		}
		pending <- batch
	}
	close(pending)
	<-done
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "acks/s")
}

// BenchmarkManyObjects is 64 callers doing durable increments on 1,000
// objects chosen round robin.
func BenchmarkManyObjects(b *testing.B) {
	sys := openBench(b)
	ns := newProbes(b, sys, "P", &probeEnv{})
	ctx := context.Background()
	stubs := make([]*actor.Stub[*probe], 1000)
	for i := range stubs {
		stubs[i] = ns.Get(ns.IDFromName(fmt.Sprint(i)))
		_, err := incr(ctx, stubs[i])
		require.NoError(b, err)
	}
	runCallers(b, 64, func(_, i int) error {
		_, err := incr(ctx, stubs[i%len(stubs)])
		return err
	})
}

// BenchmarkPebbleManyWriters is the reference of BenchmarkManyObjects: 64
// goroutines each applying a batch without waiting and then waiting for
// its sync.
func BenchmarkPebbleManyWriters(b *testing.B) {
	db := openPebble(b)
	keys := make([][]byte, 1000)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "k%04d", i)
	}
	runCallers(b, 64, func(_, i int) error {
		batch := counterBatch(db, keys[i%len(keys)], uint64(i))
		defer batch.Close()
		if err := db.ApplyNoSyncWait(batch, pebble.Sync); err != nil {
			return err
		}
		return batch.SyncWait()
	})
}

// writeActor is a plain Proto.Actor actor that applies a durable write per
// request and replies once it is synced.
type writeActor struct {
	db  *pebble.DB
	key []byte
	n   uint64
}

func (w *writeActor) Receive(c protoactor.Context) {
	if _, ok := c.Message().(int); !ok {
		return
	}
	w.n++
	batch := counterBatch(w.db, w.key, w.n)
	defer batch.Close()
	if err := w.db.ApplyNoSyncWait(batch, pebble.Sync); err != nil {
		c.Respond(err)
		return
	}
	if err := batch.SyncWait(); err != nil {
		c.Respond(err)
		return
	}
	c.Respond(w.n)
}

// BenchmarkProtoActorManyObjects is the latency reference of
// BenchmarkManyObjects: 1,000 Proto.Actor actors each writing to Pebble
// and replying through RequestFuture, with 64 callers.
func BenchmarkProtoActorManyObjects(b *testing.B) {
	db := openPebble(b)
	as := quietActorSystem()
	defer as.Shutdown()
	pids := make([]*protoactor.PID, 1000)
	for i := range pids {
		key := fmt.Appendf(nil, "k%04d", i)
		pids[i] = as.Root.Spawn(protoactor.PropsFromProducer(func() protoactor.Actor {
			return &writeActor{db: db, key: key}
		}))
	}
	runCallers(b, 64, func(_, i int) error {
		res, err := as.Root.RequestFuture(pids[i%len(pids)], 1, 10*time.Second).Result()
		if err != nil {
			return err
		}
		if err, ok := res.(error); ok {
			return err
		}
		return nil
	})
}

// liveHeap returns the live heap after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkActivation activates b.N objects, each with one read-only call,
// and reports the heap each idle active object holds. Run it with
// -benchtime=100000x.
func BenchmarkActivation(b *testing.B) {
	sys := openBench(b)
	ns, err := actor.Register(sys, "E", func(*actor.State) *struct{} { return &struct{}{} })
	require.NoError(b, err)
	ctx := context.Background()
	fn := func(ctx context.Context, _ *struct{}) (int, error) { return 0, nil }
	ids := make([]actor.ID, b.N)
	for i := range ids {
		ids[i] = ns.IDFromName(fmt.Sprint(i))
	}
	before := liveHeap()
	b.ResetTimer()
	for _, id := range ids {
		if _, err := actor.Call(ctx, ns.Get(id), fn); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	require.Equal(b, b.N, sys.ActiveObjects())
	b.ReportMetric(float64(liveHeap()-before)/float64(b.N), "heap-B/object")
	runtime.KeepAlive(ids)
}

// BenchmarkProtoActorSpawn is the reference of BenchmarkActivation: b.N
// idle Proto.Actor actors spawned by name, as the runtime spawns them.
func BenchmarkProtoActorSpawn(b *testing.B) {
	as := quietActorSystem()
	defer as.Shutdown()
	props := protoactor.PropsFromProducer(func() protoactor.Actor { return pingActor{} })
	pids := make([]*protoactor.PID, b.N)
	before := liveHeap()
	b.ResetTimer()
	for i := range pids {
		pid, err := as.Root.SpawnNamed(props, fmt.Sprint("p", i))
		if err != nil {
			b.Fatal(err)
		}
		pids[i] = pid
	}
	b.StopTimer()
	b.ReportMetric(float64(liveHeap()-before)/float64(b.N), "heap-B/object")
	runtime.KeepAlive(pids)
}
