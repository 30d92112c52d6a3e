package actor

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	protoactor "github.com/asynkron/protoactor-go/actor"
	"github.com/durable-go/durable/storage"
)

// objKey names one object across namespaces.
type objKey struct {
	ns uint32
	id storage.ObjectID
}

// activation is one live instance of an object: a Proto.Actor process that
// runs the object's turns one at a time, and the bookkeeping around it.
//
// Fields are grouped by owner. The System's mu guards the table fields,
// and turnMu guards the turn fields, whether the turn runs on the actor
// goroutine or on a caller's goroutine. The rest are atomic or carry their
// own lock.
type activation struct {
	ns    *nsCore
	id    ID
	key   objKey
	pid   *protoactor.PID
	state State

	// Table fields, guarded by System.mu. stopped is set before the stop
	// bit of ctrl, so a sender that has loaded the bit may read it
	// without the lock.
	stopping   bool
	stopped    chan struct{} // closed once the Proto.Actor process has stopped
	prev, next *activation   // LRU list links
	inLRU      bool
	evictWhy   evictReason

	// ctrl is the admission state. Its low bits count the events accepted
	// for this activation and not yet finished, the running one included;
	// stopBit marks an eviction. Senders add events and evictions set the
	// bit with compare-and-swap. So an event is either counted before the
	// eviction, which then waits for it, or finds the bit set and waits
	// for a new activation.
	ctrl atomic.Int64
	// moveEpoch is the LRU list's epoch when a last moved to its front.
	moveEpoch atomic.Uint64
	// lastUsed is the clock time, in Unix nanoseconds, of the activation
	// or of the last event finished.
	lastUsed atomic.Int64
	// lateName is the name of the first named ID that reached an
	// activation whose own ID has no name (see adoptName).
	lateName atomic.Pointer[string]

	// turnMu is held while an event or an eviction request is handled,
	// on the actor goroutine or on a caller's goroutine (see runInline).
	// The turn fields below are guarded by it.
	turnMu sync.Mutex

	// Turn fields, guarded by turnMu.
	obj          any
	constructed  bool
	gen          uint64 // incremented by every reset
	evictPending bool
	staged       []stagedRelease // results of the current event, see stage
	cache        storage.Cache   // the object's committed values

	cur        atomic.Pointer[turnState]      // the running turn, if any
	lastHandle atomic.Pointer[storage.Handle] // the last commit with writes
	synced     atomic.Pointer[storage.Handle] // a commit known to be durable
	resetReq   atomic.Bool                    // set by a failed commit
	gate       gate
}

// Receive is the Proto.Actor entry point; it runs on the activation's
// mailbox goroutine, one message at a time.
func (a *activation) Receive(c protoactor.Context) {
	switch m := c.Message().(type) {
	case *envelope:
		a.turnMu.Lock()
		defer a.turnMu.Unlock()
		if a.handle(m) {
			a.finishEvict(c)
		}
	case evictRequest:
		a.turnMu.Lock()
		defer a.turnMu.Unlock()
		if a.pending() > 0 {
			a.evictPending = true
			return
		}
		a.finishEvict(c)
	case *protoactor.Stopped:
		a.ns.sys.removeActivation(a)
	}
}

// handle runs the event of env and releases its results. The caller holds
// turnMu. It reports whether an eviction was waiting for the event to end.
func (a *activation) handle(env *envelope) bool {
	a.deliver(env)
	a.finished()
	if env.reply == nil {
		// An event run inline. A result released through the gate reaches
		// the caller from the gate's goroutine, so it needs the channel.
		// A direct one is stored in env.
		for _, st := range a.staged {
			if st.env == nil {
				env.reply = make(chan reply, 1)
				break
			}
		}
	}
	a.flush()
	return a.evictPending && a.pending() == 0
}

// runInline handles env on the calling goroutine, which holds turnMu and
// whose event was the only one pending when it was admitted. It skips the
// hand-off to the actor goroutine and back, which costs an idle object's
// callers more than a short turn does.
func (a *activation) runInline(env *envelope) {
	defer a.turnMu.Unlock()
	if a.handle(env) {
		// An eviction began while the event was pending. The actor
		// goroutine finishes it, because stopping needs its context.
		a.ns.sys.root.Send(a.pid, evictRequest{})
	}
}

// adoptName records the name of a named ID that an event was sent to, if
// the activation began with an unnamed ID of the same object: an ID parsed
// from a string, or an alarm stored without a name.
func (a *activation) adoptName(id ID) {
	if id.name == "" || a.id.name != "" || a.lateName.Load() != nil {
		return
	}
	name := id.name
	a.lateName.CompareAndSwap(nil, &name)
}

// name returns the name of the object's ID, or "" when no event has named
// it.
func (a *activation) name() string {
	if a.id.name != "" {
		return a.id.name
	}
	if p := a.lateName.Load(); p != nil {
		return *p
	}
	return ""
}

// pendingHandle returns the object's last commit unless it is known to be
// durable already, in which case it returns nil.
func (a *activation) pendingHandle() *storage.Handle {
	h := a.lastHandle.Load()
	if h == a.synced.Load() {
		return nil
	}
	return h
}

// waitDurable waits until h is durable and records it as durable.
func (a *activation) waitDurable(ctx context.Context, h *storage.Handle) error {
	if h == nil {
		return nil
	}
	if err := h.WaitContext(ctx); err != nil {
		return err
	}
	a.synced.Store(h)
	return nil
}

// stopBit is the bit of activation.ctrl that marks an eviction.
const stopBit = 1 << 40

// pending returns the number of events accepted and not yet finished.
func (a *activation) pending() int { return int(a.ctrl.Load() &^ stopBit) }

