package storage

import (
	"context"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"
)

// Handle waits for one committed batch to become durable. The batch is
// visible to reads as soon as Commit returns; Wait returns once it is
// fsynced. Because the write-ahead log is written in commit order, a
// durable batch implies that every batch committed before it is durable
// too. Many batches committed at about the same time share one fsync.
//
// A Handle is safe for concurrent use; every Wait returns the same result.
type Handle struct {
	once  sync.Once
	db    *DB
	batch *pebble.Batch // nil for an empty commit
	err   error
}

// doneHandle is returned for commits that wrote nothing.
var doneHandle = func() *Handle {
	h := &Handle{}
	h.once.Do(func() {})
	return h
}()

// Wait blocks until the batch is durable and returns the error that kept it
// from becoming durable, if any. A nil Handle is durable.
//
// An error means the batch may or may not survive a restart, but never in
// part. It also marks the DB failed (see ErrFailed), because the batch is
// already visible to reads in memory.
func (h *Handle) Wait() error {
	if h == nil {
		return nil
	}
	h.once.Do(func() {
		if err := h.batch.SyncWait(); err != nil {
			// Pebble may still hold a batch that failed, so it is not
			// closed and returned to Pebble's pool.
			h.err = h.db.fail(fmt.Errorf("storage: sync: %w", err))
		} else {
			h.batch.Close()
		}
		h.batch = nil
	})
	return h.err
}

// WaitContext is like Wait but returns ctx.Err() if ctx ends first. The
// batch stays committed either way.
func (h *Handle) WaitContext(ctx context.Context) error {
	if h == nil {
		return nil
	}
	if ctx.Done() == nil {
		return h.Wait()
	}
	ch := make(chan error, 1)
	go func() { ch <- h.Wait() }()
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
