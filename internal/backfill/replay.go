package backfill

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/stxwallets/walletcache/internal/chain"
	"github.com/stxwallets/walletcache/internal/hiro"
	"github.com/stxwallets/walletcache/internal/store"
)

// replaySource rebuilds final v1 windows whose pages are all in the raw
// cache through the seed's bulk load (one INSERT over a row feed, then one
// transaction for all windows), instead of page by page through the
// committer: pages are decoded on every core and no per-page bookkeeping
// is written. Each window is verified as an API window is, against the
// total its pages carry; one that does not match, or whose pages are not
// all there, is left to the API source that runs after it.
type replaySource struct {
	cache PageCache
	api   func() Source // the API source in use, for the tip
}

// replayer returns the raw cache replay pass, or nil when the cache cannot
// list the pages it holds or must not be read (backfill.force_refresh).
func (r *run) replayer() Source {
	if _, ok := r.cfg.Cache.(keyLister); !ok || r.cfg.ForceRefresh {
		return nil
	}
	return &replaySource{cache: r.cfg.Cache, api: func() Source { return r.sources.inUse }}
}

func (s *replaySource) Name() string                            { return "raw cache" }
func (s *replaySource) Counters() Counters                      { return Counters{} }
func (s *replaySource) Prove(context.Context, *Iteration) error { return nil }

// Tip is the API's: the replay plans on the same final edge as the API
// iteration after it (and reads no tip of its own when the run probed one).
func (s *replaySource) Tip(ctx context.Context) (hiro.Tip, error) { return s.api().Tip(ctx) }

// Plan makes one unit of the cached windows that fit in the final gaps of
// the horizon (whatever plan cut them: the cache is indexed by the windows
// its keys name) and whose pages may all be there (the rest are checked
// as they are read). A half-done API window is redone whole, as its next
// attempt, when the cache holds its pages.
func (s *replaySource) Plan(ctx context.Context, it *Iteration) ([]Unit, error) {
	r := it.run
	l := Plan(it.Bounds, it.Windows, int64(r.cfg.Window.Seconds()), r.givenUpSpans())
	cached := r.cachedWindows()
	picked, _ := fitCached(l, it.Bounds.HorizonStart, cached)
	var spans []store.Span
	for _, c := range picked {
		if c.whole {
			spans = append(spans, c.Span)
		}
	}
	var redo []Planned
	for _, p := range l.Resume {
		i := sort.Search(len(cached), func(k int) bool {
			return cached[k].Start > p.Start || (cached[k].Start == p.Start && cached[k].End >= p.End)
		})
		if i < len(cached) && cached[i].Span == (store.Span{Start: p.Start, End: p.End}) && cached[i].whole {
			redo = append(redo, p)
		}
	}
	ws, err := bulkWindows(ctx, it, SourceV1, redo, spans) // the rows are the v1 API's
	if err != nil || len(ws) == 0 {
		return nil, err
	}
	return []Unit{&replayUnit{src: s, windows: ws}}, nil
}

// replayUnit is every window one replay fills.
type replayUnit struct {
	src     *replaySource
	windows []store.Window // by Start, disjoint
}

func (u *replayUnit) Label() string {
	first, last := u.windows[0], u.windows[len(u.windows)-1]
	return fmt.Sprintf("raw cache replay %s", chain.Span{Start: first.Start, End: last.End})
}
func (u *replayUnit) Final() bool { return true }

// replayed is one window read whole from the cache.
type replayed struct {
	i     int // index in the unit's windows
	rows  []chain.Tx
	total int64    // the API's total: the largest its pages report
	keys  []string // its pages
}

// Run reads the windows' pages on every core, writes the rows of every
// window read whole in one load, and verifies each against its total.
func (u *replayUnit) Run(ctx context.Context, it *Iteration) (bool, error) {
	return loadWithStagingRetry(it, func(stage bool) (bool, error) { return u.load(ctx, it, stage) })
}

