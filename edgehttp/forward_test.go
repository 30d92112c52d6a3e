package edgehttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/durable-go/durable/actor"
	"github.com/durable-go/durable/edgehttp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// receive returns the next value from ch, failing the test if none comes
// within ten seconds, so a broken test fails instead of hanging.
func receive[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	return receiveWithin(t, ch, 10*time.Second)
}

// receiveWithin is receive with a custom limit d.
func receiveWithin[T any](t testing.TB, ch <-chan T, d time.Duration) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("timed out after %s waiting on a channel", d)
		panic("unreachable")
	}
}

func do(t testing.TB, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

func get(t testing.TB, url string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	return do(t, req)
}

func TestForwardFidelity(t *testing.T) {
	h := newHarness(t, nil, nil)

	items := make([]map[string]any, 0, 250)
	for i := range 250 {
		items = append(items, map[string]any{"id": i, "name": "item-" + itoa(i), "tags": []string{"a", "b"}})
	}
	body, err := json.Marshal(map[string]any{"items": items})
	require.NoError(t, err)
	require.Greater(t, len(body), 10_000)

	req, err := http.NewRequest(http.MethodPost, h.url+"/obj/alpha/echo?x=1&y=%20two&x=3", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-Id", "req-123")
	req.Header["X-Multi"] = []string{"one", "two"}
	req.Header.Set("X-Empty-Ish", " spaced value ")

	resp, got := do(t, req)
	assert.Equal(t, http.StatusCreated, resp.StatusCode)
	assert.Equal(t, body, got, "body must come back byte for byte")
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	assert.Equal(t, "req-123", resp.Header.Get("X-Request-Id"))
	assert.Equal(t, []string{"one", "two"}, resp.Header.Values("X-Multi"))
	assert.Equal(t, "spaced value", resp.Header.Get("X-Empty-Ish"))
	assert.Equal(t, http.MethodPost, resp.Header.Get("X-Method"))
	assert.Equal(t, "/obj/alpha/echo", resp.Header.Get("X-Path"))
	assert.Equal(t, "x=1&y=%20two&x=3", resp.Header.Get("X-Query"))
	assert.Equal(t, int64(len(body)), resp.ContentLength)
}

func TestForwardMethods(t *testing.T) {
	h := newHarness(t, nil, nil)
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodDelete, "PURGE"} {
		req, err := http.NewRequest(method, h.url+"/obj/m/echo", strings.NewReader("payload"))
		require.NoError(t, err)
		resp, got := do(t, req)
		assert.Equal(t, http.StatusCreated, resp.StatusCode, method)
		assert.Equal(t, method, resp.Header.Get("X-Method"))
		assert.Equal(t, "payload", string(got), method)
	}
}

func TestForwardKeys(t *testing.T) {
	h := newHarness(t, nil, nil)
	id := h.ns.IDFromName("keyed").String()
	foreign := h.plain.IDFromName("keyed").String()

	tests := []struct {
		name   string
		path   string
		header map[string]string
		status int
	}{
		{"path ID", "/id/" + id + "/hello", nil, http.StatusOK},
		{"path ID not hex", "/id/" + strings.Repeat("z", 64) + "/hello", nil, http.StatusBadRequest},
		{"path ID short", "/id/abc/hello", nil, http.StatusBadRequest},
		{"path ID of other namespace", "/id/" + foreign + "/hello", nil, http.StatusBadRequest},
		{"header name", "/hdr/hello", map[string]string{"X-Object": "keyed"}, http.StatusOK},
		{"header name missing", "/hdr/hello", nil, http.StatusBadRequest},
		{"header ID", "/hdrid/hello", map[string]string{"X-Object-ID": id}, http.StatusOK},
		{"header ID invalid", "/hdrid/hello", map[string]string{"X-Object-ID": "12"}, http.StatusBadRequest},
		{"header ID missing", "/hdrid/hello", nil, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, h.url+tt.path, nil)
			require.NoError(t, err)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, body := do(t, req)
			assert.Equal(t, tt.status, resp.StatusCode, "body: %s", body)
			if tt.status == http.StatusOK {
				assert.Equal(t, "hello, world\n", string(body))
			}
		})
	}
}

func TestForwardBodyTooLarge(t *testing.T) {
	h := newHarness(t, &edgehttp.ForwardOptions{MaxBodyBytes: 1024}, nil)

	req, err := http.NewRequest(http.MethodPost, h.url+"/obj/big/echo", bytes.NewReader(make([]byte, 2048)))
	require.NoError(t, err)
	resp, _ := do(t, req)
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "with Content-Length")

	// Without a Content-Length the limit applies while reading.
	req, err = http.NewRequest(http.MethodPost, h.url+"/obj/big/echo", io.MultiReader(bytes.NewReader(make([]byte, 2048))))
	require.NoError(t, err)
	require.Equal(t, int64(0), req.ContentLength)
	resp, _ = do(t, req)
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "chunked")

	req, err = http.NewRequest(http.MethodPost, h.url+"/obj/big/echo", bytes.NewReader(make([]byte, 1024)))
	require.NoError(t, err)
	resp, body := do(t, req)
	assert.Equal(t, http.StatusCreated, resp.StatusCode, "at the limit")
	assert.Len(t, body, 1024)
}

