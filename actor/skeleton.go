package actor

// Placeholder bodies; the runtime replaces this file.

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/durable-go/durable/clock"
	"github.com/durable-go/durable/storage"
)

// System owns the Proto.Actor actor system, the storage database, the alarm
// scheduler and the namespaces of one data directory. It is safe for
// concurrent use.
type System struct{}

// Open opens or creates the data directory dir and starts the runtime.
func Open(dir string, opts *Options) (*System, error) { panic("not implemented") }

// Shutdown stops accepting events, waits for in-flight turns and their
// durability until ctx ends, stops the alarm scheduler, evicts every object
// and closes the store.
func (s *System) Shutdown(ctx context.Context) error { panic("not implemented") }

// Close is Shutdown without a deadline.
func (s *System) Close() error { return s.Shutdown(context.Background()) }

// Storage returns the database, for layers such as kvcache that share it.
func (s *System) Storage() *storage.DB { panic("not implemented") }

// Clock returns the clock the runtime uses.
func (s *System) Clock() clock.Clock { panic("not implemented") }

// Logger returns the runtime's logger.
func (s *System) Logger() *slog.Logger { panic("not implemented") }

// ActiveObjects returns the number of active objects in all namespaces.
func (s *System) ActiveObjects() int { panic("not implemented") }

// Extension returns the value stored under key, first storing create() if
// there is none. Packages built on the runtime keep per-System state here.
func (s *System) Extension(key any, create func() any) any { panic("not implemented") }

// ID names one object of one namespace. The zero ID names no object.
type ID struct{}

// String returns the 64-hex-digit form that IDFromString parses.
func (id ID) String() string { panic("not implemented") }

// Equal reports whether id and other name the same object.
func (id ID) Equal(other ID) bool { panic("not implemented") }

// Name returns the name the ID was derived from by IDFromName, or "" for
// unique IDs and for IDs parsed from strings.
func (id ID) Name() string { panic("not implemented") }

// IsZero reports whether id is the zero ID.
func (id ID) IsZero() bool { panic("not implemented") }

// Namespace is a named class of objects of type T. It is safe for
// concurrent use.
type Namespace[T any] struct{}

// Register adds the namespace name to s. newObject constructs an object for
// each activation; it runs inside the activation's first turn. The name is
// 1 to 64 characters of letters, digits, '_' and '-', and must be unique
// within s.
func Register[T any](s *System, name string, newObject func(*State) T) (*Namespace[T], error) {
	panic("not implemented")
}

// Name returns the namespace's name.
func (n *Namespace[T]) Name() string { panic("not implemented") }

// System returns the System the namespace belongs to.
func (n *Namespace[T]) System() *System { panic("not implemented") }

// IDFromName returns the ID derived from name. The same name gives the
// same ID in this namespace for the life of the data directory.
func (n *Namespace[T]) IDFromName(name string) ID { panic("not implemented") }

// NewUniqueID returns a new random ID.
func (n *Namespace[T]) NewUniqueID() ID { panic("not implemented") }

// IDFromString parses the 64-hex-digit form of an ID minted by this
// namespace. Errors match ErrInvalidID and one of ErrIDLength, ErrIDNotHex
// and ErrIDNamespace.
func (n *Namespace[T]) IDFromString(s string) (ID, error) { panic("not implemented") }

// Get returns a stub for the object id without activating it.
func (n *Namespace[T]) Get(id ID) *Stub[T] { panic("not implemented") }

// Fetch sends req to the object id; see Stub.Fetch.
func (n *Namespace[T]) Fetch(ctx context.Context, id ID, req *http.Request) (*http.Response, error) {
	panic("not implemented")
}

// Invoke runs fn on the object id in one turn; see Call.
func (n *Namespace[T]) Invoke(ctx context.Context, id ID, fn func(ctx context.Context, obj any) error) error {
	panic("not implemented")
}

// Evict evicts the object id now if it is active, waiting for its current
// turn and its Close hook. It is a no-op for an inactive object.
func (n *Namespace[T]) Evict(ctx context.Context, id ID) error { panic("not implemented") }

// RunAlarm runs the object's alarm handler now, as a turn, if the object
// has an alarm set; it reports whether an alarm ran.
func (n *Namespace[T]) RunAlarm(ctx context.Context, id ID) (bool, error) { panic("not implemented") }

// StoredIDs returns the IDs of the namespace's objects that hold stored
// keys. Names of named IDs are not recovered.
func (n *Namespace[T]) StoredIDs(ctx context.Context) ([]ID, error) { panic("not implemented") }

// Stub sends events to one object. It is cheap to create and safe for
// concurrent use.
type Stub[T any] struct{}

// ID returns the object's ID.
func (s *Stub[T]) ID() ID { panic("not implemented") }

// Fetch runs the object's ServeHTTP in one turn and returns the response,
// released once the turn's writes are durable. The handler sees req with a
// context that carries the values of ctx and ends when ctx ends. Errors:
// ErrNotHandler, *OverloadedError, ErrCallCycle, ErrClosed, ctx.Err(), or a
// storage commit error; a handler panic becomes a 500 response.
func (s *Stub[T]) Fetch(ctx context.Context, req *http.Request) (*http.Response, error) {
	panic("not implemented")
}

// Call runs fn on the object in one turn and returns its result once the
// turn's writes are durable. If fn returns an error or panics, the turn
// commits nothing; a panic returns a *PanicError and resets the object.
func Call[T, R any](ctx context.Context, s *Stub[T], fn func(ctx context.Context, obj T) (R, error)) (R, error) {
	panic("not implemented")
}

// State is an object's handle on the runtime: its ID, its storage and its
// System. The constructor receives it.
type State struct{}

// ID returns the object's ID.
func (s *State) ID() ID { panic("not implemented") }

// Namespace returns the name of the object's namespace.
func (s *State) Namespace() string { panic("not implemented") }

// System returns the System the object runs in.
func (s *State) System() *System { panic("not implemented") }

// Logger returns a logger with the object's namespace and ID attached.
func (s *State) Logger() *slog.Logger { panic("not implemented") }

// Storage returns the current turn's storage. Outside a turn every method
// of the returned Txn returns storage.ErrTxnDone.
func (s *State) Storage() *storage.Txn { panic("not implemented") }

// OnDurable registers fn to run after the current turn's writes, and every
// earlier write of the object, are durable, in registration order; err is
// non-nil if the commit failed or the turn failed. Outside a turn fn runs
// at once with a nil error.
func (s *State) OnDurable(fn func(err error)) { panic("not implemented") }

// FromContext returns the State of the object whose turn ctx belongs to,
// or nil outside a turn.
func FromContext(ctx context.Context) *State { panic("not implemented") }
