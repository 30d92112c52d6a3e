package actor

import (
	"context"
	"fmt"
	"net/http"

	"github.com/durable-go/durable/storage"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// nsCore is the untyped part of a namespace, shared by every activation of
// its objects.
type nsCore struct {
	sys       *System
	name      string
	number    uint32
	ids       idMinter
	newObject func(*State) any
	attrs     nsAttrs
	// spanOpts are the options of the client spans of calls and fetches.
	spanOpts []trace.SpanStartOption
}

// Namespace is a named class of objects of type T. It is safe for
// concurrent use.
type Namespace[T any] struct {
	core *nsCore
}

var _ Binding = (*Namespace[int])(nil)

// validName reports whether name is 1 to 64 characters of letters, digits,
// '_' and '-'.
func validName(name string) bool {
	if len(name) < 1 || len(name) > 64 {
		return false
	}
	for _, c := range []byte(name) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// Register adds the namespace name to s. newObject constructs an object for
// each activation; it runs inside the activation's first turn. The name is
// 1 to 64 characters of letters, digits, '_' and '-', and must be unique
// within s.
func Register[T any](s *System, name string, newObject func(*State) T) (*Namespace[T], error) {
	if newObject == nil {
		return nil, fmt.Errorf("actor: register %q: nil constructor", name)
	}
	if !validName(name) {
		return nil, fmt.Errorf("actor: register %q: invalid namespace name; use 1 to 64 letters, digits, '_' or '-'", name)
	}
	if s.closing.Load() {
		return nil, ErrClosed
	}
	number, err := s.db.Namespace(name)
	if err != nil {
		return nil, fmt.Errorf("actor: register %q: %w", name, err)
	}
	core := &nsCore{
		sys:       s,
		name:      name,
		number:    number,
		ids:       newIDMinter(s.idKey, name),
		newObject: func(st *State) any { return newObject(st) },
		attrs:     newNSAttrs(name),
		spanOpts: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("durable.namespace", name))},
	}
	s.nsMu.Lock()
	if _, dup := s.namespaces[name]; dup {
		s.nsMu.Unlock()
		return nil, fmt.Errorf("actor: register %q: namespace already registered", name)
	}
	s.namespaces[name] = core
	s.byNumber[number] = core
	s.nsMu.Unlock()
	// Alarms of this namespace may have waited for it since Open.
	s.scheduler.namespaceAdded(number)
	return &Namespace[T]{core: core}, nil
}

// Name returns the namespace's name.
func (n *Namespace[T]) Name() string { return n.core.name }

// System returns the System the namespace belongs to.
func (n *Namespace[T]) System() *System { return n.core.sys }

// IDFromName returns the ID derived from name. The same name gives the
// same ID in this namespace for the life of the data directory.
func (n *Namespace[T]) IDFromName(name string) ID { return n.core.ids.fromName(name) }

// NewUniqueID returns a new random ID.
func (n *Namespace[T]) NewUniqueID() ID { return n.core.ids.unique() }

// IDFromString parses the 64-hex-digit form of an ID minted by this
// namespace, in either letter case. Errors match ErrInvalidID and one of
// ErrIDLength, ErrIDNotHex and ErrIDNamespace. The ID has no name, so an
// object reached through it has the name of an earlier or later named ID
// of the same object, if any (see State.ID).
func (n *Namespace[T]) IDFromString(s string) (ID, error) { return n.core.ids.parse(s) }

// Get returns a stub for the object id without activating it. Calls
// through a stub whose ID was minted by another namespace, or for another
// data directory, fail with ErrIDNamespace.
func (n *Namespace[T]) Get(id ID) *Stub[T] { return &Stub[T]{ns: n.core, id: id} }

// Fetch sends req to the object id; see Stub.Fetch.
func (n *Namespace[T]) Fetch(ctx context.Context, id ID, req *http.Request) (*http.Response, error) {
	return n.core.fetch(ctx, id, req)
}

