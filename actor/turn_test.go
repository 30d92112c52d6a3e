package actor_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/durable-go/durable/actor"
	"github.com/durable-go/durable/storage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCallPersistsAcrossRestart(t *testing.T) {
	sys := newSystem(t, nil)
	ns := newProbes(t, sys.System, "P", &probeEnv{})
	ctx := context.Background()
	stub := ns.Get(ns.IDFromName("a"))
	for i := int64(1); i <= 3; i++ {
		n, err := incr(ctx, stub)
		require.NoError(t, err)
		assert.Equal(t, i, n)
	}
	sys = sys.Restart(t)
	ns = newProbes(t, sys.System, "P", &probeEnv{})
	n, err := get(ctx, ns.Get(ns.IDFromName("a")))
	require.NoError(t, err)
	assert.Equal(t, int64(3), n)
}

func TestGetDoesNotActivate(t *testing.T) {
	sys := newSystem(t, nil)
	env := &probeEnv{}
	ns := newProbes(t, sys.System, "P", env)
	stub := ns.Get(ns.IDFromName("a"))
	assert.True(t, stub.ID().Equal(ns.IDFromName("a")))
	assert.Equal(t, 0, sys.ActiveObjects())
	assert.Equal(t, int32(0), env.constructed.Load())
}

func TestConcurrentCallsSerialised(t *testing.T) {
	sys := newSystem(t, nil)
	ns := newProbes(t, sys.System, "P", &probeEnv{})
	stub := ns.Get(ns.IDFromName("hot"))
	const callers, each = 32, 20
	results := make(chan int64, callers*each)
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				n, err := incr(context.Background(), stub)
				assert.NoError(t, err)
				results <- n
			}
		}()
	}
	wg.Wait()
	close(results)
	seen := map[int64]bool{}
	for n := range results {
		assert.False(t, seen[n], "value %d returned twice", n)
		seen[n] = true
	}
	assert.Len(t, seen, callers*each)
	n, err := get(context.Background(), stub)
	require.NoError(t, err)
	assert.Equal(t, int64(callers*each), n)
}

func TestCallErrorCommitsNothing(t *testing.T) {
	sys := newSystem(t, nil)
	ns := newProbes(t, sys.System, "P", &probeEnv{})
	ctx := context.Background()
	stub := ns.Get(ns.IDFromName("a"))
	boom := errors.New("boom")
	_, err := actor.Call(ctx, stub, func(ctx context.Context, p *probe) (int, error) {
		tx := p.st.Storage()
		require.NoError(t, tx.Put("x", []byte("1")))
		_, err := p.incr()
		require.NoError(t, err)
		require.NoError(t, tx.SetAlarm(time.Now()))
		return 0, boom
	})
	assert.ErrorIs(t, err, boom)
	_, err = actor.Call(ctx, stub, func(ctx context.Context, p *probe) (int, error) {
		tx := p.st.Storage()
		_, ok, err := tx.Get("x")
		require.NoError(t, err)
		assert.False(t, ok, "write of a failed turn is visible")
		n, err := p.get()
		require.NoError(t, err)
		assert.Equal(t, int64(0), n)
		_, ok, err = tx.GetAlarm()
		require.NoError(t, err)
		assert.False(t, ok, "alarm of a failed turn is set")
		return 0, nil
	})
	require.NoError(t, err)
	assert.Equal(t, 1, mustMem(t, stub), "an error does not reset the object")
}

// mustMem returns the number of turns the object's current activation ran
// before this one.
func mustMem(t testing.TB, stub *actor.Stub[*probe]) int {
	t.Helper()
	n, err := actor.Call(context.Background(), stub, func(ctx context.Context, p *probe) (int, error) {
		return p.mem, nil
	})
	require.NoError(t, err)
	return n
}

func TestPanicResetsObject(t *testing.T) {
	sys := newSystem(t, nil)
	env := &probeEnv{}
	ns := newProbes(t, sys.System, "P", env)
	ctx := context.Background()
	stub := ns.Get(ns.IDFromName("a"))
	other := ns.Get(ns.IDFromName("b"))
	_, err := incr(ctx, stub)
	require.NoError(t, err)
	_, err = incr(ctx, other)
	require.NoError(t, err)
	require.Equal(t, 1, mustMem(t, stub))

	_, err = actor.Call(ctx, stub, func(ctx context.Context, p *probe) (int, error) {
		_, err := p.incr()
		require.NoError(t, err)
		panic("kaboom")
	})
	var pe *actor.PanicError
	require.ErrorAs(t, err, &pe)
	assert.ErrorIs(t, err, actor.ErrPanic)
	assert.Equal(t, "kaboom", pe.Value)
	assert.Contains(t, string(pe.Stack), "TestPanicResetsObject")

	n, err := get(ctx, stub)
	require.NoError(t, err)
	assert.Equal(t, int64(1), n, "the panicking turn committed")
	assert.Equal(t, 0, mustMem(t, stub), "in-memory state survived the panic")
	assert.Equal(t, int32(3), env.constructed.Load(), "constructions: a, b, a again")
	assert.Equal(t, 1, mustMem(t, other), "another object was reset")
}

