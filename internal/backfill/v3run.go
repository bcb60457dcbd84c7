package backfill

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/stxwallets/walletcache/internal/hiro"
	"github.com/stxwallets/walletcache/internal/store"
)

// minSegmentHeights is the smallest height range worth a walk of its own:
// every segment ends on a page that is partly below it (~half a page).
const minSegmentHeights = 100

// lookupSteps bounds the by-block-time lookups for one boundary when block
// times and burn times disagree more than usual.
const lookupSteps = 8

// iterationV3 reads the tip, turns the coverage gaps into height segments,
// walks them with Concurrency workers and records what the walks prove as
// verified windows.
func (r *run) iterationV3(ctx context.Context, iter int) (iterResult, Bounds, error) {
	cfg := r.cfg
	src := cfg.V3
	r.setPhase("planning", iter)
	tip, err := src.Tip(ctx)
	if err != nil {
		return iterResult{}, Bounds{}, fmt.Errorf("iteration %d: %w", iter, err)
	}
	b := r.boundsAt(tip)
	dbctx := context.WithoutCancel(ctx)
	if err := r.saveTip(dbctx, tip); err != nil {
		return iterResult{}, b, err
	}
	settle := int64(cfg.Settle / time.Second)

	// Segments of earlier runs that were provisional are walked afresh;
	// an open segment this run started is now a fixed range (new blocks
	// above it get a new open segment).
	segs, err := cfg.Store.Segments(dbctx)
	if err != nil {
		return iterResult{}, b, err
	}
	var put []store.Segment
	var drop []int64
	var kept []store.Segment
	for _, g := range segs {
		switch {
		case !g.Final && g.RunID != r.v3.runID:
			drop = append(drop, g.ID)
			continue
		case g.Open && g.Started:
			g.Open, g.Hi = false, max(g.TopHeight, g.Lo)
			put = append(put, g)
		}
		kept = append(kept, g)
	}
	if err := cfg.Store.SaveSegments(dbctx, put, drop); err != nil {
		return iterResult{}, b, err
	}
	// What finished segments prove (a killed run may have left some).
	if _, err := r.recordProofs(dbctx, b); err != nil {
		return iterResult{}, b, err
	}
	windows, err := cfg.Store.Windows(dbctx)
	if err != nil {
		return iterResult{}, b, err
	}
	cov := store.CoverageOf(b.Horizon(), windows)

	ranges, finalBelow, err := r.heightRanges(ctx, b, cov, settle)
	if err != nil {
		return iterResult{}, b, err
	}
	nextID, err := cfg.Store.NextSegmentID(dbctx)
	if err != nil {
		return iterResult{}, b, err
	}
	chainStart := int64(0)
	if tip.Blocks > 0 {
		chainStart = max(tip.Height-tip.Blocks+1, 0)
	}
	plan := planSegments(segPlanInput{
		ranges: ranges, existing: kept, finalBelow: finalBelow, tipHeight: tip.Height, chainStart: chainStart,
		pieces: cfg.Concurrency * 4, minHeights: minSegmentHeights, nextID: nextID, runID: r.v3.runID,
	})
	if err := cfg.Store.SaveSegments(dbctx, plan.add, plan.drop); err != nil {
		return iterResult{}, b, err
	}
	finalLeft := 0
	for _, g := range plan.active {
		if g.Final {
			finalLeft++
		}
	}
	r.publishCommitted(dbctx, cov)
	r.mu.Lock()
	r.state.WindowsPlanned = len(plan.active)
	r.bounds = b
	r.mu.Unlock()
	r.windowsDone.Store(0)
	r.pagesKnown.Store(0)
	r.windowsOpened.Store(0)
	r.iterPages0.Store(r.pages.Load())
	r.log.Info("iteration planned", "iteration", iter, "source", "v3", "coverage_percent", round2(cov.Percent),
		"segments_to_walk", len(plan.active), "final_segments", finalLeft, "provisional_segments", len(plan.active)-finalLeft,
		"height_ranges", len(ranges), "tip_height", tip.Height, "tip_burn_time", tip.BurnBlockTime.Format(time.RFC3339))

	pagesBefore, progressBefore := r.pages.Load(), r.v3.progressPages.Load()
	verifiedBefore := r.verified.Load()
	r.setPhase("fetching", iter)
	budget := &pageBudget{left: cfg.MaxPages}
	allDone, err := r.walkSegments(ctx, plan.active, b, budget)
	if ctx.Err() != nil {
		return iterResult{}, b, ctx.Err()
	}
	if err != nil {
		return iterResult{}, b, err
	}
	if _, err := r.recordProofs(dbctx, b); err != nil {
		return iterResult{}, b, err
	}
	windows, err = cfg.Store.Windows(dbctx)
	if err != nil {
		return iterResult{}, b, err
	}
	cov = store.CoverageOf(b.Horizon(), windows)
	r.publishCommitted(dbctx, cov)
	c := r.counters()
	r.log.Info("iteration done", "iteration", iter, "source", "v3", "coverage_percent", round2(cov.Percent),
		"missing_ranges", len(cov.Missing), "pages", r.pages.Load()-pagesBefore, "cache_hits", r.cacheHits.Load(),
		"rows_written", r.rows.Load(), "rows_deleted", r.deleted.Load(),
		"requests", c.Requests, "retries", c.Retries, "throttled", c.Throttled,
		"budget_exhausted", budget.exhausted(), "elapsed", time.Since(r.started).Round(time.Second).String())
	// Within a run every segment resumes where it stopped, except the open
	// one at the top, which starts at the tip again in every iteration: its
	// pages alone are no progress (when a gap cannot be proven, they would
	// keep a growing chain's run alive forever).
	progressed := (r.v3.progressPages.Load() - progressBefore) + (r.verified.Load() - verifiedBefore)
	complete := !budget.exhausted() && allDone && cov.Percent >= 100
	return iterResult{complete: complete, progressed: progressed}, b, nil
}

