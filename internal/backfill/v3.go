package backfill

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/stxwallets/walletcache/internal/hiro"
	"github.com/stxwallets/walletcache/internal/store"
)

// CursorAPI is what the v3 source needs of a server: the keyset-paged
// transaction list of API v9+ (GET /extended/v3/transactions) and the
// lookups that map burn times to heights.
type CursorAPI interface {
	// Probe tells whether the server serves the list at all.
	Probe(ctx context.Context) (bool, error)
	// Transactions returns one page at or below cursor ("" for the newest),
	// newest first, with the exact response body for the raw cache.
	Transactions(ctx context.Context, cursor string) (hiro.V3Page, []byte, error)
	// BlockAtTime returns the newest block whose block_time is at or before
	// unix, or hiro.ErrBlockNotFound.
	BlockAtTime(ctx context.Context, unix int64) (hiro.BlockRef, error)
	// Tip reads the newest block.
	Tip(ctx context.Context) (hiro.Tip, error)
	// Counters reports requests sent so far.
	Counters() Counters
}

// clientCursorAPI adapts a Hiro client to CursorAPI.
type clientCursorAPI struct{ c *hiro.Client }

func (a clientCursorAPI) Probe(ctx context.Context) (bool, error) { return a.c.ProbeV3(ctx) }
func (a clientCursorAPI) Transactions(ctx context.Context, cursor string) (hiro.V3Page, []byte, error) {
	return a.c.V3Transactions(ctx, cursor)
}
func (a clientCursorAPI) BlockAtTime(ctx context.Context, unix int64) (hiro.BlockRef, error) {
	return a.c.BlockAtTime(ctx, unix)
}
func (a clientCursorAPI) PrefetchPage(ctx context.Context, cursor string) <-chan struct{} {
	return a.c.PrefetchV3Page(ctx, cursor)
}
func (a clientCursorAPI) Tip(ctx context.Context) (hiro.Tip, error) { return a.c.ChainTip(ctx) }
func (a clientCursorAPI) Counters() Counters                        { return clientCounters(a.c) }

// v3Source walks GET /extended/v3/transactions along its keyset cursor:
// its units are height segments (v3plan.go explains how a walk over heights
// proves a burn-time span complete).
type v3Source struct {
	api CursorAPI
	// newest is the newest page NewestBurnTime read for the iteration
	// being planned: the open walk starts with it (one request less).
	mu     sync.Mutex
	newest *hiro.V3Page
}

// NewV3 is the v3 source over a Hiro client. When the run also has a v1
// source, both must share the client: the rate budget is one, and so are
// the request counters.
func NewV3(c *hiro.Client) Source { return &v3ClientSource{v3Source{api: clientCursorAPI{c}}, c} }

// v3ClientSource is the v3 source over a Hiro client, which can also name
// blocks, so a run can tell which chain the server serves.
type v3ClientSource struct {
	v3Source
	c *hiro.Client
}

// BlockHash names the block at height.
func (s *v3ClientSource) BlockHash(ctx context.Context, height int64) (string, error) {
	return s.c.BlockHash(ctx, height)
}

// BlockAtDepth names the block depth below the newest.
func (s *v3ClientSource) BlockAtDepth(ctx context.Context, depth int64) (int64, string, error) {
	return s.c.BlockAtDepth(ctx, depth)
}

// NewV3Over is the v3 source over any CursorAPI (a test server in memory).
func NewV3Over(api CursorAPI) Source { return &v3Source{api: api} }

func (s *v3Source) Name() string                              { return SourceV3 }
func (s *v3Source) Tip(ctx context.Context) (hiro.Tip, error) { return s.api.Tip(ctx) }
func (s *v3Source) Counters() Counters                        { return s.api.Counters() }
func (s *v3Source) Probe(ctx context.Context) (bool, error)   { return s.api.Probe(ctx) }

