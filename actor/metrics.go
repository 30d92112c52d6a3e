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
	active        metric.Int64UpDownCounter
	activations   metric.Int64Counter
	evictions     metric.Int64Counter
	turns         metric.Int64Counter
	turnDuration  metric.Float64Histogram
	queued        metric.Int64UpDownCounter
	alarmsFired   metric.Int64Counter
	alarmsRetried metric.Int64Counter
}

func newMetrics(mp metric.MeterProvider) (*metrics, error) {
	m := mp.Meter(instrumentationName)
	var out metrics
	var errs [8]error
	out.active, errs[0] = m.Int64UpDownCounter("durable.actor.active",
		metric.WithDescription("Active objects."), metric.WithUnit("{object}"))
	out.activations, errs[1] = m.Int64Counter("durable.actor.activations",
		metric.WithDescription("Objects activated."), metric.WithUnit("{activation}"))
	out.evictions, errs[2] = m.Int64Counter("durable.actor.evictions",
		metric.WithDescription("Objects evicted, by reason."), metric.WithUnit("{eviction}"))
	out.turns, errs[3] = m.Int64Counter("durable.actor.turns",
		metric.WithDescription("Turns run, by outcome."), metric.WithUnit("{turn}"))
	out.turnDuration, errs[4] = m.Float64Histogram("durable.actor.turn.duration",
		metric.WithDescription("Time spent running a turn, commit included, durability wait excluded."),
		metric.WithUnit("s"))
	out.queued, errs[5] = m.Int64UpDownCounter("durable.actor.queue.depth",
		metric.WithDescription("Events queued for objects and not yet started."), metric.WithUnit("{event}"))
	out.alarmsFired, errs[6] = m.Int64Counter("durable.actor.alarms.fired",
		metric.WithDescription("Alarm handler runs, retries included."), metric.WithUnit("{alarm}"))
	out.alarmsRetried, errs[7] = m.Int64Counter("durable.actor.alarms.retried",
		metric.WithDescription("Alarm retries scheduled after a failed run."), metric.WithUnit("{alarm}"))
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("actor: create metric instruments: %w", err)
		}
	}
	return &out, nil
}

func (m *metrics) activated(ns *nsCore) {
	ctx := context.Background()
	m.activations.Add(ctx, 1, ns.attrs)
	m.active.Add(ctx, 1, ns.attrs)
}

func (m *metrics) evicted(ns *nsCore, why evictReason) {
	ctx := context.Background()
	m.active.Add(ctx, -1, ns.attrs)
	m.evictions.Add(ctx, 1, metric.WithAttributes(
		attribute.String("namespace", ns.name), attribute.String("reason", why.String())))
}

func (m *metrics) turn(ns *nsCore, outcome string, d time.Duration) {
	ctx := context.Background()
	m.turns.Add(ctx, 1, metric.WithAttributes(
		attribute.String("namespace", ns.name), attribute.String("outcome", outcome)))
	if d > 0 {
		m.turnDuration.Record(ctx, d.Seconds(), ns.attrs)
	}
}

func (m *metrics) enqueued(ns *nsCore, n int64) { m.queued.Add(context.Background(), n, ns.attrs) }

func (m *metrics) alarmFired(ns *nsCore) { m.alarmsFired.Add(context.Background(), 1, ns.attrs) }

func (m *metrics) alarmRetried(ns *nsCore) { m.alarmsRetried.Add(context.Background(), 1, ns.attrs) }
