// Package limiter is an exact, durable rate limiter built on durable
// objects: at most Limit requests of one key are admitted in any
// Period-long span, and a restart does not hand out a fresh budget.
//
// # Algorithm
//
// Each key is one object of the limiter's namespace, so all decisions for
// a key are made one at a time by one owner, with no locks and no
// central store. The object keeps a sliding window log: the times of the
// requests it admitted within the last Period, oldest first. An
// admission at time t occupies the half-open span [t, t+Period). A
// request at now is admitted when fewer than Limit logged admissions are
// later than now-Period. A rejected request is not logged. So no
// half-open span of length Period holds more than Limit admissions,
// wherever it starts. That includes the spans that straddle the boundary
// of a fixed window, where a fixed-window counter admits up to twice the
// limit. A rejected client may retry once the oldest admission leaves
// the window: Decision.RetryAfter and the Retry-After header give that
// time.
//
// The log is stored as one value per key, 8 bytes per admission, and
// rewritten on every admission; rejections write nothing. Allow returns
// only once the admission is durable, so a crash right after a response
// cannot forget an admission that a client saw. The cost of an admission
// grows with Limit, and the value size caps Limit at 16,383 with the
// default storage limits.
//
// NOTE: an approximate sliding window counter would cost O(1) per
// admission for any limit, but it is not exact across spans, so this
// package does not offer one.
//
// Time comes from the System's clock. The object sets an alarm for the
// moment its newest admission leaves the window. When the alarm fires, it
// deletes the stored log of a key idle for longer than Period, or moves
// itself to the new moment if the key admitted requests since.
//
// # Use
//
//	sys, err := actor.Open("./data", nil)
//	...
//	l, err := limiter.New(sys, limiter.Options{Limit: 10, Period: time.Minute})
//	...
//	d, err := l.Allow(ctx, clientIP)
//	if err == nil && !d.Allowed {
//		// reject; retry after d.RetryAfter
//	}
//
// Middleware wraps any http.Handler, keyed by the client IP or a KeyFunc,
// and responds to rejected requests with 429 Too Many Requests. Every
// response carries the RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset
// header fields, in whole seconds rounded up; a 429 also carries
// Retry-After.
package limiter
