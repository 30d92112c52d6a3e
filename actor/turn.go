package actor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/durable-go/durable/storage"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// callFunc is a function run on an object in a turn, in untyped form.
type callFunc interface {
	call(ctx context.Context, obj any) (any, error)
}

// untypedCall is a callFunc made of an untyped function.
type untypedCall func(ctx context.Context, obj any) (any, error)

func (f untypedCall) call(ctx context.Context, obj any) (any, error) { return f(ctx, obj) }

// typedCall is the callFunc of Call. A struct of one func value goes into
// an interface without an allocation, which a closure over fn would cost.
type typedCall[T, R any] struct {
	fn func(ctx context.Context, obj T) (R, error)
}

func (c typedCall[T, R]) call(ctx context.Context, obj any) (any, error) {
	return c.fn(ctx, obj.(T))
}

// envelope is one event on its way to an activation.
type envelope struct {
	fn  callFunc      // set for calls and alarms
	req *http.Request // set for fetches
	// reply receives the result. An event run on its caller's goroutine
	// whose result is released at once stores it in result instead, and
	// reply stays nil (see runInline).
	reply chan reply
	// result.val is also where the call's turn puts its value.
	result reply
	// ts is the state of the event's turn, kept here to save allocating
	// it. Before the turn, ts.parent is the event's context and ts.waiting
	// lists the objects waiting further up the call chain, the calling
	// object last.
	ts  turnState
	rec *responseRecorder // the fetch's response, set by its turn
}

// run is the body of the event's turn: the call's function, or the
// object's ServeHTTP for a fetch.
func (e *envelope) run(ctx context.Context, a *activation) error {
	if e.req != nil {
		a.obj.(http.Handler).ServeHTTP(e.rec, e.req.WithContext(ctx))
		return nil
	}
	var err error
	e.result.val, err = e.fn.call(ctx, a.obj)
	return err
}

// build returns the reply to the event, given the error of its turn.
func (e *envelope) build(err error) reply {
	if e.req == nil {
		return reply{val: e.result.val, err: err}
	}
	if err != nil {
		return failedReply(e, err)
	}
	return reply{resp: e.rec.response(e.req)}
}

// turnBody is the work a turn runs.
type turnBody interface {
	run(ctx context.Context, a *activation) error
}

// turnFunc is a turnBody made of a function.
type turnFunc func(ctx context.Context) error

func (f turnFunc) run(ctx context.Context, _ *activation) error { return f(ctx) }

// complete hands r to the caller of the event.
func (e *envelope) complete(r reply) {
	if e.reply == nil {
		e.result = r
		return
	}
	e.reply <- r
}

// reply is the released result of one event.
type reply struct {
	val  any
	resp *http.Response
	err  error
	// wait, when set, is the commit the caller must wait for before it
	// hands out the result: the turn's own, or the object's last one.
	wait *storage.Handle
	a    *activation
}

// turnState is the runtime's view of the running turn, reached through
// State by the object's code. It is also the turn's context: the context
// of the event with the turn attached, which saves the turn an allocation.
type turnState struct {
	parent context.Context
	txn    *storage.Txn
	a      *activation
	// waiting lists the objects waiting on this turn further up the call
	// chain; the chain is waiting followed by a.
	waiting []objKey

	mu        sync.Mutex // guards onDurable and done
	onDurable []func(error)
	done      bool
}

// Deadline returns the deadline of the event's context.
func (ts *turnState) Deadline() (time.Time, bool) { return ts.parent.Deadline() }

// Done returns the done channel of the event's context.
func (ts *turnState) Done() <-chan struct{} { return ts.parent.Done() }

// Err returns the error of the event's context.
func (ts *turnState) Err() error { return ts.parent.Err() }

// Value returns the turn for turnKey and otherwise the event context's
// value for key.
func (ts *turnState) Value(key any) any {
	if key == (turnKey{}) {
		return ts
	}
	return ts.parent.Value(key)
}

// inChain reports whether key is in the call chain of the turn.
func (ts *turnState) inChain(key objKey) bool {
	return key == ts.a.key || slices.Contains(ts.waiting, key)
}

type turnKey struct{}

// State is an object's handle on the runtime: its ID, its storage and its
// System. The constructor receives it.
type State struct {
	a *activation
}

// ID returns the object's ID. Its Name is the name of the first named ID
// that an event of the activation was sent to. An activation that began
// with an ID parsed from a string has the name "" until then.
//
// An alarm keeps the name its object had when it set the alarm, and the
// alarm's delivery uses it (see storage.Txn.SetName). Because the name can
// arrive during the activation, compare IDs with ID.Equal, not ==.
func (s *State) ID() ID {
	id := s.a.id
	id.name = s.a.name()
	return id
}