func TestInitOncePerActivation(t *testing.T) {
	sys := newSystem(t, nil)
	initStarted := make(chan struct{})
	releaseInit := make(chan struct{})
	env := &probeEnv{init: func(ctx context.Context, p *probe) error {
		close(initStarted)
		<-releaseInit
		return storage.Put(p.st.Storage(), "init", true)
	}}
	ns := newProbes(t, sys.System, "P", env)
	stub := ns.Get(ns.IDFromName("fresh"))
	const callers = 100
	errs := make(chan error, callers)
	results := make(chan bool, callers)
	for range callers {
		go func() {
			ok, err := actor.Call(context.Background(), stub, func(ctx context.Context, p *probe) (bool, error) {
				v, _, err := storage.Get[bool](p.st.Storage(), "init")
				return v, err
			})
			errs <- err
			results <- ok
		}()
	}
	recv(t, initStarted)
	close(releaseInit)
	for range callers {
		assert.NoError(t, recv(t, errs))
		assert.True(t, recv(t, results), "an event ran before Init")
	}
	assert.Equal(t, int32(1), env.constructed.Load())
	assert.Equal(t, int32(1), env.inits.Load())
}

func TestInitErrorFailsEventAndRetries(t *testing.T) {
	sys := newSystem(t, nil)
	fail := true
	env := &probeEnv{init: func(ctx context.Context, p *probe) error {
		if fail {
			fail = false
			return errors.New("not ready")
		}
		return nil
	}}
	ns := newProbes(t, sys.System, "P", env)
	stub := ns.Get(ns.IDFromName("a"))
	_, err := incr(context.Background(), stub)
	assert.ErrorContains(t, err, "not ready")
	n, err := incr(context.Background(), stub)
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
	assert.Equal(t, int32(2), env.inits.Load())
}

func TestFetch(t *testing.T) {
	sys := newSystem(t, nil)
	env := &probeEnv{serve: func(w http.ResponseWriter, r *http.Request, p *probe) {
		if r.URL.Path == "/panic" {
			panic("secret detail")
		}
		body, _ := io.ReadAll(r.Body)
		n, err := p.incr()
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("X-Count", fmt.Sprint(n))
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, body)
		w.Header().Set("X-Late", "ignored")
	}}
	ns := newProbes(t, sys.System, "P", env)
	stub := ns.Get(ns.IDFromName("a"))
	ctx := context.Background()

	req := httptest.NewRequest("PUT", "/things", nil)
	req.Body = io.NopCloser(strings.NewReader("hello"))
	resp, err := stub.Fetch(ctx, req)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, http.StatusCreated, resp.StatusCode)
	assert.Equal(t, "201 Created", resp.Status)
	assert.Equal(t, "PUT /things hello", string(body))
	assert.Equal(t, "1", resp.Header.Get("X-Count"))
	assert.Equal(t, "", resp.Header.Get("X-Late"))
	assert.Equal(t, int64(len(body)), resp.ContentLength)

	resp, err = stub.Fetch(ctx, httptest.NewRequest("GET", "/panic", nil))
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	assert.NotContains(t, string(body), "secret")

	n, err := get(ctx, stub)
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
}

type plain struct{}

func TestFetchNotHandler(t *testing.T) {
	sys := newSystem(t, nil)
	ns, err := actor.Register(sys.System, "PLAIN", func(*actor.State) plain { return plain{} })
	require.NoError(t, err)
	_, err = ns.Get(ns.IDFromName("a")).Fetch(context.Background(), httptest.NewRequest("GET", "/", nil))
	assert.ErrorIs(t, err, actor.ErrNotHandler)
}

func TestFetchNilRequest(t *testing.T) {
	sys := newSystem(t, nil)
	ns, err := actor.Register(sys.System, "PLAIN", func(*actor.State) plain { return plain{} })
	require.NoError(t, err)
	resp, err := ns.Get(ns.IDFromName("a")).Fetch(context.Background(), nil)
	assert.Nil(t, resp)
	assert.ErrorIs(t, err, actor.ErrNilRequest)
	assert.Equal(t, 0, sys.ActiveObjects(), "a nil request must not activate the object")
}

