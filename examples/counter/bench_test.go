package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPercentileNearestRank(t *testing.T) {
	sorted := make([]time.Duration, 100)
	for i := range sorted {
		sorted[i] = time.Duration(i+1) * time.Millisecond
	}
	assert.Equal(t, 50*time.Millisecond, percentile(sorted, 50))
	assert.Equal(t, 90*time.Millisecond, percentile(sorted, 90))
	assert.Equal(t, 99*time.Millisecond, percentile(sorted, 99))
	assert.Equal(t, 7*time.Millisecond, percentile([]time.Duration{7 * time.Millisecond}, 99))
	assert.Equal(t, time.Duration(0), percentile(nil, 50))
}

func TestBenchFlagsRejectBadValues(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"remote host", []string{"-url", "http://192.0.2.1:8787"}, "not a loopback address"},
		{"remote name", []string{"-url", "http://example.com"}, "not a loopback address"},
		{"https", []string{"-url", "https://127.0.0.1:8787"}, "must start with http://"},
		{"no connections", []string{"-c", "0"}, "-c 0 is out of range"},
		{"zero duration", []string{"-d", "0s"}, "-d 0s is out of range"},
		{"long name", []string{"-name", strings.Repeat("n", maxNameBytes+1)}, "at most 1024 bytes"},
		{"extra argument", []string{"now"}, `unexpected argument "now"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			_, err := parseBenchFlags(tt.args, &out)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.Contains(t, out.String(), tt.want, "the error is printed for the user")
		})
	}
}

func TestBenchFlagsDefaults(t *testing.T) {
	cfg, err := parseBenchFlags(nil, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "http://127.0.0.1:8787", cfg.URL)
	assert.Equal(t, 64, cfg.Conns)
	assert.Equal(t, 10*time.Second, cfg.Duration)
	assert.Equal(t, "bench", cfg.Name)
}

func TestBenchLoadsBothEndpoints(t *testing.T) {
	var gets, posts, failures atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		gets.Add(1)
		io.WriteString(w, "hello")
	})
	mux.HandleFunc("POST /counter/{name}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("name") != "hot key" {
			http.NotFound(w, r)
			return
		}
		// Every fifth request fails, so the errors column must count them.
		if posts.Add(1)%5 == 0 {
			failures.Add(1)
			http.Error(w, "failed", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "1")
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	var out bytes.Buffer
	cfg := benchConfig{URL: srv.URL, Conns: 4, Duration: 200 * time.Millisecond, Name: "hot key"}
	require.NoError(t, runBench(context.Background(), cfg, &out))

	text := out.String()
	lines := strings.Split(text, "\n")
	at := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "endpoint") })
	require.GreaterOrEqual(t, at, 0, text)
	require.Greater(t, len(lines), at+2, text)
	header := strings.Fields(lines[at])
	assert.Equal(t, []string{"endpoint", "requests", "req/s", "p50", "p90", "p99", "errors"}, header)

	getRow := strings.Fields(lines[at+1])
	postRow := strings.Fields(lines[at+2])
	assert.Equal(t, []string{"GET", "/"}, getRow[:2])
	assert.Equal(t, []string{"POST", "/counter/hot%20key"}, postRow[:2])
	assert.Equal(t, "0", getRow[len(getRow)-1], "GET errors")
	assert.NotEqual(t, "0", postRow[len(postRow)-1], "POST errors")
	assert.Positive(t, gets.Load())
	assert.Positive(t, failures.Load())
	assert.Regexp(t, `POST /counter/hot%20key against GET /: \d+\.\d\dx requests/s, \d+\.\d\dx p50, \d+\.\d\dx p99`, text)
}

func TestBenchFailsFastWithoutServer(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()

	cfg := benchConfig{URL: url, Conns: 2, Duration: time.Minute, Name: "bench"}
	err := runBench(context.Background(), cfg, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "server not reachable")
}
