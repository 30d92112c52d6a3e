package actor_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durable-go/durable/actor"
	"github.com/durable-go/durable/storage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"
)

const idle = time.Minute

func TestIdleEviction(t *testing.T) {
	sys := newSystem(t, &actor.Options{IdleTimeout: idle})
	env := &probeEnv{close: func(ctx context.Context, p *probe) error {
		return storage.Put(p.st.Storage(), "closed", true)
	}}
	ns := newProbes(t, sys.System, "P", env)
	ctx := context.Background()
	stub := ns.Get(ns.IDFromName("a"))
	_, err := incr(ctx, stub)
	require.NoError(t, err)
	require.True(t, sys.Clock.WaitForTimers(1, 10*time.Second), "the idle timer was not armed")

	sys.Clock.Advance(idle - time.Second)
	assert.Equal(t, 1, sys.ActiveObjects())
	sys.Clock.Advance(time.Second)
	sys.WaitActive(t, 0)
	assert.Equal(t, int32(1), env.closes.Load())

	// Durable state, and the Close hook's write, outlive the activation.
	closed, err := actor.Call(ctx, stub, func(ctx context.Context, p *probe) (bool, error) {
		v, _, err := storage.Get[bool](p.st.Storage(), "closed")
		return v, err
	})
	require.NoError(t, err)
	assert.True(t, closed)
	n, err := get(ctx, stub)
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
	assert.Equal(t, int32(2), env.constructed.Load())
}

func TestIdleTimeoutCountsFromLastEvent(t *testing.T) {
	sys := newSystem(t, &actor.Options{IdleTimeout: idle})
	ns := newProbes(t, sys.System, "P", &probeEnv{})
	stub := ns.Get(ns.IDFromName("a"))
	_, err := incr(context.Background(), stub)
	require.NoError(t, err)
	require.True(t, sys.Clock.WaitForTimers(1, 10*time.Second))
	sys.Clock.Advance(idle / 2)
	_, err = incr(context.Background(), stub)
	require.NoError(t, err)
	sys.Clock.Advance(idle / 2) // the first deadline passes
	require.True(t, sys.Clock.WaitForTimers(1, 10*time.Second), "the sweeper did not rearm")
	assert.Equal(t, 1, sys.ActiveObjects())
	sys.Clock.Advance(idle / 2)
	sys.WaitActive(t, 0)
}

func TestLongTurnNotEvicted(t *testing.T) {
	sys := newSystem(t, &actor.Options{IdleTimeout: idle})
	env := &probeEnv{}
	ns := newProbes(t, sys.System, "P", env)
	stub := ns.Get(ns.IDFromName("a"))
	release, done := block(t, stub)
	defer release()
	require.True(t, sys.Clock.WaitForTimers(1, 10*time.Second))

	sys.Clock.Advance(3 * idle)
	require.True(t, sys.Clock.WaitForTimers(1, 10*time.Second), "the sweeper did not rearm")
	assert.Equal(t, 1, sys.ActiveObjects())
	assert.Equal(t, int32(0), env.closes.Load())

	release()
	require.NoError(t, recv(t, done))
	assert.Equal(t, 0, mustMem(t, stub), "the turn's activation was replaced")
	sys.Clock.Advance(idle)
	sys.WaitActive(t, 0)
	assert.Equal(t, int32(1), env.closes.Load())
}

func TestMaxActiveEvictsLeastRecentlyUsed(t *testing.T) {
	sys := newSystem(t, &actor.Options{MaxActive: 2})
	var mu sync.Mutex
	var closed []string
	env := &probeEnv{close: func(ctx context.Context, p *probe) error {
		mu.Lock()
		defer mu.Unlock()
		closed = append(closed, p.st.ID().Name())
		return nil
	}}
	ns := newProbes(t, sys.System, "P", env)
	touch := func(name string) {
		t.Helper()
		_, err := get(context.Background(), ns.Get(ns.IDFromName(name)))
		require.NoError(t, err)
	}
	closedNames := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), closed...)
	}

	touch("a")
	touch("b")
	touch("a") // b is now the least recently used
	touch("c")
	sys.WaitActive(t, 2)
	assert.Equal(t, []string{"b"}, closedNames())
	touch("d")
	sys.WaitActive(t, 2)
	assert.Equal(t, []string{"b", "a"}, closedNames())
}

func TestMaxActiveSparesBusyObjects(t *testing.T) {
	sys := newSystem(t, &actor.Options{MaxActive: 1})
	ns := newProbes(t, sys.System, "P", &probeEnv{})
	busy, other := ns.Get(ns.IDFromName("busy")), ns.Get(ns.IDFromName("other"))
	release, done := block(t, busy)
	defer release()

	// The bound cannot evict the busy object, so the other one goes as
	// soon as its own turn ends, though it was used more recently.
	_, err := get(context.Background(), other)
	require.NoError(t, err)
	sys.WaitActive(t, 1)
	assert.Equal(t, 1, actor.QueuedEvents(ns, busy.ID()), "the bound evicted a busy object")
	assert.Equal(t, -1, actor.QueuedEvents(ns, other.ID()))

	release()
	require.NoError(t, recv(t, done))
	assert.Equal(t, 1, sys.ActiveObjects())
}