// Namespace returns the name of the object's namespace.
func (s *State) Namespace() string { return s.a.ns.name }

// System returns the System the object runs in.
func (s *State) System() *System { return s.a.ns.sys }

// Logger returns a logger with the object's namespace and ID attached.
func (s *State) Logger() *slog.Logger {
	l := s.a.ns.sys.logger.With("namespace", s.a.ns.name, "object", s.a.id.String())
	if name := s.a.name(); name != "" {
		l = l.With("name", name)
	}
	return l
}

// doneTxn is returned by Storage outside a turn; every method of it returns
// storage.ErrTxnDone.
func (s *State) doneTxn() *storage.Txn {
	t := s.a.ns.sys.db.Begin(s.a.ns.number, s.a.id.obj)
	t.Discard()
	return t
}

// Storage returns the current turn's storage. Outside a turn every method
// of the returned Txn returns storage.ErrTxnDone.
func (s *State) Storage() *storage.Txn {
	if ts := s.a.cur.Load(); ts != nil {
		return ts.txn
	}
	return s.doneTxn()
}

// OnDurable registers fn to run once the current turn's writes, and every
// earlier write of the object, are durable. Callbacks run in registration
// order, and err is non-nil if the turn or its commit failed. Outside a
// turn fn runs at once with a nil error. fn runs on a runtime goroutine,
// or on the caller's goroutine of a call that ran inline, and must not
// block.
func (s *State) OnDurable(fn func(err error)) {
	if ts := s.a.cur.Load(); ts != nil {
		ts.mu.Lock()
		if !ts.done {
			ts.onDurable = append(ts.onDurable, fn)
			ts.mu.Unlock()
			return
		}
		ts.mu.Unlock()
	}
	fn(nil)
}

// FromContext returns the State of the object whose turn ctx belongs to,
// or nil outside a turn.
func FromContext(ctx context.Context) *State {
	if ts, ok := ctx.Value(turnKey{}).(*turnState); ok {
		return &ts.a.state
	}
	return nil
}

// call runs fn on the object id in one turn and returns its released
// result.
func (n *nsCore) call(ctx context.Context, id ID, fn callFunc) (any, error) {
	r, err := n.deliver(ctx, id, &envelope{fn: fn}, "actor.call")
	if err != nil {
		return nil, err
	}
	return r.val, r.err
}

// fetch runs the object's ServeHTTP on req in one turn.
func (n *nsCore) fetch(ctx context.Context, id ID, req *http.Request) (*http.Response, error) {
	if req == nil {
		return nil, ErrNilRequest
	}
	r, err := n.deliver(ctx, id, &envelope{req: req}, "actor.fetch")
	if err != nil {
		return nil, err
	}
	return r.resp, r.err
}

// deliver sends env to the object id and waits for its result or for ctx
// to end. Called from inside a turn, it first rejects call cycles and waits
// until the calling object's earlier writes are durable.
func (n *nsCore) deliver(ctx context.Context, id ID, env *envelope, spanName string) (reply, error) {
	if id.IsZero() {
		return reply{}, fmt.Errorf("%w: the zero ID names no object", ErrInvalidID)
	}
	if id.tag != n.ids.tag {
		return reply{}, fmt.Errorf("%w (namespace %q): %s; get IDs from this namespace's IDFromName, NewUniqueID or IDFromString",
			ErrIDNamespace, n.name, id)
	}
	key := objKey{n.number, id.obj}
	if tv, ok := ctx.Value(turnKey{}).(*turnState); ok {
		if tv.inChain(key) {
			return reply{}, fmt.Errorf("%w: %s/%s is already waiting further up the chain",
				ErrCallCycle, n.name, id)
		}
		if err := tv.a.waitDurable(ctx, tv.a.pendingHandle()); err != nil {
			return reply{}, err
		}
		env.ts.waiting = append(slices.Clip(tv.waiting), tv.a.key)
	}
	// A call joins the trace of its caller and records nothing outside
	// one, so untraced callers pay nothing for spans. While span is the
	// caller's non-recording span, setting its status does nothing.
	span := trace.SpanFromContext(ctx)
	if span.IsRecording() {
		ctx, span = n.sys.tracer.Start(ctx, spanName, n.spanOpts...)
		defer span.End()
	}
	env.ts.parent = ctx
	if err := n.sys.send(ctx, n, id, env); err != nil {
		span.SetStatus(codes.Error, err.Error())
		return reply{}, err
	}
	var r reply
	if env.reply == nil {
		r = env.result // released while the caller ran the turn
	} else {
		select {
		case r = <-env.reply:
		case <-ctx.Done():
			span.SetStatus(codes.Error, ctx.Err().Error())
			return reply{}, ctx.Err()
		}
	}
	// The turn's context is part of env and may outlive the call in the
	// object's hands, so env lets go of the result and the function.
	env.result, env.rec, env.fn = reply{}, nil, nil
	if r.wait != nil {
		if err := r.a.waitDurable(ctx, r.wait); err != nil {
			if ctx.Err() != nil {
				span.SetStatus(codes.Error, err.Error())
				return reply{}, ctx.Err()
			}
			r.a.resetReq.Store(true)
			r = reply{err: err}
		}
	}
	if r.err != nil {
		span.SetStatus(codes.Error, r.err.Error())
	}
	return r, nil
}

