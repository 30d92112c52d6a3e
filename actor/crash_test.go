package actor_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/durable-go/durable/actor"
	"github.com/durable-go/durable/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// crashChildEnv names the environment variable that turns TestCrash into
// the child process, writing into the directory it names.
const crashChildEnv = "DURABLE_ACTOR_CRASH_DIR"

const (
	crashObjects = 4
	crashWorkers = 8
)

// TestCrash runs durable increments in a child process, kills it with
// SIGKILL at a random point and reopens the data directory. Every
// increment the child acknowledged must be there, and no acknowledged
// value may repeat. An alarm the child set must fire without a request.
func TestCrash(t *testing.T) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		return
	}
	rounds := 3
	if os.Getenv("DURABLE_LONG") == "1" {
		rounds = 25
	}
	dir := t.TempDir()
	acked := make([]map[int64]bool, crashObjects)
	for i := range acked {
		acked[i] = map[int64]bool{}
	}
	for round := range rounds {
		alarmSet := runCrashChild(t, dir, 50+rand.IntN(400), acked)
		checkAfterCrash(t, dir, round, acked, alarmSet)
	}
}

// runCrashChild starts the child, reads its acknowledgements until it has
// seen n increments, kills it and returns whether it acknowledged setting
// its alarm.
func runCrashChild(t *testing.T, dir string, n int, acked []map[int64]bool) bool {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	cmd.Stderr = io.Discard
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
	}()

	alarmSet := false
	sc := bufio.NewScanner(out)
	seen := 0
	for seen < n && sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 1 && f[0] == "alarm":
			alarmSet = true
		case len(f) == 3 && f[0] == "ack":
			obj, _ := strconv.Atoi(f[1])
			v, _ := strconv.ParseInt(f[2], 10, 64)
			require.False(t, acked[obj][v], "object %d: value %d acknowledged twice", obj, v)
			acked[obj][v] = true
			seen++
		}
	}
	require.Equal(t, n, seen, "the child stopped early: %v", sc.Err())
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	return alarmSet
}

// checkAfterCrash reopens dir and checks every acknowledged increment is
// there, and that the child's alarm fires.
func checkAfterCrash(t *testing.T, dir string, round int, acked []map[int64]bool, alarmSet bool) {
	t.Helper()
	// The clock starts past the child's alarm, so it is due at once.
	fake := clock.NewFake(time.Now().Add(2 * time.Hour))
	sys, err := actor.Open(dir, &actor.Options{Clock: fake, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer func() { require.NoError(t, sys.Close()) }()
	fired := make(chan struct{}, 1)
	env := &probeEnv{alarm: func(ctx context.Context, p *probe, info actor.AlarmInfo) error {
		fired <- struct{}{}
		return nil
	}}
	ns := newProbes(t, sys, "C", env)
	ctx := context.Background()
	for obj := range crashObjects {
		n, err := get(ctx, ns.Get(ns.IDFromName(strconv.Itoa(obj))))
		require.NoError(t, err)
		var max int64
		for v := range acked[obj] {
			max = maxInt(max, v)
		}
		assert.GreaterOrEqual(t, n, max, "round %d object %d: acknowledged %d, stored %d", round, obj, max, n)
	}
	if alarmSet {
		recv(t, fired)
	}
}

func maxInt(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// crashChild increments the crash objects from several goroutines and
// prints each acknowledged value until it is killed.
func crashChild(dir string) {
	sys, err := actor.Open(dir, &actor.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	env := &probeEnv{alarm: func(ctx context.Context, p *probe, info actor.AlarmInfo) error {
		return nil
	}}
	ns, err := actor.Register(sys, "C", func(s *actor.State) *probe {
		return &probe{st: s, env: env, live: new(atomic.Int32)}
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	emit := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, format, args...)
		w.Flush()
	}
	ctx := context.Background()
	alarmObj := ns.Get(ns.IDFromName("0"))
	_, err = actor.Call(ctx, alarmObj, func(ctx context.Context, p *probe) (int, error) {
		return 0, p.st.Storage().SetAlarm(time.Now().Add(time.Hour))
	})
	if err == nil {
		emit("alarm\n")
	}
	var wg sync.WaitGroup
	for worker := range crashWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := worker; ; i++ {
				obj := i % crashObjects
				n, err := incr(ctx, ns.Get(ns.IDFromName(strconv.Itoa(obj))))
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				emit("ack %d %d\n", obj, n)
			}
		}()
	}
	wg.Wait()
}
