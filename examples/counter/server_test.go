package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durable-go/durable/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tests in this file run the server in the test process, with a fake
// clock, where the end-to-end tests cannot control time.

var epoch = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

// testServer is a server on a fake clock behind an httptest.Server.
type testServer struct {
	srv      *server
	http     *httptest.Server
	computed *atomic.Int64 // calls of the /data computation
}

// startTestServer opens dir with clk and counts /data computations in
// computed.
func startTestServer(t *testing.T, dir string, clk clock.Clock, computed *atomic.Int64) *testServer {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := newServer(serverConfig{DataDir: dir, Logger: logger, Clock: clk})
	require.NoError(t, err)
	srv.data.compute = func(now time.Time) ([]byte, error) {
		computed.Add(1)
		return computeReport(now)
	}
	ts := &testServer{srv: srv, http: httptest.NewServer(srv.Handler()), computed: computed}
	t.Cleanup(func() { ts.close(t) })
	return ts
}

// close stops the HTTP server and the runtime; it may be called twice.
func (ts *testServer) close(t *testing.T) {
	if ts.http == nil {
		return
	}
	ts.http.Close()
	ts.http = nil
	assert.NoError(t, ts.srv.Close(context.Background()))
}

// getData returns the X-Cache header and the decoded body of GET /data.
func (ts *testServer) getData(t *testing.T) (string, report) {
	t.Helper()
	resp, err := http.Get(ts.http.URL + "/data")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var r report
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&r))
	return resp.Header.Get("X-Cache"), r
}

func TestDataCacheLifecycle(t *testing.T) {
	clk := clock.NewFake(epoch)
	var computed atomic.Int64
	dir := t.TempDir()
	ts := startTestServer(t, dir, clk, &computed)

	xcache, first := ts.getData(t)
	assert.Equal(t, "MISS", xcache)
	assert.Equal(t, epoch, first.ComputedAt)
	assert.Equal(t, int64(1), computed.Load())

	xcache, r := ts.getData(t)
	assert.Equal(t, "HIT", xcache)
	assert.Equal(t, first, r)

	clk.Advance(dataTTL - time.Second)
	xcache, r = ts.getData(t)
	assert.Equal(t, "HIT", xcache, "one second before the TTL ends")
	assert.Equal(t, first, r)

	// At the TTL the old body is served at once while one refresh runs.
	// When the refresh has stored its result, the new body is a hit.
	clk.Advance(time.Second)
	xcache, r = ts.getData(t)
	assert.Equal(t, "STALE", xcache, "at the TTL")
	assert.Equal(t, first, r)
	refreshed := epoch.Add(dataTTL)
	require.Eventually(t, func() bool {
		xcache, r = ts.getData(t)
		return xcache == "HIT"
	}, 10*time.Second, 5*time.Millisecond)
	assert.Equal(t, refreshed, r.ComputedAt)
	assert.Equal(t, int64(2), computed.Load(), "one refresh")

	// Past the stale window the body is computed again during the request.
	clk.Advance(dataTTL + dataStaleTTL)
	xcache, r = ts.getData(t)
	assert.Equal(t, "MISS", xcache, "past the stale window")
	assert.Equal(t, clk.Now(), r.ComputedAt)
	assert.Equal(t, int64(3), computed.Load())
	last := r

	// After a restart the body comes from the KV namespace, not from a
	// new computation, and expires at the same time as before.
	ts.close(t)
	ts = startTestServer(t, dir, clk, &computed)
	xcache, r = ts.getData(t)
	assert.Equal(t, "HIT", xcache, "read from the namespace after a restart")
	assert.Equal(t, last, r)
	assert.Equal(t, int64(3), computed.Load())

	clk.Advance(dataTTL)
	xcache, r = ts.getData(t)
	assert.Equal(t, "STALE", xcache, "the restored entry keeps its expiration")
	assert.Equal(t, last, r)
}

func TestDataStampedeComputesOnce(t *testing.T) {
	var computed atomic.Int64
	ts := startTestServer(t, t.TempDir(), clock.NewFake(epoch), &computed)

	const readers = 50
	bodies := make([]report, readers)
	statuses := make([]string, readers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range readers {
		wg.Go(func() {
			<-start
			statuses[i], bodies[i] = ts.getData(t)
		})
	}
	close(start)
	wg.Wait()

	assert.Equal(t, int64(1), computed.Load())
	for i := range readers {
		assert.Contains(t, []string{"MISS", "HIT"}, statuses[i], "reader %d", i)
		assert.Equal(t, bodies[0], bodies[i], "reader %d", i)
	}
}

func TestCounterSurvivesEviction(t *testing.T) {
	clk := clock.NewFake(epoch)
	var computed atomic.Int64
	ts := startTestServer(t, t.TempDir(), clk, &computed)
	post := func() string {
		resp, err := http.Post(ts.http.URL+"/counter/evicted", "", nil)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
		return string(body)
	}

	assert.Equal(t, "1", post())
	assert.Equal(t, "2", post())
	require.Equal(t, 1, ts.srv.sys.ActiveObjects())

	// Past the default idle timeout of one minute the object is evicted,
	// and the next request activates it again from storage. The clock
	// moves on each poll because the runtime may arm its idle timer after
	// the response has arrived.
	require.Eventually(t, func() bool {
		clk.Advance(2 * time.Minute)
		return ts.srv.sys.ActiveObjects() == 0
	}, 10*time.Second, 5*time.Millisecond)
	assert.Equal(t, "3", post())
}

func TestCounterRejectsBadMethodAndName(t *testing.T) {
	var computed atomic.Int64
	ts := startTestServer(t, t.TempDir(), clock.NewFake(epoch), &computed)

	req, err := http.NewRequest(http.MethodDelete, ts.http.URL+"/counter/x", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)

	resp, err = http.Post(ts.http.URL+"/counter/"+strings.Repeat("x", maxNameBytes+1), "", nil)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Equal(t, "invalid counter name: the name is 1025 bytes long; use at most 1024 bytes\n", string(body))
	assert.Equal(t, 0, ts.srv.sys.ActiveObjects(), "an invalid name activates nothing")
}
