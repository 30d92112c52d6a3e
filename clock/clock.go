// Package clock is the time source of durable's runtime: alarms, idle
// eviction, KV expiry and every timeout read it, so tests can replace real
// time with a [Fake] and move it forward by hand.
package clock

import (
	"sort"
	"sync"
	"time"
)

// Clock is a source of the current time and of timers.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTimer returns a timer that sends the time on its channel once d
	// has passed.
	NewTimer(d time.Duration) Timer
	// AfterFunc calls f in its own goroutine once d has passed.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a stoppable single-shot timer, as time.Timer.
type Timer interface {
	// C returns the channel the time is sent on, or nil for a timer made
	// by AfterFunc.
	C() <-chan time.Time
	// Stop prevents the timer from firing and reports whether it did so.
	Stop() bool
	// Reset changes the timer to fire after d and reports whether it had
	// been active.
	Reset(d time.Duration) bool
}

// Real is the Clock of the operating system.
var Real Clock = realClock{}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) Timer { return realTimer{t: time.NewTimer(d)} }

func (realClock) AfterFunc(d time.Duration, f func()) Timer {
	return realTimer{t: time.AfterFunc(d, f)}
}

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time        { return r.t.C }
func (r realTimer) Stop() bool                 { return r.t.Stop() }
func (r realTimer) Reset(d time.Duration) bool { return r.t.Reset(d) }

// Fake is a Clock that moves only through Advance and Set. Timers fire, in time
// order, during the Advance or Set call that reaches their time. It is safe
// for concurrent use.
type Fake struct {
	mu     sync.Mutex // guards now, timers and seq
	now    time.Time
	timers []*fakeTimer
	seq    uint64
	// added is closed and replaced whenever a timer is added or reset.
	added chan struct{}
}

// NewFake returns a Fake clock set to start.
func NewFake(start time.Time) *Fake {
	return &Fake{now: start, added: make(chan struct{})}
}

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// NewTimer returns a timer that fires when the fake time reaches Now()+d.
func (f *Fake) NewTimer(d time.Duration) Timer {
	t := &fakeTimer{clock: f, ch: make(chan time.Time, 1)}
	t.Reset(d)
	return t
}

// AfterFunc calls fn in its own goroutine when the fake time reaches
// Now()+d.
func (f *Fake) AfterFunc(d time.Duration, fn func()) Timer {
	t := &fakeTimer{clock: f, fn: fn}
	t.Reset(d)
	return t
}

// Advance moves the fake time forward by d and fires every timer that is
// then due.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	target := f.now.Add(d)
	f.mu.Unlock()
	f.Set(target)
}

// Set moves the fake time to t, firing due timers in time order. Moving
// backwards only changes Now.
func (f *Fake) Set(t time.Time) {
	for {
		f.mu.Lock()
		sort.Slice(f.timers, func(i, j int) bool {
			a, b := f.timers[i], f.timers[j]
			if !a.when.Equal(b.when) {
				return a.when.Before(b.when)
			}
			return a.seq < b.seq
		})
		if len(f.timers) == 0 || f.timers[0].when.After(t) {
			f.now = t
			f.mu.Unlock()
			return
		}
		next := f.timers[0]
		f.timers = f.timers[1:]
		if next.when.After(f.now) {
			f.now = next.when
		}
		now := f.now
		next.active = false
		f.mu.Unlock()
		next.fire(now)
	}
}

// Timers returns the number of timers waiting to fire.
func (f *Fake) Timers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.timers)
}

// WaitForTimers blocks until at least n timers are waiting to fire, so a
// test can advance the clock only after the code under test has armed its
// timer. It returns false if timeout real time passes first.
func (f *Fake) WaitForTimers(n int, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		f.mu.Lock()
		if len(f.timers) >= n {
			f.mu.Unlock()
			return true
		}
		ch := f.added
		f.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			return false
		}
	}
}

type fakeTimer struct {
	clock  *Fake
	ch     chan time.Time
	fn     func()
	when   time.Time
	seq    uint64
	active bool // guarded by clock.mu
}

func (t *fakeTimer) fire(now time.Time) {
	if t.fn != nil {
		go t.fn()
		return
	}
	select {
	case t.ch <- now:
	default:
	}
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	f := t.clock
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.removeLocked(t)
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	f := t.clock
	f.mu.Lock()
	wasActive := f.removeLocked(t)
	f.seq++
	t.seq = f.seq
	t.when = f.now.Add(d)
	t.active = true
	f.timers = append(f.timers, t)
	close(f.added)
	f.added = make(chan struct{})
	f.mu.Unlock()
	if d <= 0 {
		f.Set(f.Now())
	}
	return wasActive
}

// removeLocked removes t from the pending timers and reports whether it
// was there.
func (f *Fake) removeLocked(t *fakeTimer) bool {
	if !t.active {
		return false
	}
	t.active = false
	for i, p := range f.timers {
		if p == t {
			f.timers = append(f.timers[:i], f.timers[i+1:]...)
			return true
		}
	}
	return false
}
