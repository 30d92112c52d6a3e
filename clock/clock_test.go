package clock

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var start = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestFakeNowMovesOnlyWhenTold(t *testing.T) {
	f := NewFake(start)
	assert.Equal(t, start, f.Now())
	f.Advance(90 * time.Second)
	assert.Equal(t, start.Add(90*time.Second), f.Now())
	f.Set(start)
	assert.Equal(t, start, f.Now(), "Set may move backwards")
}

func TestFakeTimerFiresAtItsTime(t *testing.T) {
	f := NewFake(start)
	tm := f.NewTimer(10 * time.Second)
	f.Advance(10*time.Second - time.Nanosecond)
	select {
	case <-tm.C():
		t.Fatal("timer fired 1ns early")
	default:
	}
	f.Advance(time.Nanosecond)
	select {
	case got := <-tm.C():
		assert.Equal(t, start.Add(10*time.Second), got)
	default:
		t.Fatal("timer did not fire at its time")
	}
	assert.Equal(t, 0, f.Timers())
}

func TestFakeTimersFireInTimeOrder(t *testing.T) {
	f := NewFake(start)
	var order []int
	done := make(chan int, 3)
	for i, d := range []time.Duration{3 * time.Second, time.Second, 2 * time.Second} {
		tm := f.NewTimer(d)
		go func() {
			<-tm.C()
			done <- i
		}()
	}
	// Each timer's channel holds one value, so firing order is observed by
	// advancing one second at a time.
	for range 3 {
		f.Advance(time.Second)
		order = append(order, <-done)
	}
	assert.Equal(t, []int{1, 2, 0}, order)
}

func TestFakeNowDuringFireIsTimerTime(t *testing.T) {
	f := NewFake(start)
	seen := make(chan time.Time, 1)
	f.AfterFunc(5*time.Second, func() { seen <- f.Now() })
	f.Advance(time.Minute)
	got := <-seen
	// The callback runs in its own goroutine after Advance may have moved
	// the clock on, so only a lower bound holds.
	assert.False(t, got.Before(start.Add(5*time.Second)), "callback saw %v", got)
	assert.Equal(t, start.Add(time.Minute), f.Now())
}

func TestFakeStopAndReset(t *testing.T) {
	f := NewFake(start)
	var fired atomic.Int32
	done := make(chan struct{}, 2)
	tm := f.AfterFunc(time.Second, func() {
		fired.Add(1)
		done <- struct{}{}
	})
	assert.True(t, tm.Stop(), "Stop of an active timer")
	assert.False(t, tm.Stop(), "second Stop")
	f.Advance(time.Hour)
	assert.Equal(t, int32(0), fired.Load())

	assert.False(t, tm.Reset(time.Second), "Reset of a stopped timer")
	assert.True(t, tm.Reset(2*time.Second), "Reset of an active timer")
	f.Advance(time.Second)
	assert.Equal(t, int32(0), fired.Load(), "fired at the replaced time")
	f.Advance(time.Second)
	<-done
	assert.Equal(t, int32(1), fired.Load())
}

func TestFakeZeroDurationFiresAtOnce(t *testing.T) {
	f := NewFake(start)
	tm := f.NewTimer(0)
	select {
	case got := <-tm.C():
		assert.Equal(t, start, got)
	default:
		t.Fatal("a zero-duration timer did not fire at once")
	}
}

func TestFakeWaitForTimers(t *testing.T) {
	f := NewFake(start)
	assert.False(t, f.WaitForTimers(1, time.Millisecond), "no timer was armed")
	armed := make(chan struct{})
	go func() {
		f.NewTimer(time.Second)
		close(armed)
	}()
	require.True(t, f.WaitForTimers(1, 10*time.Second))
	<-armed
	assert.Equal(t, 1, f.Timers())
}

func TestRealClockTimer(t *testing.T) {
	tm := Real.NewTimer(time.Millisecond)
	got := <-tm.C()
	assert.False(t, got.IsZero())
	assert.False(t, tm.Stop(), "Stop after firing")
	fired := make(chan struct{})
	Real.AfterFunc(0, func() { close(fired) })
	<-fired
}
