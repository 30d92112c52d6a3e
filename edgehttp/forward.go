package edgehttp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/durable-go/durable/actor"
	"github.com/maypok86/otter/v2"
	"go.opentelemetry.io/otel/metric"
)

// ErrNoKey is returned by a Key when the request does not name an object,
// for example when the path value or header it reads is empty. Forward
// responds to it with 400 Bad Request.
var ErrNoKey = errors.New("edgehttp: request names no object")

// Key derives from a request the ID of the object it goes to. On an error
// Forward responds with 400 Bad Request and the error's text, so a Key
// should return messages fit for a client.
type Key func(r *http.Request, b actor.Binding) (actor.ID, error)

// PathName returns a Key that names the object by the path value wildcard
// of the request's route pattern, as in "/rooms/{name}", through
// Binding.IDFromName.
func PathName(wildcard string) Key {
	return func(r *http.Request, b actor.Binding) (actor.ID, error) {
		name := r.PathValue(wildcard)
		if name == "" {
			return actor.ID{}, fmt.Errorf("%w: path value %q is empty", ErrNoKey, wildcard)
		}
		return b.IDFromName(name), nil
	}
}

// PathID returns a Key that parses the object's 64-hex-digit ID from the
// path value wildcard through Binding.IDFromString.
func PathID(wildcard string) Key {
	return func(r *http.Request, b actor.Binding) (actor.ID, error) {
		s := r.PathValue(wildcard)
		if s == "" {
			return actor.ID{}, fmt.Errorf("%w: path value %q is empty", ErrNoKey, wildcard)
		}
		return b.IDFromString(s)
	}
}

// HeaderName returns a Key that names the object by the request header
// field, through Binding.IDFromName.
func HeaderName(field string) Key {
	return func(r *http.Request, b actor.Binding) (actor.ID, error) {
		name := r.Header.Get(field)
		if name == "" {
			return actor.ID{}, fmt.Errorf("%w: header %s is missing", ErrNoKey, field)
		}
		return b.IDFromName(name), nil
	}
}

// HeaderID returns a Key that parses the object's 64-hex-digit ID from the
// request header field through Binding.IDFromString.
func HeaderID(field string) Key {
	return func(r *http.Request, b actor.Binding) (actor.ID, error) {
		s := r.Header.Get(field)
		if s == "" {
			return actor.ID{}, fmt.Errorf("%w: header %s is missing", ErrNoKey, field)
		}
		return b.IDFromString(s)
	}
}

// NameFunc returns a Key that names the object by the string fn derives
// from the request, through Binding.IDFromName. An empty name is
// rejected with ErrNoKey.
func NameFunc(fn func(r *http.Request) (string, error)) Key {
	return func(r *http.Request, b actor.Binding) (actor.ID, error) {
		name, err := fn(r)
		if err != nil {
			return actor.ID{}, err
		}
		if name == "" {
			return actor.ID{}, ErrNoKey
		}
		return b.IDFromName(name), nil
	}
}

// DefaultMaxBodyBytes is the request body limit Forward applies when
// ForwardOptions.MaxBodyBytes is zero.
const DefaultMaxBodyBytes = 32 << 20

// ForwardOptions configures Forward. The zero value is ready to use; every
// zero field means its documented default.
type ForwardOptions struct {
	// MaxBodyBytes bounds the request body. Forward reads the whole body
	// before the turn starts, so a slow upload never holds the object, and
	// responds to a larger body with 413 Request Entity Too Large. The
	// default is DefaultMaxBodyBytes. A negative value means no limit, and
	// then the body streams into the turn unread.
	MaxBodyBytes int64
	// RetryAfter is the delay sent in the Retry-After header of a 503
	// response for an overloaded object, rounded up to whole seconds. The
	// default is one second.
	RetryAfter time.Duration
	// Logger receives one line per request that failed on the server side.
	// Nil means the logger of the binding's System.
	Logger *slog.Logger
	// ErrorHandler writes the response for a request that did not reach the
	// object or whose commit failed, with the status Forward chose. A
	// handler panic is not passed to it: the runtime turns the panic into
	// a 500 response without detail, which Forward copies. Nil
	// means a plain-text body with the status text, and for status 400 and
	// 413 the error's text. A 500 response never carries internal detail.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, status int, err error)
	// MeterProvider receives the WebSocket metrics of this handler: open
	// connections, messages and closes by code. Nil means the global
	// provider of go.opentelemetry.io/otel.
	MeterProvider metric.MeterProvider
	// WebSocket configures the sockets that objects accept on requests
	// forwarded by this handler.
	WebSocket WebSocketOptions
}

