package kvcache

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/durable-go/durable/storage"
)

// sweepBatch is the most keys one sweep commit deletes.
const sweepBatch = 256

// sweepLoop runs Sweep every interval until Close.
func (ns *Namespace) sweepLoop(interval time.Duration) {
	defer close(ns.done)
	t := ns.clock.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-ns.stop:
			return
		case <-t.C():
		}
		n, err := ns.sweep()
		if errors.Is(err, storage.ErrClosed) {
			// The database was closed before the namespace: nothing is
			// left to sweep.
			return
		}
		if err != nil {
			ns.logger.Warn("kvcache: sweep failed; retrying at the next interval",
				"namespace", ns.name, "deleted", n, "error", err)
		}
		t.Reset(interval)
	}
}

// Sweep deletes every key that has expired by now from disk and returns
// how many it deleted. Expired keys are invisible to reads either way;
// Sweep only reclaims their space, and the background sweep calls it every
// Options.SweepInterval. Readers are never blocked; writers of the same
// namespace wait only while a batch of deletions is committed.
func (ns *Namespace) Sweep(ctx context.Context) (int, error) {
	if err := ns.check(ctx); err != nil {
		return 0, err
	}
	return ns.sweep()
}

func (ns *Namespace) sweep() (int, error) {
	total := 0
	for {
		n, full, err := ns.sweepOnce()
		total += n
		if n > 0 {
			ns.swept.Add(context.Background(), int64(n))
		}
		if err != nil || !full || ns.closed.Load() {
			return total, err
		}
	}
}

// expiryRef is one entry of the expiry index.
type expiryRef struct {
	index      []byte
	key        string
	expiration int64
}

// sweepOnce deletes up to sweepBatch expired keys. It reports whether it
// found a full batch, in which case more may be due.
func (ns *Namespace) sweepOnce() (deleted int, full bool, err error) {
	now := ns.clock.Now().UnixNano()
	var due []expiryRef
	// Index keys with an expiration of at most now sort below the bound.
	upper := expiryKey(now+1, "")
	err = ns.ks.Scan([]byte{expiryTag}, upper, func(k, _ []byte) bool {
		if len(k) < 9 {
			return true
		}
		due = append(due, expiryRef{
			index:      bytes.Clone(k),
			key:        string(k[9:]),
			expiration: int64(binary.BigEndian.Uint64(k[1:9])),
		})
		return len(due) < sweepBatch
	})
	if err != nil {
		return 0, false, fmt.Errorf("kvcache: sweep: %w", err)
	}
	if len(due) == 0 {
		return 0, false, nil
	}

	deleted, h, err := ns.deleteExpired(due)
	if err != nil {
		return 0, false, err
	}
	// Waiting keeps the batch's memory from lingering. A deletion lost in
	// a crash is redone by the next sweep, and reads hide the key meanwhile.
	if err := h.Wait(); err != nil {
		return 0, false, fmt.Errorf("kvcache: sweep: %w", err)
	}
	return deleted, len(due) == sweepBatch, nil
}

// deleteExpired deletes the keys of due whose stored expiration is still
// the indexed one. It holds writeMu from the check to the commit, so a key
// rewritten meanwhile keeps its new value. Index entries whose key was
// rewritten are stale and deleted alone.
func (ns *Namespace) deleteExpired(due []expiryRef) (int, *storage.Handle, error) {
	ns.writeMu.Lock()
	defer ns.writeMu.Unlock()
	b := ns.ks.Batch()
	deleted := 0
	for _, ref := range due {
		b.Delete(ref.index)
		exp, err := ns.storedExpiration(ref.key)
		if err != nil {
			b.Discard()
			return 0, nil, err
		}
		if exp == ref.expiration {
			b.Delete(dataKey(ref.key))
			deleted++
		}
	}
	h, err := b.Commit()
	if err != nil {
		return 0, nil, fmt.Errorf("kvcache: sweep: %w", err)
	}
	return deleted, h, nil
}
