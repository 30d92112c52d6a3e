package storage

import (
	"errors"
	"fmt"
)

var (
	// ErrClosed is returned by every call on a DB after Close, and by
	// Handle.Wait for a batch that could not be made durable before Close.
	ErrClosed = errors.New("storage: database closed")

	// ErrTxnDone is returned by every method of a Txn after Commit or
	// Discard. Storage is reachable only inside the turn that owns it.
	ErrTxnDone = errors.New("storage: transaction already committed or discarded")

	// ErrLimit matches every *LimitError through errors.Is.
	ErrLimit = errors.New("storage: limit exceeded")

	// ErrInvalidListOptions is returned by List when the options contradict
	// each other, such as Start together with StartAfter.
	ErrInvalidListOptions = errors.New("storage: invalid list options")

	// ErrFailed is matched, through errors.Is, by the error of every call on
	// a DB after a write or sync of its write-ahead log failed or Pebble
	// panicked during a commit, and by the Handle.Wait error that reported
	// the failure. The memtable may then hold batches that are not durable,
	// so the DB neither reads nor writes again: close it and open the
	// directory again (after a stuck commit pipeline, only a new process
	// can). After reopening, each batch is either wholly present or wholly
	// absent.
	ErrFailed = errors.New("storage: database failed after a disk or commit error; close it and open it again")

	// ErrInvalidAlarm is returned by SetAlarm for a time outside the
	// years 1678 to 2262, which Unix nanoseconds in an int64 cannot hold.
	ErrInvalidAlarm = errors.New("storage: invalid alarm time")

	// ErrLocked is matched by the error of Open when another process, or
	// another DB in this one, has the directory open.
	ErrLocked = errors.New("storage: data directory locked")

	// ErrInvalidName is returned by Namespace and Keyspace for an empty
	// name or one longer than 255 bytes.
	ErrInvalidName = errors.New("storage: invalid namespace name")
)

// LimitError reports a key, value or batch that is outside a configured
// limit. The call that returned it changed nothing.
type LimitError struct {
	// Limit names the limit: "key size", "value size" or "keys per call".
	Limit string
	// Key is the key involved, truncated to 64 bytes; empty for "keys per call".
	Key string
	// Size is the offending size in bytes, or the number of keys.
	Size int
	// Min and Max are the allowed bounds, inclusive.
	Min, Max int
}

// Error returns a message that names the limit, the key and the size.
func (e *LimitError) Error() string {
	if e.Key != "" {
		return fmt.Sprintf("storage: %s %d of key %q outside the allowed range [%d, %d]",
			e.Limit, e.Size, e.Key, e.Min, e.Max)
	}
	return fmt.Sprintf("storage: %s %d outside the allowed range [%d, %d]", e.Limit, e.Size, e.Min, e.Max)
}

// Is reports whether target is ErrLimit.
func (e *LimitError) Is(target error) bool { return target == ErrLimit }

func truncateKey(k string) string {
	if len(k) > 64 {
		return k[:64] + "..."
	}
	return k
}
