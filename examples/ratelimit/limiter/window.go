package limiter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// window is the sliding window log of one key: the times of the requests
// it admitted that may still count, in ascending order, as Unix
// nanoseconds. An admission at time ts occupies the half-open span
// [ts, ts+period) and leaves the window at ts+period exactly.
type window struct {
	times []int64
}

// expire drops the admissions that have left the window at now and
// reports whether any did.
func (w *window) expire(now time.Time, period time.Duration) bool {
	cut := now.UnixNano() - int64(period)
	n := 0
	for n < len(w.times) && w.times[n] <= cut {
		n++
	}
	if n == 0 {
		return false
	}
	w.times = w.times[n:]
	return true
}

// decide returns the decision for a request at now, after expire. It
// admits the request when fewer than limit admissions are in the window;
// the caller then records now with admit. The window may hold more than
// limit admissions when the limit was lowered since they were made.
func (w *window) decide(now time.Time, limit int, period time.Duration) Decision {
	d := Decision{Limit: limit}
	n := len(w.times)
	if n < limit {
		d.Allowed = true
		d.Remaining = limit - n - 1
		// The oldest admission leaves first; with an empty window it is
		// the one being made now.
		oldest := now.UnixNano()
		if n > 0 {
			oldest = w.times[0]
		}
		d.Reset = leaves(oldest, now, period)
		return d
	}
	// The count must fall to limit-1 before the next admission, so the
	// admission at index n-limit is the one that has to leave. With n ==
	// limit it is the oldest.
	d.RetryAfter = leaves(w.times[n-limit], now, period)
	d.Reset = d.RetryAfter
	return d
}

// admit records an admission at now. If the clock stepped backwards, it
// records the newest entry's time instead, so the log stays sorted. That
// keeps an admission in the window longer, never shorter.
func (w *window) admit(now time.Time) {
	ts := now.UnixNano()
	if n := len(w.times); n > 0 && w.times[n-1] > ts {
		ts = w.times[n-1]
	}
	w.times = append(w.times, ts)
}

// idleAt returns the time at which the newest admission leaves the window,
// after which the key holds no state worth keeping.
func (w *window) idleAt(period time.Duration) (time.Time, bool) {
	if len(w.times) == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, w.times[len(w.times)-1]).Add(period), true
}

// leaves returns how long after now the admission at ts leaves the window.
func leaves(ts int64, now time.Time, period time.Duration) time.Duration {
	return time.Duration(ts + int64(period) - now.UnixNano())
}

// Stored form of a window: one version byte, then each admission time as
// an 8-byte big-endian Unix nanosecond count, oldest first.
const (
	formatVersion = 1
	entrySize     = 8
)

var errCorrupt = errors.New("limiter: stored window is corrupt")

func (w *window) marshal() []byte {
	buf := make([]byte, 1, 1+entrySize*len(w.times))
	buf[0] = formatVersion
	for _, ts := range w.times {
		buf = binary.BigEndian.AppendUint64(buf, uint64(ts))
	}
	return buf
}

func (w *window) unmarshal(buf []byte) error {
	if len(buf) < 1 || buf[0] != formatVersion || (len(buf)-1)%entrySize != 0 {
		return fmt.Errorf("%w: %d bytes, version byte %v", errCorrupt, len(buf), buf[:min(1, len(buf))])
	}
	times := make([]int64, 0, (len(buf)-1)/entrySize)
	for p := 1; p < len(buf); p += entrySize {
		times = append(times, int64(binary.BigEndian.Uint64(buf[p:])))
	}
	w.times = times
	return nil
}

// maxLimit returns the largest limit whose window fits in one stored value
// of maxValueSize bytes.
func maxLimit(maxValueSize int) int { return (maxValueSize - 1) / entrySize }
