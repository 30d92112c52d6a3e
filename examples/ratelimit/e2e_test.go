package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// buildBinary builds the example into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "ratelimit")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// process is one run of the binary.
type process struct {
	cmd  *exec.Cmd
	base string // http://127.0.0.1:port

	mu     sync.Mutex // guards stderr
	stderr bytes.Buffer
	exited chan struct{}
}

var listenLine = regexp.MustCompile(`msg="ratelimit: listening" addr=(\S+)`)

// start runs the binary on a free loopback port with the data directory
// dir and waits until it listens. The test's cleanup kills it if it is
// still running, and logs its stderr if the test failed.
func start(t *testing.T, bin, dir string, args ...string) *process {
	t.Helper()
	args = append([]string{"-addr", "127.0.0.1:0", "-data", dir}, args...)
	p := &process{cmd: exec.Command(bin, args...), exited: make(chan struct{})}
	pipe, err := p.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, p.cmd.Start())

	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			p.mu.Lock()
			p.stderr.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if m := listenLine.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
		p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("stderr of %v:\n%s", args, p.log())
		}
	})
	select {
	case a := <-addr:
		p.base = "http://" + a
	case <-p.exited:
		t.Fatalf("binary exited before listening:\n%s", p.log())
	case <-time.After(30 * time.Second):
		t.Fatalf("binary did not listen within 30s:\n%s", p.log())
	}
	return p
}

func (p *process) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// kill sends SIGKILL and waits for the process to exit.
func (p *process) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	<-p.exited
}

// checkResponse is one response to POST /check/{key}.
type checkResponse struct {
	status int
	header http.Header
	body   checkResult
	text   string
}

func check(t *testing.T, base, key string) checkResponse {
	t.Helper()
	resp, err := http.Post(base+"/check/"+key, "", nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	r := checkResponse{status: resp.StatusCode, header: resp.Header, text: string(raw)}
	if resp.Header.Get("Content-Type") == "application/json" {
		require.NoError(t, json.Unmarshal(raw, &r.body), "body %s", raw)
	}
	return r
}

// checkAll sends n concurrent checks of each key and returns the responses
// per key.
func checkAll(t *testing.T, base string, keys []string, n int) map[string][]checkResponse {
	t.Helper()
	var mu sync.Mutex
	got := make(map[string][]checkResponse)
	var wg sync.WaitGroup
	for _, key := range keys {
		for range n {
			wg.Go(func() {
				r := check(t, base, key)
				mu.Lock()
				got[key] = append(got[key], r)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	return got
}

// assertHeaders checks that r carries the RateLimit fields, and
// Retry-After exactly when it is a 429.
func assertHeaders(t *testing.T, r checkResponse, limit int) {
	t.Helper()
	assert.Equal(t, strconv.Itoa(limit), r.header.Get("RateLimit-Limit"))
	assert.NotEmpty(t, r.header.Get("RateLimit-Remaining"))
	assert.NotEmpty(t, r.header.Get("RateLimit-Reset"))
	if r.status == http.StatusTooManyRequests {
		secs, err := strconv.Atoi(r.header.Get("Retry-After"))
		require.NoError(t, err)
		assert.GreaterOrEqual(t, secs, 1)
	} else {
		assert.Empty(t, r.header.Get("Retry-After"))
	}
}

func countAdmitted(t *testing.T, rs []checkResponse) int {
	t.Helper()
	n := 0
	for _, r := range rs {
		switch r.status {
		case http.StatusOK:
			n++
			assert.True(t, r.body.Allowed)
		case http.StatusTooManyRequests:
			assert.False(t, r.body.Allowed)
			assert.Equal(t, 0, r.body.Remaining)
		default:
			t.Errorf("status %d, body %q", r.status, r.text)
		}
	}
	return n
}

// TestBinary builds the example once and runs it in each subtest.
func TestBinary(t *testing.T) {
	bin := buildBinary(t)
	t.Run("ExactAcrossCrash", func(t *testing.T) { testBinaryExactAcrossCrash(t, bin) })
	t.Run("KeysAreIndependent", func(t *testing.T) { testBinaryKeysAreIndependent(t, bin) })
	t.Run("HelloAndBadKeys", func(t *testing.T) { testBinaryHelloAndBadKeys(t, bin) })
	t.Run("GracefulStop", func(t *testing.T) { testBinaryGracefulStop(t, bin) })
	t.Run("RejectsBadFlags", func(t *testing.T) { testBinaryRejectsBadFlags(t, bin) })
	t.Run("CrashLoop", func(t *testing.T) { testBinaryCrashLoop(t, bin) })
}

func testBinaryExactAcrossCrash(t *testing.T, bin string) {
	dir := t.TempDir()
	p := start(t, bin, dir, "-limit", "10", "-period", "1h")

	got := checkAll(t, p.base, []string{"fresh"}, 50)["fresh"]
	require.Len(t, got, 50)
	assert.Equal(t, 10, countAdmitted(t, got), "admitted of 50 concurrent checks")
	var remaining []int
	for _, r := range got {
		assertHeaders(t, r, 10)
		if r.status == http.StatusOK {
			remaining = append(remaining, r.body.Remaining)
		}
	}
	assert.ElementsMatch(t, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, remaining)

	// Every admission was durable before its 200 went out, so a crash
	// right now loses none of them.
	p.kill(t)
	p = start(t, bin, dir, "-limit", "10", "-period", "1h")
	r := check(t, p.base, "fresh")
	assert.Equal(t, http.StatusTooManyRequests, r.status, "11th check after restart: %s", r.text)
	assertHeaders(t, r, 10)
	assert.Equal(t, "0", r.header.Get("RateLimit-Remaining"))
	retry, err := strconv.Atoi(r.header.Get("Retry-After"))
	require.NoError(t, err)
	assert.LessOrEqual(t, retry, 3600)
	assert.Greater(t, retry, 3500)
	assert.Equal(t, int64(retry), r.body.RetryAfter)

	// A key that was never used still has its full budget.
	r = check(t, p.base, "other")
	assert.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "9", r.header.Get("RateLimit-Remaining"))
}

func testBinaryKeysAreIndependent(t *testing.T, bin string) {
	p := start(t, bin, t.TempDir(), "-limit", "10", "-period", "1h")

	keys := make([]string, 50)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%02d", i)
	}
	got := checkAll(t, p.base, keys, 12)
	for _, key := range keys {
		require.Len(t, got[key], 12, "key %s", key)
		assert.Equal(t, 10, countAdmitted(t, got[key]), "admitted for key %s", key)
		for _, r := range got[key] {
			assert.Equal(t, key, r.body.Key)
			assertHeaders(t, r, 10)
		}
	}
}

func testBinaryHelloAndBadKeys(t *testing.T, bin string) {
	p := start(t, bin, t.TempDir(), "-limit", "2", "-period", "1m")

	for i := range 2 {
		resp, err := http.Get(p.base + "/hello")
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "request %d", i)
		assert.Equal(t, greeting, string(body))
		assert.Equal(t, "2", resp.Header.Get("RateLimit-Limit"))
		assert.Equal(t, strconv.Itoa(1-i), resp.Header.Get("RateLimit-Remaining"))
	}
	resp, err := http.Get(p.base + "/hello")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))

	// /hello counts per client IP apart from /check: checking the key
	// 127.0.0.1 is not rejected because the greeting budget is spent.
	assert.Equal(t, http.StatusOK, check(t, p.base, "127.0.0.1").status)

	for _, key := range []string{"", strings.Repeat("k", 513)} {
		r := check(t, p.base, key)
		assert.Equal(t, http.StatusBadRequest, r.status, "key of %d bytes", len(key))
		assert.Contains(t, r.text, "invalid key")
		assert.Equal(t, "2", r.header.Get("RateLimit-Limit"))
	}
	r := check(t, p.base, strings.Repeat("k", 512))
	assert.Equal(t, http.StatusOK, r.status)
	// An escaped slash is part of the key.
	r = check(t, p.base, "a%2Fb")
	assert.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "a/b", r.body.Key)
}

