package edgehttp

import (
	"context"
	"strconv"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// instrumentationName names the package's meter.
const instrumentationName = "github.com/durable-go/durable/edgehttp"

// wsMetrics holds the WebSocket instruments of one Forward handler.
type wsMetrics struct {
	open     metric.Int64UpDownCounter
	messages metric.Int64Counter
	closes   metric.Int64Counter

	// Attribute sets computed once per handler.
	attrs    metric.MeasurementOption
	received metric.MeasurementOption
	sent     metric.MeasurementOption
	dropped  metric.MeasurementOption
	ns       attribute.KeyValue
}

func newWSMetrics(mp metric.MeterProvider, namespace string) *wsMetrics {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	m := mp.Meter(instrumentationName)
	ns := attribute.String("namespace", namespace)
	out := &wsMetrics{
		ns:       ns,
		attrs:    metric.WithAttributeSet(attribute.NewSet(ns)),
		received: metric.WithAttributeSet(attribute.NewSet(ns, attribute.String("direction", "received"))),
		sent:     metric.WithAttributeSet(attribute.NewSet(ns, attribute.String("direction", "sent"))),
		dropped:  metric.WithAttributeSet(attribute.NewSet(ns, attribute.String("direction", "dropped"))),
	}
	var errs [3]error
	out.open, errs[0] = m.Int64UpDownCounter("durable.edgehttp.websocket.open",
		metric.WithDescription("Open WebSocket connections held by the runtime."),
		metric.WithUnit("{connection}"))
	out.messages, errs[1] = m.Int64Counter("durable.edgehttp.websocket.messages",
		metric.WithDescription("WebSocket messages received, sent, or dropped when a socket closed."),
		metric.WithUnit("{message}"))
	out.closes, errs[2] = m.Int64Counter("durable.edgehttp.websocket.closes",
		metric.WithDescription("WebSocket connections closed, by close code."),
		metric.WithUnit("{connection}"))
	for _, err := range errs {
		if err != nil {
			// Creating an instrument fails only for an invalid name, and
			// these names are valid. Measure nothing rather than fail.
			noopMeter := noop.NewMeterProvider().Meter(instrumentationName)
			out.open, _ = noopMeter.Int64UpDownCounter("open")
			out.messages, _ = noopMeter.Int64Counter("messages")
			out.closes, _ = noopMeter.Int64Counter("closes")
			break
		}
	}
	return out
}

func (m *wsMetrics) opened() { m.open.Add(context.Background(), 1, m.attrs) }

func (m *wsMetrics) closed(code int) {
	ctx := context.Background()
	m.open.Add(ctx, -1, m.attrs)
	m.closes.Add(ctx, 1, metric.WithAttributes(m.ns, attribute.String("code", strconv.Itoa(code))))
}
