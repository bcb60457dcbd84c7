package backfill

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/stxwallets/walletcache/internal/hiro"
	"github.com/stxwallets/walletcache/internal/store"
)

// commitReq hands a fetched page to the single committer goroutine.
type commitReq struct {
	page store.Page
	done chan error
}

// committer is the only writer of pages. It commits whatever is queued in
// one transaction, so replaying the raw cache is not bound by one commit per
// page, and it keeps committing after Ctrl+C until every fetched page landed.
func (r *run) committer(ctx context.Context) {
	for req := range r.commits {
		batch := []commitReq{req}
	drain:
		for len(batch) < 64 {
			select {
			case more, ok := <-r.commits:
				if !ok {
					break drain
				}
				batch = append(batch, more)
			default:
				break drain
			}
		}
		pages := make([]store.Page, len(batch))
		for i, b := range batch {
			pages[i] = b.page
		}
		n, err := r.cfg.Store.CommitPages(ctx, pages)
		if err == nil {
			r.rows.Add(int64(n))
			r.pages.Add(int64(len(pages)))
			r.lastCommit.Store(time.Now().UnixNano())
		}
		for _, b := range batch {
			b.done <- err
		}
	}
}

// commit queues a page and waits until it is durable.
func (r *run) commit(p store.Page) error {
	done := make(chan error, 1)
	r.commits <- commitReq{page: p, done: done}
	return <-done
}

// fetchAll fetches the planned windows with Concurrency window workers and
// reports whether every one of them was verified. An error that no retry
// can fix (the endpoint is gone, the quota is used up, the server keeps
// failing, the database cannot commit) stops every worker and is returned;
// a window that does not match the API after its attempts is only logged.
func (r *run) fetchAll(ctx context.Context, plan []Planned, budget *pageBudget) (bool, error) {
	return forEach(ctx, r, plan, budget, func(ctx context.Context, p Planned) (bool, error) {
		ok, err := r.fetchWindow(ctx, p, budget)
		var mismatch *mismatchError
		if errors.As(err, &mismatch) {
			r.log.Error("window failed verification", "window", span(p.Window), "err", err)
			return ok, nil
		}
		return ok, err
	})
}

// mismatchError is a window whose stored rows never matched the API's total.
type mismatchError struct {
	window        hiro.Window
	stored, total int64
}

func (e *mismatchError) Error() string {
	return fmt.Sprintf("window %s: stored %d rows but the API reports %d after %d attempts", e.window, e.stored, e.total, maxAttempts)
}

// fetchWindow walks one window page by page until it is verified or out of
// attempts or budget. It returns whether the window ended verified.
func (r *run) fetchWindow(ctx context.Context, p Planned, budget *pageBudget) (bool, error) {
	w := p.Window
	w.Source = r.cfg.Source.Name()
	dbctx := context.WithoutCancel(ctx)
	r.mu.Lock()
	r.state.CurrentWindow = span(w).String()
	r.mu.Unlock()

	done := map[int64]int64{} // committed offset -> total the API reported
	if p.Resume {
		var err error
		if done, err = r.cfg.Store.DonePages(dbctx, w.ID, w.Attempt); err != nil {
			return false, err
		}
	} else if err := r.cfg.Store.BeginAttempt(dbctx, w); err != nil {
		return false, err
	}
	for {
		total, complete, err := r.walk(ctx, w, done, budget)
		if err != nil || !complete {
			return false, err
		}
		f, err := r.cfg.Store.FinishAttempt(dbctx, w, total, w.Final)
		if err != nil {
			return false, err
		}
		r.deleted.Add(f.Deleted)
		if f.Deleted > 0 {
			r.log.Info("removed rows that left the canonical chain", "window", span(w), "rows", f.Deleted)
		}
		if f.Verified {
			r.verified.Add(1)
			r.windowsDone.Add(1)
			return true, nil
		}
		r.log.Warn("window does not match the API; fetching it again", "window", span(w),
			"api_total", total, "stored", f.Stored, "attempt", w.Attempt)
		if w.Attempt%maxAttempts == 0 { // at most maxAttempts per iteration
			r.failed.Add(1)
			return false, &mismatchError{window: span(w), stored: f.Stored, total: total}
		}
		w.Attempt++
		done = map[int64]int64{}
		if err := r.cfg.Store.BeginAttempt(dbctx, w); err != nil {
			return false, err
		}
	}
}