// Invoke runs fn on the object id in one turn; see Call.
func (n *Namespace[T]) Invoke(ctx context.Context, id ID, fn func(ctx context.Context, obj any) error) error {
	_, err := n.core.call(ctx, id, untypedCall(func(ctx context.Context, obj any) (any, error) {
		return nil, fn(ctx, obj)
	}))
	return err
}

// Evict evicts the object id now if it is active, waiting for its current
// turn and its Close hook. It is a no-op for an inactive object. Called
// from a turn of the same object it waits forever.
func (n *Namespace[T]) Evict(ctx context.Context, id ID) error {
	return n.core.sys.evict(ctx, objKey{n.core.number, id.obj})
}

// RunAlarm runs the object's alarm handler now, as a turn, if the object
// has an alarm set, even one that is not due yet. It reports whether an
// alarm ran. The handler gets RetryCount 0. A handler error is returned
// and leaves the alarm in place. As in a scheduled delivery, an unnamed id
// takes the name stored with the alarm.
func (n *Namespace[T]) RunAlarm(ctx context.Context, id ID) (bool, error) {
	id, err := n.core.withAlarmName(id)
	if err != nil {
		return false, err
	}
	return n.core.runAlarm(ctx, id, 0, true)
}

// withAlarmName returns id with the name stored with its object's alarm
// when id has no name, and id itself otherwise or when no name is stored.
func (n *nsCore) withAlarmName(id ID) (ID, error) {
	if id.name != "" || id.tag != n.ids.tag {
		return id, nil // a foreign ID fails in the call that uses it
	}
	al, ok, err := n.sys.db.Alarm(n.number, id.obj)
	if err != nil {
		return ID{}, fmt.Errorf("actor: read the alarm of %s/%s: %w", n.name, id, err)
	}
	if !ok {
		return id, nil
	}
	return n.ids.alarmID(al), nil
}

// StoredIDs returns the IDs of the namespace's objects that hold stored
// keys. An ID has the name stored with its object's alarm, if any. The
// names of other objects are not stored. Each ID costs one read of its
// object's alarm.
func (n *Namespace[T]) StoredIDs(ctx context.Context) ([]ID, error) {
	var out []ID
	var after *storage.ObjectID
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		objs, err := n.core.sys.db.ObjectIDs(n.core.number, after, 1024)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			id, err := n.core.withAlarmName(n.core.ids.withCheck(o, ""))
			if err != nil {
				return nil, err
			}
			out = append(out, id)
		}
		if len(objs) < 1024 {
			return out, nil
		}
		last := objs[len(objs)-1]
		after = &last
	}
}

// Stub sends events to one object. It is cheap to create and safe for
// concurrent use.
type Stub[T any] struct {
	ns *nsCore
	id ID
}

// ID returns the object's ID.
func (s *Stub[T]) ID() ID { return s.id }

// Fetch runs the object's ServeHTTP in one turn and returns the response,
// released once the turn's writes are durable. The handler receives req with a
// context that carries the values of ctx and ends when ctx ends. A handler
// panic becomes a 500 response. Errors: ErrNotHandler, ErrNilRequest,
// ErrInvalidID for the zero ID, ErrIDNamespace for an ID of another
// namespace, *OverloadedError, ErrCallCycle, ErrClosed, ctx.Err(), or a
// storage commit error.
func (s *Stub[T]) Fetch(ctx context.Context, req *http.Request) (*http.Response, error) {
	return s.ns.fetch(ctx, s.id, req)
}

// Call runs fn on the object in one turn and returns its result once the
// turn's writes are durable. If fn returns an error or panics, the turn
// commits nothing; a panic returns a *PanicError and resets the object.
func Call[T, R any](ctx context.Context, s *Stub[T], fn func(ctx context.Context, obj T) (R, error)) (R, error) {
	v, err := s.ns.call(ctx, s.id, typedCall[T, R]{fn})
	if err != nil {
		var zero R
		return zero, err
	}
	r, _ := v.(R) // v is nil when R is an interface type and fn returned nil
	return r, nil
}
