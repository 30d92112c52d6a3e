package actor

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// instrumentationName names the runtime's meter and tracer.
const instrumentationName = "github.com/durable-go/durable/actor"

// metrics holds the runtime's OpenTelemetry instruments.
type metrics struct {
	active        metric.Int64ObservableGauge
	activations   metric.Int64Counter
	evictions     metric.Int64Counter
	turns         metric.Int64Counter
	turnDuration  metric.Float64Histogram
	queued        metric.Int64ObservableGauge
	alarmsFired   metric.Int64Counter
	alarmsRetried metric.Int64Counter

	meter        metric.Meter
	registration metric.Registration
}

func newMetrics(mp metric.MeterProvider) (*metrics, error) {
	m := mp.Meter(instrumentationName)
	var out metrics
	var errs [8]error
	out.active, errs[0] = m.Int64ObservableGauge("durable.actor.active",
		metric.WithDescription("Active objects, those being evicted included."), metric.WithUnit("{object}"))
	out.activations, errs[1] = m.Int64Counter("durable.actor.activations",
		metric.WithDescription("Objects activated."), metric.WithUnit("{activation}"))
	out.evictions, errs[2] = m.Int64Counter("durable.actor.evictions",
		metric.WithDescription("Objects evicted, by reason."), metric.WithUnit("{eviction}"))
	out.turns, errs[3] = m.Int64Counter("durable.actor.turns",
		metric.WithDescription("Turns run, by outcome."), metric.WithUnit("{turn}"))
	out.turnDuration, errs[4] = m.Float64Histogram("durable.actor.turn.duration",
		metric.WithDescription("Time spent running a turn, commit included, durability wait excluded."),
		metric.WithUnit("s"),
		// The SDK's default boundaries are sized for milliseconds; turns
		// take microseconds to seconds.
		metric.WithExplicitBucketBoundaries(0.00001, 0.00005, 0.0001, 0.00025, 0.0005,
			0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
	out.queued, errs[5] = m.Int64ObservableGauge("durable.actor.queue.depth",
		metric.WithDescription("Events accepted for objects and not yet finished, running ones included."),
		metric.WithUnit("{event}"))
	out.alarmsFired, errs[6] = m.Int64Counter("durable.actor.alarms.fired",
		metric.WithDescription("Alarm handler runs, retries included."), metric.WithUnit("{alarm}"))
	out.alarmsRetried, errs[7] = m.Int64Counter("durable.actor.alarms.retried",
		metric.WithDescription("Alarm retries scheduled after a failed run."), metric.WithUnit("{alarm}"))
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("actor: create metric instruments: %w", err)
		}
	}
	out.meter = m
	return &out, nil
}

// observe registers the callback that reports the gauges of s. Gauges are
// computed at collection time, so events pay nothing for them.
func (m *metrics) observe(s *System) error {
	reg, err := m.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		type counts struct{ active, queued int64 }
		per := make(map[*nsCore]*counts)
		s.mu.Lock()
		for _, a := range s.table {
			c := per[a.ns]
			if c == nil {
				c = &counts{}
				per[a.ns] = c
			}
			c.active++
			c.queued += int64(a.pending())
		}
		s.mu.Unlock()
		for ns, c := range per {
			o.ObserveInt64(m.active, c.active, ns.attrs.set)
			o.ObserveInt64(m.queued, c.queued, ns.attrs.set)
		}
		return nil
	}, m.active, m.queued)
	if err != nil {
		return fmt.Errorf("actor: register metric callback: %w", err)
	}
	m.registration = reg
	return nil
}

// unobserve removes the gauge callback.
func (m *metrics) unobserve() {
	if m.registration != nil {
		_ = m.registration.Unregister()
	}
}

func (m *metrics) activated(ns *nsCore) {
	m.activations.Add(context.Background(), 1, ns.attrs.add...)
}

func (m *metrics) evicted(ns *nsCore, why evictReason) {
	m.evictions.Add(context.Background(), 1, ns.attrs.evict[why]...)
}

func (m *metrics) turn(ns *nsCore, outcome string, d time.Duration) {
	ctx := context.Background()
	m.turns.Add(ctx, 1, ns.attrs.outcome[outcome]...)
	if d > 0 {
		m.turnDuration.Record(ctx, d.Seconds(), ns.attrs.record...)
	}
}

func (m *metrics) alarmFired(ns *nsCore) { m.alarmsFired.Add(context.Background(), 1, ns.attrs.add...) }

func (m *metrics) alarmRetried(ns *nsCore) {
	m.alarmsRetried.Add(context.Background(), 1, ns.attrs.add...)
}

// nsAttrs holds the metric options of one namespace, built once because
// building an attribute set costs more than a warm turn, and passing
// prebuilt slices keeps the variadic calls from allocating.
type nsAttrs struct {
	set     metric.MeasurementOption // {namespace}
	add     []metric.AddOption
	record  []metric.RecordOption
	outcome map[string][]metric.AddOption // {namespace, outcome}
	evict   [evictShutdown + 1][]metric.AddOption
}

func newNSAttrs(name string) nsAttrs {
	ns := attribute.String("namespace", name)
	set := metric.WithAttributeSet(attribute.NewSet(ns))
	a := nsAttrs{
		set:     set,
		add:     []metric.AddOption{set},
		record:  []metric.RecordOption{set},
		outcome: make(map[string][]metric.AddOption),
	}
	for _, o := range []string{outcomeOK, outcomeError, outcomePanic, outcomeCommit, outcomeCancelled} {
		a.outcome[o] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(
			ns, attribute.String("outcome", o)))}
	}
	for r := range a.evict {
		a.evict[r] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(
			ns, attribute.String("reason", evictReason(r).String())))}
	}
	return a
}
