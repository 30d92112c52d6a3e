package actor

import (
	"runtime"
	"sync"
)

// dispatcher runs Proto.Actor mailboxes on a few long-lived worker
// goroutines, and on a new goroutine when every worker is busy.
//
// Proto.Actor's default dispatcher starts a goroutine for every mailbox
// run. A turn's call stack is deep enough that such a goroutine spends
// more time growing its stack than running the turn, while a worker's
// stack grows only once. Falling back to new goroutines keeps the number
// of concurrent runs unbounded, which turns need because a turn may wait
// for another object's turn.
type dispatcher struct {
	work chan func()
	done chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// dispatcherThroughput is how many messages a mailbox run handles before
// it yields its goroutine, Proto.Actor's default.
const dispatcherThroughput = 300

func newDispatcher() *dispatcher {
	d := &dispatcher{work: make(chan func()), done: make(chan struct{})}
	n := runtime.GOMAXPROCS(0) * 2
	d.wg.Add(n)
	for range n {
		go d.worker()
	}
	return d
}

func (d *dispatcher) worker() {
	defer d.wg.Done()
	for {
		select {
		case fn := <-d.work:
			fn()
		case <-d.done:
			return
		}
	}
}

// Schedule runs fn on an idle worker, or on a new goroutine if none is
// idle.
func (d *dispatcher) Schedule(fn func()) {
	select {
	case d.work <- fn:
	default:
		go fn()
	}
}

// Throughput returns the number of messages per mailbox run.
func (d *dispatcher) Throughput() int { return dispatcherThroughput }

// stop ends the workers. Later runs get goroutines of their own.
func (d *dispatcher) stop() {
	d.once.Do(func() { close(d.done) })
	d.wg.Wait()
}
