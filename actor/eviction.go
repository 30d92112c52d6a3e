package actor

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	protoactor "github.com/asynkron/protoactor-go/actor"
	"github.com/durable-go/durable/clock"
)

// evictReason is the cause of an eviction, recorded in metrics.
type evictReason uint8

const (
	evictIdle evictReason = iota
	evictMaxActive
	evictExplicit
	evictShutdown
)

func (r evictReason) String() string {
	switch r {
	case evictIdle:
		return "idle"
	case evictMaxActive:
		return "max_active"
	case evictExplicit:
		return "explicit"
	default:
		return "shutdown"
	}
}

// evictRequest is the message that makes an activation run its Close hook
// and stop once no event is pending for it.
type evictRequest struct{}

// lruList is an intrusive doubly linked list of the activations that are
// not being evicted, most recently used first.
type lruList struct {
	head, tail *activation
	len        int
	// epoch counts moves to the front. An activation whose moveEpoch
	// equals it is at the front already, so senders read both without the
	// lock to skip a move that would change nothing.
	epoch atomic.Uint64
}

func (l *lruList) pushFront(a *activation) {
	a.moveEpoch.Store(l.epoch.Add(1))
	a.prev, a.next = nil, l.head
	if l.head != nil {
		l.head.prev = a
	} else {
		l.tail = a
	}
	l.head = a
	a.inLRU = true
	l.len++
}

func (l *lruList) remove(a *activation) {
	if !a.inLRU {
		return
	}
	if a.prev != nil {
		a.prev.next = a.next
	} else {
		l.head = a.next
	}
	if a.next != nil {
		a.next.prev = a.prev
	} else {
		l.tail = a.prev
	}
	a.prev, a.next = nil, nil
	a.inLRU = false
	l.len--
}

func (l *lruList) moveToFront(a *activation) {
	if !a.inLRU || l.head == a {
		return
	}
	l.remove(a)
	l.pushFront(a)
}

// evictIdleLocked starts the eviction of a if no event is pending for it,
// and reports whether it did.
func (s *System) evictIdleLocked(a *activation, why evictReason) bool {
	a.stopped = make(chan struct{})
	if !a.stopIfIdle() {
		a.stopped = nil
		return false
	}
	s.startEvictLocked(a, why)
	return true
}

// evictAnywayLocked starts the eviction of a; its pending events run
// first.
func (s *System) evictAnywayLocked(a *activation, why evictReason) {
	a.stopped = make(chan struct{})
	a.stopAnyway()
	s.startEvictLocked(a, why)
}

// startEvictLocked records that a is stopping, so that new events wait
// for a fresh activation, and sends its actor an evictRequest. The caller
// has set the stop bit.
func (s *System) startEvictLocked(a *activation, why evictReason) {
	a.stopping = true
	a.evictWhy = why
	s.lru.remove(a)
	s.root.Send(a.pid, evictRequest{})
}

// evictOverflowLocked evicts least recently used idle activations until at
// most MaxActive remain, sparing keep. Busy activations are skipped.
func (s *System) evictOverflowLocked(keep *activation) {
	for a := s.lru.tail; a != nil && s.lru.len > s.opts.MaxActive; {
		prev := a.prev
		if a != keep {
			s.evictIdleLocked(a, evictMaxActive)
		}
		a = prev
	}
}

