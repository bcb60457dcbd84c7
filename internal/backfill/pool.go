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
	return forEachThen(ctx, workers, items, budget, nil, do)
}

// forEachThen is forEach, and when every item has been handed out, a
// worker that goes idle asks more (when not nil) for another item, and
// stops when it has none: a source can then cut work off the units still
// running (v3 splits a walk), so no worker idles while another still has
// much to do.
func forEachThen[T any](ctx context.Context, workers int, items []T, budget *pageBudget, more func() (T, bool), do func(ctx context.Context, item T) (bool, error)) (bool, error) {
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	work := make(chan T)
	var wg sync.WaitGroup
	var mu sync.Mutex
	all := true
	var fatal error
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run := func(item T) {
				ok, err := do(wctx, item)
				mu.Lock()
				all = all && ok
				if err != nil && wctx.Err() == nil && !errors.Is(err, errBudget) && fatal == nil {
					fatal = err
					stop()
				}
				mu.Unlock()
			}
			for item := range work {
				run(item)
			}
			for more != nil && wctx.Err() == nil && !budget.exhausted() {
				item, ok := more()
				if !ok {
					return
				}
				run(item)
			}
		}()
	}
	fed := true // written here only; the workers write all and fatal under mu
feed:
	for _, item := range items {
		if budget.exhausted() {
			fed = false
			break
		}
		select {
		case work <- item:
		case <-wctx.Done():
			fed = false
			break feed
		}
	}
	close(work)
	wg.Wait()
	if fatal != nil && ctx.Err() == nil {
		return false, fatal
	}
	return all && fed && ctx.Err() == nil, nil
}
