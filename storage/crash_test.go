package storage

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The crash test re-runs this test binary as a child process that commits
// batches until the parent kills it with SIGKILL.
const (
	crashDirEnv   = "DURABLE_CRASH_DIR"
	crashStartEnv = "DURABLE_CRASH_START"
	crashWorkers  = 4
	crashKeys     = 4 // keys per batch
	crashObjects  = 3 // objects per worker
)

// crashObject returns the object that batch seq of worker w writes to.
func crashObject(w, seq int) ObjectID { return ObjectID{'c', byte(w), byte(seq % crashObjects)} }

func crashKey(seq, k int) string { return fmt.Sprintf("s%08d/%d", seq, k) }

// TestCrashChild is the child side of TestCrash. It does nothing unless
// the parent set DURABLE_CRASH_DIR. Each of crashWorkers goroutines
// commits its numbered batches in order. A batch writes crashKeys keys and
// the alarm of one object. A second goroutine per worker waits for each
// Handle in order and reports "worker seq" on stdout once Wait returns.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("runs only as the child process of TestCrash")
	}
	starts := strings.Split(os.Getenv(crashStartEnv), ",")
	require.Len(t, starts, crashWorkers)
	db, err := Open(dir, &Options{Logger: quiet})
	require.NoError(t, err)

	var outMu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	deadline := time.Now().Add(2 * time.Minute) // in case the parent is gone
	var wg sync.WaitGroup
	for w := range crashWorkers {
		start, err := strconv.Atoi(starts[w])
		require.NoError(t, err)
		type pending struct {
			seq int
			h   *Handle
		}
		handles := make(chan pending, 64)
		wg.Add(2)
		go func() {
			defer wg.Done()
			defer close(handles)
			rng := rand.New(rand.NewPCG(uint64(w), uint64(start)))
			for seq := start; time.Now().Before(deadline); seq++ {
				tx := db.Begin(1, crashObject(w, seq))
				for k := range crashKeys {
					v := make([]byte, 16+rng.IntN(3000))
					copy(v, fmt.Sprintf("%d %d", w, seq))
					if err := tx.Put(crashKey(seq, k), v); err != nil {
						panic(err)
					}
				}
				if err := tx.SetAlarm(time.Unix(int64(seq), 0)); err != nil {
					panic(err)
				}
				h, err := tx.Commit()
				if err != nil {
					panic(err)
				}
				handles <- pending{seq, h}
			}
		}()
		go func() {
			defer wg.Done()
			for p := range handles {
				if err := p.h.Wait(); err != nil {
					panic(err)
				}
				outMu.Lock()
				fmt.Fprintf(out, "%d %d\n", w, p.seq)
				err := out.Flush()
				outMu.Unlock()
				if err != nil {
					panic(err)
				}
			}
		}()
	}
	wg.Wait()
	require.NoError(t, db.Close())
}

// TestCrash kills the child process at random moments and checks, after
// each kill, that every batch the child reported as durable is present and
// that no batch is partly present. It kills three times, or 40 times when
// DURABLE_LONG=1.
func TestCrash(t *testing.T) {
	if os.Getenv(crashDirEnv) != "" {
		t.Skip("this is the child process")
	}
	kills := 3
	if os.Getenv("DURABLE_LONG") == "1" {
		kills = 40
	}
	dir := t.TempDir()
	next := make([]int, crashWorkers)  // first sequence number the next child writes
	acked := make([]int, crashWorkers) // greatest reported sequence number, or -1
	for w := range acked {
		acked[w] = -1
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0))
	for round := range kills {
		// Kill after a random number of reports between 1 and 400, so
		// that the kill lands at a random point in the commit stream.
		target := 1 + rng.IntN(400)
		reports := runCrashChild(t, dir, next, target)
		for _, r := range reports {
			require.Equal(t, acked[r[0]]+1, r[1], "worker %d reports out of order", r[0])
			acked[r[0]] = r[1]
		}
		present := checkCrashDir(t, dir, next, acked)
		t.Logf("round %d: killed after %d reports; present up to %v", round, len(reports), present)
		for w := range next {
			next[w] = present[w] + 1
			// A batch present but unreported counts as acknowledged from
			// now on: a later round must not lose it either.
			acked[w] = present[w]
		}
	}
}

