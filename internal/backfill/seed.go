package backfill

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	"github.com/stxwallets/walletcache/internal/chain"
	"github.com/stxwallets/walletcache/internal/hiro"
	"github.com/stxwallets/walletcache/internal/seed"
	"github.com/stxwallets/walletcache/internal/store"
)

// seedBatch is how many staged rows make one step of live progress.
const seedBatch = 50_000

// seedSource takes the final history from a stacks-blockchain-api
// PostgreSQL database or its pg_dump archive (internal/seed). Its one unit
// per iteration streams every missing final window of the seed's snapshot
// in one scan, routes the rows to windows of the planning grid, and
// verifies each window against the seed's own count. Windows near the
// snapshot's tip, and anything newer, are left to the API source that runs
// after it.
type seedSource struct {
	r seed.Reader
}

// NewSeed is the seed source over a seed reader.
func NewSeed(r seed.Reader) Source { return &seedSource{r} }

func (s *seedSource) Name() string                            { return s.r.Kind() }
func (s *seedSource) Counters() Counters                      { return Counters{} }
func (s *seedSource) Prove(context.Context, *Iteration) error { return nil }

// Tip is the chain tip of the seed's snapshot.
func (s *seedSource) Tip(ctx context.Context) (hiro.Tip, error) {
	t, err := s.r.Tip(ctx)
	if err != nil {
		return hiro.Tip{}, err
	}
	return hiro.Tip{Height: t.Height, BurnHeight: t.BurnBlockHeight, BurnBlockTime: t.BurnBlockTime, BlockTime: t.BurnBlockTime}, nil
}

// anchor is the deep block of the seed's snapshot that names its chain.
func (s *seedSource) anchor(ctx context.Context) (seed.Block, error) {
	t, err := s.r.Tip(ctx)
	return t.Anchor, err
}

// Plan makes one unit of every final window of the horizon the seed can
// fill: the gaps of coverage cut on the planning grid, up to the seed's
// final edge.
func (s *seedSource) Plan(ctx context.Context, it *Iteration) ([]Unit, error) {
	l := Plan(it.Bounds, it.Windows, int64(it.run.cfg.Window.Seconds()), nil)
	var gaps []store.Span
	for _, g := range l.Final {
		gaps = append(gaps, tile(g, int64(it.run.cfg.Window.Seconds()))...)
	}
	ws, err := bulkWindows(ctx, it, s.Name(), l.Resume, gaps)
	if err != nil || len(ws) == 0 {
		return nil, err
	}
	return []Unit{&seedUnit{src: s, windows: ws}}, nil
}

// bulkWindows is the windows a bulk source fills whole, recorded under
// source, by Start: the half-done API windows of redo, each as its next
// attempt, and the new windows of spans. A bulk load writes no page
// bookkeeping and reads nothing from the server, so how a gap is cut
// costs nothing: the seed cuts on the grid, the replay as the cache's
// windows were cut.
func bulkWindows(ctx context.Context, it *Iteration, source string, redo []Planned, spans []store.Span) ([]store.Window, error) {
	nextID, err := it.run.cfg.Store.NextWindowID(context.WithoutCancel(ctx))
	if err != nil {
		return nil, err
	}
	ids := &atomic.Int64{}
	ids.Store(nextID - 1)
	var ws []store.Window
	for _, p := range redo {
		w := p.Window
		w.Source = source
		w.Attempt++
		ws = append(ws, w)
	}
	for _, sp := range spans {
		w := newWindow(ids, sp.Start, sp.End, true)
		w.Source = source
		ws = append(ws, w)
	}
	sort.Slice(ws, func(i, j int) bool { return ws[i].Start < ws[j].Start })
	return ws, nil
}

// seedUnit is every window one seed iteration fills.
type seedUnit struct {
	src     *seedSource
	windows []store.Window // by Start, disjoint
}

func (u *seedUnit) Label() string {
	first, last := u.windows[0], u.windows[len(u.windows)-1]
	return fmt.Sprintf("%s seed %s", u.src.Name(), chain.Span{Start: first.Start, End: last.End})
}
func (u *seedUnit) Final() bool { return true }

// counter is a seed that can count its rows independently of the scan,
// in the same snapshot (PostgreSQL): the check of every window.
type counter interface {
	CountsByBurnTime(ctx context.Context, start, end int64) (times, counts []int64, err error)
}