// NewestBurnTime reads the burn time of the newest transaction: the first
// row of the list's newest page. The loop reads it after the tip and just
// before Plan, so the page is also a walk from the tip read after the tip
// was: the iteration's open walk starts with it.
func (s *v3Source) NewestBurnTime(ctx context.Context) (time.Time, bool, error) {
	pg, _, err := s.api.Transactions(ctx, "")
	s.mu.Lock()
	s.newest = nil
	if err == nil {
		s.newest = &pg
	}
	s.mu.Unlock()
	if err != nil || len(pg.Txs) == 0 {
		return time.Time{}, false, err
	}
	return pg.Txs[0].BurnBlockTime, true, nil
}

// takeNewest returns the newest page read for this iteration, once.
func (s *v3Source) takeNewest() *hiro.V3Page {
	s.mu.Lock()
	defer s.mu.Unlock()
	pg := s.newest
	s.newest = nil
	return pg
}

// pagePrefetcher is a CursorAPI that can ask for a page before the walk
// that reads it does (hiro.Client.Prefetch).
type pagePrefetcher interface {
	PrefetchPage(ctx context.Context, cursor string) <-chan struct{}
}

// Plan turns the coverage gaps into height segments (plan). The open walk
// reads the newest page first and the page at its next cursor second,
// whatever the plan: that page is asked for as soon as the first height
// lookup has answered, when the rate budget has a slot the lookups leave
// free until the plan is made (asked earlier, it would delay a lookup), so
// that the walk finds it answered. Only a plan whose open segment ends
// within the newest page leaves it unread.
func (s *v3Source) Plan(ctx context.Context, it *Iteration) ([]Unit, error) {
	newest := s.takeNewest() // never used by a later iteration
	var ahead <-chan struct{}
	readAhead := func() {}
	if p, ok := s.api.(pagePrefetcher); ok && newest != nil && newest.Next != "" {
		var once sync.Once
		readAhead = func() { once.Do(func() { ahead = p.PrefetchPage(ctx, newest.Next) }) }
	}
	units, err := s.plan(ctx, it, newest, readAhead)
	switch {
	case ahead == nil:
	case err != nil:
		<-ahead // no request outlives an iteration that stops here
	default:
		it.onEnd = append(it.onEnd, func() { <-ahead })
	}
	return units, err
}

// plan cuts the segments in four stages: carry over the segments of
// earlier iterations, record what finished ones prove, map the remaining
// gaps to height ranges (answered runs once a lookup has answered), and
// cut those into segments; an open walk that has not started begins with
// newest.
func (s *v3Source) plan(ctx context.Context, it *Iteration, newest *hiro.V3Page, answered func()) ([]Unit, error) {
	r := it.run
	st := r.cfg.Store
	dbctx := context.WithoutCancel(ctx)
	kept, err := s.carrySegments(dbctx, it)
	if err != nil {
		return nil, err
	}
	// What finished segments prove (a killed run may have left some).
	if err := s.Prove(dbctx, it); err != nil {
		return nil, err
	}
	windows, err := st.Windows(dbctx)
	if err != nil {
		return nil, err
	}
	cov := store.CoverageOf(it.Bounds.Horizon(), windows)
	ranges, finalBelow, err := s.heightRanges(ctx, it, cov, answered)
	if err != nil {
		return nil, err
	}
	nextID, err := st.NextSegmentID(dbctx)
	if err != nil {
		return nil, err
	}
	tip := it.Tip
	chainStart, _ := tip.FirstHeight() // 0, the bottom, when unknown
	plan := planSegments(segPlanInput{
		ranges: ranges, existing: kept, finalBelow: finalBelow, tipHeight: tip.Height, chainStart: chainStart,
		pieces: r.cfg.Concurrency * 4, minHeights: minSegmentHeights, nextID: nextID, runID: r.runID, cell: r.cfg.SegmentCell,
	})
	if err := st.SaveSegments(dbctx, plan.add, plan.drop); err != nil {
		return nil, err
	}
	walks := newWalkSet(r, s.api, plan.active, nextID, chainStart)
	walks.commits = startCommitter(it, func(ctx context.Context, pages []segCommit) error {
		sp := make([]store.SegmentPage, len(pages))
		segs := make([]*store.Segment, len(pages))
		var progress int64
		for i, p := range pages {
			sp[i] = p.page
			segs[i] = &sp[i].Segment
			if p.progress {
				progress++
			}
		}
		var n int
		var deleted int64
		err := walks.write(segs, func() (err error) {
			n, deleted, err = st.CommitSegmentPages(ctx, sp)
			return err
		})
		if err != nil {
			return err
		}
		r.rows.Add(int64(n))
		r.deleted.Add(deleted)
		r.pages.Add(int64(len(pages)))
		r.progressPages.Add(progress)
		if deleted > 0 {
			r.log.Info("removed rows that left the canonical chain", "rows", deleted)
		}
		return nil
	})
	walks.runs = startCommitter(it, walks.writeRuns)
	it.landed = append(it.landed, walks.runs.failure)
	units := make([]Unit, len(plan.active))
	for i, g := range plan.active {
		u := walks.unit(g)
		if g.Open && !g.Started {
			u.newest = newest
		}
		units[i] = u
	}
	if !r.cfg.NoSplit && !r.cfg.Offline {
		// An offline rebuild reads the cache on every core already; a
		// split could only send a walk where the cache has no page.
		it.more = walks.more
	}
	return units, nil
}

