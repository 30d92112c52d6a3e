package storage

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lockDirEnv names the directory that TestLockChild opens.
const lockDirEnv = "DURABLE_LOCK_DIR"

// TestLockChild is the child side of TestOpenLockedByProcess. It opens the
// directory, writes "open" and holds the DB until its stdin closes.
func TestLockChild(t *testing.T) {
	dir := os.Getenv(lockDirEnv)
	if dir == "" {
		t.Skip("runs only as the child process of TestOpenLockedByProcess")
	}
	db, err := Open(dir, &Options{Logger: quiet})
	require.NoError(t, err)
	defer db.Close()
	_, err = os.Stdout.WriteString("open\n")
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, os.Stdin)
}

func TestOpenLockedByProcess(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestLockChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), lockDirEnv+"="+dir)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "the child did not open the directory")
	require.Equal(t, "open\n", line)

	_, err = Open(dir, &Options{Logger: quiet})
	require.ErrorIs(t, err, ErrLocked)
	assert.Contains(t, err.Error(), dir)
	assert.Contains(t, err.Error(), "use another directory")

	// Once the child closes its DB, the directory opens.
	require.NoError(t, stdin.Close())
	require.NoError(t, cmd.Wait())
	db, err := Open(dir, &Options{Logger: quiet})
	require.NoError(t, err)
	require.NoError(t, db.Close())
}

func TestOpenLockedInProcess(t *testing.T) {
	_, dir := openTest(t, nil)
	_, err := Open(dir, &Options{Logger: quiet})
	require.ErrorIs(t, err, ErrLocked)
	assert.Contains(t, err.Error(), dir)
}