// heightRanges maps the coverage gaps to the block heights that must be
// walked to prove them, and finds finalBelow, the height below which every
// row is final. The last gap, or the provisional tail when everything is
// covered, becomes a range open at the top: it is walked from the tip on
// every run. A gap that does not reach the tip becomes a fixed range, unless
// its heights reach the provisional zone: then it joins the open range.
func (r *run) heightRanges(ctx context.Context, b Bounds, cov store.Coverage, settle int64) ([]heightRange, int64, error) {
	finalBelow := int64(0)
	ref, err := r.cfg.V3.BlockAtTime(ctx, b.FinalEdge-settle)
	switch {
	case err == nil:
		finalBelow = ref.Height + 1
	case !errors.Is(err, hiro.ErrBlockNotFound):
		return nil, 0, err
	}
	gaps := cov.Missing
	topFrom := b.FinalEdge + 1
	if n := len(gaps); n > 0 && gaps[n-1].End >= b.FinalEdge {
		topFrom, gaps = gaps[n-1].Start, gaps[:n-1]
	}
	var ranges []heightRange
	carry := int64(-1) // lo of a gap below the chain's first block, joined to the next range
	for _, g := range gaps {
		lo, err := r.heightBelow(ctx, g.Start-settle, settle)
		if err != nil {
			return nil, 0, err
		}
		if carry >= 0 {
			lo, carry = min(lo, carry), -1
		}
		hi, ok, err := r.heightAbove(ctx, g.End, settle, finalBelow)
		if err != nil {
			return nil, 0, err
		}
		switch {
		case !ok: // reaches the provisional zone: walk it with the tail
			carry = lo
		case hi < 0: // the chain starts after the gap: join the next range
			carry = lo
		case hi < lo:
			carry = lo
		default:
			ranges = append(ranges, heightRange{lo: lo, hi: hi})
		}
	}
	lo, err := r.heightBelow(ctx, topFrom-settle, settle)
	if err != nil {
		return nil, 0, err
	}
	if carry >= 0 {
		lo = min(lo, carry)
	}
	return append(ranges, heightRange{lo: lo, open: true}), finalBelow, nil
}

