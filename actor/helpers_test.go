package actor_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durable-go/durable/actor"
	"github.com/durable-go/durable/actor/actortest"
	"github.com/durable-go/durable/storage"
	"github.com/stretchr/testify/require"
)

// probeEnv holds the hooks and counters shared by every probe object of
// one test.
type probeEnv struct {
	constructed atomic.Int32
	inits       atomic.Int32
	closes      atomic.Int32

	// live counts the activations of each object that have been
	// constructed and not closed; a turn that sees more than one fails
	// the test.
	mu   sync.Mutex
	live map[string]*atomic.Int32

	// trackLive makes incr fail when its object has more than one live
	// activation. Tests that reset objects by panicking leave it unset.
	trackLive bool

	init  func(ctx context.Context, p *probe) error
	alarm func(ctx context.Context, p *probe, info actor.AlarmInfo) error
	close func(ctx context.Context, p *probe) error
	serve func(w http.ResponseWriter, r *http.Request, p *probe)
}

func (e *probeEnv) liveCount(id actor.ID) *atomic.Int32 {
	if !e.trackLive {
		return new(atomic.Int32)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.live == nil {
		e.live = make(map[string]*atomic.Int32)
	}
	c, ok := e.live[id.String()]
	if !ok {
		c = new(atomic.Int32)
		e.live[id.String()] = c
	}
	return c
}

// probe is a test object: a counter with hooks for every optional method.
type probe struct {
	st   *actor.State
	env  *probeEnv
	live *atomic.Int32
	// mem counts the turns this activation ran, kept in memory only.
	mem int
}

func (p *probe) Init(ctx context.Context) error {
	p.env.inits.Add(1)
	if p.env.init != nil {
		return p.env.init(ctx, p)
	}
	return nil
}

func (p *probe) Alarm(ctx context.Context, info actor.AlarmInfo) error {
	if p.env.alarm != nil {
		return p.env.alarm(ctx, p, info)
	}
	return nil
}

func (p *probe) Close(ctx context.Context) error {
	p.env.closes.Add(1)
	p.live.Add(-1)
	if p.env.close != nil {
		return p.env.close(ctx, p)
	}
	return nil
}

func (p *probe) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.env.serve != nil {
		p.env.serve(w, r, p)
		return
	}
	n, err := p.incr()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	fmt.Fprint(w, n)
}

// incr adds one to the stored counter "n" and returns the new value.
func (p *probe) incr() (int64, error) {
	if n := p.live.Load(); p.env.trackLive && n != 1 {
		return 0, fmt.Errorf("object %s has %d live activations", p.st.ID(), n)
	}
	p.mem++
	tx := p.st.Storage()
	n, _, err := storage.Get[int64](tx, "n")
	if err != nil {
		return 0, err
	}
	n++
	return n, storage.Put(tx, "n", n)
}

// get returns the stored counter "n".
func (p *probe) get() (int64, error) {
	n, _, err := storage.Get[int64](p.st.Storage(), "n")
	return n, err
}

// newProbes registers the namespace name of probe objects on sys.
func newProbes(t testing.TB, sys *actor.System, name string, env *probeEnv) *actor.Namespace[*probe] {
	t.Helper()
	ns, err := actor.Register(sys, name, func(s *actor.State) *probe {
		env.constructed.Add(1)
		live := env.liveCount(s.ID())
		live.Add(1)
		return &probe{st: s, env: env, live: live}
	})
	require.NoError(t, err)
	return ns
}

func incr(ctx context.Context, stub *actor.Stub[*probe]) (int64, error) {
	return actor.Call(ctx, stub, func(ctx context.Context, p *probe) (int64, error) { return p.incr() })
}

func get(ctx context.Context, stub *actor.Stub[*probe]) (int64, error) {
	return actor.Call(ctx, stub, func(ctx context.Context, p *probe) (int64, error) { return p.get() })
}

// block starts a call on stub that holds the object's turn until release
// is closed, and waits until the turn has started.
func block(t testing.TB, stub *actor.Stub[*probe]) (release func(), done <-chan error) {
	t.Helper()
	started := make(chan struct{})
	rel := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		_, err := actor.Call(context.Background(), stub, func(ctx context.Context, p *probe) (int, error) {
			close(started)
			<-rel
			return 0, nil
		})
		errc <- err
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("blocking turn did not start")
	}
	var once sync.Once
	return func() { once.Do(func() { close(rel) }) }, errc
}

func newSystem(t testing.TB, opts *actor.Options) *actortest.System {
	return actortest.NewSystem(t, opts)
}

// recv returns the next value of ch, failing the test after ten seconds.
func recv[V any](t testing.TB, ch <-chan V) V {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting on a channel")
		panic("unreachable")
	}
}