// walk fetches every page of the window's current attempt that is not yet
// committed. Offsets come from the total the API reports; a window that grows
// while it is walked (oldest first, so new rows land at the end) is walked
// on to its new end. It returns the latest total and whether all pages up to
// it are committed.
func (r *run) walk(ctx context.Context, w store.Window, done map[int64]int64, budget *pageBudget) (int64, bool, error) {
	total := int64(-1)
	for _, t := range done {
		total = max(total, t)
	}
	if total < 0 {
		t, err := r.page(ctx, w, 0, budget)
		if err != nil {
			return 0, false, err
		}
		done[0], total = t, t
		r.pagesKnown.Add(pagesFor(t))
		r.windowsOpened.Add(1)
	}
	for {
		var need []int64
		for off := int64(0); off < total; off += hiro.PageLimit {
			if _, ok := done[off]; !ok {
				need = append(need, off)
			}
		}
		if len(need) == 0 {
			return total, true, nil
		}
		type result struct {
			off, total int64
			err        error
		}
		results := make(chan result, len(need))
		sem := make(chan struct{}, r.cfg.Concurrency)
		var wg sync.WaitGroup
		for _, off := range need {
			wg.Add(1)
			go func() {
				defer wg.Done()
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					results <- result{off: off, err: ctx.Err()}
					return
				}
				defer func() { <-sem }()
				t, err := r.page(ctx, w, off, budget)
				results <- result{off, t, err}
			}()
		}
		wg.Wait()
		close(results)
		var firstErr error
		for res := range results {
			if res.err != nil {
				if firstErr == nil {
					firstErr = res.err
				}
				continue
			}
			done[res.off] = res.total
			if res.total > total {
				r.pagesKnown.Add(pagesFor(res.total) - pagesFor(total))
				total = res.total
			}
		}
		if firstErr != nil {
			return total, false, firstErr
		}
	}
}

// errBudget ends a walk when the iteration's max_pages is used up.
var errBudget = errors.New("page budget of this iteration used up")

// page gets one page (raw cache first for final windows), commits it, and
// returns the total the API reported with it.
func (r *run) page(ctx context.Context, w store.Window, off int64, budget *pageBudget) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if !budget.take() {
		return 0, errBudget
	}
	hw := hiro.Window{Start: w.Start, End: w.End}
	key := CacheKey(r.cfg.Source.Name(), hw, off)
	useCache := r.cfg.Cache != nil && w.Final
	var pg hiro.TxPage
	hit := false
	if useCache && !r.cfg.ForceRefresh {
		if body, ok, err := r.cfg.Cache.Get(key); err == nil && ok {
			if decoded, err := hiro.DecodeTxPage(body); err == nil && decoded.Offset == off {
				pg, hit = decoded, true
			} else {
				r.log.Warn("raw cache file does not decode; fetching the page again", "key", key)
				_ = r.cfg.Cache.Delete(key)
			}
		}
	}
	if !hit {
		fetched, body, err := r.cfg.Source.Page(ctx, hw, off)
		if err != nil {
			return 0, err
		}
		pg = fetched
		if useCache {
			if err := r.cfg.Cache.Put(key, body); err != nil {
				r.cacheWarn.Do(func() {
					r.log.Warn("cannot write the raw cache; going on without it", "err", err)
				})
			}
		}
	} else {
		r.cacheHits.Add(1)
	}
	txs := pg.Txs[:0:0]
	for _, t := range pg.Txs {
		if bt := t.BurnBlockTime.Unix(); bt < w.Start || bt > w.End {
			r.log.Warn("server returned a transaction outside the requested window; ignoring it", "tx_id", t.TxID, "window", span(w))
			continue
		}
		txs = append(txs, t)
	}
	if err := r.commit(store.Page{WindowID: w.ID, Attempt: w.Attempt, Offset: off, APITotal: pg.Total, Txs: txs}); err != nil {
		return 0, fmt.Errorf("commit window %s offset %d: %w", span(w), off, err)
	}
	return pg.Total, nil
}

// CacheKey names a raw page file: source, window bounds and offset identify
// the page uniquely, and a final window's pages never change.
func CacheKey(source string, w hiro.Window, off int64) string {
	return fmt.Sprintf("%s_%d_%d_o%d_l%d", source, w.Start, w.End, off, hiro.PageLimit)
}

func pagesFor(total int64) int64 {
	if total <= 0 {
		return 1
	}
	return (total + hiro.PageLimit - 1) / hiro.PageLimit
}

func span(w store.Window) hiro.Window { return hiro.Window{Start: w.Start, End: w.End} }