// ID cache bounds: names up to idCacheNameBytes long are cached, at most
// idCacheSize of them, so the cache stays under about a megabyte.
const (
	idCacheSize      = 4096
	idCacheNameBytes = 128
)

// cachedBinding remembers the IDs that IDFromName derived, because
// deriving one computes an HMAC, which costs a few microseconds on every
// forwarded request.
type cachedBinding struct {
	actor.Binding
	ids *otter.Cache[string, actor.ID]
}

func (b *cachedBinding) IDFromName(name string) actor.ID {
	if len(name) > idCacheNameBytes {
		return b.Binding.IDFromName(name)
	}
	if id, ok := b.ids.GetIfPresent(name); ok {
		return id
	}
	id := b.Binding.IDFromName(name)
	b.ids.Set(name, id)
	return id
}

// forwarder is the http.Handler Forward returns.
type forwarder struct {
	binding actor.Binding
	key     Key
	opts    ForwardOptions
	// retryAfter is opts.RetryAfter in whole seconds, formatted.
	retryAfter string
	logger     *slog.Logger
	metrics    *wsMetrics
	// keyBinding is binding with IDFromName cached; Keys receive it.
	keyBinding actor.Binding
}

// Forward returns a handler that sends each request to the object of b
// that key derives from it, the way a Worker calls stub.fetch(request).
// The method, URL, headers and full body reach the object's ServeHTTP
// unchanged, and its status, headers and body come back unchanged once the
// turn's writes are durable. The turn's context ends when the client goes
// away.
//
// Forward responds with an error status when the object cannot:
//   - 400 Bad Request: key failed, for example ErrNoKey or an invalid ID
//     (actor.ErrInvalidID);
//   - 413 Request Entity Too Large: the body exceeds ForwardOptions.MaxBodyBytes;
//   - 503 Service Unavailable with Retry-After: the object's queue is full
//     (*actor.OverloadedError) or its System is closing;
//   - 500 Internal Server Error with no internal detail: the handler
//     panicked, the commit failed, or the object is no http.Handler.
//
// A request on which the object calls AcceptWebSocket is upgraded after
// the turn, on the real connection; see AcceptWebSocket.
func Forward(b actor.Binding, key Key, opts *ForwardOptions) http.Handler {
	if b == nil {
		panic("edgehttp: Forward called with a nil binding")
	}
	if key == nil {
		panic("edgehttp: Forward called with a nil key")
	}
	f := &forwarder{binding: b, key: key}
	if opts != nil {
		f.opts = *opts
	}
	if f.opts.MaxBodyBytes == 0 {
		f.opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if f.opts.RetryAfter <= 0 {
		f.opts.RetryAfter = time.Second
	}
	f.opts.WebSocket = f.opts.WebSocket.withDefaults()
	secs := (f.opts.RetryAfter + time.Second - 1) / time.Second
	f.retryAfter = strconv.FormatInt(int64(secs), 10)
	f.logger = f.opts.Logger
	f.metrics = newWSMetrics(f.opts.MeterProvider, b.Name())
	f.keyBinding = &cachedBinding{
		Binding: b,
		ids:     otter.Must(&otter.Options[string, actor.ID]{MaximumSize: idCacheSize}),
	}
	return f
}

func (f *forwarder) log() *slog.Logger {
	if f.logger != nil {
		return f.logger
	}
	return f.binding.System().Logger()
}

func (f *forwarder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, err := f.key(r, f.keyBinding)
	if err != nil {
		f.fail(w, r, http.StatusBadRequest, err)
		return
	}
	out, err := f.requestBody(r)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			f.fail(w, r, http.StatusRequestEntityTooLarge, err)
		} else {
			f.fail(w, r, http.StatusBadRequest, err)
		}
		return
	}

	ctx := r.Context()
	var up *upgrade
	if isUpgradeRequest(r) {
		up = &upgrade{forwarder: f, id: id, decided: make(chan error, 1)}
		ctx = context.WithValue(ctx, upgradeKey{}, up)
		out = out.WithContext(ctx)
	}

	resp, err := f.binding.Fetch(ctx, id, out)
	if err != nil {
		f.fetchFailed(w, r, id, err)
		if up != nil {
			up.abandon()
		}
		return
	}
	defer resp.Body.Close()
	if up != nil && up.accepted() != nil {
		f.upgrade(w, r, resp, up)
		return
	}
	copyResponse(w, resp)
}

