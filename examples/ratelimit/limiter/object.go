package limiter

import (
	"context"
	"fmt"
	"time"

	"github.com/durable-go/durable/actor"
)

// windowKey is the storage key of an object's window.
const windowKey = "window"

// object is the durable object of one key. Its turns never overlap, so
// its fields need no lock. The in-memory window is changed only after the
// matching storage write succeeded: a turn that fails later, at commit,
// resets the activation, and the next one reloads the window from disk.
type object struct {
	state   *actor.State
	limiter *Limiter
	win     window
	// alarm is the object's alarm time, zero when none is set.
	alarm time.Time
}

// Init loads the window and the alarm time from storage.
func (o *object) Init(ctx context.Context) error {
	st := o.state.Storage()
	raw, ok, err := st.Get(windowKey)
	if err != nil {
		return fmt.Errorf("limiter: load window: %w", err)
	}
	if ok {
		if err := o.win.unmarshal(raw); err != nil {
			return err
		}
	}
	at, ok, err := st.GetAlarm()
	if err != nil {
		return fmt.Errorf("limiter: load alarm: %w", err)
	}
	if ok {
		o.alarm = at
	}
	return nil
}

// allow makes one decision. A rejection writes nothing. An admission
// rewrites the whole window, expired entries dropped, and sets the alarm
// if none is set.
func (o *object) allow() (Decision, error) {
	l := o.limiter
	now := l.clock.Now()
	next := window{times: o.win.times}
	next.expire(now, l.period)
	d := next.decide(now, l.limit, l.period)
	if !d.Allowed {
		o.win = next
		return d, nil
	}
	// Copy before appending, so that a failed write leaves o.win intact.
	next.times = append(make([]int64, 0, len(next.times)+1), next.times...)
	next.admit(now)
	st := o.state.Storage()
	if err := st.Put(windowKey, next.marshal()); err != nil {
		return Decision{}, fmt.Errorf("limiter: store window: %w", err)
	}
	if o.alarm.IsZero() {
		at, _ := next.idleAt(l.period)
		if err := st.SetAlarm(at); err != nil {
			return Decision{}, fmt.Errorf("limiter: set alarm: %w", err)
		}
		o.alarm = at
	}
	o.win = next
	return d, nil
}

// Alarm removes the key's state once its newest admission has left the
// window, and otherwise sets the alarm again for that moment. Setting the
// alarm once and moving it here, instead of on every admission, keeps
// admissions to one storage write.
func (o *object) Alarm(ctx context.Context, info actor.AlarmInfo) error {
	l := o.limiter
	now := l.clock.Now()
	o.win.expire(now, l.period)
	st := o.state.Storage()
	at, ok := o.win.idleAt(l.period)
	if !ok {
		if err := st.DeleteAll(); err != nil {
			return fmt.Errorf("limiter: delete idle window: %w", err)
		}
		o.alarm = time.Time{}
		return nil
	}
	if err := st.SetAlarm(at); err != nil {
		return fmt.Errorf("limiter: set alarm: %w", err)
	}
	o.alarm = at
	return nil
}
