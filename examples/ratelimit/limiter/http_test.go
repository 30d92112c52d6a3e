package limiter

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/durable-go/durable/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, "ok")
})

// get sends GET url with the given headers and returns the response with
// its body read.
func get(t *testing.T, url string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(body)
}

func TestMiddlewareByClientIP(t *testing.T) {
	l, _ := newTestLimiter(t, Options{Limit: 3, Period: time.Minute})
	srv := httptest.NewServer(l.Middleware(okHandler, nil))
	defer srv.Close()

	for i := range 3 {
		resp, body := get(t, srv.URL, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, "request %d", i)
		assert.Equal(t, "ok", body)
		assert.Equal(t, "3", resp.Header.Get(HeaderLimit))
		assert.Equal(t, fmt.Sprint(2-i), resp.Header.Get(HeaderRemaining))
		assert.Equal(t, "60", resp.Header.Get(HeaderReset))
		assert.Equal(t, "3;w=60", resp.Header.Get(HeaderPolicy))
		assert.Empty(t, resp.Header.Get(HeaderRetryAfter))
	}
	resp, body := get(t, srv.URL, nil)
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.Equal(t, "60", resp.Header.Get(HeaderRetryAfter))
	assert.Equal(t, "0", resp.Header.Get(HeaderRemaining))
	assert.Equal(t, "60", resp.Header.Get(HeaderReset))
	assert.Contains(t, body, "retry after 60 seconds")

	// The budget was spent by 127.0.0.1, the client's address.
	d := allow(t, l, "127.0.0.1")
	assert.False(t, d.Allowed)
}

func TestMiddlewareRetryAfterHeader(t *testing.T) {
	l, fake := newTestLimiter(t, Options{Limit: 2, Period: time.Minute})
	srv := httptest.NewServer(l.Middleware(okHandler, nil))
	defer srv.Close()

	get(t, srv.URL, nil)
	fake.Advance(20 * time.Second)
	get(t, srv.URL, nil)
	cases := []struct {
		at         time.Duration
		retryAfter string
		reset      string
	}{
		{20 * time.Second, "40", "40"},
		{30*time.Second + 1, "30", "30"}, // 29.999999999s rounds up
		{59 * time.Second, "1", "1"},
		{59*time.Second + 999*time.Millisecond, "1", "1"},
	}
	for _, c := range cases {
		fake.Set(epoch.Add(c.at))
		resp, _ := get(t, srv.URL, nil)
		assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "at %v", c.at)
		assert.Equal(t, c.retryAfter, resp.Header.Get(HeaderRetryAfter), "at %v", c.at)
		assert.Equal(t, c.reset, resp.Header.Get(HeaderReset), "at %v", c.at)
	}
	// At 60s the first admission leaves; the next rejection waits for the
	// one made at 20s.
	fake.Set(epoch.Add(time.Minute))
	resp, _ := get(t, srv.URL, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "0", resp.Header.Get(HeaderRemaining))
	assert.Equal(t, "20", resp.Header.Get(HeaderReset))
	resp, _ = get(t, srv.URL, nil)
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.Equal(t, "20", resp.Header.Get(HeaderRetryAfter))
}

func TestMiddlewareKeyFunc(t *testing.T) {
	l, _ := newTestLimiter(t, Options{Limit: 1, Period: time.Minute})
	byUser := func(r *http.Request) (string, error) {
		user := r.Header.Get("X-User")
		if user == "" {
			return "", errors.New("missing X-User header")
		}
		return user, nil
	}
	srv := httptest.NewServer(l.Middleware(okHandler, &MiddlewareOptions{Key: byUser}))
	defer srv.Close()

	resp, _ := get(t, srv.URL, map[string]string{"X-User": "ann"})
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	resp, _ = get(t, srv.URL, map[string]string{"X-User": "ann"})
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	resp, _ = get(t, srv.URL, map[string]string{"X-User": "bob"})
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	resp, body := get(t, srv.URL, nil)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Equal(t, "missing X-User header\n", body)
	assert.Equal(t, "1", resp.Header.Get(HeaderLimit))
	assert.Equal(t, "0", resp.Header.Get(HeaderRemaining))
	assert.Equal(t, "0", resp.Header.Get(HeaderReset))

	resp, body = get(t, srv.URL, map[string]string{"X-User": strings.Repeat("u", MaxKeySize+1)})
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, body, "513 bytes long")
}

func TestMiddlewareClosedSystem(t *testing.T) {
	l, _ := newTestLimiter(t, Options{})
	srv := httptest.NewServer(l.Middleware(okHandler, nil))
	defer srv.Close()
	require.NoError(t, l.ns.System().Close())

	resp, body := get(t, srv.URL, nil)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "1", resp.Header.Get(HeaderRetryAfter))
	assert.Equal(t, "0", resp.Header.Get(HeaderRemaining))
	assert.Contains(t, body, "retry later")
}

func TestStatusCode(t *testing.T) {
	cases := []struct {
		err  error
		want int
	}{
		{&KeyError{Size: 0}, http.StatusBadRequest},
		{&actor.OverloadedError{Namespace: "ratelimit"}, http.StatusServiceUnavailable},
		{fmt.Errorf("call: %w", actor.ErrClosed), http.StatusServiceUnavailable},
		{errors.New("disk on fire"), http.StatusInternalServerError},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, StatusCode(c.err), "StatusCode(%v)", c.err)
	}
}

func TestClientIP(t *testing.T) {
	cases := []struct {
		remote string
		want   string
	}{
		{"127.0.0.1:5000", "127.0.0.1"},
		{"[::1]:5000", "::1"},
		{"10.0.0.7", "10.0.0.7"},
	}
	for _, c := range cases {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = c.remote
		got, err := ClientIP(r)
		require.NoError(t, err)
		assert.Equal(t, c.want, got, "RemoteAddr %q", c.remote)
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = ""
	_, err := ClientIP(r)
	assert.Error(t, err)
}
