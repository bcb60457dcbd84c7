package backfill

import (
	"context"
	"sync/atomic"
	"time"
)

// maxBatch is how many pages one commit holds at most: replaying the raw
// cache is then not bound by one transaction per page, and a kill -9 loses
// at most one batch.
const maxBatch = 64

// commitLinger is how long the v1 committer waits for more pages to share a
// transaction with the first one queued: against a fast server a batch
// fills up (maxBatch) well within it, against a slow one a page waits this
// long at most before it is durable.
const commitLinger = 100 * time.Millisecond

// committer is the only writer of one source's pages during an iteration.
// It commits whatever is queued in one transaction, in the order pages were
// submitted, and keeps committing after Ctrl+C until every fetched page has
// landed. After a failed commit it fails every later page without writing
// it: a walk that queued pages behind the failed one must not see them land
// past a gap.
type committer[P any] struct {
	in     chan pending[P]
	done   chan struct{}
	failed atomic.Pointer[error] // the first failed commit's error
}

type pending[P any] struct {
	page P
	done chan error
}

// startCommitter starts the committer of an iteration; commit writes one
// batch in one transaction. It stops when the iteration ends. It commits as
// soon as something is queued, taking whatever else already is.
func startCommitter[P any](it *Iteration, commit func(ctx context.Context, pages []P) error) *committer[P] {
	return startBatchingCommitter(it, 0, nil, commit)
}

// startBatchingCommitter is startCommitter that, once a step is queued,
// waits up to linger for more (at most maxBatch) before it commits, unless
// a step for which urgent is true (one a unit waits on) is queued. Every
// write transaction costs milliseconds to commit however little it holds,
// so against a fast server this writes the same pages in fewer of them.
func startBatchingCommitter[P any](it *Iteration, linger time.Duration, urgent func(P) bool, commit func(ctx context.Context, pages []P) error) *committer[P] {
	// The queue bounds what a kill -9 loses against a fast server: the
	// pages queued and the batch being written, a few per worker.
	c := &committer[P]{in: make(chan pending[P], it.run.cfg.Concurrency*4), done: make(chan struct{})}
	ctx := context.WithoutCancel(context.Background())
	go func() {
		defer close(c.done)
		var failed error // once a batch fails, no later page may land
		for req := range c.in {
			batch := c.collect(req, linger, urgent)
			pages := make([]P, len(batch))
			for i, b := range batch {
				pages[i] = b.page
			}
			err := failed
			if err == nil {
				if err = commit(ctx, pages); err == nil {
					it.run.lastCommit.Store(time.Now().UnixNano())
				} else {
					failed = err
					c.failed.Store(&err)
				}
			}
			for _, b := range batch {
				b.done <- err
			}
		}
	}()
	it.onEnd = append(it.onEnd, func() { close(c.in); <-c.done })
	return c
}

// collect is the batch that starts with first: what is queued, and what
// arrives within linger of first unless an urgent step has arrived, up to
// maxBatch steps or until the queue closes. A batch waits for no more steps
// than the queue holds, so what a kill -9 loses stays as it was without
// the wait: the steps in flight, the queue, and a queue's worth being
// collected or written.
func (c *committer[P]) collect(first pending[P], linger time.Duration, urgent func(P) bool) []pending[P] {
	batch := []pending[P]{first}
	wait := linger > 0 && (urgent == nil || !urgent(first.page))
	var timeout <-chan time.Time
	if wait {
		t := time.NewTimer(linger)
		defer t.Stop()
		timeout = t.C
	}
	for len(batch) < maxBatch {
		if wait && len(batch) >= cap(c.in) {
			return batch
		}
		var more pending[P]
		var ok bool
		if wait {
			select {
			case more, ok = <-c.in:
			case <-timeout:
				wait = false
				continue
			}
		} else {
			select {
			case more, ok = <-c.in:
			default:
				return batch
			}
		}
		if !ok {
			return batch
		}
		batch = append(batch, more)
		if wait && urgent != nil && urgent(more.page) {
			wait = false
		}
	}
	return batch
}

// failure is the error of the first failed commit, or nil: a walk that
// does not wait for each commit stops fetching pages that cannot land.
func (c *committer[P]) failure() error {
	if err := c.failed.Load(); err != nil {
		return *err
	}
	return nil
}

// submit queues a page; the channel it returns says when it is durable.
func (c *committer[P]) submit(p P) <-chan error {
	done := make(chan error, 1)
	c.in <- pending[P]{page: p, done: done}
	return done
}