// carrySegments keeps the segments still valid: those of earlier runs that
// were provisional are walked afresh, and an open segment this run started
// becomes a fixed range (new blocks above it get a new open segment).
func (s *v3Source) carrySegments(ctx context.Context, it *Iteration) ([]store.Segment, error) {
	st := it.run.cfg.Store
	segs, err := st.Segments(ctx)
	if err != nil {
		return nil, err
	}
	var put, kept []store.Segment
	var drop []int64
	for _, g := range segs {
		switch {
		case !g.Final && g.RunID != it.run.runID:
			drop = append(drop, g.ID)
			continue
		case g.Open && g.Started:
			g.Open, g.Hi = false, max(g.TopHeight, g.Lo)
			put = append(put, g)
		}
		kept = append(kept, g)
	}
	return kept, st.SaveSegments(ctx, put, drop)
}

// Prove turns what the finished segments prove into verified, final
// windows for the parts of the horizon not yet covered.
func (s *v3Source) Prove(ctx context.Context, it *Iteration) error {
	r := it.run
	st := r.cfg.Store
	segs, err := st.Segments(ctx)
	if err != nil {
		return err
	}
	windows, err := st.Windows(ctx)
	if err != nil {
		return err
	}
	proven := provenSpans(segs, it.Settle(), it.Bounds.FinalEdge)
	spans, drop := newWindows(proven, windows, it.Bounds.Horizon(), int64(r.cfg.Window.Seconds()))
	if len(spans) == 0 && len(drop) == 0 {
		return nil
	}
	deleted, err := st.RecordWindows(ctx, SourceV3, spans, drop)
	if err != nil {
		return err
	}
	r.verified.Add(int64(len(spans)))
	r.deleted.Add(deleted)
	if deleted > 0 {
		r.log.Info("removed rows outside the heights that prove their window (not canonical)", "rows", deleted)
	}
	if len(drop) > 0 {
		r.log.Info("v3 walk replaced window records that were not verified", "windows", len(drop))
	}
	return nil
}