// admit counts one more event unless the activation is being evicted or
// already has max events. It returns whether the event was admitted, the
// count reached, and whether an eviction is in progress.
func (a *activation) admit(max int) (ok bool, n int, stopping bool) {
	for {
		v := a.ctrl.Load()
		if v&stopBit != 0 {
			return false, 0, true
		}
		if int(v) >= max {
			return false, int(v), false
		}
		if a.ctrl.CompareAndSwap(v, v+1) {
			return true, int(v) + 1, false
		}
	}
}

// stopIfIdle marks an activation without events as being evicted and
// reports whether it did.
func (a *activation) stopIfIdle() bool { return a.ctrl.CompareAndSwap(0, stopBit) }

// stopAnyway marks the activation as being evicted even if events are
// pending; they run before it stops.
func (a *activation) stopAnyway() {
	for {
		v := a.ctrl.Load()
		if a.ctrl.CompareAndSwap(v, v|stopBit) {
			return
		}
	}
}

// finished records the end of one event. The activation moves to the
// front of the LRU list before its event count drops, so that eviction,
// which skips busy activations, never finds it idle at the tail.
func (a *activation) finished() {
	s := a.ns.sys
	a.lastUsed.Store(s.clock.Now().UnixNano())
	var idle bool
	if a.moveEpoch.Load() == s.lru.epoch.Load() {
		// At the front already, so only evicting objects over the bound
		// needs the lock.
		idle = a.ctrl.Add(-1)&^stopBit == 0
		if !idle || s.opts.MaxActive <= 0 {
			return
		}
		s.mu.Lock()
	} else {
		s.mu.Lock()
		if a.inLRU {
			s.lru.moveToFront(a)
		}
		idle = a.ctrl.Add(-1)&^stopBit == 0
	}
	// Objects that were busy when the bound was passed can go now.
	if idle && s.opts.MaxActive > 0 && s.lru.len > s.opts.MaxActive {
		s.evictOverflowLocked(nil)
	}
	s.mu.Unlock()
}

// send delivers env to the object key of ns, activating it if needed. It
// waits while an earlier activation of the object is being evicted. When
// the event ran on the calling goroutine and its reply is stored in env,
// env.reply stays nil.
//
// An active object is reached under the table's read lock. The write
// lock is taken here only to activate. finished takes it to move the
// object to the front of the LRU list, or, when the object is at the
// front already, only when it went idle and MaxActive is set.
func (s *System) send(ctx context.Context, ns *nsCore, id ID, env *envelope) error {
	key := objKey{ns.number, id.obj}
	for {
		s.mu.RLock()
		closed, a := s.closed, s.table[key]
		s.mu.RUnlock()
		if closed {
			return ErrClosed
		}
		var ok, stopping bool
		var n int
		if a == nil {
			var err error
			if a, ok, n, stopping, err = s.activate(ns, id, key); err != nil {
				return err
			}
		} else {
			ok, n, stopping = a.admit(s.opts.MaxQueue)
		}
		if stopping {
			// stopped was set before the stop bit that admit saw.
			select {
			case <-a.stopped:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if !ok {
			return &OverloadedError{Namespace: ns.name, ID: id, Queued: n}
		}
		a.adoptName(id)
		// Neither lastUsed nor the LRU list changes here, because eviction
		// skips objects with pending events and finished moves this one to
		// the front when its events end.
		//
		// A caller whose context cannot end runs the event itself when the
		// object is idle. Callers that can give up wait on the actor
		// goroutine instead, so that they return promptly even while the
		// object's code ignores the cancellation.
		if n == 1 && env.ts.parent.Done() == nil && a.turnMu.TryLock() {
			a.runInline(env)
			return nil
		}
		env.reply = make(chan reply, 1)
		s.root.Send(a.pid, env)
		return nil
	}
}

// activate returns the activation of key, creating it if there is none,
// and admits one event to it.
func (s *System) activate(ns *nsCore, id ID, key objKey) (a *activation, ok bool, n int, stopping bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, false, 0, false, ErrClosed
	}
	if a = s.table[key]; a == nil {
		if a, err = s.activateLocked(ns, id, key); err != nil {
			return nil, false, 0, false, err
		}
	}
	ok, n, stopping = a.admit(s.opts.MaxQueue)
	return a, ok, n, stopping, nil
}

// activateLocked spawns a new activation of key and adds it to the table.
func (s *System) activateLocked(ns *nsCore, id ID, key objKey) (*activation, error) {
	a := &activation{ns: ns, id: id, key: key}
	a.state.a = a
	a.cache.MaxBytes = s.opts.CacheBytes
	a.lastUsed.Store(s.clock.Now().UnixNano())
	s.nextName++
	name := "o" + strconv.FormatUint(s.nextName, 36)
	s.spawning = a
	pid, err := s.root.SpawnNamed(s.props, name)
	s.spawning = nil
	if err != nil {
		return nil, fmt.Errorf("actor: activate %s/%s: %w", ns.name, id, err)
	}
	a.pid = pid
	s.table[key] = a
	s.lru.pushFront(a)
	s.metrics.activated(ns)
	if s.opts.MaxActive > 0 && s.lru.len > s.opts.MaxActive {
		s.evictOverflowLocked(a)
	}
	if s.lru.len == 1 {
		s.sweeper.kick()
	}
	return a, nil
}

// removeActivation drops a stopped activation from the table and wakes
// the events waiting for it.
func (s *System) removeActivation(a *activation) {
	s.mu.Lock()
	if s.table[a.key] == a {
		delete(s.table, a.key)
	}
	s.lru.remove(a)
	ch := a.stopped
	s.mu.Unlock()
	s.metrics.evicted(a.ns, a.evictWhy)
	if ch != nil {
		close(ch)
	}
}