// evict evicts the object key if it is active and waits until it stopped.
func (s *System) evict(ctx context.Context, key objKey) error {
	s.mu.Lock()
	a := s.table[key]
	if a == nil {
		s.mu.Unlock()
		return nil
	}
	if !a.stopping {
		s.evictAnywayLocked(a, evictExplicit)
	}
	ch := a.stopped
	s.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// finishEvict runs on the actor goroutine once an evicted activation has
// no queued event: it runs the Close hook as the last turn, waits until
// every result has been released and stops the Proto.Actor process.
func (a *activation) finishEvict(c protoactor.Context) {
	a.evictPending = false
	if cl, ok := a.obj.(Closer); ok && a.constructed {
		res := a.runTurn(a.ns.sys.ctxForClose(), nil, "actor.close", turnFunc(cl.Close), nil)
		if res.err != nil {
			a.ns.sys.logger.Warn("close hook failed", "namespace", a.ns.name,
				"object", a.id.String(), "error", res.err)
		}
		a.release(res, nil)
		a.flush()
	}
	a.gate.wait()
	a.obj = nil
	a.constructed = false
	c.Stop(c.Self())
}

// ctxForClose returns the context of Close hooks, which run during
// shutdown too, so it is not the System's cancelled context.
func (s *System) ctxForClose() context.Context { return context.Background() }

// sweeper evicts activations that have been idle for the idle timeout. It
// sleeps on one clock timer set for the earliest possible expiry.
type sweeper struct {
	s     *System
	kickC chan struct{}
	done  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
}

func newSweeper(s *System) *sweeper {
	w := &sweeper{s: s, kickC: make(chan struct{}, 1), done: make(chan struct{})}
	w.wg.Add(1)
	return w
}

// kick makes the sweeper recompute its deadline.
func (w *sweeper) kick() {
	select {
	case w.kickC <- struct{}{}:
	default:
	}
}

func (w *sweeper) stop() {
	w.once.Do(func() { close(w.done) })
	w.wg.Wait()
}

func (w *sweeper) run() {
	defer w.wg.Done()
	var t lazyTimer
	defer t.stop()
	for {
		at, ok := w.sweep()
		if ok && t.resetUntil(w.s, at) {
			continue // the next expiry has passed already
		}
		if !ok {
			t.stop()
		}
		select {
		case <-t.c():
		case <-w.kickC:
		case <-w.done:
			return
		}
	}
}

// sweep evicts every idle activation whose idle timeout has passed and
// returns the time the next one may expire, or false if none is active.
func (w *sweeper) sweep() (time.Time, bool) {
	s := w.s
	idle := s.opts.IdleTimeout.Nanoseconds()
	start := s.clock.Now()
	now := start.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	// Activations are ordered by their last event, oldest at the tail,
	// except busy ones, which move to the front until their event ends.
	for n := s.lru.len; n > 0 && s.lru.tail != nil; n-- {
		a := s.lru.tail
		if a.pending() > 0 {
			s.lru.moveToFront(a)
			continue
		}
		if wait := a.lastUsed.Load() + idle - now; wait > 0 {
			return start.Add(time.Duration(wait)), true
		}
		if !s.evictIdleLocked(a, evictIdle) {
			s.lru.moveToFront(a) // an event arrived meanwhile
		}
	}
	if s.lru.tail != nil {
		return start.Add(s.opts.IdleTimeout), true
	}
	return time.Time{}, false
}

// lazyTimer is a clock timer created on first use, so an idle loop holds
// no timer at all.
type lazyTimer struct{ t clock.Timer }

// resetUntil arms the timer for at and reports whether at has passed
// already, before or while the timer was armed. A clock that moves between
// reading the time and arming the timer, as a fake clock moved by a test
// does, would otherwise leave a timer set past a deadline that has gone.
func (l *lazyTimer) resetUntil(s *System, at time.Time) bool {
	d := at.Sub(s.clock.Now())
	if d <= 0 {
		return true
	}
	l.reset(s, d)
	return !s.clock.Now().Before(at)
}

func (l *lazyTimer) reset(s *System, d time.Duration) {
	if l.t == nil {
		l.t = s.clock.NewTimer(d)
		return
	}
	// A tick of an old deadline that is still in the channel is kept, at
	// the cost of one extra pass of the loop. Dropping it could drop the
	// tick of the deadline d was computed for, if the clock passed that
	// deadline after the loop read the time.
	l.t.Reset(d)
}

func (l *lazyTimer) stop() {
	if l.t != nil {
		l.t.Stop()
	}
}

// c returns the timer's channel, or nil, which blocks forever, before the
// first reset.
func (l *lazyTimer) c() <-chan time.Time {
	if l.t == nil {
		return nil
	}
	return l.t.C()
}
