//go:build !race

package actor_test

// raceEnabled reports whether the race detector is on, which makes every
// turn about ten times slower.
const raceEnabled = false