func TestForwardPanic(t *testing.T) {
	h := newHarness(t, nil, nil)

	resp, body := get(t, h.url+"/obj/p/hello")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, int64(1), h.rec.constructed.Load())

	resp, body = get(t, h.url+"/obj/p/panic")
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	assert.NotContains(t, string(body), "secret")
	assert.NotContains(t, string(body), "goroutine")
	assert.Equal(t, "Internal Server Error\n", string(body))

	// The panic reset the object; the next request constructs it again.
	resp, _ = get(t, h.url+"/obj/p/hello")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, int64(2), h.rec.constructed.Load())
}

func TestForwardNotHandler(t *testing.T) {
	h := newHarness(t, nil, nil)
	resp, body := get(t, h.url+"/plain/x/hello")
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	assert.Equal(t, "Internal Server Error\n", string(body))
}

func TestForwardOverloaded(t *testing.T) {
	h := newHarness(t, &edgehttp.ForwardOptions{RetryAfter: 1500 * time.Millisecond},
		&actor.Options{MaxQueue: 1})

	type result struct {
		status     int
		retryAfter string
		body       string
	}
	results := make(chan result, 8)
	send := func() {
		resp, body := get(t, h.url+"/obj/busy/wait")
		results <- result{resp.StatusCode, resp.Header.Get("Retry-After"), string(body)}
	}
	go send()
	receive(t, h.rec.entered)

	// One turn runs and blocks; the queue holds one more, so of six more
	// requests at least one finds the queue full.
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(send)
	}
	first := receive(t, results)
	assert.Equal(t, http.StatusServiceUnavailable, first.status)
	assert.Equal(t, "2", first.retryAfter, "1.5 s rounds up")

	close(h.rec.release)
	wg.Wait()
	ok := 0
	for range 6 {
		r := receive(t, results)
		switch r.status {
		case http.StatusOK:
			ok++
			assert.Equal(t, "released", r.body)
		case http.StatusServiceUnavailable:
			assert.Equal(t, "2", r.retryAfter)
		default:
			t.Errorf("unexpected status %d", r.status)
		}
	}
	assert.GreaterOrEqual(t, ok, 1, "the first request and any queued one succeed")
}

func TestForwardClientGone(t *testing.T) {
	h := newHarness(t, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.url+"/obj/gone/wait", nil)
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	assert.Equal(t, "gone", receive(t, h.rec.entered))
	cancel()
	assert.ErrorIs(t, receive(t, errc), context.Canceled)
	assert.ErrorIs(t, receive(t, h.rec.ctxErr), context.Canceled, "the turn's context must end")

	// The object is free for the next request.
	resp, _ := get(t, h.url+"/obj/gone/hello")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestForwardErrorHandler(t *testing.T) {
	var gotStatus int
	var gotErr error
	h := newHarness(t, &edgehttp.ForwardOptions{
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, status int, err error) {
			gotStatus, gotErr = status, err
			w.WriteHeader(http.StatusTeapot)
		},
	}, nil)
	resp, _ := get(t, h.url+"/id/nothex/hello")
	assert.Equal(t, http.StatusTeapot, resp.StatusCode)
	assert.Equal(t, http.StatusBadRequest, gotStatus)
	assert.ErrorIs(t, gotErr, actor.ErrInvalidID)
}

func TestNameFuncEmpty(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.mux.Handle("/fn/", edgehttp.Forward(h.ns, edgehttp.NameFunc(func(r *http.Request) (string, error) {
		if r.URL.Query().Get("fail") != "" {
			return "", errors.New("edgehttp_test: no tenant in request")
		}
		return r.URL.Query().Get("tenant"), nil
	}), nil))

	resp, body := get(t, h.url+"/fn/hello?tenant=acme")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "hello, world\n", string(body))

	resp, body = get(t, h.url+"/fn/hello")
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, string(body), "request names no object")

	resp, body = get(t, h.url+"/fn/hello?fail=1")
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, string(body), "no tenant in request")
}

func TestEnvFromContext(t *testing.T) {
	env := &edgehttp.Env{Vars: map[string]string{"GREETING": "hi"}}
	var got *edgehttp.Env
	h := edgehttp.WithEnv(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = edgehttp.EnvFrom(r.Context())
	}), env)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	require.Same(t, env, got)
	assert.Equal(t, "hi", got.Var("GREETING"))
	assert.Empty(t, got.Var("MISSING"))
	assert.Nil(t, got.Object("COUNTER"))
	assert.Nil(t, got.KVNamespace("CACHE"))

	var none *edgehttp.Env
	assert.Nil(t, edgehttp.EnvFrom(context.Background()))
	assert.Empty(t, none.Var("GREETING"), "methods of a nil Env return zero values")
}

func TestForwardSystemClosed(t *testing.T) {
	h := newHarness(t, nil, nil)
	require.NoError(t, h.sys.Close())
	resp, _ := get(t, h.url+"/obj/late/hello")
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
}

func TestForwardUnlimitedBody(t *testing.T) {
	h := newHarness(t, &edgehttp.ForwardOptions{MaxBodyBytes: -1}, nil)
	body := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	req, err := http.NewRequest(http.MethodPost, h.url+"/obj/stream/echo", io.MultiReader(bytes.NewReader(body)))
	require.NoError(t, err)
	resp, got := do(t, req)
	assert.Equal(t, http.StatusCreated, resp.StatusCode)
	assert.Equal(t, body, got, "the body streams into the turn unread and whole")
}
