package limiter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/durable-go/durable/actor"
	"github.com/durable-go/durable/clock"
)

// Defaults of Options.
const (
	DefaultNamespace = "ratelimit"
	DefaultLimit     = 10
	DefaultPeriod    = time.Minute
)

// MaxKeySize is the longest key, in bytes, that Allow accepts.
const MaxKeySize = 512

// Options configures New. The zero value means the documented defaults.
type Options struct {
	// Namespace is the name of the object namespace that holds one object
	// per key. It must be unique within the System; use different names
	// for limiters with different limits. The default is "ratelimit".
	Namespace string
	// Limit is the maximum number of requests admitted per key in any
	// Period-long span. The default is 10. The maximum is set by the
	// storage value size: 16,383 with the default of 128 KiB.
	Limit int
	// Period is the length of the sliding window, at least one
	// millisecond. The default is one minute.
	Period time.Duration
}

var (
	// ErrInvalidKey matches every *KeyError.
	ErrInvalidKey = errors.New("limiter: invalid key")
	// ErrInvalidOptions is returned by New for a limit or period out of
	// range.
	ErrInvalidOptions = errors.New("limiter: invalid options")
)

// KeyError is returned by Allow for a key that is empty, longer than
// MaxKeySize bytes, not valid UTF-8 or with a control character, and used
// by Middleware for a KeyFunc that failed. Nothing was counted.
type KeyError struct {
	// Size is the key's length in bytes.
	Size int
	// Reason names the problem with a key of a valid size: "not valid
	// UTF-8" or "contains a control character". It is empty otherwise.
	Reason string
	// Err is the error of the KeyFunc, nil for a key Allow rejected.
	Err error
}

// Error returns Err's text when Err is set, so a KeyFunc chooses the
// message in the 400 response.
func (e *KeyError) Error() string {
	switch {
	case e.Err != nil:
		return e.Err.Error()
	case e.Reason != "":
		return fmt.Sprintf("limiter: invalid key: %s; use valid UTF-8 text without control characters", e.Reason)
	case e.Size == 0:
		return fmt.Sprintf("limiter: invalid key: empty; use 1 to %d bytes", MaxKeySize)
	}
	return fmt.Sprintf("limiter: invalid key: %d bytes long; use 1 to %d bytes", e.Size, MaxKeySize)
}

// Unwrap returns Err.
func (e *KeyError) Unwrap() error { return e.Err }

// Is reports whether target is ErrInvalidKey.
func (e *KeyError) Is(target error) bool { return target == ErrInvalidKey }

// checkKey returns a *KeyError for a key that Allow rejects. Keys must be
// text because responses echo them in JSON, which would replace invalid
// UTF-8.
func checkKey(key string) error {
	switch {
	case len(key) == 0 || len(key) > MaxKeySize:
		return &KeyError{Size: len(key)}
	case !utf8.ValidString(key):
		return &KeyError{Size: len(key), Reason: "not valid UTF-8"}
	case strings.ContainsFunc(key, unicode.IsControl):
		return &KeyError{Size: len(key), Reason: "contains a control character"}
	}
	return nil
}

// Decision is the outcome of one Allow call.
type Decision struct {
	// Allowed reports whether the request was admitted and counted.
	Allowed bool
	// Limit is the number of requests admitted per key in any period.
	Limit int
	// Remaining is how many more requests the key would be admitted now,
	// after this one.
	Remaining int
	// Reset is the time until the oldest admission in the key's window
	// leaves it, which is when Remaining next grows. After a rejection it
	// equals RetryAfter.
	Reset time.Duration
	// RetryAfter is zero when the request was admitted. After a rejection it
	// is the time until a request of this key would be admitted: when
	// enough of its admissions have left the window, the oldest one when
	// the limit has not changed.
	RetryAfter time.Duration
}

// Limiter admits at most Limit requests per key in any Period-long span.
// Each key is a durable object, so every decision for a key is made in
// order by one owner, and its admissions are on disk before the decision
// is returned. It is safe for concurrent use.
type Limiter struct {
	ns     *actor.Namespace[*object]
	clock  clock.Clock
	limit  int
	period time.Duration
}

// New registers the limiter's namespace in sys and returns the Limiter.
func New(sys *actor.System, opts Options) (*Limiter, error) {
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	if opts.Limit == 0 {
		opts.Limit = DefaultLimit
	}
	if opts.Period == 0 {
		opts.Period = DefaultPeriod
	}
	if top := maxLimit(sys.Storage().Limits().MaxValueSize); opts.Limit < 0 || opts.Limit > top {
		return nil, fmt.Errorf("%w: limit %d outside [1, %d]; a larger limit needs a larger storage MaxValueSize",
			ErrInvalidOptions, opts.Limit, top)
	}
	if opts.Period < time.Millisecond {
		return nil, fmt.Errorf("%w: period %v shorter than 1ms; use a longer period", ErrInvalidOptions, opts.Period)
	}
	l := &Limiter{clock: sys.Clock(), limit: opts.Limit, period: opts.Period}
	ns, err := actor.Register(sys, opts.Namespace, func(s *actor.State) *object {
		return &object{state: s, limiter: l}
	})
	if err != nil {
		return nil, fmt.Errorf("limiter: %w", err)
	}
	l.ns = ns
	return l, nil
}

// Limit returns the number of requests admitted per key in any period.
func (l *Limiter) Limit() int { return l.limit }

// Period returns the length of the sliding window.
func (l *Limiter) Period() time.Duration { return l.period }

// Allow decides whether a request of key is admitted now, and counts it if
// it is. It returns once the admission is durable. Errors: a *KeyError,
// the errors of actor.Call such as *actor.OverloadedError, ctx.Err(), or a
// storage error; the request was not admitted.
func (l *Limiter) Allow(ctx context.Context, key string) (Decision, error) {
	if err := checkKey(key); err != nil {
		return Decision{}, err
	}
	stub := l.ns.Get(l.ns.IDFromName(key))
	return actor.Call(ctx, stub, func(ctx context.Context, o *object) (Decision, error) {
		return o.allow()
	})
}
