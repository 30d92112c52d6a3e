package actor_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/durable-go/durable/actor"
	"github.com/durable-go/durable/clock"
	"github.com/durable-go/durable/storage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// walSync is an errorfs injector that holds or fails the syncs of Pebble's
// write-ahead log.
type walSync struct {
	mu   sync.Mutex
	hold chan struct{} // syncs wait while it is open; nil lets them pass
	fail atomic.Bool
	held atomic.Int32 // syncs waiting now
}

func (w *walSync) String() string { return "walSync" }

func (w *walSync) MaybeError(op errorfs.Op) error {
	switch op.Kind {
	case errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo:
	default:
		return nil
	}
	if !strings.HasSuffix(op.Path, ".log") {
		return nil
	}
	w.mu.Lock()
	ch := w.hold
	w.mu.Unlock()
	if ch != nil {
		w.held.Add(1)
		<-ch
		w.held.Add(-1)
	}
	if w.fail.Load() {
		return errorfs.ErrInjected
	}
	return nil
}

// holdSyncs makes later syncs wait until the returned function is called.
func (w *walSync) holdSyncs() (release func()) {
	ch := make(chan struct{})
	w.mu.Lock()
	w.hold = ch
	w.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			w.mu.Lock()
			w.hold = nil
			w.mu.Unlock()
			close(ch)
		})
	}
}

func openWithFS(t *testing.T, inj errorfs.Injector) *actor.System {
	t.Helper()
	sys, err := actor.Open(t.TempDir(), &actor.Options{
		Clock:   clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		Logger:  slog.New(slog.DiscardHandler),
		Storage: &storage.Options{FS: errorfs.Wrap(vfs.Default, inj)},
	})
	require.NoError(t, err)
	return sys
}

// TestOutputGatePipelines holds the log's fsync and checks that results
// wait for it while later turns of the object go on running.
func TestOutputGatePipelines(t *testing.T) {
	inj := &walSync{}
	sys := openWithFS(t, inj)
	defer sys.Close()
	ns := newProbes(t, sys, "P", &probeEnv{})
	ctx := context.Background()
	stub := ns.Get(ns.IDFromName("a"))
	_, err := incr(ctx, stub) // activate and commit once before holding
	require.NoError(t, err)

	release := inj.holdSyncs()
	defer release()
	first := make(chan int64, 1)
	go func() {
		n, err := incr(ctx, stub)
		assert.NoError(t, err)
		first <- n
	}()
	require.Eventually(t, func() bool { return inj.held.Load() > 0 }, 10*time.Second, time.Millisecond,
		"the first write never reached fsync")

	// The next turn runs and sees the first turn's write, but neither
	// result leaves: the read-only result waits for the pending write.
	ran := make(chan int64, 1)
	second := make(chan int64, 1)
	go func() {
		n, err := actor.Call(ctx, stub, func(ctx context.Context, p *probe) (int64, error) {
			n, err := p.get()
			ran <- n
			return n, err
		})
		assert.NoError(t, err)
		second <- n
	}()
	assert.Equal(t, int64(2), recv(t, ran), "the next turn did not see the pending write")
	select {
	case n := <-first:
		t.Fatalf("result %d released before its write was durable", n)
	case n := <-second:
		t.Fatalf("read-only result %d released before an earlier write was durable", n)
	default:
	}

	release()
	assert.Equal(t, int64(2), recv(t, first))
	assert.Equal(t, int64(2), recv(t, second))
}

// TestCallOutWaitsForDurability checks that a call from a turn to another
// object waits until the caller's earlier writes are durable.
func TestCallOutWaitsForDurability(t *testing.T) {
	inj := &walSync{}
	sys := openWithFS(t, inj)
	defer sys.Close()
	ns := newProbes(t, sys, "P", &probeEnv{})
	ctx := context.Background()
	a, b := ns.Get(ns.IDFromName("a")), ns.Get(ns.IDFromName("b"))
	_, err := get(ctx, a)
	require.NoError(t, err)
	_, err = get(ctx, b)
	require.NoError(t, err)

	release := inj.holdSyncs()
	defer release()
	go func() { _, _ = incr(ctx, a) }()
	require.Eventually(t, func() bool { return inj.held.Load() > 0 }, 10*time.Second, time.Millisecond)

	var released atomic.Bool
	bRan := make(chan bool, 1)
	done := make(chan error, 1)
	go func() {
		_, err := actor.Call(ctx, a, func(ctx context.Context, p *probe) (int, error) {
			_, err := actor.Call(ctx, b, func(ctx context.Context, q *probe) (int, error) {
				bRan <- released.Load()
				return 0, nil
			})
			return 0, err
		})
		done <- err
	}()
	select {
	case <-bRan:
		t.Fatal("b ran before a's earlier write was durable")
	case <-time.After(50 * time.Millisecond):
	}
	released.Store(true)
	release()
	assert.True(t, recv(t, bRan))
	assert.NoError(t, recv(t, done))
}

// TestCommitFailureFailsHeldResults fails the log's fsync while several
// results of an object wait for it: every one of them fails.
func TestCommitFailureFailsHeldResults(t *testing.T) {
	inj := &walSync{}
	sys := openWithFS(t, inj)
	defer func() { _ = sys.Close() }() // Close reports the storage failure
	ns := newProbes(t, sys, "P", &probeEnv{})
	ctx := context.Background()
	stub := ns.Get(ns.IDFromName("a"))
	_, err := incr(ctx, stub)
	require.NoError(t, err)

	release := inj.holdSyncs()
	defer release()
	const n = 3
	errs := make(chan error, n)
	for range n {
		go func() { _, err := incr(ctx, stub); errs <- err }()
	}
	require.Eventually(t, func() bool { return actor.QueuedEvents(ns, stub.ID()) == 0 },
		10*time.Second, time.Millisecond, "turns did not all run")
	inj.fail.Store(true)
	release()
	for range n {
		err := recv(t, errs)
		assert.ErrorIs(t, err, storage.ErrFailed)
	}
	_, err = incr(ctx, stub)
	assert.ErrorIs(t, err, storage.ErrFailed, "the failed database keeps failing")
}
