package main

import (
	"encoding/json"
	"time"
)

// primeLimit is the bound below which /data counts primes: about 10 ms of
// work on one core, slow enough that a cache hit is visibly cheaper.
const primeLimit = 2_000_000

// dataTTL is how long a computed /data body stays in the KV namespace.
const dataTTL = 60 * time.Second

// report is the JSON body of GET /data.
type report struct {
	PrimesBelow int `json:"primes_below"`
	PrimeCount  int `json:"prime_count"`
	// ComputedAt is when the body was computed; it stays the same on every
	// hit until the entry expires.
	ComputedAt time.Time `json:"computed_at"`
	// ComputeMillis is how long the computation took, in milliseconds.
	ComputeMillis float64 `json:"compute_ms"`
}

// computeReport counts the primes below primeLimit, standing in for a
// costly upstream call that a Worker would cache in KV.
func computeReport(now time.Time) ([]byte, error) {
	start := time.Now()
	n := countPrimes(primeLimit)
	elapsed := time.Since(start)
	return json.Marshal(report{
		PrimesBelow:   primeLimit,
		PrimeCount:    n,
		ComputedAt:    now.UTC(),
		ComputeMillis: float64(elapsed.Microseconds()) / 1000,
	})
}

// countPrimes returns the number of primes below n with a sieve of
// Eratosthenes.
func countPrimes(n int) int {
	if n < 3 {
		return 0
	}
	composite := make([]bool, n)
	count := 1 // 2
	for i := 3; i < n; i += 2 {
		if composite[i] {
			continue
		}
		count++
		for j := i * i; j < n; j += 2 * i {
			composite[j] = true
		}
	}
	return count
}
