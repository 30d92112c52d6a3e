package edgehttp

import (
	"context"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// Metrics is an OpenTelemetry meter provider whose metrics are served in
// the Prometheus text format from a registry of its own, so nothing is
// registered with the global Prometheus registry or the global meter
// provider. Pass MeterProvider to actor.Options so the runtime's metrics
// appear beside the HTTP ones.
type Metrics struct {
	provider *sdkmetric.MeterProvider
	registry *prometheus.Registry
	handler  http.Handler
}

// NewMetrics returns a Metrics whose registry also holds the Go runtime
// and process collectors.
func NewMetrics() (*Metrics, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, fmt.Errorf("edgehttp: create Prometheus exporter: %w", err)
	}
	return &Metrics{
		provider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter)),
		registry: reg,
		handler:  promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
	}, nil
}

// MeterProvider returns the provider whose metrics Handler serves.
func (m *Metrics) MeterProvider() metric.MeterProvider { return m.provider }

// Registry returns the Prometheus registry Handler serves, for collectors
// that do not go through OpenTelemetry.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Handler returns the handler that serves the metrics in the Prometheus
// text format.
func (m *Metrics) Handler() http.Handler { return m.handler }

// Shutdown stops the meter provider; later measurements are dropped.
func (m *Metrics) Shutdown(ctx context.Context) error {
	return m.provider.Shutdown(ctx)
}