// Turn outcomes, as recorded in metrics.
const (
	outcomeOK        = "ok"
	outcomeError     = "error"
	outcomePanic     = "panic"
	outcomeCommit    = "commit_error"
	outcomeCancelled = "cancelled"
)

// deliver runs one event, on the actor goroutine or inline on the
// caller's, under turnMu.
func (a *activation) deliver(env *envelope) {
	if err := env.ts.parent.Err(); err != nil {
		a.ns.sys.metrics.turn(a.ns, outcomeCancelled, 0)
		a.stage(nil, func(error) { env.complete(reply{err: err}) })
		return
	}
	if a.resetReq.Swap(false) {
		a.reset()
	}
	if !a.constructed {
		if err := a.construct(env.ts.parent, env.ts.waiting); err != nil {
			a.stage(nil, func(error) { env.complete(failedReply(env, err)) })
			return
		}
	}
	if env.req != nil {
		a.serveHTTP(env)
		return
	}
	res := a.runTurn(env.ts.parent, env.ts.waiting, "actor.turn", env, &env.ts)
	a.releaseReply(res, env)
}

// construct runs the constructor and Init of a new activation, as a turn
// of its own.
func (a *activation) construct(ctx context.Context, chain []objKey) error {
	res := a.runTurn(ctx, chain, "actor.init", turnFunc(func(ctx context.Context) error {
		a.obj = a.ns.newObject(&a.state)
		if in, ok := a.obj.(Initializer); ok {
			return in.Init(ctx)
		}
		return nil
	}), nil)
	if res.err != nil {
		a.obj = nil
		a.release(res, nil)
		return res.err
	}
	a.constructed = true
	a.release(res, nil)
	return nil
}

// reset drops the object's in-memory state; the next event constructs it
// again from durable state.
func (a *activation) reset() {
	// After a failed sync the cache holds writes that may not be durable.
	// The DB rejects reads from then on, and the cleared cache does not
	// depend on that.
	a.cache.Clear()
	a.obj = nil
	a.constructed = false
	a.gen++
}

// turnResult is the outcome of runTurn.
type turnResult struct {
	h            *storage.Handle // nil for a turn without writes
	err          error           // fn's error, a *PanicError or a commit error
	commitFailed bool
	onDurable    []func(error)
}

// runTurn runs body as one turn: it opens the object's Txn, runs body with
// panics recovered, and commits the writes if body succeeded. A panic or
// a failed commit resets the activation. ts, when not nil, is unused memory
// for the turn's state.
func (a *activation) runTurn(ctx context.Context, chain []objKey, spanName string, body turnBody, ts *turnState) turnResult {
	s := a.ns.sys
	start := time.Now()
	if ts == nil {
		ts = new(turnState)
	}
	*ts = turnState{parent: ctx, txn: s.db.BeginCached(a.ns.number, a.id.obj, &a.cache), a: a, waiting: chain}
	ctx = ts
	// Turn and commit spans are children of the call's span, so they are
	// skipped when that span is not recorded: with the no-op provider, or
	// for a caller outside any trace. An alarm's delivery starts a trace.
	span := trace.SpanFromContext(ctx)
	traced := span.IsRecording()
	if traced {
		ctx, span = s.tracer.Start(ctx, spanName)
		defer span.End()
	}

	a.cur.Store(ts)
	err := a.protect(ctx, body)
	a.cur.Store(nil)
	ts.mu.Lock()
	ts.done = true
	res := turnResult{onDurable: ts.onDurable}
	ts.mu.Unlock()

	outcome := outcomeOK
	switch {
	case err != nil:
		ts.txn.Discard()
		res.err = err
		outcome = outcomeError
		var pe *PanicError
		if errors.As(err, &pe) {
			outcome = outcomePanic
			a.reset()
		}
	case ts.txn.Empty():
		ts.txn.Discard()
	default:
		at, set, changed := ts.txn.AlarmChange()
		if name := a.name(); changed && set && name != "" {
			ts.txn.SetName(name) // stored with the alarm
		}
		var cspan trace.Span
		if traced {
			_, cspan = s.tracer.Start(ctx, "actor.commit")
		}
		h, cerr := ts.txn.Commit()
		if traced {
			cspan.End()
		}
		if cerr != nil {
			res.err = cerr
			res.commitFailed = true
			outcome = outcomeCommit
			a.gate.fail(a.gen, cerr)
			a.reset()
			s.logger.Error("commit failed; object reset", "namespace", a.ns.name,
				"object", a.id.String(), "error", cerr)
			break
		}
		res.h = h
		a.lastHandle.Store(h)
		if changed && set {
			s.scheduler.alarmSet(at)
		}
	}
	if res.err != nil {
		span.SetStatus(codes.Error, res.err.Error())
	}
	s.metrics.turn(a.ns, outcome, time.Since(start))
	return res
}