// requestBody returns r with its body read into memory, or r itself when
// it has no body or no limit applies.
func (f *forwarder) requestBody(r *http.Request) (*http.Request, error) {
	if r.Body == nil || r.Body == http.NoBody || f.opts.MaxBodyBytes < 0 {
		return r, nil
	}
	limit := f.opts.MaxBodyBytes
	if r.ContentLength > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	n, err := buf.ReadFrom(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("edgehttp: read request body: %w", err)
	}
	if n > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	out := new(http.Request)
	*out = *r
	out.Body = io.NopCloser(bytes.NewReader(buf.Bytes()))
	out.ContentLength = n
	body := buf.Bytes()
	out.GetBody = func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(body)), nil
	}
	return out, nil
}

// fetchFailed maps an error from Binding.Fetch to a status code.
func (f *forwarder) fetchFailed(w http.ResponseWriter, r *http.Request, id actor.ID, err error) {
	var overloaded *actor.OverloadedError
	switch {
	case r.Context().Err() != nil:
		// The client is gone, so no response is written.
		f.log().Debug("edgehttp: request canceled", "namespace", f.binding.Name(),
			"id", id.String(), "err", err)
	case errors.As(err, &overloaded):
		w.Header().Set("Retry-After", f.retryAfter)
		f.fail(w, r, http.StatusServiceUnavailable, err)
	case errors.Is(err, actor.ErrClosed):
		w.Header().Set("Retry-After", f.retryAfter)
		f.fail(w, r, http.StatusServiceUnavailable, err)
	case errors.Is(err, actor.ErrInvalidID):
		f.fail(w, r, http.StatusBadRequest, err)
	default:
		f.log().Error("edgehttp: forward failed", "namespace", f.binding.Name(),
			"id", id.String(), "method", r.Method, "path", r.URL.Path, "err", err)
		f.fail(w, r, http.StatusInternalServerError, err)
	}
}

// fail writes the error response for status.
func (f *forwarder) fail(w http.ResponseWriter, r *http.Request, status int, err error) {
	if f.opts.ErrorHandler != nil {
		f.opts.ErrorHandler(w, r, status, err)
		return
	}
	msg := http.StatusText(status)
	if status == http.StatusBadRequest || status == http.StatusRequestEntityTooLarge {
		msg = err.Error()
	}
	http.Error(w, msg, status)
}

// copyResponse writes resp to w unchanged.
func copyResponse(w http.ResponseWriter, resp *http.Response) {
	h := w.Header()
	for k, v := range resp.Header {
		h[k] = v
	}
	if resp.ContentLength >= 0 && h.Get("Content-Length") == "" && len(resp.TransferEncoding) == 0 {
		h.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	w.WriteHeader(resp.StatusCode)
	if resp.Body != nil {
		_, _ = io.Copy(w, resp.Body)
	}
}
