package actor_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durable-go/durable/actor"
	"github.com/durable-go/durable/actor/actortest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// alarmRun records one run of an alarm handler.
type alarmRun struct {
	id   string // the object's ID
	name string // the name of the object's ID, kept with its alarm
	info actor.AlarmInfo
	at   time.Time // the clock's time during the run
}

// alarmProbes registers probes whose alarm handler reports every run on
// the returned channel and then calls then, if set.
func alarmProbes(t *testing.T, sys *actortest.System, then func(ctx context.Context, p *probe, info actor.AlarmInfo) error) (*actor.Namespace[*probe], <-chan alarmRun) {
	runs := make(chan alarmRun, 100)
	env := &probeEnv{alarm: func(ctx context.Context, p *probe, info actor.AlarmInfo) error {
		runs <- alarmRun{id: p.st.ID().String(), name: p.st.ID().Name(), info: info, at: sys.Clock.Now()}
		if then != nil {
			return then(ctx, p, info)
		}
		return nil
	}}
	return newProbes(t, sys.System, "P", env), runs
}

// setAlarm sets the alarm of stub's object to at.
func setAlarm(t *testing.T, stub *actor.Stub[*probe], at time.Time) {
	t.Helper()
	_, err := actor.Call(context.Background(), stub, func(ctx context.Context, p *probe) (int, error) {
		return 0, p.st.Storage().SetAlarm(at)
	})
	require.NoError(t, err)
}

// alarmOf returns the alarm time of stub's object, or false.
func alarmOf(t *testing.T, stub *actor.Stub[*probe]) (time.Time, bool) {
	t.Helper()
	type res struct {
		at time.Time
		ok bool
	}
	r, err := actor.Call(context.Background(), stub, func(ctx context.Context, p *probe) (res, error) {
		at, ok, err := p.st.Storage().GetAlarm()
		return res{at, ok}, err
	})
	require.NoError(t, err)
	return r.at, r.ok
}

func noRun(t *testing.T, runs <-chan alarmRun) {
	t.Helper()
	select {
	case r := <-runs:
		t.Fatalf("alarm of %s ran unexpectedly: %+v", r.id, r.info)
	case <-time.After(20 * time.Millisecond):
	}
}

func TestAlarmFiresAndIsDeleted(t *testing.T) {
	sys := newSystem(t, nil)
	ns, runs := alarmProbes(t, sys, nil)
	stub := ns.Get(ns.IDFromName("a"))
	at := sys.Clock.Now().Add(10 * time.Second)
	setAlarm(t, stub, at)

	sys.Clock.Advance(9 * time.Second)
	noRun(t, runs)
	sys.Clock.Advance(time.Second)
	r := recv(t, runs)
	assert.Equal(t, ns.IDFromName("a").String(), r.id)
	assert.Equal(t, 0, r.info.RetryCount)
	assert.True(t, r.info.Scheduled.Equal(at), "scheduled %v, want %v", r.info.Scheduled, at)
	require.Eventually(t, func() bool { _, ok := alarmOf(t, stub); return !ok }, 10*time.Second, time.Millisecond)
	noRun(t, runs)
}

func TestAlarmInPastFiresPromptly(t *testing.T) {
	sys := newSystem(t, nil)
	ns, runs := alarmProbes(t, sys, nil)
	setAlarm(t, ns.Get(ns.IDFromName("a")), sys.Clock.Now().Add(-time.Hour))
	assert.Equal(t, ns.IDFromName("a").String(), recv(t, runs).id)
}

func TestEarlierAlarmWakesScheduler(t *testing.T) {
	sys := newSystem(t, nil)
	ns, runs := alarmProbes(t, sys, nil)
	setAlarm(t, ns.Get(ns.IDFromName("late")), sys.Clock.Now().Add(time.Hour))
	setAlarm(t, ns.Get(ns.IDFromName("early")), sys.Clock.Now().Add(time.Second))
	sys.Clock.Advance(time.Second)
	assert.Equal(t, ns.IDFromName("early").String(), recv(t, runs).id)
	noRun(t, runs)
	sys.Clock.Advance(time.Hour)
	assert.Equal(t, ns.IDFromName("late").String(), recv(t, runs).id)
}

