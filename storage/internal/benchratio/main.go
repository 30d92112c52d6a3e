// Command benchratio reads the output of several `go test -bench` runs of
// the storage package and prints, for each case, the median figure of
// impl=storage and impl=pebble and the median of the per-run ratios.
//
// A run's ratio compares the two sub-benchmarks measured next to each
// other in that run, so that load which changes between runs cancels out.
// The ratio is storage throughput over Pebble throughput: commits/s for
// the commit benchmarks, and the inverse of ns/op for the others. Above 1
// means storage is faster. The CPU ratio is Pebble's cpu-ns/op over
// storage's, so that above 1 again favours storage.
//
// Usage:
//
//	for i in 1 2 3 4 5; do go test -run '^$' -bench . -benchtime 1s ./storage; done | go run ./storage/internal/benchratio
package main

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// sample is one impl's figure in one run: commits/s, or 1e9/ns per op.
type sample struct {
	opsPerSec float64
	nsPerOp   float64
	cpuPerOp  float64
}

func main() {
	// runs[case] holds, in input order, the samples of each impl.
	runs := map[string]map[string][]sample{}
	var order []string
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := f[0]
		if i := strings.LastIndex(name, "-"); i > 0 {
			name = name[:i] // drop the GOMAXPROCS suffix
		}
		var impl string
		for _, s := range []string{"impl=storage", "impl=pebble"} {
			if strings.Contains(name, s) {
				impl = strings.TrimPrefix(s, "impl=")
				name = strings.TrimSuffix(strings.Replace(name, s, "", 1), "/")
			}
		}
		if impl == "" {
			continue
		}
		var s sample
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				s.nsPerOp = v
			case "commits/s":
				s.opsPerSec = v
			case "cpu-ns/op":
				s.cpuPerOp = v
			}
		}
		if s.opsPerSec == 0 && s.nsPerOp > 0 {
			s.opsPerSec = 1e9 / s.nsPerOp
		}
		if runs[name] == nil {
			runs[name] = map[string][]sample{}
			order = append(order, name)
		}
		runs[name][impl] = append(runs[name][impl], s)
	}
	fmt.Printf("%-34s %4s %13s %13s %6s %6s %6s %9s %9s %6s\n", "case", "runs",
		"storage ops/s", "pebble ops/s", "ratio", "min", "max", "st cpu ns", "pb cpu ns", "cpu")
	for _, name := range order {
		st, pb := runs[name]["storage"], runs[name]["pebble"]
		n := min(len(st), len(pb))
		if n == 0 {
			continue
		}
		var ratios, so, po, sc, pc, cpu []float64
		for i := range n {
			ratios = append(ratios, st[i].opsPerSec/pb[i].opsPerSec)
			so = append(so, st[i].opsPerSec)
			po = append(po, pb[i].opsPerSec)
			sc = append(sc, st[i].cpuPerOp)
			pc = append(pc, pb[i].cpuPerOp)
			if st[i].cpuPerOp > 0 {
				cpu = append(cpu, pb[i].cpuPerOp/st[i].cpuPerOp)
			}
		}
		cpuRatio := 0.0
		if len(cpu) > 0 {
			cpuRatio = median(cpu)
		}
		fmt.Printf("%-34s %4d %13.0f %13.0f %6.2f %6.2f %6.2f %9.0f %9.0f %6.2f\n", name, n,
			median(so), median(po), median(ratios), slices.Min(ratios), slices.Max(ratios),
			median(sc), median(pc), cpuRatio)
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