// heightBelow returns a height whose block's burn time is at or before t,
// so that a walk down to it has seen burn times that low: the newest block
// with block_time <= t, or an older one when its burn time is later than
// its block time. 0 (walk to the bottom of the chain) when the chain is
// younger than t.
func (r *run) heightBelow(ctx context.Context, t, settle int64) (int64, error) {
	var h int64
	for k := int64(0); k < lookupSteps; k++ {
		ref, err := r.cfg.V3.BlockAtTime(ctx, t-k*max(settle, 60))
		if errors.Is(err, hiro.ErrBlockNotFound) {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		h = ref.Height
		if ref.BurnBlockTime.Unix() <= t {
			return h, nil
		}
	}
	r.log.Warn("no block found whose burn time is early enough; the walk may not prove its gap", "burn_time", t)
	return h, nil
}

// heightAbove returns a height whose block's burn time is at least
// gapEnd + settle, so that a walk from it proves the gap up to gapEnd.
// ok is false when that height is in the provisional zone (at or above
// finalBelow): the gap is then walked with the open range. hi is -1 when
// the chain starts after the gap.
func (r *run) heightAbove(ctx context.Context, gapEnd, settle, finalBelow int64) (hi int64, ok bool, err error) {
	for k := int64(0); k < lookupSteps; k++ {
		ref, err := r.cfg.V3.BlockAtTime(ctx, gapEnd+(2+k)*max(settle, 60))
		if errors.Is(err, hiro.ErrBlockNotFound) {
			return -1, true, nil
		}
		if err != nil {
			return 0, false, err
		}
		if ref.Height >= finalBelow {
			return 0, false, nil
		}
		if ref.BurnBlockTime.Unix() >= gapEnd+settle {
			return ref.Height, true, nil
		}
	}
	return 0, false, nil
}

// recordProofs turns what the finished segments prove into verified, final
// windows (v3) for the parts of the horizon not yet covered, and returns
// how many it recorded. Segments finish concurrently; one records at a time.
func (r *run) recordProofs(ctx context.Context, b Bounds) (int, error) {
	r.v3.proofMu.Lock()
	defer r.v3.proofMu.Unlock()
	segs, err := r.cfg.Store.Segments(ctx)
	if err != nil {
		return 0, err
	}
	windows, err := r.cfg.Store.Windows(ctx)
	if err != nil {
		return 0, err
	}
	proven := provenSpans(segs, int64(r.cfg.Settle/time.Second), b.FinalEdge)
	spans, drop := newWindows(proven, windows, b.Horizon(), int64(r.cfg.Window/time.Second))
	if len(spans) == 0 && len(drop) == 0 {
		return 0, nil
	}
	deleted, err := r.cfg.Store.RecordWindows(ctx, "v3", spans, drop)
	if err != nil {
		return 0, err
	}
	r.verified.Add(int64(len(spans)))
	r.deleted.Add(deleted)
	if deleted > 0 {
		r.log.Info("removed rows outside the heights that prove their window (not canonical)", "rows", deleted)
	}
	if len(drop) > 0 {
		r.log.Info("v3 walk replaced window records that were not verified", "windows", len(drop))
	}
	return len(spans), nil
}

// segCommit hands a page to the segment committer.
type segCommit struct {
	page     store.SegmentPage
	progress bool // a page of a fixed segment, not of the open one at the top
	done     chan error
}

// segCommitter is the only writer of segment pages during a v3 iteration.
// Like the v1 committer it commits whatever is queued in one transaction
// and keeps committing after Ctrl+C until every fetched page has landed.
func (r *run) segCommitter(ctx context.Context, in <-chan segCommit) {
	for req := range in {
		batch := []segCommit{req}
	drain:
		for len(batch) < 64 {
			select {
			case more, ok := <-in:
				if !ok {
					break drain
				}
				batch = append(batch, more)
			default:
				break drain
			}
		}
		pages := make([]store.SegmentPage, len(batch))
		var progress int64
		for i, b := range batch {
			pages[i] = b.page
			if b.progress {
				progress++
			}
		}
		n, deleted, err := r.cfg.Store.CommitSegmentPages(ctx, pages)
		if err == nil {
			r.rows.Add(int64(n))
			r.deleted.Add(deleted)
			r.pages.Add(int64(len(pages)))
			r.v3.progressPages.Add(progress)
			r.lastCommit.Store(time.Now().UnixNano())
			if deleted > 0 {
				r.log.Info("removed rows that left the canonical chain", "rows", deleted)
			}
		}
		for _, b := range batch {
			b.done <- err
		}
	}
}

// walkSegments walks the segments with Concurrency workers, highest first,
// and reports whether all of them finished. Errors are handled as in
// fetchAll: the budget and Ctrl+C end the walk quietly, anything else stops
// every worker and is returned.
func (r *run) walkSegments(ctx context.Context, segs []store.Segment, b Bounds, budget *pageBudget) (bool, error) {
	dbctx := context.WithoutCancel(ctx)
	commits := make(chan segCommit, r.cfg.Concurrency*2)
	committerDone := make(chan struct{})
	go func() { r.segCommitter(dbctx, commits); close(committerDone) }()
	defer func() { close(commits); <-committerDone }()

	return forEach(ctx, r, segs, budget, func(ctx context.Context, g store.Segment) (bool, error) {
		done, err := r.walkSegment(ctx, g, b, budget, commits)
		if err != nil || !done {
			return false, err
		}
		r.windowsDone.Add(1)
		if _, err := r.recordProofs(dbctx, b); err != nil {
			return false, err
		}
		return true, nil
	})
}

// walkSegment walks one segment down from where it stands until it passes
// below its lowest height. Every page commits with the segment's new state;
// the next page is fetched while the previous one commits. It returns
// whether the segment is done.
func (r *run) walkSegment(ctx context.Context, g store.Segment, b Bounds, budget *pageBudget, commits chan<- segCommit) (bool, error) {
	r.mu.Lock()
	r.state.CurrentWindow = segmentLabel(g)
	r.mu.Unlock()
	var pending chan error
	wait := func() error {
		if pending == nil {
			return nil
		}
		err := <-pending
		pending = nil
		if err != nil {
			return fmt.Errorf("commit segment %s: %w", segmentLabel(g), err)
		}
		return nil
	}
	cursor := g.NextCursor
	if !g.Started && !g.Open {
		cursor = hiro.BlockTopCursor(g.Hi)
	}
	// For the progress estimate: pages this walk needs, extrapolated from
	// the heights it has covered so far.
	var walked, estimate, startHeight int64
	for !g.Done {
		if err := ctx.Err(); err != nil {
			return false, errors.Join(err, wait())
		}
		if !budget.take() {
			return false, errors.Join(errBudget, wait())
		}
		pg, err := r.v3Page(ctx, g, cursor, b)
		atBottom := false
		if errors.Is(err, hiro.ErrCursorNotFound) {
			h, m, i, perr := hiro.ParseCursor(cursor)
			if perr == nil && (m != 0 || i != 0) {
				// The row the cursor named left the canonical chain: walk
				// its block again from the top (rows seen twice are upserts).
				r.log.Info("cursor not found; walking its block again from the top", "cursor", cursor, "segment", segmentLabel(g))
				cursor = hiro.BlockTopCursor(h)
				continue
			}
			atBottom, err = true, nil // nothing at or below the top of a block: the chain's bottom
		}
		if err != nil {
			return false, errors.Join(err, wait())
		}
		if h, m, i, perr := hiro.ParseCursor(cursor); perr == nil && (m != 0 || i != 0) && pg.Current != cursor {
			// The real API answers 200 for a cursor whose row left the
			// canonical chain and continues below it: walk the block again
			// from the top, as for the 404 of older servers.
			r.log.Info("the server resolved the cursor to another row (its row left the chain); walking its block again from the top",
				"cursor", cursor, "current", pg.Current, "segment", segmentLabel(g))
			cursor = hiro.BlockTopCursor(h)
			continue
		}
		if h, m, i, perr := hiro.ParseCursor(cursor); perr == nil && m == 0 && i == 0 && pg.Current == cursor {
			// H:0:0 matched a transaction (a microblock's first, before
			// Nakamoto) instead of standing for the top of block H: the
			// page would miss the rest of H. Start at the top of H+1;
			// rows above the segment are dropped below.
			r.log.Warn("the server read cursor H:0:0 as a transaction, not as the top of block H; starting one block higher", "cursor", cursor)
			cursor = hiro.BlockTopCursor(h + 1)
			continue
		}
		kept := pg.Txs[:0:0]
		below := false
		for _, t := range pg.Txs {
			switch {
			case t.BlockHeight < g.Lo:
				below = true
			case g.Contains(t.BlockHeight):
				kept = append(kept, t)
			}
		}
		if !g.Started {
			g.Started = true
			g.TopHeight = g.Hi
			if g.Open {
				g.TopHeight = g.Lo
				if len(pg.Txs) > 0 {
					g.TopHeight = max(pg.Txs[0].BlockHeight, g.Lo)
				}
			}
		}
		g.Pages++
		g.Rows += int64(len(kept))
		for _, t := range kept {
			bt := t.BurnBlockTime.Unix()
			if !g.HasRows {
				g.MinBurn, g.MaxBurn, g.HasRows = bt, bt, true
			}
			g.MinBurn, g.MaxBurn = min(g.MinBurn, bt), max(g.MaxBurn, bt)
		}
		nextHeight, _, _, nerr := hiro.ParseCursor(pg.Next)
		switch {
		case atBottom || pg.Next == "":
			g.Done, g.Bottom = true, !below
		case below, nerr == nil && nextHeight < g.Lo:
			g.Done = true
		case nerr == nil:
			// Every height above the next page's first row is complete.
			g.Reconciled = min(g.Reconciled, nextHeight)
		case len(kept) > 0:
			g.Reconciled = min(g.Reconciled, kept[len(kept)-1].BlockHeight)
		}
		if g.Done {
			g.NextCursor, g.Reconciled = "", g.Lo-1
		} else {
			g.NextCursor = pg.Next
		}
		walked++
		if walked == 1 {
			r.windowsOpened.Add(1)
			startHeight = g.TopHeight
			if len(kept) > 0 {
				startHeight = kept[0].BlockHeight
			}
		}
		e := walked
		if !g.Done && len(kept) > 0 {
			cur := kept[len(kept)-1].BlockHeight
			e += walked * (cur - g.Lo + 1) / max(startHeight-cur+1, 1)
		}
		r.pagesKnown.Add(e - estimate)
		estimate = e
		if err := wait(); err != nil {
			return false, err
		}
		pending = make(chan error, 1)
		commits <- segCommit{page: store.SegmentPage{Segment: g, Txs: kept}, progress: !g.Open, done: pending}
		cursor = g.NextCursor
	}
	return true, wait()
}

// v3Page gets one page: from the raw cache when the segment is final, else
// from the API (caching it when every row on it is final).
func (r *run) v3Page(ctx context.Context, g store.Segment, cursor string, b Bounds) (hiro.V3Page, error) {
	useCache := r.cfg.Cache != nil && g.Final && cursor != ""
	key := V3CacheKey(cursor)
	if useCache && !r.cfg.ForceRefresh {
		if body, ok, err := r.cfg.Cache.Get(key); err == nil && ok {
			if pg, err := hiro.DecodeV3Page(body); err == nil && len(pg.Txs) > 0 {
				r.cacheHits.Add(1)
				return pg, nil
			}
			r.log.Warn("raw cache file does not decode; fetching the page again", "key", key)
			_ = r.cfg.Cache.Delete(key)
		}
	}
	pg, body, err := r.cfg.V3.Transactions(ctx, cursor)
	if err != nil {
		return hiro.V3Page{}, err
	}
	if useCache && allFinal(pg, b.FinalEdge) {
		if err := r.cfg.Cache.Put(key, body); err != nil {
			r.cacheWarn.Do(func() {
				r.log.Warn("cannot write the raw cache; going on without it", "err", err)
			})
		}
	}
	return pg, nil
}

// allFinal reports whether every row of the page is older than the final
// edge, so the page can never change.
func allFinal(pg hiro.V3Page, finalEdge int64) bool {
	for _, t := range pg.Txs {
		if t.BurnBlockTime.Unix() > finalEdge {
			return false
		}
	}
	return len(pg.Txs) > 0
}

func segmentLabel(g store.Segment) string {
	hi := "tip"
	if !g.Open {
		hi = strconv.FormatInt(g.Hi, 10)
	}
	return fmt.Sprintf("heights %d..%s", g.Lo, hi)
}