// heightRanges maps the coverage gaps to the block heights that must be
// walked to prove them, and finds finalBelow, the height below which every
// row is final. The last gap, or the provisional tail when everything is
// covered, becomes a range open at the top: it is walked from the tip on
// every run. A gap that does not reach the tip becomes a fixed range, unless
// its heights reach the provisional zone: then it joins the open range.
// The lookups are sent together, in two rounds (those that need finalBelow
// last), not one after another: each costs a round trip before any walk
// can start. answered runs after each lookup the server answered.
func (s *v3Source) heightRanges(ctx context.Context, it *Iteration, cov store.Coverage, answered func()) ([]heightRange, int64, error) {
	b, settle := it.Bounds, it.Settle()
	r := it.run
	l := heightLookup{at: func(ctx context.Context, unix int64) (hiro.BlockRef, error) {
		ref, err := r.blockAtTime(ctx, s.api, unix)
		if err == nil || errors.Is(err, hiro.ErrBlockNotFound) {
			answered()
		}
		return ref, err
	}, log: r.log}
	gaps := cov.Missing
	topFrom := b.FinalEdge + 1
	if n := len(gaps); n > 0 && gaps[n-1].End >= b.FinalEdge {
		topFrom, gaps = gaps[n-1].Start, gaps[:n-1]
	}
	finalBelow := int64(0)
	los := make([]int64, len(gaps)+1) // each gap's lo, then the top range's
	his := make([]int64, len(gaps))
	oks := make([]bool, len(gaps))
	round1 := []func(context.Context) error{func(ctx context.Context) error {
		ref, err := l.at(ctx, b.FinalEdge-settle)
		switch {
		case err == nil:
			finalBelow = ref.Height + 1
		case !errors.Is(err, hiro.ErrBlockNotFound):
			return err
		}
		return nil
	}}
	for i := range los {
		from := topFrom
		if i < len(gaps) {
			from = gaps[i].Start
		}
		round1 = append(round1, func(ctx context.Context) (err error) {
			los[i], err = l.below(ctx, from-settle, settle)
			return err
		})
	}
	if err := together(ctx, round1); err != nil {
		return nil, 0, err
	}
	round2 := make([]func(context.Context) error, len(gaps))
	for i, g := range gaps {
		round2[i] = func(ctx context.Context) (err error) {
			his[i], oks[i], err = l.above(ctx, g.End, settle, finalBelow)
			return err
		}
	}
	if err := together(ctx, round2); err != nil {
		return nil, 0, err
	}
	var ranges []heightRange
	carry := int64(-1) // lo of a gap below the chain's first block, joined to the next range
	for i := range gaps {
		lo, hi := los[i], his[i]
		if carry >= 0 {
			lo, carry = min(lo, carry), -1
		}
		switch {
		case !oks[i]: // reaches the provisional zone: walk it with the tail
			carry = lo
		case hi < 0: // the chain starts after the gap: join the next range
			carry = lo
		case hi < lo:
			carry = lo
		default:
			ranges = append(ranges, heightRange{lo: lo, hi: hi})
		}
	}
	lo := los[len(gaps)]
	if carry >= 0 {
		lo = min(lo, carry)
	}
	if r.cfg.Offline {
		// No walk from the tip without the network: the top range stops
		// below the provisional heights.
		if finalBelow > lo {
			ranges = append(ranges, heightRange{lo: lo, hi: finalBelow - 1})
		}
		return ranges, finalBelow, nil
	}
	return append(ranges, heightRange{lo: lo, open: true}), finalBelow, nil
}

// together runs fs at once and returns the first error; the client's
// semaphore and rate budget still bound what goes out.
func together(ctx context.Context, fs []func(context.Context) error) error {
	if len(fs) == 1 {
		return fs[0](ctx)
	}
	errs := make([]error, len(fs))
	var wg sync.WaitGroup
	for i, f := range fs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(ctx)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// V3CacheKey names the raw cache file of the v3 page at cursor: a page of
// final rows never changes, so its cursor identifies it ("" — the tip — is
// never cached).
func V3CacheKey(cursor string) string {
	return fmt.Sprintf("v3_%s_l%d", strings.ReplaceAll(cursor, ":", "-"), hiro.PageLimit)
}
