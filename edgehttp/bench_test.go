package edgehttp_test

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/durable-go/durable/actor"
	"github.com/durable-go/durable/clock"
	"github.com/durable-go/durable/edgehttp"
)

// benchConns is the number of client connections the load generator
// keeps open, each driven by its own goroutine.
const benchConns = 64

var helloBody = []byte("hello, world\n")

// benchObject responds to every request with helloBody and writes nothing.
type benchObject struct{}

func (benchObject) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = w.Write(helloBody)
}

// BenchmarkForward compares a request forwarded to an object that makes
// no writes against a plain net/http handler returning the same body,
// under the same load generator: benchConns keep-alive connections over
// loopback. It reports requests per second and the 50th and 99th
// percentile latency.
func BenchmarkForward(b *testing.B) {
	// Both handlers sit behind the same ServeMux route, so the difference
	// is the cost of forwarding alone.
	plain := http.NewServeMux()
	plain.HandleFunc("/obj/{name}/", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(helloBody)
	})
	b.Run("handler=plain", func(b *testing.B) {
		runLoad(b, plain, "/obj/bench/hello")
	})

	sys, err := actor.Open(b.TempDir(), &actor.Options{
		Logger: slog.New(slog.DiscardHandler),
		Clock:  clock.NewFake(time.Now()),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sys.Close()
	ns, err := actor.Register(sys, "BENCH", func(*actor.State) benchObject { return benchObject{} })
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/obj/{name}/", edgehttp.Forward(ns, edgehttp.PathName("name"), nil))
	b.Run("handler=forward", func(b *testing.B) {
		runLoad(b, mux, "/obj/bench/hello")
	})
	b.Run("handler=forward-64-objects", func(b *testing.B) {
		runLoad(b, mux, "")
	})

	// The same forward behind Server's middleware: OpenTelemetry with the
	// global no-op providers, Prometheus metrics and the access log.
	srv := edgehttp.NewServer("127.0.0.1:0", mux, &edgehttp.ServerOptions{
		Logger: slog.New(slog.DiscardHandler),
	})
	b.Run("handler=server-forward", func(b *testing.B) {
		runLoad(b, srv.Handler(), "/obj/bench/hello")
	})
}

// runLoad serves h on 127.0.0.1 with a plain http.Server and sends b.N GET
// requests to path over benchConns connections. An empty path spreads
// the requests over one object per connection.
func runLoad(b *testing.B, h http.Handler, path string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	base := "http://" + ln.Addr().String()

	client := &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: benchConns,
		MaxConnsPerHost:     benchConns,
	}}
	defer client.CloseIdleConnections()

	urls := make([]string, benchConns)
	for i := range urls {
		urls[i] = base + path
		if path == "" {
			urls[i] = base + "/obj/bench-" + itoa(i) + "/hello"
		}
		// Warm up: open the connection and activate the object.
		if err := fetch(client, urls[i]); err != nil {
			b.Fatal(err)
		}
	}

	var next atomic.Int64
	latencies := make([][]time.Duration, benchConns)
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	b.ResetTimer()
	cpuStart := processCPU(b)
	start := time.Now()
	for w := range benchConns {
		wg.Go(func() {
			lat := make([]time.Duration, 0, b.N/benchConns+1)
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				if err := fetch(client, urls[w]); err != nil {
					failed.Store(&err)
					return
				}
				lat = append(lat, time.Since(t0))
			}
			latencies[w] = lat
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := processCPU(b) - cpuStart
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}

	all := slices.Concat(latencies...)
	slices.Sort(all)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(percentile(all, 0.50).Microseconds()), "p50-us")
	b.ReportMetric(float64(percentile(all, 0.99).Microseconds()), "p99-us")
	// CPU time of the whole process per request, client included: less
	// sensitive than req/s to other load on the machine.
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/req")
}

// processCPU returns the user and system CPU time the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func fetch(client *http.Client, url string) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || n != int64(len(helloBody)) {
		return &unexpectedResponse{status: resp.StatusCode, bytes: n}
	}
	return nil
}

type unexpectedResponse struct {
	status int
	bytes  int64
}

func (e *unexpectedResponse) Error() string {
	return "edgehttp_test: unexpected response: status " + itoa(e.status) + ", " + itoa(int(e.bytes)) + " bytes"
}

func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(q*float64(len(sorted)-1))]
}