func TestAlarmRetriesWithBackoff(t *testing.T) {
	sys := newSystem(t, &actor.Options{IdleTimeout: 24 * time.Hour})
	ns, runs := alarmProbes(t, sys, func(ctx context.Context, p *probe, info actor.AlarmInfo) error {
		switch info.RetryCount {
		case 0:
			return errors.New("first failure")
		case 1:
			panic("second failure")
		}
		_, err := p.incr()
		return err
	})
	stub := ns.Get(ns.IDFromName("a"))
	at := sys.Clock.Now()
	setAlarm(t, stub, at)

	r0 := recv(t, runs)
	assert.Equal(t, 0, r0.info.RetryCount)
	// The idle timer and the retry timer.
	require.True(t, sys.Clock.WaitForTimers(2, 10*time.Second))
	sys.Clock.Advance(2500 * time.Millisecond)
	r1 := recv(t, runs)
	assert.Equal(t, 1, r1.info.RetryCount)
	assert.True(t, r1.info.Scheduled.Equal(at))
	wait := r1.at.Sub(r0.at)
	assert.GreaterOrEqual(t, wait, 2*time.Second)
	assert.LessOrEqual(t, wait, 2500*time.Millisecond)

	require.True(t, sys.Clock.WaitForTimers(2, 10*time.Second))
	sys.Clock.Advance(5 * time.Second)
	r2 := recv(t, runs)
	assert.Equal(t, 2, r2.info.RetryCount)
	// The handler may read the clock while Advance is still moving it, so
	// r1 may have run up to 0.5 s before the end of the 2.5 s advance that
	// the second retry's backoff of 4 s to 5 s counts from.
	wait = r2.at.Sub(r1.at)
	assert.GreaterOrEqual(t, wait, 4*time.Second)
	assert.LessOrEqual(t, wait, 5500*time.Millisecond)

	require.Eventually(t, func() bool { _, ok := alarmOf(t, stub); return !ok }, 10*time.Second, time.Millisecond)
	n, err := get(context.Background(), stub)
	require.NoError(t, err)
	assert.Equal(t, int64(1), n, "only the successful run committed")
}

func TestAlarmDroppedAfterRetries(t *testing.T) {
	sys := newSystem(t, &actor.Options{IdleTimeout: 24 * time.Hour, AlarmRetries: 2, AlarmBackoff: time.Second})
	ns, runs := alarmProbes(t, sys, func(ctx context.Context, p *probe, info actor.AlarmInfo) error {
		return errors.New("always fails")
	})
	stub := ns.Get(ns.IDFromName("a"))
	setAlarm(t, stub, sys.Clock.Now())
	for retry := range 3 {
		assert.Equal(t, retry, recv(t, runs).info.RetryCount)
		if retry < 2 {
			require.True(t, sys.Clock.WaitForTimers(2, 10*time.Second))
			sys.Clock.Advance(time.Duration(2<<retry) * time.Second)
		}
	}
	require.Eventually(t, func() bool { _, ok := alarmOf(t, stub); return !ok }, 10*time.Second, time.Millisecond)
	sys.Clock.Advance(time.Hour)
	noRun(t, runs)
}

func TestAlarmChainForNow(t *testing.T) {
	sys := newSystem(t, nil)
	ns, runs := alarmProbes(t, sys, func(ctx context.Context, p *probe, info actor.AlarmInfo) error {
		n, err := p.incr()
		if err != nil || n >= 5 {
			return err
		}
		return p.st.Storage().SetAlarm(sys.Clock.Now())
	})
	stub := ns.Get(ns.IDFromName("a"))
	setAlarm(t, stub, sys.Clock.Now())
	for range 5 {
		assert.Equal(t, 0, recv(t, runs).info.RetryCount)
	}
	noRun(t, runs)
	n, err := get(context.Background(), stub)
	require.NoError(t, err)
	assert.Equal(t, int64(5), n)
	_, ok := alarmOf(t, stub)
	assert.False(t, ok)
}

