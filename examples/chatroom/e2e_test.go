package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// processTimeout bounds how long the binary may take to print its
// listening line or to exit after a signal. It is a deadline for a hung
// process, not a synchronisation.
const processTimeout = 60 * time.Second

var listeningLine = regexp.MustCompile(`msg="[^"]*listening" addr=(\S+)`)

// serverProcess is the chatroom binary running as a child process.
type serverProcess struct {
	cmd  *exec.Cmd
	base string // http://127.0.0.1:PORT

	mu     sync.Mutex
	stderr strings.Builder // guarded by mu

	exited  chan struct{} // closed when the process has exited
	waitErr error         // set before exited is closed
}

// startProcess runs bin with args and waits for the listening line.
func startProcess(t *testing.T, bin string, args ...string) *serverProcess {
	t.Helper()
	p := &serverProcess{cmd: exec.Command(bin, args...), exited: make(chan struct{})}
	pipe, err := p.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, p.cmd.Start())
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			p.mu.Lock()
			p.stderr.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if m := listeningLine.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("server log:\n%s", p.log())
		}
	})
	select {
	case addr := <-addrc:
		p.base = "http://" + addr
	case <-p.exited:
		t.Fatalf("server exited before listening: %v\n%s", p.waitErr, p.log())
	case <-time.After(processTimeout):
		t.Fatalf("server printed no listening line within %s\n%s", processTimeout, p.log())
	}
	return p
}

func (p *serverProcess) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// terminate sends SIGTERM and returns the process's exit error.
func (p *serverProcess) terminate(t *testing.T) error {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-p.exited:
		return p.waitErr
	case <-time.After(processTimeout):
		t.Fatalf("server still running %s after SIGTERM", processTimeout)
		return nil
	}
}

// TestBinary builds the command and runs it as a user would: the page, a
// private room, a chat, a graceful stop that closes members with 1001,
// and the history after a restart.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "chatroom")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	help, _ := exec.Command(bin, "-h").CombinedOutput()
	assert.Contains(t, string(help), `"127.0.0.1:8789"`, "default address")
	assert.Contains(t, string(help), `"./data/chatroom"`, "default data directory")

	dir := t.TempDir()
	p := startProcess(t, bin, "-addr", "127.0.0.1:0", "-data", dir)
	resp, err := http.Get(p.base + "/")
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(page), "<title>durable chat</title>")

	resp, err = http.Post(p.base+"/api/room", "", nil)
	require.NoError(t, err)
	id, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Regexp(t, `^[0-9a-f]{64}$`, string(id))

	c, err := dialRoom(context.Background(), p.base, string(id), dialOptions{})
	require.NoError(t, err)
	c.t = t
	c.join("ann")
	c.say("kept across restarts")
	first := c.nextMessage()

	// A graceful stop closes members' sockets with 1001 (going away).
	stopped := make(chan error, 1)
	go func() { stopped <- p.terminate(t) }()
	_, err = c.read(processTimeout)
	assert.Equal(t, websocket.StatusGoingAway, websocket.CloseStatus(err), "close error: %v", err)
	require.NoError(t, <-stopped)

	p = startProcess(t, bin, "-addr", "127.0.0.1:0", "-data", dir)
	c, err = dialRoom(context.Background(), p.base, string(id), dialOptions{})
	require.NoError(t, err)
	c.t = t
	history := messages(c.join("bob"))
	require.Len(t, history, 1)
	assert.Equal(t, first.raw, history[0].raw, "history replays the stored frame byte for byte")
	require.NoError(t, c.conn.Close(websocket.StatusNormalClosure, ""))

	// The default limit admits 200 messages per address in any 10 s, so
	// the 201st of a burst from a fresh address is refused.
	c, err = dialRoom(context.Background(), p.base, "flood", dialOptions{localIP: "127.0.0.2"})
	require.NoError(t, err)
	c.t = t
	c.join("flooder")
	for i := range defaultRateLimit {
		c.say(fmt.Sprint("burst ", i))
		require.Equal(t, fmt.Sprint("burst ", i), *c.nextMessage().Message)
	}
	c.say("one too many")
	c.expectError("rate limit exceeded")
	require.NoError(t, c.conn.Close(websocket.StatusNormalClosure, ""))

	err = p.terminate(t)
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		t.Fatalf("server exited with %v", exit)
	}
	require.NoError(t, err)
}