// protect runs body, turning a panic into a *PanicError that is logged
// once.
func (a *activation) protect(ctx context.Context, body turnBody) (err error) {
	defer func() {
		if v := recover(); v != nil {
			pe := &PanicError{Value: v, Stack: debug.Stack()}
			a.ns.sys.logger.Error("object panicked; object reset", "namespace", a.ns.name,
				"object", a.id.String(), "name", a.name(), "panic", panicString(v), "stack", string(pe.Stack))
			err = pe
		}
	}()
	return body.run(ctx, a)
}

// release stages the result of a turn for the output gate. Once the
// turn's writes and every earlier write of the object are durable, the
// turn's OnDurable callbacks run and then done. Both get the turn's error,
// or else the durability error.
func (a *activation) release(res turnResult, done func(err error)) {
	if res.h == nil && done == nil && len(res.onDurable) == 0 && res.err == nil {
		return
	}
	a.stage(res.h, func(err error) {
		if res.err != nil {
			err = res.err
		}
		for _, fn := range res.onDurable {
			a.runCallback(fn, err)
		}
		if done != nil {
			done(err)
		}
	})
}

// releaseReply releases the reply of an event, built from the turn's
// error. A turn without OnDurable callbacks hands its reply over at
// once, with the commit the caller must wait for: the turn's own, or the
// object's last one for a turn without writes. Because the log is synced
// in commit order, that commit being durable means every earlier write of
// the object is too, and callers wait in parallel instead of in turn
// order on one goroutine. A turn with callbacks releases its reply through
// the gate, after the callbacks.
func (a *activation) releaseReply(res turnResult, env *envelope) {
	if len(res.onDurable) > 0 {
		a.release(res, func(err error) { env.complete(env.build(err)) })
		return
	}
	r := env.build(res.err)
	r.a = a
	switch {
	case res.h != nil:
		r.wait = res.h
	case !res.commitFailed:
		r.wait = a.pendingHandle()
	}
	a.stageDirect(env, r)
}

// runCallback runs an OnDurable callback, logging a panic instead of
// letting it stop the runtime goroutine.
func (a *activation) runCallback(fn func(error), err error) {
	defer func() {
		if v := recover(); v != nil {
			a.ns.sys.logger.Error("OnDurable callback panicked", "namespace", a.ns.name,
				"object", a.id.String(), "panic", panicString(v), "stack", string(debug.Stack()))
		}
	}()
	fn(err)
}

// failedReply returns the reply to an event whose turn failed with err: a
// 500 response for a fetch whose handler panicked, err otherwise.
func failedReply(env *envelope, err error) reply {
	var pe *PanicError
	if env.req == nil || !errors.As(err, &pe) {
		return reply{err: err}
	}
	rec := &responseRecorder{header: make(http.Header)}
	http.Error(rec, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
	return reply{resp: rec.response(env.req)}
}

// stagedRelease is a result waiting to be queued behind the output gate,
// or, when env is set, the reply r to hand to env's caller directly.
type stagedRelease struct {
	h       *storage.Handle
	release func(err error)
	env     *envelope
	r       reply
}

// stage keeps a result until flush queues it behind the output gate, so
// that the event's queue slot is given back before any caller sees its
// result.
func (a *activation) stage(h *storage.Handle, release func(err error)) {
	a.staged = append(a.staged, stagedRelease{h: h, release: release})
}

// stageDirect keeps a result that flush releases without the gate, because
// its receiver waits for durability itself.
func (a *activation) stageDirect(env *envelope, r reply) {
	a.staged = append(a.staged, stagedRelease{env: env, r: r})
}

// flush queues the staged results behind the output gate.
func (a *activation) flush() {
	for i, st := range a.staged {
		if st.env != nil {
			st.env.complete(st.r)
		} else {
			a.gate.push(a, st.h, st.release)
		}
		a.staged[i] = stagedRelease{}
	}
	a.staged = a.staged[:0]
}
