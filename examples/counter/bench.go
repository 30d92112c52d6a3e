package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// benchConfig is the set of options of the bench subcommand.
type benchConfig struct {
	// URL is the base URL of a running counter server on a loopback
	// address.
	URL string
	// Conns is the number of connections, each with one request in flight.
	Conns int
	// Duration is how long each endpoint is loaded.
	Duration time.Duration
	// Name is the counter that POST requests increment.
	Name string
}

// benchResult is the outcome of loading one endpoint.
type benchResult struct {
	Label    string
	Requests int // responses with a 2xx status
	Errors   int // transport errors and responses with another status
	Elapsed  time.Duration
	P50      time.Duration
	P90      time.Duration
	P99      time.Duration
}

// RequestsPerSecond returns the rate of successful requests.
func (r benchResult) RequestsPerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// parseBenchFlags reads the bench subcommand's flags from args.
func parseBenchFlags(args []string, output io.Writer) (benchConfig, error) {
	fs := flag.NewFlagSet("counter bench", flag.ContinueOnError)
	fs.SetOutput(output)
	cfg := benchConfig{}
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:8787", "base `URL` of a running counter server; the host must be a loopback address")
	fs.IntVar(&cfg.Conns, "c", 64, "number of `connections`, each with one request in flight")
	fs.DurationVar(&cfg.Duration, "d", 10*time.Second, "how long to load each endpoint, as a Go `duration`")
	fs.StringVar(&cfg.Name, "name", "bench", "counter `name` that the POST requests increment")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: counter bench [flags]\n\n"+
			"Loads GET / and then POST /counter/NAME of a running server, each for\n"+
			"the given duration, and prints requests/s and latency percentiles.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err // fs has printed it
	}
	if err := checkBenchConfig(cfg, fs.Args()); err != nil {
		fmt.Fprintln(output, err)
		return cfg, err
	}
	return cfg, nil
}

func checkBenchConfig(cfg benchConfig, rest []string) error {
	if len(rest) > 0 {
		return fmt.Errorf("bench: unexpected argument %q; every option is a flag", rest[0])
	}
	if cfg.Conns < 1 || cfg.Conns > 4096 {
		return fmt.Errorf("bench: -c %d is out of range; use 1 to 4096 connections", cfg.Conns)
	}
	if cfg.Duration <= 0 || cfg.Duration > 10*time.Minute {
		return fmt.Errorf("bench: -d %s is out of range; use a duration above 0 and at most 10m", cfg.Duration)
	}
	if err := validateName(cfg.Name); err != nil {
		return fmt.Errorf("bench: -name: %w", err)
	}
	_, err := loopbackBase(cfg.URL)
	return err
}

// loopbackBase parses raw and checks that it is an http URL whose host is
// a loopback address, so the load never leaves the machine.
func loopbackBase(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("bench: invalid -url %q: %w", raw, err)
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("bench: -url %q must start with http://", raw)
	}
	if !isLoopbackHost(u.Hostname()) {
		return nil, fmt.Errorf("bench: -url host %q is not a loopback address; use 127.0.0.1, ::1 or localhost", u.Hostname())
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, nil
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loopbackDialer dials only loopback addresses, whatever a host name
// resolves to.
func loopbackDialer() func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		remote, ok := conn.RemoteAddr().(*net.TCPAddr)
		if !ok || !remote.IP.IsLoopback() {
			conn.Close()
			return nil, fmt.Errorf("bench: %s is not a loopback address", conn.RemoteAddr())
		}
		return conn, nil
	}
}

