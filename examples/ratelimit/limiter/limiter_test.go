package limiter

import (
	"context"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/durable-go/durable/actor/actortest"
	"github.com/durable-go/durable/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newTestLimiter returns a limiter on a fresh system in a temporary
// directory, driven by a fake clock set to epoch.
func newTestLimiter(t testing.TB, opts Options) (*Limiter, *clock.Fake) {
	t.Helper()
	sys := actortest.NewSystem(t, nil)
	l, err := New(sys.System, opts)
	require.NoError(t, err)
	return l, sys.Clock
}

func allow(t testing.TB, l *Limiter, key string) Decision {
	t.Helper()
	d, err := l.Allow(context.Background(), key)
	require.NoError(t, err)
	return d
}

func TestAllowAcrossFixedWindowBoundary(t *testing.T) {
	l, fake := newTestLimiter(t, Options{Limit: 10, Period: time.Minute})
	// Ten admissions in the last ten seconds of the first minute.
	fake.Set(epoch.Add(50 * time.Second))
	for i := range 10 {
		d := allow(t, l, "k")
		require.True(t, d.Allowed, "request %d", i)
		assert.Equal(t, 9-i, d.Remaining)
		fake.Advance(time.Second)
	}
	// At the start of the second minute a fixed window would start a new
	// budget; the sliding window still counts all ten.
	fake.Set(epoch.Add(time.Minute))
	d := allow(t, l, "k")
	assert.False(t, d.Allowed)
	assert.Equal(t, 0, d.Remaining)
	assert.Equal(t, 50*time.Second, d.RetryAfter)

	fake.Set(epoch.Add(110*time.Second - time.Millisecond))
	d = allow(t, l, "k")
	assert.False(t, d.Allowed)
	assert.Equal(t, time.Millisecond, d.RetryAfter)

	// The admission made at 50s leaves at 110s; only one unit comes back.
	fake.Set(epoch.Add(110 * time.Second))
	d = allow(t, l, "k")
	assert.True(t, d.Allowed)
	assert.Equal(t, 0, d.Remaining)
	assert.Equal(t, time.Second, d.Reset)
	assert.False(t, allow(t, l, "k").Allowed)
}

func TestAllowRetryAfterAtSeveralPoints(t *testing.T) {
	l, fake := newTestLimiter(t, Options{Limit: 10, Period: time.Minute})
	// One admission every 6 seconds, at 0s, 6s, ..., 54s.
	for i := range 10 {
		fake.Set(epoch.Add(time.Duration(6*i) * time.Second))
		require.True(t, allow(t, l, "k").Allowed, "request %d", i)
	}
	cases := []struct {
		at         time.Duration
		allowed    bool
		retryAfter time.Duration
		remaining  int
	}{
		{55 * time.Second, false, 5 * time.Second, 0},
		{59*time.Second + 500*time.Millisecond, false, 500 * time.Millisecond, 0},
		{60 * time.Second, true, 0, 0}, // the admission at 0s left
		{61 * time.Second, false, 5 * time.Second, 0},
		{66 * time.Second, true, 0, 0}, // the admission at 6s left
		{67 * time.Second, false, 5 * time.Second, 0},
		{119 * time.Second, true, 0, 7}, // only 60s and 66s are left
	}
	for _, c := range cases {
		fake.Set(epoch.Add(c.at))
		d := allow(t, l, "k")
		assert.Equal(t, c.allowed, d.Allowed, "at %v", c.at)
		assert.Equal(t, c.retryAfter, d.RetryAfter, "at %v", c.at)
		assert.Equal(t, c.remaining, d.Remaining, "at %v", c.at)
	}
}

// TestAllowBoundHoldsInEverySpan sends bursts of concurrent requests at
// random times and checks that every period-long span, starting at any
// admission, holds at most limit admissions, and that no request was
// rejected while the window had room.
func TestAllowBoundHoldsInEverySpan(t *testing.T) {
	const limit = 5
	const period = 10 * time.Second
	l, fake := newTestLimiter(t, Options{Limit: limit, Period: period})
	rng := rand.New(rand.NewPCG(3, 4))
	var admitted []time.Time
	for range 60 {
		fake.Advance(time.Duration(rng.Int64N(int64(period / 2))))
		now := fake.Now()
		burst := 1 + rng.IntN(4)
		results := make([]Decision, burst)
		var wg sync.WaitGroup
		for i := range burst {
			wg.Go(func() { results[i] = allow(t, l, "k") })
		}
		wg.Wait()

		inWindow := 0
		for _, a := range admitted {
			if a.After(now.Add(-period)) {
				inWindow++
			}
		}
		n := 0
		for _, d := range results {
			if d.Allowed {
				n++
				admitted = append(admitted, now)
			}
		}
		require.Equal(t, min(burst, limit-inWindow), n, "admitted of a burst of %d at %v", burst, now)
	}
	for i, start := range admitted {
		n := 0
		for _, a := range admitted[i:] {
			if a.Before(start.Add(period)) {
				n++
			}
		}
		require.LessOrEqual(t, n, limit, "span starting at %v", start)
	}
	assert.Greater(t, len(admitted), 2*limit)
}

func TestAllowConcurrentOnOneKey(t *testing.T) {
	l, _ := newTestLimiter(t, Options{Limit: 10, Period: time.Minute})
	results := make([]Decision, 50)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() { results[i] = allow(t, l, "hot") })
	}
	wg.Wait()
	var remaining []int
	for _, d := range results {
		if d.Allowed {
			remaining = append(remaining, d.Remaining)
		}
	}
	assert.ElementsMatch(t, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, remaining)
}

