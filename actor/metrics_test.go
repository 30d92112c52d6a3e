package actor_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/durable-go/durable/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// sumOf returns the value of the int64 sum or gauge called name whose
// attributes include every attribute of want.
func sumOf(t *testing.T, rm metricdata.ResourceMetrics, name string, want ...attribute.KeyValue) int64 {
	t.Helper()
	var total int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			var points []metricdata.DataPoint[int64]
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				points = d.DataPoints
			case metricdata.Gauge[int64]:
				points = d.DataPoints
			default:
				t.Fatalf("metric %s has data of type %T", name, m.Data)
			}
			for _, p := range points {
				match := true
				for _, kv := range want {
					if v, ok := p.Attributes.Value(kv.Key); !ok || v != kv.Value {
						match = false
					}
				}
				if match {
					total += p.Value
				}
			}
		}
	}
	return total
}

func TestMetricsAndSpans(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	sys := newSystem(t, &actor.Options{
		IdleTimeout:    idle,
		MeterProvider:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
		TracerProvider: tp,
	})
	ns, runs := alarmProbes(t, sys, nil)
	// Calls join the caller's trace, and outside one they record no spans.
	ctx, parent := tp.Tracer("test").Start(context.Background(), "test")
	stub := ns.Get(ns.IDFromName("a"))
	_, err := incr(ctx, stub)
	require.NoError(t, err)
	_, err = actor.Call(ctx, stub, func(ctx context.Context, p *probe) (int, error) { return 0, errors.New("no") })
	require.Error(t, err)
	_, err = actor.Call(ctx, stub, func(ctx context.Context, p *probe) (int, error) { panic("metrics") })
	require.Error(t, err)
	setAlarm(t, stub, sys.Clock.Now())
	recv(t, runs)
	// Wait for the alarm's turn to end, so the object is idle.
	require.Eventually(t, func() bool { _, ok := alarmOf(t, stub); return !ok }, 10*time.Second, time.Millisecond)

	collect := func() metricdata.ResourceMetrics {
		var rm metricdata.ResourceMetrics
		require.NoError(t, reader.Collect(ctx, &rm))
		return rm
	}
	ps := attribute.String("namespace", "P")
	rm := collect()
	assert.Equal(t, int64(1), sumOf(t, rm, "durable.actor.active", ps))
	assert.Equal(t, int64(1), sumOf(t, rm, "durable.actor.activations", ps))
	assert.Equal(t, int64(1), sumOf(t, rm, "durable.actor.alarms.fired", ps))
	assert.Equal(t, int64(1), sumOf(t, rm, "durable.actor.turns", ps, attribute.String("outcome", "error")))
	assert.Equal(t, int64(1), sumOf(t, rm, "durable.actor.turns", ps, attribute.String("outcome", "panic")))
	assert.GreaterOrEqual(t, sumOf(t, rm, "durable.actor.turns", ps, attribute.String("outcome", "ok")), int64(3))

	sys.Clock.Advance(idle)
	sys.WaitActive(t, 0)
	rm = collect()
	assert.Equal(t, int64(0), sumOf(t, rm, "durable.actor.active", ps))
	assert.Equal(t, int64(1), sumOf(t, rm, "durable.actor.evictions", ps, attribute.String("reason", "idle")))

	parent.End()
	names := map[string]int{}
	traces := map[string]map[trace.TraceID]bool{}
	for _, s := range spans.Ended() {
		names[s.Name()]++
		if traces[s.Name()] == nil {
			traces[s.Name()] = map[trace.TraceID]bool{}
		}
		traces[s.Name()][s.SpanContext().TraceID()] = true
	}
	assert.Positive(t, names["actor.call"])
	assert.Positive(t, names["actor.turn"])
	assert.Positive(t, names["actor.commit"])
	assert.Positive(t, names["actor.init"])
	assert.Equal(t, 1, names["actor.alarm"], "the alarm's delivery starts a trace")
	assert.Len(t, traces["actor.alarm"], 1)
	assert.False(t, traces["actor.alarm"][parent.SpanContext().TraceID()],
		"the alarm's trace is its own, not the caller's")

	// A call outside any trace records no spans.
	before := len(spans.Ended())
	_, err = incr(context.Background(), stub)
	require.NoError(t, err)
	assert.Len(t, spans.Ended(), before)
}
