package limiter

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/durable-go/durable/actor/actortest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// epoch is the start time of the fake clocks of actortest.
var epoch = actortest.Epoch

// step runs one decision on w at now and records the admission, as the
// object does.
func step(w *window, now time.Time, limit int, period time.Duration) Decision {
	w.expire(now, period)
	d := w.decide(now, limit, period)
	if d.Allowed {
		w.admit(now)
	}
	return d
}

func TestWindowAdmitsUpToLimit(t *testing.T) {
	var w window
	for i := range 3 {
		d := step(&w, epoch, 3, time.Minute)
		require.True(t, d.Allowed, "request %d", i)
		assert.Equal(t, 2-i, d.Remaining)
		assert.Equal(t, time.Minute, d.Reset)
		assert.Zero(t, d.RetryAfter)
	}
	d := step(&w, epoch, 3, time.Minute)
	assert.False(t, d.Allowed)
	assert.Equal(t, 0, d.Remaining)
	assert.Equal(t, time.Minute, d.RetryAfter)
	assert.Equal(t, 3, d.Limit)
}

func TestWindowAdmissionLeavesAtPeriod(t *testing.T) {
	var w window
	require.True(t, step(&w, epoch, 1, time.Minute).Allowed)
	d := step(&w, epoch.Add(time.Minute-time.Nanosecond), 1, time.Minute)
	assert.False(t, d.Allowed)
	assert.Equal(t, time.Nanosecond, d.RetryAfter)
	assert.True(t, step(&w, epoch.Add(time.Minute), 1, time.Minute).Allowed)
}

func TestWindowRetryAfterAfterLimitLowered(t *testing.T) {
	var w window
	for i := range 5 {
		require.True(t, step(&w, epoch.Add(time.Duration(i)*time.Second), 5, time.Minute).Allowed)
	}
	// With the limit now 2, a new admission needs at most one in the
	// window, so four of the five must leave: the one at 3s is the last.
	d := step(&w, epoch.Add(10*time.Second), 2, time.Minute)
	assert.False(t, d.Allowed)
	assert.Equal(t, 0, d.Remaining)
	assert.Equal(t, 53*time.Second, d.RetryAfter)
}

func TestWindowClockStepsBack(t *testing.T) {
	var w window
	require.True(t, step(&w, epoch.Add(time.Minute), 2, time.Minute).Allowed)
	require.True(t, step(&w, epoch, 2, time.Minute).Allowed)
	// The second admission is logged at the newest time, not earlier.
	assert.Equal(t, []int64{epoch.Add(time.Minute).UnixNano(), epoch.Add(time.Minute).UnixNano()}, w.times)
}

// TestWindowBoundHoldsInEverySpan drives random arrivals and checks, for
// every admission, that the span of one period starting there holds at
// most limit admissions, and, for every rejection, that limit admissions
// were in the window so the rejection was needed.
func TestWindowBoundHoldsInEverySpan(t *testing.T) {
	const limit = 7
	const period = 10 * time.Second
	rng := rand.New(rand.NewPCG(1, 2))
	var w window
	var admitted []time.Time
	now := epoch
	for range 5000 {
		now = now.Add(time.Duration(rng.Int64N(int64(3 * period / limit))))
		d := step(&w, now, limit, period)
		inWindow := 0
		for _, a := range admitted {
			if a.After(now.Add(-period)) {
				inWindow++
			}
		}
		if d.Allowed {
			require.Less(t, inWindow, limit, "admitted at %v", now)
			admitted = append(admitted, now)
		} else {
			require.Equal(t, limit, inWindow, "rejected at %v", now)
		}
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
	assert.Greater(t, len(admitted), 1000)
}

func TestWindowMarshalRoundTrip(t *testing.T) {
	w := window{times: []int64{1, 2, -3, 1 << 62}}
	var got window
	require.NoError(t, got.unmarshal(w.marshal()))
	assert.Equal(t, w.times, got.times)

	var empty window
	require.NoError(t, got.unmarshal(empty.marshal()))
	assert.Empty(t, got.times)
}

func TestWindowUnmarshalCorrupt(t *testing.T) {
	for _, raw := range [][]byte{nil, {2}, {formatVersion, 1, 2, 3}} {
		var w window
		assert.ErrorIs(t, w.unmarshal(raw), errCorrupt, "raw %v", raw)
	}
}

func TestSecondsRoundsUp(t *testing.T) {
	cases := []struct {
		d    time.Duration
		want int64
	}{
		{-time.Second, 0},
		{0, 0},
		{time.Nanosecond, 1},
		{time.Second, 1},
		{time.Second + time.Millisecond, 2},
		{59*time.Second + 500*time.Millisecond, 60},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, Seconds(c.d), "Seconds(%v)", c.d)
	}
}

func TestMaxLimitFitsValue(t *testing.T) {
	top := maxLimit(128 << 10)
	assert.Equal(t, 16383, top)
	w := window{times: make([]int64, top)}
	assert.LessOrEqual(t, len(w.marshal()), 128<<10)
}
