package backfill

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/stxwallets/walletcache/internal/chain"
	"github.com/stxwallets/walletcache/internal/hiro"
	"github.com/stxwallets/walletcache/internal/progress"
	"github.com/stxwallets/walletcache/internal/store"
)

// v1Source pages GET /extended/v1/tx by closed burn_block_time windows: its
// units are windows of the planning grid (plan.go), each verified against
// the total the API reports for it.
type v1Source struct{ c *hiro.Client }

// NewV1 is the v1 source over a Hiro client.
func NewV1(c *hiro.Client) Source { return &v1Source{c} }

func (s *v1Source) Name() string                              { return SourceV1 }
func (s *v1Source) Tip(ctx context.Context) (hiro.Tip, error) { return s.c.ChainTip(ctx) }
func (s *v1Source) Counters() Counters                        { return clientCounters(s.c) }

// NewestBurnTime reads the newest transaction's burn time.
func (s *v1Source) NewestBurnTime(ctx context.Context) (time.Time, bool, error) {
	return s.c.NewestTxBurnTime(ctx)
}

// Total reads how many transactions the API says a window holds.
func (s *v1Source) Total(ctx context.Context, start, end int64) (int64, error) {
	return s.c.TxTotal(ctx, hiro.Window{Start: start, End: end})
}

// BlockHash names the block at height, so a run can tell which chain the server serves.
func (s *v1Source) BlockHash(ctx context.Context, height int64) (string, error) {
	return s.c.BlockHash(ctx, height)
}

// BlockAtDepth names the block depth below the newest.
func (s *v1Source) BlockAtDepth(ctx context.Context, depth int64) (int64, string, error) {
	return s.c.BlockAtDepth(ctx, depth)
}

// Prove has nothing to do: a window verifies itself when its last page lands.
func (s *v1Source) Prove(context.Context, *Iteration) error { return nil }

// clientCounters reads a Hiro client's request counters.
func clientCounters(c *hiro.Client) Counters {
	n := Counters{Requests: c.Stats.Requests.Load(), Retries: c.Stats.Retries.Load(), Throttled: c.Stats.Throttled.Load()}
	if d, ok := c.Stats.Demand(); ok {
		n.Limits = &progress.Limits{At: d.At.UTC(), PerMinute: d.PerMinute, PerSecond: d.PerSecond,
			BelievedPerMinute: d.BelievedPerMinute, BelievedPerSecond: d.BelievedPerSecond,
			RetryAfterSeconds: d.RetryAfter.Seconds(), Cost: d.Cost}
		if d.RetryAfter < 0 {
			n.Limits.RetryAfterSeconds = -1
		}
	}
	return n
}

// Plan turns the gaps in coverage into windows (see plan), leaving out the
// windows this run has given up on.
func (s *v1Source) Plan(ctx context.Context, it *Iteration) ([]Unit, error) {
	return s.plan(ctx, it)
}

// windowUnit is one v1 window of an iteration.
type windowUnit struct {
	src     *v1Source
	p       Planned
	commits *committer[store.WindowOp]
	// chain, when set, is the gap the window was cut from: its bounds are
	// a first guess (v1plan.go), and once it has planned the window after
	// it, spawned is true.
	chain   *windowChain
	spawned bool
}

func (u *windowUnit) Label() string { return windowLabel + span(u.p.Window).String() }
func (u *windowUnit) Final() bool   { return u.p.Final }

// Run walks the window page by page until it is verified, out of attempts
// or out of budget. A window whose stored rows do not match the API's total
// is fetched afresh, past the raw cache, up to maxAttempts times in a run.
// The attempt's start, its pages and its end go to the committer in order
// and land in its batches; the window waits only for the end's verdict.
func (u *windowUnit) Run(ctx context.Context, it *Iteration) (bool, error) {
	ok, err := u.run(ctx, it)
	u.finish(it, err)
	return ok, err
}