// sumCounts sets each window's seed count from rows counted per burn time
// (ascending), with prefix sums.
func sumCounts(ws []store.SeedWindow, times, counts []int64) {
	prefix := make([]int64, len(counts)+1)
	for i, n := range counts {
		prefix[i+1] = prefix[i] + n
	}
	for i := range ws {
		a := sort.Search(len(times), func(k int) bool { return times[k] >= ws[i].Start })
		b := sort.Search(len(times), func(k int) bool { return times[k] > ws[i].End })
		ws[i].SeedCount = prefix[b] - prefix[a]
	}
}

// Run scans the seed once over the span of its windows and writes every
// row that falls in one (internal/store's SeedLoad: one INSERT over a row
// feed, no per-page bookkeeping), then commits all windows in one transaction, each
// verified against the seed's count. A window that does not match is left
// to the API.
func (u *seedUnit) Run(ctx context.Context, it *Iteration) (bool, error) {
	return loadWithStagingRetry(it, func(stage bool) (bool, error) { return u.load(ctx, it, stage) })
}

// load is one pass of Run: scan, stage (or append directly), commit.
func (u *seedUnit) load(ctx context.Context, it *Iteration, stage bool) (bool, error) {
	r := it.run
	dbctx := context.WithoutCancel(ctx)
	lo, hi := u.windows[0].Start, u.windows[len(u.windows)-1].End
	load, err := r.cfg.Store.BeginSeedLoad(dbctx, store.Span{Start: lo, End: hi}, stage)
	if err != nil {
		return false, err
	}
	routed := make([]int64, len(u.windows))
	var staged, sinceProgress int64
	started := time.Now()
	keep := make([]chain.Tx, 0, seed.BatchSize)
	var scanErr error
	err = load.Write(dbctx, func(put func([]chain.Tx) error) error {
		_, scanErr = u.src.r.Scan(ctx, lo, hi, func(batch []chain.Tx) error {
			keep = keep[:0]
			for _, t := range batch {
				b := t.BurnBlockTime.Unix()
				i := sort.Search(len(u.windows), func(k int) bool { return u.windows[k].End >= b })
				if i == len(u.windows) || b < u.windows[i].Start {
					continue // in a window already covered
				}
				routed[i]++
				keep = append(keep, t)
			}
			staged += int64(len(keep))
			if sinceProgress += int64(len(keep)); sinceProgress >= seedBatch {
				r.pages.Add(1) // live progress: a batch staged
				r.lastCommit.Store(time.Now().UnixNano())
				sinceProgress = 0
			}
			return put(keep)
		})
		return scanErr
	})
	if err != nil {
		load.Abort()
		if scanErr != nil && errors.Is(err, scanErr) { // the seed's own error, not the store's
			return false, fmt.Errorf("%s seed: %w", u.src.Name(), err)
		}
		return false, err
	}
	scanned := time.Now()
	ws := make([]store.SeedWindow, len(u.windows))
	for i, w := range u.windows {
		ws[i] = store.SeedWindow{Window: w, SeedCount: routed[i]}
	}
	if c, ok := u.src.r.(counter); ok {
		// An independent count in the same snapshot: it catches rows the
		// scan or the conversion lost.
		times, counts, err := c.CountsByBurnTime(ctx, lo, hi)
		if err != nil {
			load.Abort()
			return false, err
		}
		sumCounts(ws, times, counts)
	}
	counted := time.Now()
	res, err := load.Finish(dbctx, u.src.Name(), ws)
	if err != nil {
		return false, err
	}
	r.rows.Add(res.Rows)
	r.deleted.Add(res.Deleted)
	r.progressPages.Add(1)
	all := true
	for i, w := range ws {
		if !res.Verified[i] {
			all = false
			r.log.Warn("a seed window does not match the seed's own count; leaving it to the API",
				"window", span(w.Window), "seed_count", w.SeedCount, "stored", res.Stored[i])
			continue
		}
		r.verified.Add(1)
		r.seedWindows.Add(1)
		r.seedSeconds.Add(w.End - w.Start + 1)
	}
	r.log.Info("seed loaded", "seed", u.src.Name(), "rows", staged, "windows", len(ws),
		"scan_and_stage", scanned.Sub(started).Round(time.Millisecond).String(),
		"count", counted.Sub(scanned).Round(time.Millisecond).String(),
		"commit", time.Since(counted).Round(time.Millisecond).String())
	return all, nil
}
