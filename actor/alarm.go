package actor

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/durable-go/durable/storage"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// scheduler fires alarms. One goroutine waits on a clock timer for the
// earliest alarm in the store's alarm index. Each due alarm is delivered by
// a goroutine of its own, which retries it with backoff until it succeeds
// or runs out of retries. An alarm stays in the index until its object's
// turn deletes or replaces it, so an alarm whose delivery a crash cut short
// fires again after restart.
type scheduler struct {
	s     *System
	wakeC chan struct{}
	done  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup // the loop and every delivery goroutine

	// mu guards inflight and parked.
	mu sync.Mutex
	// inflight holds the alarms being delivered, including those waiting
	// for a retry.
	inflight map[objKey]struct{}
	// parked holds due alarms of namespaces not registered yet.
	parked map[objKey]struct{}
}

func newScheduler(s *System) *scheduler {
	sc := &scheduler{
		s:        s,
		wakeC:    make(chan struct{}, 1),
		done:     make(chan struct{}),
		inflight: make(map[objKey]struct{}),
		parked:   make(map[objKey]struct{}),
	}
	sc.wg.Add(1)
	return sc
}

// wake makes the scheduler scan the alarm index again.
func (sc *scheduler) wake() {
	select {
	case sc.wakeC <- struct{}{}:
	default:
	}
}

// alarmSet is called after a commit that set an alarm for at.
func (sc *scheduler) alarmSet(time.Time) { sc.wake() }

// namespaceAdded releases the parked alarms of namespace number ns.
func (sc *scheduler) namespaceAdded(ns uint32) {
	sc.mu.Lock()
	for k := range sc.parked {
		if k.ns == ns {
			delete(sc.parked, k)
		}
	}
	sc.mu.Unlock()
	sc.wake()
}

func (sc *scheduler) stop() {
	sc.once.Do(func() { close(sc.done) })
	sc.wg.Wait()
}

func (sc *scheduler) run() {
	defer sc.wg.Done()
	var t lazyTimer
	defer t.stop()
	for {
		at, ok := sc.fireDue()
		if ok && t.resetUntil(sc.s, at) {
			select {
			case <-sc.done:
				return
			default:
				continue // the next alarm is due already
			}
		}
		if !ok {
			t.stop()
		}
		select {
		case <-t.c():
		case <-sc.wakeC:
		case <-sc.done:
			return
		}
	}
}

// scanBatch bounds the alarms read from the index in one scan.
const scanBatch = 1024

// fireDue starts the delivery of every due alarm that is not in flight and
// returns the time of the next alarm, or false if there is none.
func (sc *scheduler) fireDue() (time.Time, bool) {
	now := sc.s.clock.Now()
	sc.mu.Lock()
	skip := len(sc.inflight) + len(sc.parked)
	sc.mu.Unlock()
	alarms, err := sc.s.db.Alarms(now.Add(100*365*24*time.Hour), skip+scanBatch)
	if err != nil {
		if !errors.Is(err, storage.ErrClosed) {
			sc.s.logger.Error("alarm scan failed; retrying in one second", "error", err)
		}
		return now.Add(time.Second), true
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	for _, al := range alarms {
		key := objKey{al.Namespace, al.ID}
		if _, ok := sc.inflight[key]; ok {
			continue
		}
		if _, ok := sc.parked[key]; ok {
			continue
		}
		if al.Time.After(now) {
			return al.Time, true
		}
		ns := sc.s.namespaceByNumber(al.Namespace)
		if ns == nil {
			sc.parked[key] = struct{}{}
			continue
		}
		sc.inflight[key] = struct{}{}
		sc.wg.Add(1)
		go sc.deliver(ns, ns.ids.alarmID(al), al.Time)
	}
	if len(alarms) == skip+scanBatch {
		return now, true // more alarms than one scan reads
	}
	return time.Time{}, false
}

// deliver fires one alarm, retrying with backoff until the handler
// succeeds, the retries run out or the System closes.
func (sc *scheduler) deliver(ns *nsCore, id ID, scheduled time.Time) {
	defer sc.wg.Done()
	key := objKey{ns.number, id.obj}
	defer func() {
		sc.mu.Lock()
		delete(sc.inflight, key)
		sc.mu.Unlock()
		sc.wake()
	}()
	s := sc.s
	for retry := 0; ; retry++ {
		ctx, span := s.tracer.Start(s.ctx, "actor.alarm", trace.WithNewRoot(),
			trace.WithAttributes(attribute.String("durable.namespace", ns.name),
				attribute.Int("durable.alarm.retry", retry)))
		_, err := ns.runAlarm(ctx, id, retry, false)
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
		if err == nil {
			return
		}
		if s.ctx.Err() != nil || errors.Is(err, ErrClosed) {
			return // the alarm stays stored and fires after restart
		}
		if retry >= s.opts.AlarmRetries {
			s.logger.Error("alarm failed after every retry; alarm deleted", "namespace", ns.name,
				"object", id.String(), "scheduled", scheduled, "retries", retry, "error", err)
			if _, err := ns.call(s.ctx, id, untypedCall(dropAlarm)); err != nil && s.ctx.Err() == nil {
				s.logger.Error("failed to delete alarm after its last retry", "namespace", ns.name, "object", id.String(), "error", err)
			}
			return
		}
		d := backoff(s.opts.AlarmBackoff, retry)
		s.logger.Warn("alarm failed; retrying", "namespace", ns.name, "object", id.String(),
			"retry", retry+1, "delay", d, "error", err)
		s.metrics.alarmRetried(ns)
		t := s.clock.NewTimer(d)
		select {
		case <-t.C():
		case <-sc.done:
			t.Stop()
			return
		}
	}
}

// backoff returns the delay before retry number retry+1: base doubled per
// earlier retry, plus up to a quarter of it as random jitter.
func backoff(base time.Duration, retry int) time.Duration {
	d := base << min(retry, 30)
	return d + time.Duration(rand.Int64N(int64(d)/4+1))
}

// dropAlarm deletes the object's alarm after its last failed retry.
func dropAlarm(ctx context.Context, _ any) (any, error) {
	return nil, FromContext(ctx).Storage().DeleteAlarm()
}

// runAlarm runs the alarm handler of the object id as a turn if its alarm
// is due, or if force is set and any alarm is set. It reports whether the
// handler ran. After a successful run the alarm is deleted unless the
// handler set or deleted it itself.
func (n *nsCore) runAlarm(ctx context.Context, id ID, retry int, force bool) (bool, error) {
	v, err := n.call(ctx, id, untypedCall(func(ctx context.Context, obj any) (any, error) {
		txn := FromContext(ctx).Storage()
		at, ok, err := txn.GetAlarm()
		if err != nil || !ok {
			return false, err
		}
		if !force && at.After(n.sys.clock.Now()) {
			return false, nil // moved later since it was scanned
		}
		h, ok := obj.(Alarmer)
		if !ok {
			n.sys.logger.Warn("alarm set on an object without an Alarm method; alarm deleted",
				"namespace", n.name, "object", id.String())
			return false, txn.DeleteAlarm()
		}
		n.sys.metrics.alarmFired(n)
		if err := h.Alarm(ctx, AlarmInfo{RetryCount: retry, Scheduled: at}); err != nil {
			return false, err
		}
		if _, _, changed := txn.AlarmChange(); !changed {
			if err := txn.DeleteAlarm(); err != nil {
				return false, err
			}
		}
		return true, nil
	}))
	ran, _ := v.(bool)
	return ran, err
}
