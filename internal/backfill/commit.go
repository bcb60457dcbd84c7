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
// batch in one transaction. It stops when the iteration ends.
func startCommitter[P any](it *Iteration, commit func(ctx context.Context, pages []P) error) *committer[P] {
	// The queue bounds what a kill -9 loses against a fast server: the
	// pages queued and the batch being written, a few per worker.
	c := &committer[P]{in: make(chan pending[P], it.run.cfg.Concurrency*4), done: make(chan struct{})}
	ctx := context.WithoutCancel(context.Background())
	go func() {
		defer close(c.done)
		var failed error // once a batch fails, no later page may land
		for req := range c.in {
			batch := []pending[P]{req}
		drain:
			for len(batch) < maxBatch {
				select {
				case more, ok := <-c.in:
					if !ok {
						break drain
					}
					batch = append(batch, more)
				default:
					break drain
				}
			}
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