// runBench loads GET / and then POST /counter/{name} and writes one table
// with both rows to out.
func runBench(ctx context.Context, cfg benchConfig, out io.Writer) error {
	base, err := loopbackBase(cfg.URL)
	if err != nil {
		return err
	}
	transport := &http.Transport{
		DialContext:         loopbackDialer(),
		MaxIdleConnsPerHost: cfg.Conns,
		MaxConnsPerHost:     cfg.Conns,
		DisableCompression:  true,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}

	// One request first, so that a server that is not running fails fast
	// instead of producing a row of errors.
	if err := probe(ctx, client, base.String()+"/"); err != nil {
		return err
	}
	fmt.Fprintf(out, "loading %s with %d connections for %s per endpoint\n\n", base, cfg.Conns, cfg.Duration)

	counterPath := "/counter/" + url.PathEscape(cfg.Name)
	targets := []struct{ label, method, path string }{
		{"GET /", http.MethodGet, "/"},
		{"POST " + counterPath, http.MethodPost, counterPath},
	}
	var results []benchResult
	for _, t := range targets {
		r, err := loadEndpoint(ctx, client, t.method, base.String()+t.path, cfg.Conns, cfg.Duration)
		if err != nil {
			return err
		}
		r.Label = t.label
		results = append(results, r)
	}
	writeBenchTable(out, results)
	writeRatios(out, results[1], results[0])
	return nil
}

func probe(ctx context.Context, client *http.Client, target string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("bench: server not reachable; start it with 'go run ./examples/counter': %w", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("bench: GET %s returned %s; is it a counter server?", target, resp.Status)
	}
	return nil
}

// loadEndpoint sends requests from conns goroutines, each waiting for its
// response before the next request, until d has passed or ctx ends.
func loadEndpoint(ctx context.Context, client *http.Client, method, target string, conns int, d time.Duration) (benchResult, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	type worker struct {
		latencies []time.Duration
		errors    int
	}
	workers := make([]worker, conns)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range workers {
		w := &workers[i]
		wg.Go(func() {
			for ctx.Err() == nil {
				t0 := time.Now()
				ok := sendOne(ctx, client, method, target)
				if ctx.Err() != nil {
					// A request cut off by the end of the run counts
					// neither way.
					return
				}
				if ok {
					w.latencies = append(w.latencies, time.Since(t0))
				} else {
					w.errors++
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return benchResult{}, err
	}

	var all []time.Duration
	r := benchResult{Elapsed: elapsed}
	for _, w := range workers {
		all = append(all, w.latencies...)
		r.Errors += w.errors
	}
	slices.Sort(all)
	r.Requests = len(all)
	r.P50 = percentile(all, 50)
	r.P90 = percentile(all, 90)
	r.P99 = percentile(all, 99)
	return r, nil
}

// sendOne sends one request and reports whether it got a 2xx response.
func sendOne(ctx context.Context, client *http.Client, method, target string) bool {
	req, err := http.NewRequestWithContext(ctx, method, target, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return err == nil && resp.StatusCode >= 200 && resp.StatusCode < 300
}

// percentile returns the nearest-rank p-th percentile of sorted, or 0 for
// an empty slice.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n)
	return sorted[max(rank, 1)-1]
}

func writeBenchTable(out io.Writer, results []benchResult) {
	width := len("endpoint")
	for _, r := range results {
		width = max(width, len(r.Label))
	}
	row := "%-*s  %9s  %8s  %9s  %9s  %9s  %6s\n"
	fmt.Fprintf(out, row, width, "endpoint", "requests", "req/s", "p50", "p90", "p99", "errors")
	for _, r := range results {
		fmt.Fprintf(out, row, width, r.Label,
			strconv.Itoa(r.Requests), strconv.FormatFloat(r.RequestsPerSecond(), 'f', 0, 64),
			formatLatency(r.P50), formatLatency(r.P90), formatLatency(r.P99), strconv.Itoa(r.Errors))
	}
}

// writeRatios compares the row r with the reference row ref: for the
// counter against the greeting, the cost of a turn and a durable write.
func writeRatios(out io.Writer, r, ref benchResult) {
	if ref.RequestsPerSecond() == 0 || ref.P50 == 0 || ref.P99 == 0 {
		return
	}
	fmt.Fprintf(out, "\n%s against %s: %.2fx requests/s, %.2fx p50, %.2fx p99\n",
		r.Label, ref.Label,
		r.RequestsPerSecond()/ref.RequestsPerSecond(),
		float64(r.P50)/float64(ref.P50),
		float64(r.P99)/float64(ref.P99))
}

// formatLatency rounds d to a precision that suits its size.
func formatLatency(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	default:
		return d.Round(100 * time.Nanosecond).String()
	}
}
