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
	commits *committer[store.Page]
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
	if u.p.Resume {
		var err error
		if done, err = st.DonePages(dbctx, w.ID, w.Attempt); err != nil {
			return false, err
		}
	} else if err := st.BeginAttempt(dbctx, w); err != nil {
		return false, err
	}
	useCache := w.Final && !overlaps(r.uncached.times, w.Start, w.End)
	for attempt := 1; ; attempt++ {
		a := &windowAttempt{unit: u, w: w, done: done, useCache: useCache}
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
		f, err := st.FinishAttempt(dbctx, w, total, w.Final)
		if err != nil {
			return false, err
		}
		r.deleted.Add(f.Deleted)
		if f.Deleted > 0 {
			r.log.Info("removed rows that left the canonical chain", "window", span(w), "rows", f.Deleted)
		}
		if f.Verified {
			// Only now are its pages known good enough to serve again.
			for key, body := range a.fetched {
				cachePut(it, key, body)
			}
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
		done, useCache = map[int64]int64{}, false
		if err := st.BeginAttempt(dbctx, w); err != nil {
			return false, err
		}
	}
}

// windowAttempt is one walk over a window's pages.
type windowAttempt struct {
	unit     *windowUnit
	w        store.Window
	done     map[int64]int64
	useCache bool
	mu       sync.Mutex
	fetched  map[string][]byte // final pages from the API, cached once the window verifies
	hits     []string          // pages served from the cache
}

// walk fetches every page of the attempt that is not yet committed.
// Offsets come from the total the API reports; a window that grows while it
// is walked (oldest first, so new rows land at the end) is walked on to its
// new end. It returns the latest total and whether all pages up to it are
// committed.
func (a *windowAttempt) walk(ctx context.Context, it *Iteration) (int64, bool, error) {
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

// page gets one page (raw cache first for final windows), commits it, and
// returns the total the API reported with it.
func (a *windowAttempt) page(ctx context.Context, it *Iteration, off int64) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
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
	a.mu.Lock()
	if hit {
		a.hits = append(a.hits, key)
	} else if w.Final {
		if a.fetched == nil {
			a.fetched = map[string][]byte{}
		}
		a.fetched[key] = body
	}
	a.mu.Unlock()
	txs := keepInWindow(it, w, pg.Txs)
	if err := <-a.unit.commits.submit(store.Page{WindowID: w.ID, Attempt: w.Attempt, Offset: off, APITotal: pg.Total, Txs: txs}); err != nil {
		return 0, fmt.Errorf("commit window %s offset %d: %w", span(w), off, err)
	}
	if w.Final {
		r.progressPages.Add(1)
	}
	return pg.Total, nil
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
