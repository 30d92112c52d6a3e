package actor

// This file holds the options, errors and optional object interfaces of
// the runtime.

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/durable-go/durable/clock"
	"github.com/durable-go/durable/storage"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Options configures Open. The zero value is ready to use; every zero field
// means its documented default.
type Options struct {
	// Logger receives the runtime's log lines, Proto.Actor's and Pebble's
	// included. Nil means slog.Default().
	Logger *slog.Logger
	// Clock drives alarms, idle eviction and timeouts. Nil means clock.Real.
	Clock clock.Clock
	// IdleTimeout is how long an object stays active without events before
	// it is evicted. The default is one minute.
	IdleTimeout time.Duration
	// MaxActive bounds the number of active objects; past it the least
	// recently used idle objects are evicted. Zero means no bound.
	MaxActive int
	// MaxQueue bounds the events accepted for one object and not yet
	// finished, the running one included; past it callers get an
	// *OverloadedError at once. The default is 1,024.
	MaxQueue int
	// AlarmRetries is how many times a failing alarm is retried before it
	// is dropped. The default is 6; a negative value means no retries.
	AlarmRetries int
	// AlarmBackoff is the delay before the first alarm retry; it doubles
	// with every retry, with jitter. The default is 2 seconds.
	AlarmBackoff time.Duration
	// CacheBytes bounds each active object's cache of the values it read
	// or wrote, which lets reads of committed values skip Pebble. It is
	// dropped with the activation. The default is 64 KiB, and a negative
	// value turns the cache off.
	//
	// NOTE: only the object's own turns update the cache. A write to an
	// active object's keys through System.Storage is not seen by its later
	// turns until the object is evicted.
	CacheBytes int
	// Storage configures the Pebble database. Its Logger defaults to Logger.
	Storage *storage.Options
	// MeterProvider receives the runtime's metrics. Nil means the global
	// provider of go.opentelemetry.io/otel.
	MeterProvider metric.MeterProvider
	// TracerProvider receives spans for calls, turns and commits. A call
	// joins the trace in its context and records no span outside one. Each
	// alarm delivery starts a trace of its own. Nil means the global
	// provider of go.opentelemetry.io/otel.
	TracerProvider trace.TracerProvider
}

var (
	// ErrClosed is returned for events sent after the System began to close.
	ErrClosed = errors.New("actor: system closed")
	// ErrInvalidID matches every error IDFromString returns.
	ErrInvalidID = errors.New("actor: invalid object ID")
	// ErrIDLength is returned by IDFromString for a string that is not 64
	// bytes long. It matches ErrInvalidID.
	ErrIDLength = &idError{"must be 64 hexadecimal digits"}
	// ErrIDNotHex is returned by IDFromString for a string with a character
	// that is not a hexadecimal digit. It matches ErrInvalidID.
	ErrIDNotHex = &idError{"contains a character that is not a hexadecimal digit"}
	// ErrIDNamespace is returned by IDFromString for an ID minted by another
	// namespace or data directory, or corrupted, and by calls and fetches
	// through a stub with an ID of another namespace. It matches
	// ErrInvalidID.
	ErrIDNamespace = &idError{"was not minted by this namespace in this data directory"}
	// ErrOverloaded matches every *OverloadedError.
	ErrOverloaded = errors.New("actor: object overloaded")
	// ErrCallCycle is returned by a call that would wait on an object that
	// is already waiting further up the same call chain.
	ErrCallCycle = errors.New("actor: call cycle")
	// ErrPanic matches every *PanicError.
	ErrPanic = errors.New("actor: object panicked")
	// ErrNotHandler is returned by Fetch when the object's type does not
	// implement http.Handler.
	ErrNotHandler = errors.New("actor: object does not implement http.Handler")
	// ErrNilRequest is returned by Fetch for a nil *http.Request.
	ErrNilRequest = errors.New("actor: Fetch needs a non-nil *http.Request")
)

type idError struct{ reason string }

func (e *idError) Error() string        { return "actor: invalid object ID: " + e.reason }
func (e *idError) Is(target error) bool { return target == ErrInvalidID }

// OverloadedError is returned when an object's queue is full. The event
// was not delivered.
type OverloadedError struct {
	Namespace string
	ID        ID
	// Queued is the queue length that was reached.
	Queued int
}

// Error returns a message that names the object and suggests retrying later.
func (e *OverloadedError) Error() string {
	return "actor: object " + e.Namespace + "/" + e.ID.String() + " overloaded: queue full; retry later"
}

// Is reports whether target is ErrOverloaded.
func (e *OverloadedError) Is(target error) bool { return target == ErrOverloaded }

// PanicError is returned for an event whose handler panicked. The turn
// committed nothing and the object was reset.
type PanicError struct {
	Value any
	Stack []byte
}

// Error returns a message that includes the panic value but not the stack.
func (e *PanicError) Error() string { return "actor: object panicked: " + panicString(e.Value) }

// Is reports whether target is ErrPanic.
func (e *PanicError) Is(target error) bool { return target == ErrPanic }

func panicString(v any) string {
	if err, ok := v.(error); ok {
		return err.Error()
	}
	if s, ok := v.(string); ok {
		return s
	}
	return "non-string panic value"
}

// Initializer is implemented by objects that need to run a step after the
// constructor and before the first event of each activation, such as
// loading state from storage. Init runs as a turn of its own; if it returns
// an error, the activation is discarded and the triggering event fails.
type Initializer interface {
	Init(ctx context.Context) error
}

// Alarmer is implemented by objects that use alarms. Alarm runs as a turn.
// If it returns an error or panics, it is retried with backoff.
type Alarmer interface {
	Alarm(ctx context.Context, info AlarmInfo) error
}

// AlarmInfo describes one delivery of an alarm.
type AlarmInfo struct {
	// RetryCount is 0 for the first delivery and n for the n-th retry.
	RetryCount int
	// Scheduled is the time the alarm was set for.
	Scheduled time.Time
}

// Closer is implemented by objects that want to run a step when they are
// evicted. Close runs as the last turn of the activation; its storage
// writes are committed unless it returns an error or panics.
type Closer interface {
	Close(ctx context.Context) error
}

// Binding is the untyped view of a Namespace, for packages such as edgehttp
// that route events to objects without knowing their type.
type Binding interface {
	// Name returns the namespace's name.
	Name() string
	// System returns the System the namespace belongs to.
	System() *System
	// IDFromName returns the ID named name; see Namespace.IDFromName.
	IDFromName(name string) ID
	// IDFromString parses an ID; see Namespace.IDFromString.
	IDFromString(s string) (ID, error)
	// NewUniqueID returns a new random ID.
	NewUniqueID() ID
	// Fetch sends req to the object id; see Stub.Fetch.
	Fetch(ctx context.Context, id ID, req *http.Request) (*http.Response, error)
	// Invoke runs fn on the object id in one turn, as Call does.
	Invoke(ctx context.Context, id ID, fn func(ctx context.Context, obj any) error) error
}
