package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tests in this file build the real binary and run it as a child
// process on a free loopback port, as a user would.

// startTimeout bounds how long a child may take to print its listening
// line or to exit after a signal. It is a deadline for a hung child, not a
// synchronisation.
const startTimeout = 60 * time.Second

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildCounter(t)
	t.Run("Endpoints", func(t *testing.T) { testEndpoints(t, bin) })
	t.Run("ConcurrentPostsOneName", func(t *testing.T) { testConcurrentPostsOneName(t, bin) })
	t.Run("ConcurrentPostsTwentyNames", func(t *testing.T) { testConcurrentPostsTwentyNames(t, bin) })
	t.Run("CleanRestart", func(t *testing.T) { testCleanRestart(t, bin) })
	t.Run("GracefulStopUnderLoad", func(t *testing.T) { testGracefulStopUnderLoad(t, bin) })
	t.Run("CrashRestart", func(t *testing.T) { testCrashRestart(t, bin) })
	t.Run("BenchCommand", func(t *testing.T) { testBenchCommand(t, bin) })
}

// buildCounter builds this package into a temporary directory.
func buildCounter(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "counter")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, ".")...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// child is one running counter server.
type child struct {
	cmd  *exec.Cmd
	base string // http://127.0.0.1:PORT

	mu     sync.Mutex
	stderr strings.Builder // every log line, for failure messages

	exited  chan struct{} // closed when the process has exited
	waitErr error         // set before exited is closed
}

var listenLine = regexp.MustCompile(`msg="[^"]*listening" addr=(\S+)`)

// startChild starts bin on port 0 with the data directory dir and waits for
// the line that names the address.
func startChild(t *testing.T, bin, dir string) *child {
	t.Helper()
	c := &child{
		cmd:    exec.Command(bin, "-addr", "127.0.0.1:0", "-data", dir),
		exited: make(chan struct{}),
	}
	pipe, err := c.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, c.cmd.Start())

	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			c.mu.Lock()
			c.stderr.WriteString(line + "\n")
			c.mu.Unlock()
			if m := listenLine.FindStringSubmatch(line); m != nil {
				addrc <- m[1]
			}
		}
		c.waitErr = c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		<-c.exited
		assert.NotContains(t, c.log(), "WARNING: DATA RACE")
		if t.Failed() {
			t.Logf("server log:\n%s", c.log())
		}
	})

	select {
	case addr := <-addrc:
		c.base = "http://" + addr
	case <-c.exited:
		t.Fatalf("server exited before listening: %v\n%s", c.waitErr, c.log())
	case <-time.After(startTimeout):
		t.Fatalf("server printed no listening line within %s\n%s", startTimeout, c.log())
	}
	return c
}

func (c *child) log() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stderr.String()
}

// stop sends sig and waits for the process to exit.
func (c *child) stop(t *testing.T, sig os.Signal) error {
	t.Helper()
	require.NoError(t, c.cmd.Process.Signal(sig))
	select {
	case <-c.exited:
		return c.waitErr
	case <-time.After(startTimeout):
		t.Fatalf("server still running %s after %v", startTimeout, sig)
		return nil
	}
}

func newClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: 256},
		Timeout:   startTimeout,
	}
}

// do sends one request and returns the status, headers and body.
func do(t *testing.T, client *http.Client, method, target string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, target, nil)
	require.NoError(t, err)
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, string(body)
}

// counterURL returns the URL of the counter name, with the name escaped.
func (c *child) counterURL(name string) string {
	return c.base + "/counter/" + url.PathEscape(name)
}

// value returns the counter's current value through GET.
func (c *child) value(t *testing.T, client *http.Client, name string) int64 {
	t.Helper()
	status, _, body := do(t, client, http.MethodGet, c.counterURL(name))
	require.Equal(t, http.StatusOK, status, body)
	n, err := strconv.ParseInt(body, 10, 64)
	require.NoError(t, err, "body %q", body)
	return n
}

// increment sends one POST and returns the value in its response.
func (c *child) increment(client *http.Client, name string) (int64, error) {
	resp, err := client.Post(c.counterURL(name), "", nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("POST %s: %s: %s", name, resp.Status, body)
	}
	return strconv.ParseInt(string(body), 10, 64)
}

