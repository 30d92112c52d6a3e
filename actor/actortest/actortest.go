// Package actortest helps test durable objects: it opens an isolated
// System on a temporary directory and a fake clock, and wraps the
// runtime's hooks for running an alarm now, evicting an object now and
// listing the objects a namespace has stored.
//
//	func TestCounter(t *testing.T) {
//		sys := actortest.NewSystem(t, nil)
//		counters, err := actor.Register(sys.System, "COUNTER", newCounter)
//		require.NoError(t, err)
//		stub := counters.Get(counters.IDFromName("a"))
//		...
//		sys.Clock.Advance(time.Minute) // fires due alarms and idle evictions
//	}
package actortest

import (
	"context"
	"testing"
	"time"

	"github.com/durable-go/durable/actor"
	"github.com/durable-go/durable/clock"
)

// Epoch is the time fake clocks of NewSystem start at.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// System is an actor.System opened by NewSystem, with its fake clock and
// data directory.
type System struct {
	*actor.System
	// Clock drives the System's alarms, idle eviction and timeouts.
	Clock *clock.Fake
	// Dir is the data directory.
	Dir  string
	opts actor.Options
}

// NewSystem opens a System on a new directory under t.TempDir() and closes
// it when the test ends. opts may be nil. Unless opts sets a Clock, the
// System runs on a fake clock starting at Epoch; unless it sets a Logger,
// log lines go to t.Log.
func NewSystem(t testing.TB, opts *actor.Options) *System {
	t.Helper()
	var o actor.Options
	if opts != nil {
		o = *opts
	}
	fake, ok := o.Clock.(*clock.Fake)
	if o.Clock == nil {
		fake = clock.NewFake(Epoch)
		o.Clock = fake
	} else if !ok {
		t.Fatalf("actortest: NewSystem needs a *clock.Fake clock, got %T", o.Clock)
	}
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	return open(t, t.TempDir(), fake, o)
}

func open(t testing.TB, dir string, fake *clock.Fake, o actor.Options) *System {
	t.Helper()
	sys, err := actor.Open(dir, &o)
	if err != nil {
		t.Fatalf("actortest: open system in %s: %v", dir, err)
	}
	s := &System{System: sys, Clock: fake, Dir: dir, opts: o}
	t.Cleanup(func() {
		if err := sys.Close(); err != nil {
			t.Errorf("actortest: close system: %v", err)
		}
	})
	return s
}

// Restart closes s cleanly and opens a new System on the same directory
// and clock. Namespaces must be registered again on the new System.
func (s *System) Restart(t testing.TB) *System {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("actortest: close system: %v", err)
	}
	return open(t, s.Dir, s.Clock, s.opts)
}

// RunAlarm runs the alarm handler of the object id now, as a turn, if the
// object has an alarm set, due or not. It reports whether an alarm ran and
// fails the test if the handler failed.
func RunAlarm[T any](t testing.TB, ns *actor.Namespace[T], id actor.ID) bool {
	t.Helper()
	ran, err := ns.RunAlarm(context.Background(), id)
	if err != nil {
		t.Fatalf("actortest: run alarm of %s/%s: %v", ns.Name(), id, err)
	}
	return ran
}

// Evict evicts the object id now, running its Close hook, and waits until
// it has stopped. It does nothing for an inactive object.
func Evict[T any](t testing.TB, ns *actor.Namespace[T], id actor.ID) {
	t.Helper()
	if err := ns.Evict(context.Background(), id); err != nil {
		t.Fatalf("actortest: evict %s/%s: %v", ns.Name(), id, err)
	}
}

// StoredIDs returns the IDs of the objects of ns that hold stored keys.
func StoredIDs[T any](t testing.TB, ns *actor.Namespace[T]) []actor.ID {
	t.Helper()
	ids, err := ns.StoredIDs(context.Background())
	if err != nil {
		t.Fatalf("actortest: list stored IDs of %s: %v", ns.Name(), err)
	}
	return ids
}

// WaitActive waits until s has n active objects, for tests that advance
// the clock past the idle timeout and need the eviction to finish. It
// fails the test after ten seconds.
func (s *System) WaitActive(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.ActiveObjects() != n {
		if time.Now().After(deadline) {
			t.Fatalf("actortest: %d active objects after 10s, want %d", s.ActiveObjects(), n)
		}
		time.Sleep(time.Millisecond)
	}
}
