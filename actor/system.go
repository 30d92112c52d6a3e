package actor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	protoactor "github.com/asynkron/protoactor-go/actor"
	"github.com/durable-go/durable/clock"
	"github.com/durable-go/durable/storage"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
)

// Defaults of Options.
const (
	DefaultIdleTimeout  = time.Minute
	DefaultMaxQueue     = 1024
	DefaultAlarmRetries = 6
	DefaultAlarmBackoff = 2 * time.Second
	DefaultCacheBytes   = 64 << 10
)

// System owns the Proto.Actor actor system, the storage database, the alarm
// scheduler and the namespaces of one data directory. It is safe for
// concurrent use.
type System struct {
	db     *storage.DB
	clock  clock.Clock
	logger *slog.Logger
	opts   Options
	idKey  []byte
	actors *protoactor.ActorSystem
	root   *protoactor.RootContext
	props  *protoactor.Props
	// dispatcher runs the mailboxes of every activation.
	dispatcher *dispatcher
	tracer     trace.Tracer
	metrics    *metrics

	// ctx is cancelled when Shutdown begins; alarm deliveries use it.
	ctx    context.Context
	cancel context.CancelFunc

	// nsMu guards namespaces and byNumber.
	nsMu       sync.RWMutex
	namespaces map[string]*nsCore
	byNumber   map[uint32]*nsCore

	// mu guards the activation table, the LRU list and the rest of this
	// block.
	mu     sync.RWMutex
	table  map[objKey]*activation
	lru    lruList
	closed bool
	// spawning hands the activation being spawned to the shared producer,
	// which Proto.Actor calls synchronously inside SpawnNamed.
	spawning *activation
	// nextName numbers Proto.Actor process names, so no name is reused.
	nextName uint64

	extMu      sync.Mutex // guards extensions
	extensions map[any]any

	sweeper   *sweeper
	scheduler *scheduler

	shutdownOnce sync.Once
	shutdownErr  error
	closing      atomic.Bool
}

// withDefaults returns a copy of o with every zero field set to its
// default.
func (o *Options) withDefaults() Options {
	var out Options
	if o != nil {
		out = *o
	}
	if out.Logger == nil {
		out.Logger = slog.Default()
	}
	if out.Clock == nil {
		out.Clock = clock.Real
	}
	if out.IdleTimeout <= 0 {
		out.IdleTimeout = DefaultIdleTimeout
	}
	if out.MaxQueue <= 0 {
		out.MaxQueue = DefaultMaxQueue
	}
	if out.AlarmRetries == 0 {
		out.AlarmRetries = DefaultAlarmRetries
	} else if out.AlarmRetries < 0 {
		out.AlarmRetries = 0
	}
	if out.CacheBytes == 0 {
		out.CacheBytes = DefaultCacheBytes
	}
	if out.AlarmBackoff <= 0 {
		out.AlarmBackoff = DefaultAlarmBackoff
	}
	if out.MeterProvider == nil {
		out.MeterProvider = otel.GetMeterProvider()
	}
	if out.TracerProvider == nil {
		out.TracerProvider = otel.GetTracerProvider()
	}
	return out
}

// idKeyMeta is the metadata name of the key that signs IDs.
const idKeyMeta = "actor/id-key"