// runCrashChild starts the child on dir, reads its reports until there are
// target of them, kills it with SIGKILL and returns every report it wrote,
// each as worker and sequence number.
func runCrashChild(t *testing.T, dir string, next []int, target int) [][2]int {
	t.Helper()
	starts := make([]string, len(next))
	for w, n := range next {
		starts[w] = strconv.Itoa(n)
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashStartEnv+"="+strings.Join(starts, ","))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())

	var reports [][2]int
	sc := bufio.NewScanner(stdout)
	killed := false
	for sc.Scan() {
		var w, seq int
		if _, err := fmt.Sscanf(sc.Text(), "%d %d", &w, &seq); err != nil {
			continue // the testing package's own lines
		}
		reports = append(reports, [2]int{w, seq})
		if !killed && len(reports) >= target {
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			killed = true
		}
	}
	require.NoError(t, sc.Err())
	err = cmd.Wait()
	require.True(t, killed, "the child exited before %d reports: %v\n%s", target, err, stderr.String())
	require.Error(t, err, "the child was killed")
	return reports
}

// checkCrashDir opens dir and checks every worker's batches from 0 on. The
// present ones must be a prefix 0..M, because each worker commits in order
// and the log is replayed in order. None may be partly present, each
// acknowledged one must be present, and every alarm must match its
// object's last present batch. It returns M per worker, or -1 when none is
// present.
func checkCrashDir(t *testing.T, dir string, next, acked []int) []int {
	t.Helper()
	db, err := Open(dir, &Options{Logger: quiet})
	require.NoError(t, err, "the database reopens after SIGKILL")
	defer func() { require.NoError(t, db.Close()) }()

	last := make([]int, crashWorkers)
	for w := range crashWorkers {
		last[w] = -1
		lastOf := make([]int, crashObjects)
		for o := range lastOf {
			lastOf[o] = -1
		}
		total := 0
		for o := range crashObjects {
			total += len(listKeys(t, db, 1, crashObject(w, o), ListOptions{}))
		}
		// Scan past the end of the range the children wrote, so a gap
		// followed by a present batch is caught.
		for seq := 0; total > 0; seq++ {
			tx := db.Begin(1, crashObject(w, seq))
			found := 0
			for k := range crashKeys {
				v, ok, err := tx.Get(crashKey(seq, k))
				require.NoError(t, err)
				if ok {
					found++
					assert.True(t, strings.HasPrefix(string(v), fmt.Sprintf("%d %d\x00", w, seq)))
				}
			}
			tx.Discard()
			require.Contains(t, []int{0, crashKeys}, found,
				"worker %d batch %d is partly present: %d of %d keys", w, seq, found, crashKeys)
			if found == 0 {
				require.Greater(t, seq, acked[w], "worker %d: acknowledged batch %d is missing", w, seq)
				break
			}
			require.Equal(t, last[w]+1, seq)
			last[w] = seq
			lastOf[seq%crashObjects] = seq
			total -= crashKeys
		}
		require.Zero(t, total, "worker %d has keys after its first missing batch", w)
		require.GreaterOrEqual(t, last[w], acked[w])
		for o := range crashObjects {
			tx := db.Begin(1, crashObject(w, o))
			at, ok, err := tx.GetAlarm()
			require.NoError(t, err)
			tx.Discard()
			if lastOf[o] < 0 {
				assert.False(t, ok)
				continue
			}
			require.True(t, ok, "worker %d object %d has no alarm", w, o)
			assert.Equal(t, int64(lastOf[o]), at.Unix(), "alarm of worker %d object %d", w, o)
		}
	}
	// Every alarm record has exactly one index entry.
	alarms, err := db.Alarms(time.Unix(1<<40, 0), 0)
	require.NoError(t, err)
	want := 0
	for w := range crashWorkers {
		want += min(last[w]+1, crashObjects)
	}
	assert.Len(t, alarms, want)
	return last
}