func testBinaryGracefulStop(t *testing.T, bin string) {
	dir := t.TempDir()
	p := start(t, bin, dir, "-limit", "1")
	require.Equal(t, http.StatusOK, check(t, p.base, "k").status)
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	<-p.exited
	assert.Equal(t, 0, p.cmd.ProcessState.ExitCode())
	assert.Contains(t, p.log(), "ratelimit: stopped")

	p = start(t, bin, dir, "-limit", "1")
	assert.Equal(t, http.StatusTooManyRequests, check(t, p.base, "k").status)
}

func testBinaryRejectsBadFlags(t *testing.T, bin string) {
	for _, args := range [][]string{{"-limit", "0"}, {"-period", "-1s"}, {"extra"}} {
		cmd := exec.Command(bin, append([]string{"-data", t.TempDir()}, args...)...)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "args %v", args)
		assert.Equal(t, 2, exit.ExitCode(), "args %v", args)
		assert.Contains(t, string(out), "ratelimit:", "args %v", args)
	}
}

// testBinaryCrashLoop kills the binary with SIGKILL while checks are in
// flight, several times, and then checks that every admission a client
// received a 200 for is still counted. Set DURABLE_LONG=1 for 20 rounds
// instead of 2.
func testBinaryCrashLoop(t *testing.T, bin string) {
	const limit = 5000
	const perRound = 150 // admissions received before each kill
	rounds := 2
	if os.Getenv("DURABLE_LONG") == "1" {
		rounds = 20
	}
	dir := t.TempDir()
	args := []string{"-limit", strconv.Itoa(limit), "-period", "1h"}
	seen := 0
	for round := range rounds {
		p := start(t, bin, dir, args...)
		var mu sync.Mutex
		admitted := 0
		enough := make(chan struct{})
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					resp, err := http.Post(p.base+"/check/k", "", nil)
					if err != nil {
						return // the process is gone
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						continue
					}
					mu.Lock()
					admitted++
					if admitted == perRound {
						close(enough)
					}
					mu.Unlock()
				}
			})
		}
		select {
		case <-enough:
		case <-p.exited:
			t.Fatalf("binary exited in round %d:\n%s", round, p.log())
		}
		p.kill(t)
		close(stop)
		wg.Wait()
		seen += admitted
		t.Logf("round %d: %d admissions received before SIGKILL", round, admitted)
	}

	p := start(t, bin, dir, args...)
	r := check(t, p.base, "k")
	require.Equal(t, http.StatusOK, r.status, r.text)
	counted := limit - r.body.Remaining - 1
	assert.GreaterOrEqual(t, counted, seen, "admissions counted after %d crashes", rounds)
	// Requests in flight at a kill may have been counted without their
	// response arriving, at most one per client goroutine.
	assert.LessOrEqual(t, counted, seen+16*rounds)
}