// TestAlarmNeverOverlapsRequests runs an alarm chain while callers keep
// the object busy: no two turns ever run at once.
func TestAlarmNeverOverlapsRequests(t *testing.T) {
	sys := newSystem(t, nil)
	var inTurn atomic.Bool
	enter := func() error {
		if !inTurn.CompareAndSwap(false, true) {
			return errors.New("two turns at once")
		}
		time.Sleep(10 * time.Microsecond) // widen the window a second turn would hit
		inTurn.Store(false)
		return nil
	}
	const chain = 30
	ns, runs := alarmProbes(t, sys, func(ctx context.Context, p *probe, info actor.AlarmInfo) error {
		if err := enter(); err != nil {
			return err
		}
		n, err := p.incr()
		if err != nil || n >= chain {
			return err
		}
		return p.st.Storage().SetAlarm(sys.Clock.Now())
	})
	stub := ns.Get(ns.IDFromName("a"))
	stop := make(chan struct{})
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			for {
				select {
				case <-stop:
					errs <- nil
					return
				default:
				}
				_, err := actor.Call(context.Background(), stub, func(ctx context.Context, p *probe) (int, error) {
					return 0, enter()
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	setAlarm(t, stub, sys.Clock.Now())
	for range chain {
		assert.Equal(t, 0, recv(t, runs).info.RetryCount, "an alarm run failed")
	}
	close(stop)
	for range 4 {
		assert.NoError(t, recv(t, errs))
	}
}

func TestAlarmSurvivesRestart(t *testing.T) {
	sys := newSystem(t, nil)
	ns, runs := alarmProbes(t, sys, nil)
	setAlarm(t, ns.Get(ns.IDFromName("soon")), sys.Clock.Now().Add(time.Minute))
	setAlarm(t, ns.Get(ns.IDFromName("later")), sys.Clock.Now().Add(time.Hour))
	// An ID parsed from a string carries no name, so neither does its alarm.
	parsed, err := ns.IDFromString(ns.IDFromName("parsed").String())
	require.NoError(t, err)
	setAlarm(t, ns.Get(parsed), sys.Clock.Now().Add(2*time.Hour))
	sys = sys.Restart(t)
	noRun(t, runs)

	// Time passes while no namespace is registered: the alarm waits for
	// its namespace and then fires without any request, in an object that
	// has the name it was addressed by.
	sys.Clock.Advance(2 * time.Minute)
	ns, runs = alarmProbes(t, sys, nil)
	r := recv(t, runs)
	assert.Equal(t, ns.IDFromName("soon").String(), r.id)
	assert.Equal(t, "soon", r.name)
	noRun(t, runs)
	sys.Clock.Advance(time.Hour)
	r = recv(t, runs)
	assert.Equal(t, ns.IDFromName("later").String(), r.id)
	assert.Equal(t, "later", r.name)
	sys.Clock.Advance(time.Hour)
	r = recv(t, runs)
	assert.Equal(t, parsed.String(), r.id)
	assert.Equal(t, "", r.name)
}

func TestAlarmNameReachesActiveObject(t *testing.T) {
	sys := newSystem(t, nil)
	ns, runs := alarmProbes(t, sys, nil)
	named := ns.IDFromName("gina")
	setAlarm(t, ns.Get(named), sys.Clock.Now().Add(10*time.Second))
	actortest.Evict(t, ns, named)

	// The object is active under an unnamed ID when its alarm fires, and
	// takes the name stored with the alarm.
	parsed, err := ns.IDFromString(named.String())
	require.NoError(t, err)
	_, err = get(context.Background(), ns.Get(parsed))
	require.NoError(t, err)
	sys.Clock.Advance(10 * time.Second)
	r := recv(t, runs)
	assert.Equal(t, named.String(), r.id)
	assert.Equal(t, "gina", r.name)

	// RunAlarm through an unnamed ID finds the stored name as well.
	setAlarm(t, ns.Get(parsed), sys.Clock.Now().Add(time.Hour))
	actortest.Evict(t, ns, named)
	assert.True(t, actortest.RunAlarm(t, ns, parsed))
	assert.Equal(t, "gina", recv(t, runs).name)
}

func TestRunAlarm(t *testing.T) {
	sys := newSystem(t, nil)
	ns, runs := alarmProbes(t, sys, nil)
	stub := ns.Get(ns.IDFromName("a"))
	assert.False(t, actortest.RunAlarm(t, ns, stub.ID()), "ran without an alarm")
	setAlarm(t, stub, sys.Clock.Now().Add(time.Hour))
	assert.True(t, actortest.RunAlarm(t, ns, stub.ID()))
	assert.Equal(t, ns.IDFromName("a").String(), recv(t, runs).id)
	_, ok := alarmOf(t, stub)
	assert.False(t, ok)
	sys.Clock.Advance(time.Hour)
	noRun(t, runs)
}

func TestAlarmWithoutHandlerDeleted(t *testing.T) {
	sys := newSystem(t, nil)
	ns, err := actor.Register(sys.System, "PLAIN", func(*actor.State) plain { return plain{} })
	require.NoError(t, err)
	id := ns.IDFromName("a")
	err = ns.Invoke(context.Background(), id, func(ctx context.Context, obj any) error {
		return actor.FromContext(ctx).Storage().SetAlarm(sys.Clock.Now())
	})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		var ok bool
		err := ns.Invoke(context.Background(), id, func(ctx context.Context, obj any) error {
			_, set, err := actor.FromContext(ctx).Storage().GetAlarm()
			ok = set
			return err
		})
		return err == nil && !ok
	}, 10*time.Second, time.Millisecond)
}
