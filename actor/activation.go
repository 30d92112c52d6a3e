package actor

import (
	"context"
	"fmt"
	"strconv"
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
// Fields are grouped by owner. The System's mu guards the table fields;
// the actor goroutine alone touches the turn fields; the rest are atomic or
// carry their own lock.
type activation struct {
	ns    *nsCore
	id    ID
	key   objKey
	pid   *protoactor.PID
	state State

	// Table fields, guarded by System.mu.
	stopping   bool
	stopped    chan struct{} // closed once the Proto.Actor process has stopped
	prev, next *activation   // LRU list links
	inLRU      bool
	evictWhy   evictReason

	// queued counts events accepted for this activation and not yet
	// finished, the running one included. It only grows under System.mu
	// and while stopping is false, so eviction can trust a zero.
	queued atomic.Int32
	// lastUsed is the clock time, in Unix nanoseconds, of the last event
	// accepted or finished.
	lastUsed atomic.Int64

	// Turn fields, owned by the actor goroutine.
	obj          any
	constructed  bool
	gen          uint64 // incremented by every reset
	evictPending bool
	staged       []stagedRelease // results of the current event, see stage

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
		a.deliver(m)
		a.finished()
		a.flush()
		if a.evictPending && a.queued.Load() == 0 {
			a.finishEvict(c)
		}
	case evictRequest:
		if a.queued.Load() > 0 {
			a.evictPending = true
			return
		}
		a.finishEvict(c)
	case *protoactor.Stopped:
		a.ns.sys.removeActivation(a)
	}
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

// finished records the end of one event.
func (a *activation) finished() {
	s := a.ns.sys
	a.lastUsed.Store(s.clock.Now().UnixNano())
	if a.queued.Add(-1) == 0 {
		s.mu.Lock()
		if a.inLRU {
			s.lru.moveToFront(a)
		}
		// Objects that were busy when the bound was passed can go now.
		if s.opts.MaxActive > 0 && s.lru.len > s.opts.MaxActive {
			s.evictOverflowLocked(nil)
		}
		s.mu.Unlock()
	}
}

// send delivers env to the object key of ns, activating it if needed. It
// waits while an earlier activation of the object is being evicted.
func (s *System) send(ctx context.Context, ns *nsCore, id ID, env *envelope) error {
	key := objKey{ns.number, id.obj}
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return ErrClosed
		}
		a := s.table[key]
		if a != nil && a.stopping {
			ch := a.stopped
			s.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if a == nil {
			var err error
			if a, err = s.activateLocked(ns, id, key); err != nil {
				s.mu.Unlock()
				return err
			}
		}
		if q := int(a.queued.Load()); q >= s.opts.MaxQueue {
			s.mu.Unlock()
			return &OverloadedError{Namespace: ns.name, ID: id, Queued: q}
		}
		a.queued.Add(1)
		a.lastUsed.Store(s.clock.Now().UnixNano())
		s.lru.moveToFront(a)
		s.mu.Unlock()
		s.root.Send(a.pid, env)
		return nil
	}
}

// activateLocked spawns a new activation of key and adds it to the table.
func (s *System) activateLocked(ns *nsCore, id ID, key objKey) (*activation, error) {
	a := &activation{ns: ns, id: id, key: key}
	a.state.a = a
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