func (u *windowUnit) run(ctx context.Context, it *Iteration) (bool, error) {
	r := it.run
	st := r.cfg.Store
	w := u.p.Window
	w.Source = SourceV1
	dbctx := context.WithoutCancel(ctx)

	done := map[int64]int64{} // committed offset -> total the API reported
	begin := !u.p.Resume
	if u.p.Resume {
		var err error
		if done, err = st.DonePages(dbctx, w.ID, w.Attempt); err != nil {
			return false, err
		}
	}
	useCache := w.Final && !overlaps(r.uncached.times, w.Start, w.End)
	var a *windowAttempt
	// Pages staged for the raw cache by an attempt that did not verify
	// (given up, failed, cancelled) are never cached.
	defer func() { a.discardStaged(it) }()
	for attempt := 1; ; attempt++ {
		a.discardStaged(it)
		a = &windowAttempt{unit: u, w: w, done: done, useCache: useCache}
		if begin {
			begun := w
			a.queue("start", store.WindowOp{Begin: &begun})
		}
		total, complete, err := u.walk(ctx, it, a)
		w = a.w // a chain's window may have been cut back before it was paged
		if errors.Is(err, hiro.ErrMalformed) {
			// The client retried it: the server keeps sending a bad page
			// for this window. Give up on the window, not on the run.
			return false, &UnverifiedError{Unit: u.Label(), Start: w.Start, End: w.End, Attempts: attempt, Detail: err.Error()}
		}
		if err != nil || !complete {
			return false, err
		}
		f, err := a.finish(total)
		if err != nil {
			return false, err
		}
		r.deleted.Add(f.Deleted)
		if f.Deleted > 0 {
			r.log.Info("removed rows that left the canonical chain", "window", span(w), "rows", f.Deleted)
		}
		if f.Verified {
			// Only now are its pages known good enough to serve again.
			a.mu.Lock()
			for key, staged := range a.fetched {
				cachePlace(it, key, staged)
			}
			a.fetched = nil
			a.mu.Unlock()
			if w.Final { // provisional windows verify again in every iteration: no progress
				r.verified.Add(1)
			}
			return true, nil
		}
		cacheDrop(it, a.hits)
		detail := fmt.Sprintf("stored %d rows, the API reports %d", f.Stored, total)
		r.log.Warn("window does not match the API; fetching it again from the API", "window", span(w),
			"api_total", total, "stored", f.Stored, "attempt", attempt)
		if attempt >= maxAttempts {
			return false, &UnverifiedError{Unit: u.Label(), Start: w.Start, End: w.End, Attempts: attempt, Detail: detail}
		}
		w.Attempt++
		done, useCache, begin = map[int64]int64{}, false, true
	}
}

// windowAttempt is one walk over a window's pages.
type windowAttempt struct {
	unit     *windowUnit
	w        store.Window
	done     map[int64]int64
	useCache bool
	mu       sync.Mutex
	fetched  map[string]string // final pages from the API, by key: where they are staged until the window verifies
	hits     []string          // pages served from the cache
	queued   []queuedOp        // steps given to the committer, not yet known durable
}

// discardStaged removes the pages the attempt staged for the raw cache
// and has not placed; a nil attempt has none.
func (a *windowAttempt) discardStaged(it *Iteration) {
	if a == nil {
		return
	}
	a.mu.Lock()
	staged := a.fetched
	a.fetched = nil
	a.mu.Unlock()
	cacheDiscard(it, staged)
}

// walk fetches every page of the attempt that is not yet committed. A
// complete walk returns at once (finish waits for its pages); any other
// returns once the pages it queued have landed.
// Offsets come from the total the API reports; a window that grows while it
// is walked (oldest first, so new rows land at the end) is walked on to its
// new end. It returns the latest total and whether all pages up to it are
// committed.
func (a *windowAttempt) walk(ctx context.Context, it *Iteration) (int64, bool, error) {
	total, complete, err := a.walkPages(ctx, it)
	if err == nil && complete {
		return total, true, nil // its pages land before the end queued after them
	}
	// Whatever stopped the walk, the pages it queued land (or fail) first,
	// and a failed commit says more than the error that followed it.
	if lerr := a.landed(); lerr != nil {
		return total, false, lerr
	}
	return total, complete, err
}

// finish queues the end of the attempt behind its pages and returns its
// verdict once all of them have landed.
func (a *windowAttempt) finish(total int64) (store.Finish, error) {
	op := &store.FinishOp{Window: a.w, APITotal: total, Final: a.w.Final}
	a.queue("end", store.WindowOp{Finish: op})
	if err := a.landed(); err != nil {
		return store.Finish{}, err
	}
	return op.Result, nil
}