func TestAllowKeysAreIndependent(t *testing.T) {
	l, _ := newTestLimiter(t, Options{Limit: 2, Period: time.Minute})
	require.True(t, allow(t, l, "a").Allowed)
	require.True(t, allow(t, l, "a").Allowed)
	assert.False(t, allow(t, l, "a").Allowed)
	d := allow(t, l, "b")
	assert.True(t, d.Allowed)
	assert.Equal(t, 1, d.Remaining)
}

func TestAllowStateSurvivesRestart(t *testing.T) {
	sys := actortest.NewSystem(t, nil)
	l, err := New(sys.System, Options{Limit: 3, Period: time.Minute})
	require.NoError(t, err)
	for i := range 3 {
		sys.Clock.Set(epoch.Add(time.Duration(i) * time.Second))
		require.True(t, allow(t, l, "k").Allowed)
	}

	sys = sys.Restart(t)
	sys.Clock.Set(epoch.Add(30 * time.Second))
	l, err = New(sys.System, Options{Limit: 3, Period: time.Minute})
	require.NoError(t, err)
	d := allow(t, l, "k")
	assert.False(t, d.Allowed)
	assert.Equal(t, 30*time.Second, d.RetryAfter)

	sys.Clock.Set(epoch.Add(time.Minute))
	d = allow(t, l, "k")
	assert.True(t, d.Allowed)
	assert.Equal(t, 0, d.Remaining)
}

func TestAlarmRemovesIdleKeys(t *testing.T) {
	l, fake := newTestLimiter(t, Options{Limit: 3, Period: time.Minute})
	ctx := context.Background()
	require.True(t, allow(t, l, "idle").Allowed)
	require.True(t, allow(t, l, "busy").Allowed)
	fake.Advance(40 * time.Second)
	require.True(t, allow(t, l, "busy").Allowed)
	busy := l.ns.IDFromName("busy")

	// At 60s both alarms fire: idle's state goes, busy's alarm moves to
	// 100s, when its admission at 40s leaves.
	fake.Advance(20 * time.Second)
	require.Eventually(t, func() bool {
		ids, err := l.ns.StoredIDs(ctx)
		return err == nil && len(ids) == 1 && ids[0].Equal(busy)
	}, 10*time.Second, 10*time.Millisecond, "idle key still stored")

	fake.Advance(40 * time.Second)
	require.Eventually(t, func() bool {
		ids, err := l.ns.StoredIDs(ctx)
		return err == nil && len(ids) == 0
	}, 10*time.Second, 10*time.Millisecond, "busy key still stored after it went idle")

	// A removed key starts with its full budget.
	d := allow(t, l, "idle")
	assert.True(t, d.Allowed)
	assert.Equal(t, 2, d.Remaining)
}

func TestAllowInvalidKey(t *testing.T) {
	l, _ := newTestLimiter(t, Options{})
	for _, key := range []string{"", strings.Repeat("x", MaxKeySize+1)} {
		_, err := l.Allow(context.Background(), key)
		require.ErrorIs(t, err, ErrInvalidKey)
		var ke *KeyError
		require.ErrorAs(t, err, &ke)
		assert.Equal(t, len(key), ke.Size)
	}
	assert.True(t, allow(t, l, strings.Repeat("x", MaxKeySize)).Allowed)

	for key, reason := range map[string]string{
		"a\xffb":  "not valid UTF-8",
		"a\nb":    "contains a control character",
		"tab\tok": "contains a control character",
	} {
		_, err := l.Allow(context.Background(), key)
		require.ErrorIs(t, err, ErrInvalidKey, "%q", key)
		var ke *KeyError
		require.ErrorAs(t, err, &ke)
		assert.Equal(t, reason, ke.Reason, "%q", key)
		assert.Contains(t, err.Error(), reason)
	}
	assert.True(t, allow(t, l, "café 🙂").Allowed, "UTF-8 text is a valid key")
}

func TestNewDefaultsAndInvalidOptions(t *testing.T) {
	sys := actortest.NewSystem(t, nil).System
	l, err := New(sys, Options{})
	require.NoError(t, err)
	assert.Equal(t, DefaultLimit, l.Limit())
	assert.Equal(t, DefaultPeriod, l.Period())

	for _, opts := range []Options{
		{Namespace: "a", Limit: -1},
		{Namespace: "b", Limit: 16384},
		{Namespace: "c", Period: time.Microsecond},
	} {
		_, err := New(sys, opts)
		assert.ErrorIs(t, err, ErrInvalidOptions, "options %+v", opts)
	}
	_, err = New(sys, Options{})
	assert.Error(t, err, "a second limiter in the same namespace")
}

func TestAllowAfterEviction(t *testing.T) {
	l, fake := newTestLimiter(t, Options{Limit: 2, Period: time.Minute})
	require.True(t, allow(t, l, "k").Allowed)
	fake.Advance(10 * time.Second)
	require.True(t, allow(t, l, "k").Allowed)
	actortest.Evict(t, l.ns, l.ns.IDFromName("k"))

	d := allow(t, l, "k")
	assert.False(t, d.Allowed)
	assert.Equal(t, 50*time.Second, d.RetryAfter)
}