func (u *replayUnit) load(ctx context.Context, it *Iteration, stage bool) (bool, error) {
	r := it.run
	dbctx := context.WithoutCancel(ctx)
	started := time.Now()
	lo, hi := u.windows[0].Start, u.windows[len(u.windows)-1].End
	load, err := r.cfg.Store.BeginSeedLoad(dbctx, store.Span{Start: lo, End: hi}, stage)
	if err != nil {
		return false, err
	}
	var whole []replayed // without their rows: put copied them
	var pages int64
	err = load.Write(dbctx, func(put func([]chain.Tx) error) error {
		return u.read(ctx, it, func(w replayed) error {
			if err := put(w.rows); err != nil {
				return err
			}
			w.rows = nil
			whole = append(whole, w)
			pages += int64(len(w.keys))
			r.pages.Add(int64(len(w.keys))) // live progress
			return nil
		})
	})
	if err != nil {
		load.Abort()
		return false, err
	}
	if len(whole) == 0 {
		load.Abort()
		return false, ctx.Err()
	}
	ws := make([]store.SeedWindow, len(whole))
	for k, w := range whole {
		ws[k] = store.SeedWindow{Window: u.windows[w.i], SeedCount: w.total}
	}
	res, err := load.Finish(dbctx, SourceV1, ws)
	if err != nil {
		return false, err
	}
	r.rows.Add(res.Rows)
	r.deleted.Add(res.Deleted)
	r.cacheHits.Add(pages)
	r.progressPages.Add(pages)
	all := len(whole) == len(u.windows)
	for k, w := range ws {
		if !res.Verified[k] {
			all = false
			// Pages that do not add up are not served again: the API
			// source fetches the window afresh.
			cacheDrop(it, whole[k].keys)
			r.log.Warn("cached pages of a window do not match their total; fetching it from the API",
				"window", span(w.Window), "api_total", w.SeedCount, "stored", res.Stored[k])
			continue
		}
		r.verified.Add(1)
	}
	r.log.Info("replayed from the raw cache", "windows", len(whole), "of", len(u.windows), "pages", pages,
		"rows", res.Rows, "elapsed", time.Since(started).Round(time.Millisecond).String())
	// After Ctrl+C the windows read whole are kept; the run then stops.
	return all, ctx.Err()
}

// read decodes the unit's windows on every core and hands each window read
// whole to emit, one at a time. A window with a page missing or corrupt
// (deleted, as cachedPage does) is skipped. Ctrl+C (ctx) stops the reading
// without an error: the windows already emitted are whole and are kept.
func (u *replayUnit) read(ctx context.Context, it *Iteration, emit func(replayed) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	out := make(chan replayed, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if w, ok := u.readWindow(it, i); ok {
					select {
					case out <- w:
					case <-ctx.Done():
						return
					}
				}
			}
		}()
	}
	go func() {
		defer close(out)
		defer wg.Wait()
		defer close(next)
		for i := range u.windows {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	var err error
	for w := range out {
		if err == nil {
			if err = emit(w); err != nil {
				cancel()
			}
		}
	}
	return err
}

// readWindow reads every page of window i, from offset 0 to the largest
// total they report, keeping the rows the v1 source would store.
func (u *replayUnit) readWindow(it *Iteration, i int) (replayed, bool) {
	w := u.windows[i]
	out := replayed{i: i, total: -1}
	for off := int64(0); out.total < 0 || off < out.total; off += hiro.PageLimit {
		key := CacheKey(SourceV1, span(w), off)
		body, ok, err := u.src.cache.Get(key)
		if err != nil || !ok {
			return out, false
		}
		pg, err := hiro.DecodeTxPage(body)
		if err == nil && pg.Offset != off {
			err = fmt.Errorf("cached page has offset %d, want %d", pg.Offset, off)
		}
		if err != nil {
			it.run.log.Warn("raw cache file does not decode; the API will fetch the page", "key", key, "err", err)
			_ = u.src.cache.Delete(key)
			return out, false
		}
		out.total = max(out.total, pg.Total)
		out.keys = append(out.keys, key)
		out.rows = append(out.rows, keepInWindow(it, w, pg.Txs)...)
	}
	return out, true
}

// loadWithStagingRetry runs a bulk load straight into the table, and once
// more through a staging table when a row's tx_id is already stored
// elsewhere (store.ErrSeedConflict).
func loadWithStagingRetry(it *Iteration, load func(stage bool) (bool, error)) (bool, error) {
	all, err := load(false)
	if errors.Is(err, store.ErrSeedConflict) {
		it.run.log.Info("a row is already stored elsewhere; loading again through a staging table", "err", err)
		all, err = load(true)
	}
	return all, err
}