// Open opens or creates the data directory dir and starts the runtime.
func Open(dir string, opts *Options) (*System, error) {
	o := opts.withDefaults()
	var so storage.Options
	if o.Storage != nil {
		so = *o.Storage
	}
	if so.Logger == nil {
		so.Logger = o.Logger
	}
	db, err := storage.Open(dir, &so)
	if err != nil {
		return nil, err
	}
	key, err := loadIDKey(db)
	if err != nil {
		db.Close()
		return nil, err
	}
	m, err := newMetrics(o.MeterProvider)
	if err != nil {
		db.Close()
		return nil, err
	}
	s := &System{
		db:         db,
		clock:      o.Clock,
		logger:     o.Logger,
		opts:       o,
		idKey:      key,
		tracer:     o.TracerProvider.Tracer(instrumentationName),
		metrics:    m,
		namespaces: make(map[string]*nsCore),
		byNumber:   make(map[uint32]*nsCore),
		table:      make(map[objKey]*activation),
		extensions: make(map[any]any),
	}
	if err := m.observe(s); err != nil {
		db.Close()
		return nil, err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	paLogger := slog.New(demoteInfo{o.Logger.Handler()}).With("component", "protoactor")
	s.actors = protoactor.NewActorSystem(protoactor.WithLoggerFactory(
		func(*protoactor.ActorSystem) *slog.Logger { return paLogger }))
	s.root = s.actors.Root
	s.dispatcher = newDispatcher()
	s.props = protoactor.PropsFromProducer(func() protoactor.Actor {
		a := s.spawning
		s.spawning = nil
		return a
	}, protoactor.WithDispatcher(s.dispatcher))
	s.sweeper = newSweeper(s)
	s.scheduler = newScheduler(s)
	go s.sweeper.run()
	go s.scheduler.run()
	return s, nil
}

// loadIDKey returns the key that signs IDs, creating and durably storing a
// random one the first time a data directory is opened.
func loadIDKey(db *storage.DB) ([]byte, error) {
	key, ok, err := db.Meta(idKeyMeta)
	if err != nil {
		return nil, fmt.Errorf("actor: read ID key: %w", err)
	}
	if ok && len(key) == idKeySize {
		return key, nil
	}
	if ok {
		return nil, fmt.Errorf("actor: stored ID key has %d bytes, want %d; the data directory is corrupt",
			len(key), idKeySize)
	}
	key = randomBytes(idKeySize)
	if err := db.SetMeta(context.Background(), idKeyMeta, key); err != nil {
		return nil, fmt.Errorf("actor: store ID key: %w", err)
	}
	return key, nil
}

// Shutdown stops accepting events, waits for in-flight turns and their
// durability until ctx ends, stops the alarm scheduler, evicts every object
// (running Close hooks) and closes the store. Only the first call does the
// work; later calls return its result. Called from a turn it waits
// forever, because it waits for that turn to end.
func (s *System) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() { s.shutdownErr = s.shutdown(ctx) })
	return s.shutdownErr
}

func (s *System) shutdown(ctx context.Context) error {
	s.closing.Store(true)
	s.cancel()
	s.metrics.unobserve()
	s.scheduler.stop()
	s.sweeper.stop()

	s.mu.Lock()
	s.closed = true
	var waits []chan struct{}
	for _, a := range s.table {
		if !a.stopping {
			s.evictAnywayLocked(a, evictShutdown)
		}
		waits = append(waits, a.stopped)
	}
	s.mu.Unlock()

	var errs []error
wait:
	for _, ch := range waits {
		select {
		case <-ch:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("actor: shutdown: %d objects still active: %w",
				s.ActiveObjects(), ctx.Err()))
			break wait
		}
	}
	s.actors.Shutdown()
	s.dispatcher.stop()
	if err := s.db.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Close is Shutdown without a deadline.
func (s *System) Close() error { return s.Shutdown(context.Background()) }

// Storage returns the database, for layers such as kvcache that share it.
// Writes to an object's keys belong in the object's turns, because an
// active object's cache does not see writes made through the DB directly.
func (s *System) Storage() *storage.DB { return s.db }

// Clock returns the clock the runtime uses.
func (s *System) Clock() clock.Clock { return s.clock }

// Logger returns the runtime's logger.
func (s *System) Logger() *slog.Logger { return s.logger }

// ActiveObjects returns the number of active objects in all namespaces,
// counting objects that are being evicted until their eviction ends.
func (s *System) ActiveObjects() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.table)
}

// Extension returns the value stored under key, first storing create() if
// there is none. Packages built on the runtime keep per-System state here.
// create runs at most once per key, under a lock, so it must not call
// Extension.
func (s *System) Extension(key any, create func() any) any {
	s.extMu.Lock()
	defer s.extMu.Unlock()
	if v, ok := s.extensions[key]; ok {
		return v
	}
	v := create()
	s.extensions[key] = v
	return v
}

// namespaceByNumber returns the registered namespace with storage number
// n, or nil.
func (s *System) namespaceByNumber(n uint32) *nsCore {
	s.nsMu.RLock()
	defer s.nsMu.RUnlock()
	return s.byNumber[n]
}

// demoteInfo is a slog.Handler that logs Proto.Actor's informational
// messages, such as "actor system started", at debug level.
type demoteInfo struct{ h slog.Handler }

func (d demoteInfo) Enabled(ctx context.Context, l slog.Level) bool {
	if l == slog.LevelInfo {
		l = slog.LevelDebug
	}
	return d.h.Enabled(ctx, l)
}

func (d demoteInfo) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelInfo {
		r.Level = slog.LevelDebug
	}
	return d.h.Handle(ctx, r)
}

func (d demoteInfo) WithAttrs(attrs []slog.Attr) slog.Handler {
	return demoteInfo{d.h.WithAttrs(attrs)}
}

func (d demoteInfo) WithGroup(name string) slog.Handler { return demoteInfo{d.h.WithGroup(name)} }