// walkPages queues every page of the attempt that is not yet committed.
func (a *windowAttempt) walkPages(ctx context.Context, it *Iteration) (int64, bool, error) {
	r := it.run
	total := int64(-1)
	for _, t := range a.done {
		total = max(total, t)
	}
	if total < 0 {
		t, err := a.page(ctx, it, 0)
		if err != nil {
			return 0, false, err
		}
		a.done[0], total = t, t
		r.pagesKnown.Add(pagesFor(t))
		r.unitsOpened.Add(1)
	}
	for {
		var need []int64
		for off := int64(0); off < total; off += hiro.PageLimit {
			if _, ok := a.done[off]; !ok {
				need = append(need, off)
			}
		}
		if len(need) == 0 {
			return total, true, nil
		}
		type result struct {
			off, total int64
		}
		var mu sync.Mutex
		var results []result
		_, err := forEach(ctx, r.cfg.Concurrency, need, it.budget, func(ctx context.Context, off int64) (bool, error) {
			t, err := a.page(ctx, it, off)
			if err != nil {
				return false, err
			}
			mu.Lock()
			results = append(results, result{off, t})
			mu.Unlock()
			return true, nil
		})
		for _, res := range results {
			a.done[res.off] = res.total
			if res.total > total {
				r.pagesKnown.Add(pagesFor(res.total) - pagesFor(total))
				total = res.total
			}
		}
		switch {
		case err != nil:
			return total, false, err
		case len(results) == len(need):
			continue // the totals may have grown: look again
		case ctx.Err() != nil:
			return total, false, ctx.Err()
		default:
			return total, false, errBudget
		}
	}
}

// page gets one page (raw cache first for final windows), queues it for
// the committer, and returns the total the API reported with it. It does
// not wait for the commit: the next page is fetched while the committer
// writes, and it writes whatever has queued in one transaction. Against a
// rate-limited server pages arrive slower than they commit, so the queue
// (and what a kill -9 loses) stays a page or two; against a fast one the
// batches grow.
func (a *windowAttempt) page(ctx context.Context, it *Iteration, off int64) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := a.unit.commits.failure(); err != nil {
		return 0, fmt.Errorf("commit window %s: %w", span(a.w), err)
	}
	if !it.budget.take() {
		return 0, errBudget
	}
	r := it.run
	w := a.w
	hw := hiro.Window{Start: w.Start, End: w.End}
	key := CacheKey(SourceV1, hw, off)
	pg, body, hit, err := cachedPage(it, key, a.useCache,
		func(b []byte) (hiro.TxPage, error) {
			pg, err := hiro.DecodeTxPage(b)
			if err == nil && pg.Offset != off {
				err = fmt.Errorf("cached page has offset %d, want %d", pg.Offset, off)
			}
			return pg, err
		},
		func() (hiro.TxPage, []byte, error) { return a.unit.src.c.TxPage(ctx, hw, off) })
	if err != nil {
		return 0, err
	}
	// A page waits for its window's verdict on disk, staged: held as the
	// API sent it, the pages of the windows being walked took tens of
	// megabytes, and compressed still about 10 MB at a year.
	var staged string
	if !hit && w.Final {
		staged = cacheStage(it, key, body)
	}
	a.mu.Lock()
	if hit {
		a.hits = append(a.hits, key)
	} else if staged != "" {
		if a.fetched == nil {
			a.fetched = map[string]string{}
		}
		a.fetched[key] = staged
	}
	a.mu.Unlock()
	txs := keepInWindow(it, w, pg.Txs)
	a.queue(fmt.Sprintf("offset %d", off), store.WindowOp{Page: &store.Page{WindowID: w.ID, Attempt: w.Attempt, Offset: off, APITotal: pg.Total, Txs: txs}})
	if w.Final {
		r.progressPages.Add(1)
	}
	return pg.Total, nil
}

// queuedOp is a step handed to the committer, what it was, and the
// channel that says when it is durable.
type queuedOp struct {
	what   string
	landed <-chan error
}

// queue hands op to the committer; landed waits for it.
func (a *windowAttempt) queue(what string, op store.WindowOp) {
	landed := a.unit.commits.submit(op)
	a.mu.Lock()
	a.queued = append(a.queued, queuedOp{what, landed})
	a.mu.Unlock()
}

// landed waits until every step the attempt queued is committed and
// returns the first failure.
func (a *windowAttempt) landed() error {
	a.mu.Lock()
	queued := a.queued
	a.queued = nil
	a.mu.Unlock()
	var first error
	for _, q := range queued {
		if err := <-q.landed; err != nil && first == nil {
			first = fmt.Errorf("commit window %s %s: %w", span(a.w), q.what, err)
		}
	}
	return first
}

// keepInWindow is the rows of a v1 page the window stores: a row outside
// the window asked for, or not canonical, cannot be true of that list and
// is dropped with a warning.
func keepInWindow(it *Iteration, w store.Window, rows []chain.Tx) []chain.Tx {
	txs := rows[:0:0]
	for _, t := range rows {
		switch bt := t.BurnBlockTime.Unix(); {
		case bt < w.Start || bt > w.End:
			it.run.log.Warn("server returned a transaction outside the requested window; not storing it", "tx_id", t.TxID, "window", span(w))
		case !t.Canonical:
			it.run.log.Warn("server returned a non-canonical transaction in a canonical list; not storing it", "tx_id", t.TxID, "window", span(w))
		default:
			txs = append(txs, t)
		}
	}
	return txs
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