func testEndpoints(t *testing.T, bin string) {
	c := startChild(t, bin, t.TempDir())
	client := newClient()

	status, header, body := do(t, client, http.MethodGet, c.base+"/")
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "text/plain; charset=utf-8", header.Get("Content-Type"))
	assert.Equal(t, greeting, body)

	status, _, _ = do(t, client, http.MethodGet, c.base+"/nothing-here")
	assert.Equal(t, http.StatusNotFound, status)

	status, _, body = do(t, client, http.MethodGet, c.base+"/healthz")
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "ok\n", body)

	// The first /data computes and stores; the second is served from the
	// cache with the same body.
	status, header, first := do(t, client, http.MethodGet, c.base+"/data")
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "application/json", header.Get("Content-Type"))
	assert.Equal(t, "MISS", header.Get("X-Cache"))
	var r report
	require.NoError(t, json.Unmarshal([]byte(first), &r), first)
	assert.Equal(t, primeLimit, r.PrimesBelow)
	assert.Equal(t, 348513, r.PrimeCount)
	status, header, second := do(t, client, http.MethodGet, c.base+"/data")
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "HIT", header.Get("X-Cache"))
	assert.Equal(t, first, second)

	// A new counter reads 0; POST increments; GET does not.
	assert.Equal(t, int64(0), c.value(t, client, "apples"))
	status, header, body = do(t, client, http.MethodPost, c.counterURL("apples"))
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "text/plain; charset=utf-8", header.Get("Content-Type"))
	assert.Equal(t, "1", body)
	_, _, body = do(t, client, http.MethodPost, c.counterURL("apples"))
	assert.Equal(t, "2", body)
	assert.Equal(t, int64(2), c.value(t, client, "apples"))
	assert.Equal(t, int64(2), c.value(t, client, "apples"))
	assert.Equal(t, int64(0), c.value(t, client, "pears"), "counters are independent")

	status, _, _ = do(t, client, http.MethodPut, c.counterURL("apples"))
	assert.Equal(t, http.StatusMethodNotAllowed, status)

	// The runtime's metrics reach /metrics.
	status, _, body = do(t, client, http.MethodGet, c.base+"/metrics")
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, "http_server_request_duration_seconds")
	assert.Contains(t, body, "durable_actor_turns_total")

	// Names: the 1,024-byte limit and other invalid names.
	long := strings.Repeat("n", maxNameBytes)
	_, _, body = do(t, client, http.MethodPost, c.counterURL(long))
	assert.Equal(t, "1", body, "a name of exactly 1024 bytes is valid")
	invalid := map[string]string{
		"over limit":    c.counterURL(long + "n"),
		"empty":         c.base + "/counter/",
		"invalid UTF-8": c.base + "/counter/a%FFb",
		"NUL":           c.base + "/counter/a%00b",
	}
	for what, target := range invalid {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			status, header, body := do(t, client, method, target)
			assert.Equal(t, http.StatusBadRequest, status, "%s %s", method, what)
			assert.Contains(t, body, "invalid counter name", "%s %s", method, what)
			assert.Equal(t, "text/plain; charset=utf-8", header.Get("Content-Type"), "%s %s", method, what)
		}
	}
}

func testConcurrentPostsOneName(t *testing.T, bin string) {
	c := startChild(t, bin, t.TempDir())
	client := newClient()
	const n = 200

	values := make([]int64, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			values[i], errs[i] = c.increment(client, "hot")
		})
	}
	close(start)
	wg.Wait()

	for i, err := range errs {
		require.NoError(t, err, "request %d", i)
	}
	slices.Sort(values)
	want := make([]int64, n)
	for i := range want {
		want[i] = int64(i + 1)
	}
	assert.Equal(t, want, values, "each of 1..200 is returned exactly once")
	assert.Equal(t, int64(n), c.value(t, client, "hot"))
}

