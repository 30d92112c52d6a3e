package limiter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/durable-go/durable/actor"
)

// Response header names, from the IETF draft "RateLimit header fields for
// HTTP" (draft-ietf-httpapi-ratelimit-headers), and Retry-After from RFC
// 9110.
const (
	HeaderLimit      = "RateLimit-Limit"
	HeaderRemaining  = "RateLimit-Remaining"
	HeaderReset      = "RateLimit-Reset"
	HeaderPolicy     = "RateLimit-Policy"
	HeaderRetryAfter = "Retry-After"
)

// KeyFunc derives the rate limit key of a request. When it fails, the
// middleware responds with 400 Bad Request and the error's text.
type KeyFunc func(r *http.Request) (string, error)

// ClientIP is the default KeyFunc: the IP address of the connection's peer,
// taken from r.RemoteAddr. It ignores X-Forwarded-For and similar headers,
// which any client can set; behind a proxy, pass a KeyFunc that reads the
// header the proxy sets.
//
// NOTE: each IPv6 address is its own key, but one IPv6 client often holds
// a whole /64 prefix. To limit such clients, pass a KeyFunc that masks the
// address to its prefix.
func ClientIP(r *http.Request) (string, error) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		if r.RemoteAddr == "" {
			return "", errors.New("limiter: request has no remote address")
		}
		// RemoteAddr without a port, as some test servers and
		// handlers set it.
		return r.RemoteAddr, nil
	}
	return host, nil
}

// MiddlewareOptions configures Middleware. The zero value means the
// documented defaults.
type MiddlewareOptions struct {
	// Key derives the key of a request. Nil means ClientIP.
	Key KeyFunc
	// Logger receives one line per request that failed with a 500
	// Internal Server Error. Nil means slog.Default().
	Logger *slog.Logger
}

// Middleware returns a handler that calls Allow for each request's key and
// passes admitted requests to next. It responds to a rejected request
// itself with 429 Too Many Requests and Retry-After. Every response
// carries RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset and
// RateLimit-Policy.
func (l *Limiter) Middleware(next http.Handler, opts *MiddlewareOptions) http.Handler {
	if next == nil {
		panic("limiter: Middleware with a nil handler")
	}
	var o MiddlewareOptions
	if opts != nil {
		o = *opts
	}
	if o.Key == nil {
		o.Key = ClientIP
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, err := o.Key(r)
		if err != nil {
			l.WriteError(w, &KeyError{Err: err})
			return
		}
		d, err := l.Allow(r.Context(), key)
		if err != nil {
			if StatusCode(err) == http.StatusInternalServerError {
				o.Logger.ErrorContext(r.Context(), "limiter: decision failed", "key", key, "err", err)
			}
			l.WriteError(w, err)
			return
		}
		l.SetHeaders(w.Header(), d)
		if !d.Allowed {
			http.Error(w, fmt.Sprintf("rate limit exceeded: retry after %s seconds", w.Header().Get(HeaderRetryAfter)),
				http.StatusTooManyRequests)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// SetHeaders sets the RateLimit header fields of d on h, and Retry-After
// when d is a rejection. Durations are given in whole seconds, rounded up,
// and Retry-After is at least 1.
func (l *Limiter) SetHeaders(h http.Header, d Decision) {
	h.Set(HeaderLimit, strconv.Itoa(d.Limit))
	h.Set(HeaderRemaining, strconv.Itoa(d.Remaining))
	h.Set(HeaderReset, strconv.FormatInt(Seconds(d.Reset), 10))
	h.Set(HeaderPolicy, l.policy())
	if !d.Allowed {
		h.Set(HeaderRetryAfter, strconv.FormatInt(max(Seconds(d.RetryAfter), 1), 10))
	}
}

// StatusCode returns the HTTP status code for an error of Allow: 400 for
// an invalid key, 503 for an overloaded object, a closing System or an
// ended request context, and 500 otherwise.
func StatusCode(err error) int {
	switch {
	case errors.Is(err, ErrInvalidKey):
		return http.StatusBadRequest
	case errors.Is(err, actor.ErrOverloaded), errors.Is(err, actor.ErrClosed),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// WriteError responds to a request whose key is invalid or whose decision
// failed with err, with the status code of StatusCode. The response
// carries the RateLimit header fields with Remaining 0, since nothing was
// admitted; a 503 also carries Retry-After 1. The text of a 500 does not
// repeat err, which may name internal state.
func (l *Limiter) WriteError(w http.ResponseWriter, err error) {
	code := StatusCode(err)
	h := w.Header()
	h.Set(HeaderLimit, strconv.Itoa(l.limit))
	h.Set(HeaderRemaining, "0")
	h.Set(HeaderReset, "0")
	h.Set(HeaderPolicy, l.policy())
	msg := err.Error()
	switch code {
	case http.StatusServiceUnavailable:
		h.Set(HeaderReset, "1")
		h.Set(HeaderRetryAfter, "1")
		msg = "rate limiter unavailable; retry later"
	case http.StatusInternalServerError:
		msg = "rate limiter failed; see the server log"
	}
	http.Error(w, msg, code)
}

// policy returns the RateLimit-Policy value: the limit and the window in
// seconds.
func (l *Limiter) policy() string {
	return fmt.Sprintf("%d;w=%d", l.limit, Seconds(l.period))
}

// Seconds returns d in whole seconds, rounded up; a negative d gives 0.
func Seconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}
