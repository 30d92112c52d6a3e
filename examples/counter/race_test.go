//go:build race

package main

// raceEnabled builds the end-to-end binary with the race detector when the
// tests run with it, so the server is checked under concurrent load too.
const raceEnabled = true