func testConcurrentPostsTwentyNames(t *testing.T, bin string) {
	c := startChild(t, bin, t.TempDir())
	client := newClient()
	const names, perName = 20, 10

	var mu sync.Mutex
	got := make(map[string][]int64)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range names * perName {
		name := fmt.Sprintf("name-%02d", i%names)
		wg.Go(func() {
			<-start
			v, err := c.increment(client, name)
			if !assert.NoError(t, err) {
				return
			}
			mu.Lock()
			got[name] = append(got[name], v)
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()

	want := []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	require.Len(t, got, names)
	for name, values := range got {
		slices.Sort(values)
		assert.Equal(t, want, values, name)
		assert.Equal(t, int64(perName), c.value(t, client, name), name)
	}
}

func testCleanRestart(t *testing.T, bin string) {
	dir := t.TempDir()
	c := startChild(t, bin, dir)
	client := newClient()
	for range 5 {
		_, err := c.increment(client, "kept")
		require.NoError(t, err)
	}
	_, err := c.increment(client, "other")
	require.NoError(t, err)
	require.NoError(t, c.stop(t, syscall.SIGTERM), "a clean stop exits with status 0")
	assert.Contains(t, c.log(), `msg="counter: stopped"`)

	c = startChild(t, bin, dir)
	assert.Equal(t, int64(5), c.value(t, client, "kept"))
	assert.Equal(t, int64(1), c.value(t, client, "other"))
	v, err := c.increment(client, "kept")
	require.NoError(t, err)
	assert.Equal(t, int64(6), v)
	require.NoError(t, c.stop(t, os.Interrupt), "SIGINT stops cleanly too")
}

// testGracefulStopUnderLoad sends SIGTERM while clients POST in a loop.
// Every request the server accepted gets its response before the process
// exits, so after a restart each counter equals the number of successful
// POSTs exactly: none was lost and none was applied without a response.
func testGracefulStopUnderLoad(t *testing.T, bin string) {
	const clients = 16
	names := []string{"graceful-a", "graceful-b"}
	dir := t.TempDir()
	c := startChild(t, bin, dir)
	client := newClient()

	var mu sync.Mutex
	succeeded := make(map[string]int64)
	signaled := make(chan struct{})
	progress := make(chan struct{}, 1024)
	var wg sync.WaitGroup
	for i := range clients {
		name := names[i%len(names)]
		wg.Go(func() {
			for {
				if _, err := c.increment(client, name); err != nil {
					select {
					case <-signaled:
					default:
						t.Errorf("POST %s before SIGTERM: %v", name, err)
					}
					return
				}
				mu.Lock()
				succeeded[name]++
				mu.Unlock()
				select {
				case progress <- struct{}{}:
				default:
				}
			}
		})
	}
	clientsDone := make(chan struct{})
	go func() {
		wg.Wait()
		close(clientsDone)
	}()
	for range 200 {
		select {
		case <-progress:
		case <-clientsDone:
			t.Fatal("every client stopped before SIGTERM")
		}
	}
	close(signaled)
	require.NoError(t, c.stop(t, syscall.SIGTERM), "a stop under load exits with status 0")
	<-clientsDone

	c = startChild(t, bin, dir)
	for _, name := range names {
		assert.Equal(t, succeeded[name], c.value(t, client, name), name)
	}
}

// testCrashRestart kills the server with SIGKILL under concurrent POST
// load, restarts it on the same directory and checks that no acknowledged
// increment was lost: every value is at least the largest one a client
// received, and no value was returned twice across all runs.
func testCrashRestart(t *testing.T, bin string) {
	kills := 2
	if os.Getenv("DURABLE_LONG") == "1" {
		kills = 20
	}
	const clients = 16
	names := []string{"crash-a", "crash-b", "crash-c", "crash-d"}
	dir := t.TempDir()
	client := newClient()

	seen := make(map[string]map[int64]bool) // every value any client received
	maxReceived := make(map[string]int64)
	for _, name := range names {
		seen[name] = make(map[int64]bool)
	}

	for round := range kills {
		c := startChild(t, bin, dir)
		for _, name := range names {
			got := c.value(t, client, name)
			assert.GreaterOrEqual(t, got, maxReceived[name],
				"round %d: %s after restart is below a value a client received", round, name)
		}

		// Load until a random number of responses arrived, then kill.
		type response struct {
			name  string
			value int64
		}
		responses := make(chan response, 1024)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for i := range clients {
			name := names[i%len(names)]
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					v, err := c.increment(client, name)
					if err != nil {
						// The server is gone; only a killed server may
						// fail a request.
						select {
						case <-stop:
						default:
							t.Errorf("round %d: POST %s before the kill: %v", round, name, err)
						}
						return
					}
					responses <- response{name, v}
				}
			})
		}
		go func() {
			wg.Wait()
			close(responses)
		}()

		killAfter := 100 + rand.IntN(400)
		count := 0
		for resp := range responses {
			if seen[resp.name][resp.value] {
				t.Errorf("round %d: %s value %d returned twice", round, resp.name, resp.value)
			}
			seen[resp.name][resp.value] = true
			maxReceived[resp.name] = max(maxReceived[resp.name], resp.value)
			count++
			if count == killAfter {
				close(stop)
				require.NoError(t, c.cmd.Process.Kill())
			}
		}
		<-c.exited
		t.Logf("round %d: killed after %d responses; max received %v", round, count, maxReceived)
	}

	// A final start shows the state after the last kill, then increments
	// continue above every value returned before.
	c := startChild(t, bin, dir)
	for _, name := range names {
		assert.GreaterOrEqual(t, c.value(t, client, name), maxReceived[name], name)
		v, err := c.increment(client, name)
		require.NoError(t, err)
		assert.False(t, seen[name][v], "%s: value %d returned again after the crash", name, v)
		assert.Greater(t, v, maxReceived[name], name)
	}
	require.NoError(t, c.stop(t, syscall.SIGTERM))
}

func testBenchCommand(t *testing.T, bin string) {
	c := startChild(t, bin, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "bench", "-url", c.base, "-c", "4", "-d", "300ms").CombinedOutput()
	require.NoError(t, err, "%s", out)
	text := string(out)
	assert.Contains(t, text, "endpoint")
	assert.Regexp(t, `GET /\s+[1-9]\d*\s`, text)
	assert.Regexp(t, `POST /counter/bench\s+[1-9]\d*\s`, text)

	// Every successful POST incremented the counter.
	client := newClient()
	assert.Positive(t, c.value(t, client, "bench"))
}
