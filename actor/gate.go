package actor

import (
	"sync"

	"github.com/durable-go/durable/storage"
)

// gate is an activation's output gate: the results of its turns, queued in
// turn order, each released once the turn's writes are durable. A released
// result implies every earlier one was released, because a durable commit
// implies that every earlier commit is durable.
type gate struct {
	mu          sync.Mutex // guards every field below
	items       []gateItem
	outstanding int  // items pushed and not yet released
	draining    bool // a drain goroutine is running
	empty       chan struct{}
	// Results of turns of generation failGen or older fail with failErr,
	// because a commit of that generation failed.
	failGen uint64
	failErr error
}

type gateItem struct {
	h       *storage.Handle
	gen     uint64
	release func(err error)
}

// push queues release behind the turn's handle h (nil for a turn without
// writes). When nothing is pending and h is nil, release runs at once on
// the calling goroutine.
func (g *gate) push(a *activation, h *storage.Handle, release func(err error)) {
	g.mu.Lock()
	if h == nil && g.outstanding == 0 {
		g.mu.Unlock()
		release(nil)
		return
	}
	g.outstanding++
	g.items = append(g.items, gateItem{h: h, gen: a.gen, release: release})
	start := !g.draining
	g.draining = true
	g.mu.Unlock()
	if start {
		go g.drain(a)
	}
}

// drain releases queued items in order until the queue is empty.
func (g *gate) drain(a *activation) {
	for {
		g.mu.Lock()
		if len(g.items) == 0 {
			g.draining = false
			g.items = nil
			g.mu.Unlock()
			return
		}
		it := g.items[0]
		g.items[0] = gateItem{}
		g.items = g.items[1:]
		g.mu.Unlock()

		err := it.h.Wait()
		g.mu.Lock()
		if err != nil && it.gen > g.failGen {
			g.failGen, g.failErr = it.gen, err
			a.resetReq.Store(true)
			a.ns.sys.logger.Error("commit did not become durable; object reset",
				"namespace", a.ns.name, "object", a.id.String(), "error", err)
		}
		if err == nil && it.gen <= g.failGen {
			err = g.failErr
		}
		g.mu.Unlock()

		it.release(err)

		g.mu.Lock()
		g.outstanding--
		if g.outstanding == 0 && g.empty != nil {
			close(g.empty)
			g.empty = nil
		}
		g.mu.Unlock()
	}
}

// fail makes every result of generation gen or older that is still held
// fail with err.
func (g *gate) fail(gen uint64, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if gen > g.failGen {
		g.failGen, g.failErr = gen, err
	}
}

// wait blocks until every queued result has been released.
func (g *gate) wait() {
	g.mu.Lock()
	if g.outstanding == 0 {
		g.mu.Unlock()
		return
	}
	if g.empty == nil {
		g.empty = make(chan struct{})
	}
	ch := g.empty
	g.mu.Unlock()
	<-ch
}
