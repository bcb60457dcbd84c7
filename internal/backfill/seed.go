package backfill

import (
	"context"
	"fmt"
	"sort"

	"github.com/stxwallets/walletcache/internal/chain"
	"github.com/stxwallets/walletcache/internal/hiro"
	"github.com/stxwallets/walletcache/internal/seed"
	"github.com/stxwallets/walletcache/internal/store"
)

// seedBatch is how many rows the seed commits at once: large batches are
// what makes a bulk load fast, and a kill -9 loses at most one.
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
// fill: the gaps of coverage on the planning grid, up to the seed's final
// edge.
func (s *seedSource) Plan(ctx context.Context, it *Iteration) ([]Unit, error) {
	st := it.run.cfg.Store
	dbctx := context.WithoutCancel(ctx)
	nextID, err := st.NextWindowID(dbctx)
	if err != nil {
		return nil, err
	}
	plan, _ := Plan(it.Bounds, it.Windows, int64(it.run.cfg.Window.Seconds()), nextID)
	var ws []store.Window
	for _, p := range plan {
		if p.Final && p.End <= it.Bounds.FinalEdge {
			w := p.Window
			w.Source = s.Name()
			if p.Resume { // a half-done API window: the seed redoes it whole
				w.Attempt++
			}
			ws = append(ws, w)
		}
	}
	if len(ws) == 0 {
		return nil, nil
	}
	return []Unit{&seedUnit{src: s, windows: ws}}, nil
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

// counter is a seed that can count a range in its snapshot independently
// of the scan (PostgreSQL): the check of a window.
type counter interface {
	Count(ctx context.Context, start, end int64) (int64, error)
}

// Run scans the seed once over the span of its windows, commits the rows of
// each window in large batches, and finishes every window against the
// seed's count. A window whose stored rows do not match is left to the API.
func (u *seedUnit) Run(ctx context.Context, it *Iteration) (bool, error) {
	r := it.run
	st := r.cfg.Store
	dbctx := context.WithoutCancel(ctx)
	for _, w := range u.windows {
		if err := st.BeginAttempt(dbctx, w); err != nil {
			return false, err
		}
	}
	routed := make([]int64, len(u.windows))
	offsets := make([]int64, len(u.windows))
	pending := map[int][]chain.Tx{}
	inPending := 0
	flush := func() error {
		if inPending == 0 {
			return nil
		}
		pages := make([]store.Page, 0, len(pending))
		for i, txs := range pending {
			w := u.windows[i]
			pages = append(pages, store.Page{WindowID: w.ID, Attempt: w.Attempt, Offset: offsets[i], APITotal: -1, Txs: txs})
			offsets[i]++
		}
		n, err := st.CommitPages(dbctx, pages)
		if err != nil {
			return fmt.Errorf("commit %s rows: %w", u.src.Name(), err)
		}
		r.rows.Add(int64(n))
		r.pages.Add(1)
		r.progressPages.Add(1)
		pending, inPending = map[int][]chain.Tx{}, 0
		return nil
	}
	lo, hi := u.windows[0].Start, u.windows[len(u.windows)-1].End
	_, err := u.src.r.Scan(ctx, lo, hi, func(batch []chain.Tx) error {
		for _, t := range batch {
			b := t.BurnBlockTime.Unix()
			i := sort.Search(len(u.windows), func(k int) bool { return u.windows[k].End >= b })
			if i == len(u.windows) || b < u.windows[i].Start {
				continue // in a window already covered
			}
			routed[i]++
			pending[i] = append(pending[i], t) // the batch is reused: t is a copy
			inPending++
		}
		if inPending >= seedBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return false, err
	}
	count, canCount := u.src.r.(counter)
	all := true
	for i, w := range u.windows {
		want := routed[i]
		if canCount {
			if want, err = count.Count(ctx, w.Start, w.End); err != nil {
				return false, err
			}
		}
		f, err := st.FinishAttempt(dbctx, w, want, true)
		if err != nil {
			return false, err
		}
		r.deleted.Add(f.Deleted)
		if !f.Verified {
			all = false
			r.log.Warn("a seed window does not match the seed's own count; leaving it to the API",
				"window", span(w), "seed_count", want, "stored", f.Stored)
			continue
		}
		r.verified.Add(1)
		r.seedWindows.Add(1)
		r.seedSeconds.Add(w.End - w.Start + 1)
	}
	return all, nil
}
