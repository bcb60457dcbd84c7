package backfill

import (
	"context"
	"errors"
	"sync"
)

// forEach runs do on items with the given number of workers, feeding them in order
// while the page budget lasts, and reports whether every item finished.
// The budget running out and cancellation end the pass quietly; any other
// error from do (the endpoint is gone, the quota is used up, the server
// keeps failing, the database cannot commit) stops every worker and is
// returned. Errors an item can live with are for do to log and drop.
func forEach[T any](ctx context.Context, workers int, items []T, budget *pageBudget, do func(ctx context.Context, item T) (bool, error)) (bool, error) {
	return forEachQueued(ctx, workers, newWorkQueue(items), budget, nil, do)
}

// forEachThen is forEach, and when every item has been handed out, a
// worker that goes idle asks more for another item, and stops when it has
// none: a source can then cut work off the units still running (v3 splits
// a walk), so no worker idles while another still has much to do.
func forEachThen[T any](ctx context.Context, workers int, items []T, budget *pageBudget, more func() (T, bool), do func(ctx context.Context, item T) (bool, error)) (bool, error) {
	return forEachQueued(ctx, workers, newWorkQueue(items), budget, more, do)
}

// forEachQueued is forEach over a queue that the running items may add to
// (workQueue.push): the pass ends when the queue is empty and no item is
// running that could still add one. With more set (forEachThen), a worker
// that finds the queue empty asks more instead of waiting on the queue.
func forEachQueued[T any](ctx context.Context, workers int, q *workQueue[T], budget *pageBudget, more func() (T, bool), do func(ctx context.Context, item T) (bool, error)) (bool, error) {
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	defer context.AfterFunc(wctx, q.stop)()
	var wg sync.WaitGroup
	var mu sync.Mutex
	all, fed := true, true
	var fatal error
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				item, ok := q.take(more == nil)
				made := false // by more: already part of the work, so it must run
				if !ok {
					if more == nil || wctx.Err() != nil || budget.exhausted() || q.isStopped() {
						return
					}
					if item, ok = more(); !ok {
						return
					}
					q.started()
					made = true
				}
				// A queued item is left queued once the budget is spent. One
				// more made is run whatever the budget (it stops at its first
				// page): a split walk is registered as running, and the
				// workers waiting in more for it to end would wait forever.
				if !made && budget.exhausted() {
					q.done()
					q.stop()
					mu.Lock()
					fed = false
					mu.Unlock()
					return
				}
				ok, err := do(wctx, item)
				q.done()
				mu.Lock()
				all = all && ok
				if err != nil && wctx.Err() == nil && !errors.Is(err, errBudget) && fatal == nil {
					fatal = err
					stop()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if q.left() > 0 {
		fed = false
	}
	if fatal != nil && ctx.Err() == nil {
		return false, fatal
	}
	return all && fed && ctx.Err() == nil, nil
}

// workQueue is the items of one forEachQueued pass, in the order they are
// handed out. An item that is running may push more: a v1 window pushes
// the next window of its gap as soon as its first page told how dense the
// gap is, so the next window is sized by it and starts while this one is
// still being paged.
type workQueue[T any] struct {
	mu      sync.Mutex
	cond    *sync.Cond
	items   []T
	running int
	stopped bool
}

func newWorkQueue[T any](items []T) *workQueue[T] {
	q := &workQueue[T]{items: append([]T(nil), items...)}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// push queues an item: first (before everything queued) or last. After the
// pass has stopped it is never handed out, and counts as left over.
func (q *workQueue[T]) push(item T, first bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if first {
		q.items = append([]T{item}, q.items...)
	} else {
		q.items = append(q.items, item)
	}
	q.cond.Signal()
}

// take hands out the next item, waiting (when wait is set) while the queue
// is empty but a running item may still push one; ok is false when the
// pass is over, or, without wait, when nothing is queued.
func (q *workQueue[T]) take(wait bool) (item T, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for wait && len(q.items) == 0 && q.running > 0 && !q.stopped {
		q.cond.Wait()
	}
	if q.stopped || len(q.items) == 0 {
		return item, false
	}
	item, q.items = q.items[0], q.items[1:]
	q.running++
	return item, true
}

// started counts an item that did not come from the queue (forEachThen's
// more) as running, so that done balances it.
func (q *workQueue[T]) started() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.running++
}

// isStopped reports whether the pass has been stopped.
func (q *workQueue[T]) isStopped() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.stopped
}

// done marks an item handed out by take (or counted by started) as finished.
func (q *workQueue[T]) done() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.running--
	q.cond.Broadcast() // the last running item ending ends the waits
}

// stop ends the pass: nothing more is handed out.
func (q *workQueue[T]) stop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.stopped = true
	q.cond.Broadcast()
}

// left is how many items were never handed out.
func (q *workQueue[T]) left() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}
