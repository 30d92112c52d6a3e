// Package actor runs durable objects: per-key virtual actors that handle
// one event at a time over their own persisted state, in the model of
// Cloudflare Durable Objects, on top of Proto.Actor and the storage
// package.
//
// # Namespaces, IDs and stubs
//
// [Open] opens a data directory and returns a [System]. [Register] adds a
// [Namespace]: a named class of objects with a constructor. An [ID] names
// one object of a namespace: [Namespace.IDFromName] derives it from a name,
// [Namespace.NewUniqueID] draws a random one and [Namespace.IDFromString]
// parses the 64-hex-digit form of [ID.String]. IDs carry a check value keyed
// with a secret of the data directory, so an ID of another namespace or a
// corrupted one is rejected.
//
// [Namespace.Get] returns a [Stub] without activating anything. The first
// event sent through a stub activates the object: the constructor runs,
// then Init if the object implements [Initializer], both exactly once per
// activation and before any event, however many callers arrive at once.
//
//	counters, err := actor.Register(sys, "COUNTER", func(s *actor.State) *Counter {
//		return &Counter{state: s}
//	})
//	stub := counters.Get(counters.IDFromName("global"))
//	n, err := actor.Call(ctx, stub, func(ctx context.Context, c *Counter) (int64, error) {
//		return c.Increment(ctx)
//	})
//	resp, err := stub.Fetch(ctx, req) // runs Counter.ServeHTTP
//
// # Turns
//
// A turn is the handling of one event: a [Call], a [Stub.Fetch], an alarm,
// or an event a layer above delivers through [Binding.Invoke]. Turns of one
// object never overlap. Inside a turn, [State.Storage] returns the turn's
// transaction: reads see the object's earlier writes and the turn's own;
// all the turn's writes commit atomically when it ends. Each active object
// keeps the values it read or wrote in a cache of [Options.CacheBytes], so
// reads of committed values can skip Pebble. A turn whose function
// returns an error, or panics, commits nothing; a panic also
// resets the object, so the next event constructs it again from durable
// state, and a Fetch answers 500 without detail.
//
// # Output gate
//
// A turn's result (call result, HTTP response, [State.OnDurable]
// callbacks) is released only once the turn's writes, and every earlier
// write of the object, are durable. The next turn does not wait for that:
// it runs while the previous commit's fsync is in flight, so one object's
// throughput is not bounded by fsync latency, and commits of many objects
// share one fsync. A read-only turn's result waits for the object's pending
// writes too. A call from inside a turn to another object first waits until
// the caller's earlier writes are durable, so no other object can act on
// state that a crash could still take back. If a commit fails, every result
// still held for the object fails and the object is reset.
//
// Calls between objects carry the call chain in their context. A call that
// would wait on an object already waiting further up the chain fails at
// once with [ErrCallCycle] instead of deadlocking.
//
// # Queues and cancellation
//
// Each object accepts at most [Options.MaxQueue] waiting events; past that,
// callers get an [*OverloadedError] at once. When the caller's context ends
// the caller returns at once with the context's error; the turn's context
// ends too, and an event that has not started is skipped.
//
// # Alarms
//
// Each object has at most one alarm, set with the storage transaction's
// SetAlarm. When it is due, the object's Alarm method (see [Alarmer]) runs
// as a turn, activating the object if needed. A failing or panicking
// handler is retried with exponential backoff and jitter,
// [Options.AlarmRetries] times, and sees the retry count in [AlarmInfo].
// After a successful run the alarm is deleted unless the handler set a new
// one. Alarms are stored with the object's data, so they fire after a
// restart, late but not never.
//
// # Eviction
//
// An object with no event for [Options.IdleTimeout] is evicted: its Close
// method (see [Closer]) runs as a last turn and its memory is released; its
// durable state stays. [Options.MaxActive] bounds the active objects,
// evicting the least recently used idle ones first. An object is never
// evicted during a turn or with queued events. An event that races with an
// eviction waits until the old activation has stopped and then runs on a
// new one, so no event is lost and none runs on two activations.
//
// # Concurrency
//
// A [System], a [Namespace] and a [Stub] are safe for concurrent use. An
// object's methods run on one goroutine at a time and need no locking of
// their own, as long as they do not start goroutines that touch the object.
// The goroutine varies. When an idle object gets an event whose context
// can never end, such as context.Background(), the turn runs on the
// caller's goroutine, which saves two goroutine hand-offs. Other events run
// on a runtime goroutine, so that their callers can return while the
// object's code is still running.
// [State.Storage] is meant for the turn's own goroutine; outside a turn its
// transaction returns storage.ErrTxnDone.
//
// The package actortest holds helpers for tests of objects: a temporary
// System on a fake clock, running an alarm now, evicting an object now.
package actor