func TestFetchContextEndsWithCaller(t *testing.T) {
	sys := newSystem(t, nil)
	handlerDone := make(chan error, 1)
	env := &probeEnv{serve: func(w http.ResponseWriter, r *http.Request, p *probe) {
		<-r.Context().Done()
		handlerDone <- r.Context().Err()
	}}
	ns := newProbes(t, sys.System, "P", env)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := ns.Get(ns.IDFromName("a")).Fetch(ctx, httptest.NewRequest("GET", "/", nil))
		errc <- err
	}()
	time.AfterFunc(10*time.Millisecond, cancel)
	assert.ErrorIs(t, recv(t, errc), context.Canceled)
	assert.ErrorIs(t, recv(t, handlerDone), context.Canceled)
}

func TestCallerCancelReturnsPromptly(t *testing.T) {
	sys := newSystem(t, nil)
	env := &probeEnv{}
	ns := newProbes(t, sys.System, "P", env)
	stub := ns.Get(ns.IDFromName("a"))
	release, done := block(t, stub)
	defer release()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	ran := false
	_, err := actor.Call(ctx, stub, func(ctx context.Context, p *probe) (int, error) {
		ran = true
		return 0, nil
	})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	release()
	require.NoError(t, recv(t, done))
	assert.Equal(t, 0, mustMem(t, stub), "object answers after the cancelled call")
	assert.False(t, ran, "an event whose caller gave up ran")
}

// TestCallerCancelWhileTurnIgnoresIt cancels a caller whose own turn is
// running and ignores the cancellation: the caller still returns at once.
func TestCallerCancelWhileTurnIgnoresIt(t *testing.T) {
	sys := newSystem(t, nil)
	ns := newProbes(t, sys.System, "P", &probeEnv{})
	stub := ns.Get(ns.IDFromName("a"))
	started, release := make(chan struct{}), make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := actor.Call(ctx, stub, func(context.Context, *probe) (int, error) {
			close(started)
			<-release
			return 0, nil
		})
		errc <- err
	}()
	recv(t, started)
	cancel()
	assert.ErrorIs(t, recv(t, errc), context.Canceled)
	close(release)
	assert.Equal(t, 0, mustMem(t, stub), "object answers after the cancelled call")
}

func TestOverloaded(t *testing.T) {
	sys := newSystem(t, &actor.Options{MaxQueue: 3})
	ns := newProbes(t, sys.System, "P", &probeEnv{})
	id := ns.IDFromName("a")
	stub := ns.Get(id)
	release, done := block(t, stub)
	// The running turn counts as queued; two more fit.
	errs := make(chan error, 2)
	for range 2 {
		go func() { _, err := incr(context.Background(), stub); errs <- err }()
	}
	require.Eventually(t, func() bool { return actor.QueuedEvents(ns, id) == 3 }, 10*time.Second, time.Millisecond)
	_, err := incr(context.Background(), stub)
	var oe *actor.OverloadedError
	require.ErrorAs(t, err, &oe)
	assert.ErrorIs(t, err, actor.ErrOverloaded)
	assert.Equal(t, "P", oe.Namespace)
	assert.True(t, oe.ID.Equal(id))
	assert.Equal(t, 3, oe.Queued)
	assert.Contains(t, err.Error(), "retry later")

	// Another object is not affected.
	_, err = incr(context.Background(), ns.Get(ns.IDFromName("b")))
	assert.NoError(t, err)

	release()
	require.NoError(t, recv(t, done))
	assert.NoError(t, recv(t, errs))
	assert.NoError(t, recv(t, errs))
	n, err := incr(context.Background(), stub)
	require.NoError(t, err)
	assert.Equal(t, int64(3), n)
}

func TestCallCycle(t *testing.T) {
	sys := newSystem(t, nil)
	ns := newProbes(t, sys.System, "P", &probeEnv{})
	ctx := context.Background()
	a, b := ns.Get(ns.IDFromName("a")), ns.Get(ns.IDFromName("b"))

	// a calls b calls a.
	_, err := actor.Call(ctx, a, func(ctx context.Context, p *probe) (int64, error) {
		if _, err := p.incr(); err != nil {
			return 0, err
		}
		return actor.Call(ctx, b, func(ctx context.Context, q *probe) (int64, error) {
			return incr(ctx, a)
		})
	})
	assert.ErrorIs(t, err, actor.ErrCallCycle)
	assert.ErrorContains(t, err, "already waiting")

	// a calls itself.
	_, err = actor.Call(ctx, a, func(ctx context.Context, p *probe) (int64, error) {
		return incr(ctx, a)
	})
	assert.ErrorIs(t, err, actor.ErrCallCycle)

	// a keeps working, and a call chain without a cycle works.
	n, err := actor.Call(ctx, a, func(ctx context.Context, p *probe) (int64, error) {
		if _, err := p.incr(); err != nil {
			return 0, err
		}
		return incr(ctx, b)
	})
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
	n, err = get(ctx, a)
	require.NoError(t, err)
	assert.Equal(t, int64(1), n, "only the successful turn of a committed")
}