func TestEvictWaitsForTurn(t *testing.T) {
	sys := newSystem(t, nil)
	env := &probeEnv{}
	ns := newProbes(t, sys.System, "P", env)
	stub := ns.Get(ns.IDFromName("a"))
	release, done := block(t, stub)
	evicted := make(chan error, 1)
	go func() { evicted <- ns.Evict(context.Background(), stub.ID()) }()
	require.Eventually(t, func() bool { return actor.Evicting(ns, stub.ID()) }, 10*time.Second, time.Millisecond)
	// An event sent during the eviction runs on a new activation.
	later := make(chan int64, 1)
	go func() {
		n, err := incr(context.Background(), stub)
		assert.NoError(t, err)
		later <- n
	}()
	select {
	case <-evicted:
		t.Fatal("Evict returned during a turn")
	case <-time.After(20 * time.Millisecond):
	}
	release()
	require.NoError(t, recv(t, done))
	require.NoError(t, recv(t, evicted))
	assert.Equal(t, int64(1), recv(t, later))
	assert.Equal(t, int32(1), env.closes.Load())
	assert.Equal(t, int32(2), env.constructed.Load())
	assert.NoError(t, ns.Evict(context.Background(), ns.IDFromName("never")), "inactive object")
}

// TestEvictionRace sends events to a few objects while evicting them over
// and over: every event runs exactly once, on one activation at a time.
func TestEvictionRace(t *testing.T) {
	sys := newSystem(t, &actor.Options{IdleTimeout: idle})
	env := &probeEnv{trackLive: true}
	ns := newProbes(t, sys.System, "P", env)
	const objects, workers, each = 4, 8, 150
	var acked [objects]atomic.Int64
	ctx := context.Background()
	stop := make(chan struct{})
	var evictions atomic.Int64
	var evictors sync.WaitGroup
	for range 2 {
		evictors.Add(1)
		go func() {
			defer evictors.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				id := ns.IDFromName(fmt.Sprint(rand.IntN(objects)))
				assert.NoError(t, ns.Evict(ctx, id))
				evictions.Add(1)
				sys.Clock.Advance(idle / 4) // idle eviction races too
			}
		}()
	}
	var g errgroup.Group
	for w := range workers {
		g.Go(func() error {
			for i := range each {
				o := (w + i) % objects
				if _, err := incr(ctx, ns.Get(ns.IDFromName(fmt.Sprint(o)))); err != nil {
					return err
				}
				acked[o].Add(1)
			}
			return nil
		})
	}
	require.NoError(t, g.Wait())
	close(stop)
	evictors.Wait()
	for o := range objects {
		n, err := get(ctx, ns.Get(ns.IDFromName(fmt.Sprint(o))))
		require.NoError(t, err)
		assert.Equal(t, acked[o].Load(), n, "object %d", o)
	}
	assert.Positive(t, evictions.Load())
	assert.Greater(t, env.constructed.Load(), int32(objects), "no object was ever evicted")
	t.Logf("%d evictions, %d activations", evictions.Load(), env.constructed.Load())
}

// TestEvictionReleasesMemory touches 10,000 objects once per cycle and
// lets them all go idle: after each cycle no object is active, and
// goroutines and heap are back at the level of the first cycle.
//
// The heap is allowed to creep by a little: Proto.Actor's process registry
// is 32,768 Go maps, which keep the size they once grew to, and every
// activation has a new process name. A leaked activation would cost more
// than a kilobyte, 10 MiB per cycle.
func TestEvictionReleasesMemory(t *testing.T) {
	cycles := 4
	if raceEnabled {
		cycles = 2
	}
	if os.Getenv("DURABLE_LONG") == "1" {
		cycles = 12
	}
	const objects = 10_000
	sys := newSystem(t, &actor.Options{IdleTimeout: idle, MaxQueue: 16})
	ns := newProbes(t, sys.System, "P", &probeEnv{})
	ctx := context.Background()

	var baseGoroutines int
	var baseHeap, prevHeap uint64
	for c := range cycles {
		var g errgroup.Group
		g.SetLimit(16)
		for i := range objects {
			g.Go(func() error {
				_, err := get(ctx, ns.Get(ns.IDFromName(fmt.Sprintf("%d/%d", c, i))))
				return err
			})
		}
		require.NoError(t, g.Wait())
		require.Equal(t, objects, sys.ActiveObjects())
		sys.Clock.Advance(idle)
		sys.WaitActive(t, 0)

		goroutines, heap := settle(t, baseGoroutines)
		t.Logf("cycle %d: %d goroutines, heap %d KiB", c, goroutines, heap>>10)
		if c == 0 {
			baseGoroutines, baseHeap, prevHeap = goroutines, heap, heap
			continue
		}
		assert.LessOrEqual(t, goroutines, baseGoroutines+2, "cycle %d leaks goroutines", c)
		assert.LessOrEqual(t, heap, baseHeap+8<<20, "cycle %d: heap grew past 8 MiB over the first cycle", c)
		assert.LessOrEqual(t, heap, prevHeap+2<<20, "cycle %d: heap grew by 2 MiB in one cycle", c)
		prevHeap = heap
	}
}

// settle waits until the goroutine count drops to at most want (when want
// is positive), then returns it and the live heap after a GC.
func settle(t *testing.T, want int) (int, uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for want > 0 && runtime.NumGoroutine() > want && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return runtime.NumGoroutine(), ms.HeapAlloc
}