func TestOnDurable(t *testing.T) {
	sys := newSystem(t, nil)
	ns := newProbes(t, sys.System, "P", &probeEnv{})
	ctx := context.Background()
	stub := ns.Get(ns.IDFromName("a"))
	var mu sync.Mutex
	var order []string
	note := func(s string) func(error) {
		return func(err error) {
			mu.Lock()
			defer mu.Unlock()
			order = append(order, fmt.Sprintf("%s:%v", s, err))
		}
	}
	_, err := actor.Call(ctx, stub, func(ctx context.Context, p *probe) (int64, error) {
		actor.FromContext(ctx).OnDurable(note("first"))
		p.st.OnDurable(note("second"))
		return p.incr()
	})
	require.NoError(t, err)
	mu.Lock()
	assert.Equal(t, []string{"first:<nil>", "second:<nil>"}, order, "callbacks ran before the reply")
	order = nil
	mu.Unlock()

	_, err = actor.Call(ctx, stub, func(ctx context.Context, p *probe) (int64, error) {
		p.st.OnDurable(note("failed"))
		return 0, errors.New("nope")
	})
	require.Error(t, err)
	mu.Lock()
	assert.Equal(t, []string{"failed:nope"}, order)
	mu.Unlock()

	// Outside a turn the callback runs at once.
	var st *actor.State
	_, err = actor.Call(ctx, stub, func(ctx context.Context, p *probe) (int, error) {
		st = p.st
		return 0, nil
	})
	require.NoError(t, err)
	ran := false
	st.OnDurable(func(err error) { ran = err == nil })
	assert.True(t, ran)
	_, _, err = st.Storage().Get("n")
	assert.ErrorIs(t, err, storage.ErrTxnDone, "storage outside a turn")
	assert.Nil(t, actor.FromContext(ctx))
}

func TestStateAccessors(t *testing.T) {
	sys := newSystem(t, nil)
	ns := newProbes(t, sys.System, "P", &probeEnv{})
	id := ns.IDFromName("named")
	_, err := actor.Call(context.Background(), ns.Get(id), func(ctx context.Context, p *probe) (int, error) {
		st := actor.FromContext(ctx)
		assert.Same(t, p.st, st)
		assert.True(t, st.ID().Equal(id))
		assert.Equal(t, "named", st.ID().Name())
		assert.Equal(t, "P", st.Namespace())
		assert.Same(t, sys.System, st.System())
		assert.NotNil(t, st.Logger())
		return 0, nil
	})
	require.NoError(t, err)

	// An object activated through an ID parsed from a string has no name
	// until a named ID reaches it.
	other := ns.IDFromName("later")
	parsed, err := ns.IDFromString(other.String())
	require.NoError(t, err)
	name := func(id actor.ID) string {
		t.Helper()
		n, err := actor.Call(context.Background(), ns.Get(id), func(ctx context.Context, p *probe) (string, error) {
			return p.st.ID().Name(), nil
		})
		require.NoError(t, err)
		return n
	}
	assert.Equal(t, "", name(parsed))
	assert.Equal(t, "later", name(other))
	assert.Equal(t, "later", name(parsed), "the name stays with the activation")
}

func TestClosedSystemRejectsEvents(t *testing.T) {
	sys := newSystem(t, nil)
	ns := newProbes(t, sys.System, "P", &probeEnv{})
	require.NoError(t, sys.Close())
	_, err := incr(context.Background(), ns.Get(ns.IDFromName("a")))
	assert.ErrorIs(t, err, actor.ErrClosed)
}

func TestExtension(t *testing.T) {
	sys := newSystem(t, nil)
	type key struct{}
	calls := 0
	create := func() any { calls++; return &calls }
	v1 := sys.Extension(key{}, create)
	v2 := sys.Extension(key{}, create)
	assert.Same(t, v1, v2)
	assert.Equal(t, 1, calls)
}
