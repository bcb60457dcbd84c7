package backfill

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"

	"github.com/stxwallets/walletcache/internal/chain"
	"github.com/stxwallets/walletcache/internal/hiro"
	"github.com/stxwallets/walletcache/internal/store"
)

// minSegmentHeights is the smallest height range worth a walk of its own:
// every segment ends on a page that is partly below it (~half a page).
const minSegmentHeights = 100

// lookupSteps bounds the by-block-time lookups for one boundary when block
// times and burn times disagree more than usual.
const lookupSteps = 8

// heightLookup maps burn times to heights with the by-block-time route
// (offline: with the answers the raw cache recorded).
type heightLookup struct {
	at  func(ctx context.Context, unix int64) (hiro.BlockRef, error)
	log *slog.Logger
}

// below returns a height whose block's burn time is at or before t, so
// that a walk down to it has seen burn times that low: the newest block
// with block_time <= t, or an older one when its burn time is later than
// its block time. 0 (walk to the bottom of the chain) when the chain is
// younger than t.
func (l heightLookup) below(ctx context.Context, t, settle int64) (int64, error) {
	var h int64
	for k := int64(0); k < lookupSteps; k++ {
		ref, err := l.at(ctx, t-k*max(settle, 60))
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
	l.log.Warn("no block found whose burn time is early enough; the walk may not prove its gap", "burn_time", t)
	return h, nil
}

// above returns a height whose block's burn time is at least gapEnd +
// settle, so that a walk from it proves the gap up to gapEnd. ok is false
// when that height is in the provisional zone (at or above finalBelow): the
// gap is then walked with the open range. hi is -1 when the chain starts
// after the gap.
func (l heightLookup) above(ctx context.Context, gapEnd, settle, finalBelow int64) (hi int64, ok bool, err error) {
	for k := int64(0); k < lookupSteps; k++ {
		ref, err := l.at(ctx, gapEnd+(2+k)*max(settle, 60))
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

// segCommit is a segment page on its way to the committer.
type segCommit struct {
	page     store.SegmentPage
	progress bool // a page of a fixed segment, not of the open one at the top
}

// segmentUnit is one v3 height segment of an iteration.
type segmentUnit struct {
	api     CursorAPI
	g       store.Segment
	commits *committer[segCommit]
	cell    int64 // walks of final segments restart at multiples of it (0: never)
	lastHit bool  // the last page came from the raw cache
	// walks is what the iteration's walks share for splitting (v3split.go).
	walks *walkSet
	// newest is the newest page, read by this iteration to fix its bounds:
	// an open walk that has not started takes it as its first page
	// instead of asking again.
	newest *hiro.V3Page
}

func (u *segmentUnit) Label() string { return segmentLabel(u.g) }
func (u *segmentUnit) Final() bool   { return u.g.Final }

// walkInFlight is how many pages of one walk may wait for the committer at
// once. The walk cannot fetch ahead of its cursor, so without a queue each
// commit would hold a page or two and cost a transaction; the committer
// commits queued pages in order, and stops for good at its first failure,
// so a page never lands after one before it failed.
const walkInFlight = 16

// runsInFlight is how many runs of cached pages of one walk may wait for
// the run writer at once: the walk reads the next run from the cache while
// the last one is written, and memory stays bounded.
const runsInFlight = 2

// Run walks the segment down from where it stands until it passes below
// its lowest height, in three stages a page: fetch it (resolving the
// cursor's edge cases), absorb it into the segment's state, and hand it to
// the committer while the next pages are fetched. A run of pages of a final
// segment read from the raw cache goes to the run writer instead, which
// writes the runs of every walk that queued one in one transaction
// (queueCached). Pages queued for the committer and runs queued for the
// writer never wait at the same time, so a walk's pages land in walk order.
func (u *segmentUnit) Run(ctx context.Context, it *Iteration) (bool, error) {
	g := u.g
	var pending, runs []<-chan error // pages queued for the committer, runs for the writer
	var cached cachedRun
	// settle waits until at most keep entries of q are not yet durable.
	settle := func(q *[]<-chan error, keep int) error {
		for len(*q) > keep {
			err := <-(*q)[0]
			*q = (*q)[1:]
			if err != nil {
				return fmt.Errorf("commit segment %s: %w", segmentLabel(g), err)
			}
		}
		return nil
	}
	// land writes everything the walk has read.
	land := func() error {
		if err := u.queueCached(&cached, &runs, settle); err != nil {
			return err
		}
		return errors.Join(settle(&pending, 0), settle(&runs, 0))
	}
	cursor := g.NextCursor
	if !g.Started && !g.Open {
		cursor = hiro.BlockTopCursor(g.Hi)
	}
	u.walks.start(g, cursor)
	defer u.walks.stop(g.ID)
	est := walkEstimate{run: it.run}
	for !g.Done {
		if err := ctx.Err(); err != nil {
			return false, errors.Join(err, land())
		}
		if !it.budget.take() {
			return false, errors.Join(errBudget, land())
		}
		if err := u.walks.runs.failure(); err != nil {
			// Nothing read after a run that failed may land (runs of
			// walks that ended are not waited for).
			return false, errors.Join(fmt.Errorf("commit segment %s: %w", segmentLabel(g), err), land())
		}
		pg, atBottom, retry, err := u.fetch(ctx, it, g, cursor)
		if err != nil {
			return false, errors.Join(err, land())
		}
		if retry != "" {
			cursor = retry
			continue
		}
		if endsAboveLo(g, pg, atBottom) {
			// Given up on like a bad page, and never served again from the
			// raw cache: a later walk asks the server, and the heights stay
			// missing until one ends right.
			cacheDrop(it, []string{V3CacheKey(cursor)})
			err := &UnverifiedError{Unit: segmentLabel(g), Start: g.MinBurn, End: g.MaxBurn, Attempts: 1,
				Detail: fmt.Sprintf("the server ended the walk at cursor %q, above the segment's lowest height %d, as if no older transaction existed", cursor, g.Lo)}
			return false, errors.Join(err, land())
		}
		cellLo := int64(math.MinInt64) // where this walk's cell ends below: no restart
		if h, _, _, err := hiro.ParseCursor(cursor); err == nil && u.cell > 0 && g.Final {
			cellLo = floorTo(h, u.cell)
			if b := u.restartAt(it, g, cursor, pg.Next); b > 0 {
				cellLo = max(cellLo, b) // a split walk's pages serve from there on
			}
		}
		before := g.Reconciled
		var kept []chain.Tx
		u.walks.absorb(&g, func() int { kept = absorb(&g, pg, atBottom, cellLo); return len(kept) }, u.lastHit)
		est.update(g, kept)
		cursor = g.NextCursor
		if u.lastHit && g.Final && !g.Open {
			if !cached.active {
				if err := settle(&pending, 0); err != nil { // queued pages land first
					return false, err
				}
				cached = cachedRun{active: true, before: before}
			}
			cached.rows = append(cached.rows, kept...)
			cached.pages++
			cached.state = g
			if len(cached.rows) >= cachedRunRows || g.Done {
				if err := u.queueCached(&cached, &runs, settle); err != nil {
					return false, err
				}
			}
			continue
		}
		if err := u.queueCached(&cached, &runs, settle); err != nil {
			return false, err
		}
		if err := settle(&runs, 0); err != nil { // queued runs land first
			return false, err
		}
		if err := settle(&pending, walkInFlight-1); err != nil {
			return false, err // the committer fails every page after this one the same way
		}
		pending = append(pending, u.commits.submit(segCommit{page: store.SegmentPage{Segment: g, Txs: kept}, progress: !g.Open}))
	}
	// A finished walk hands its last runs off: the worker starts its next
	// unit while they are written, and the segment is done (for Prove)
	// once they land; a run that fails to land fails the iteration
	// (Iteration.landed).
	return true, errors.Join(u.queueCached(&cached, &runs, settle), settle(&pending, 0))
}

// cachedRunRows is how many rows of raw-cache pages a walk gathers into one
// run: large enough that a write costs little per row, small enough that
// the runs queued (runsInFlight a walk) keep memory flat.
const cachedRunRows = 10_000

// cachedRun is a run of consecutive pages of a walk read from the raw
// cache, not yet queued for the writer.
type cachedRun struct {
	active bool
	before int64         // how far down the segment was reconciled before the run
	state  store.Segment // the segment after the run's last page
	rows   []chain.Tx
	pages  int64
}

// queueCached hands the walk's current run of cached pages, if any, to the
// run writer and ends it, once at most runsInFlight-1 earlier runs of the
// walk are still waiting.
func (u *segmentUnit) queueCached(c *cachedRun, runs *[]<-chan error, settle func(*[]<-chan error, int) error) error {
	if !c.active {
		return nil
	}
	if err := settle(runs, runsInFlight-1); err != nil {
		return err
	}
	*runs = append(*runs, u.walks.runs.submit(*c))
	*c = cachedRun{}
	return nil
}

// writeRuns writes runs of cached pages, of one walk or of several, in one
// transaction (store.CommitSegmentRuns: the rows through a row feed,
// instead of a commit of per-row bookkeeping every few pages). It is the
// run writer's commit.
func (w *walkSet) writeRuns(ctx context.Context, batch []cachedRun) error {
	r := w.run
	runs := make([]store.SegmentRun, len(batch))
	segs := make([]*store.Segment, len(batch))
	var pages int64
	for i, c := range batch {
		runs[i] = store.SegmentRun{Segment: c.state, Before: c.before, Txs: c.rows}
		segs[i] = &runs[i].Segment
		pages += c.pages
	}
	var n int
	var deleted int64
	err := w.write(segs, func() (err error) {
		n, deleted, err = r.cfg.Store.CommitSegmentRuns(ctx, runs)
		return err
	})
	if err != nil {
		return err
	}
	r.rows.Add(int64(n))
	r.deleted.Add(deleted)
	r.pages.Add(pages)
	r.progressPages.Add(pages)
	if deleted > 0 {
		r.log.Info("removed rows that left the canonical chain", "rows", deleted)
	}
	return nil
}

// fetch gets the page at cursor and resolves the cursor's edge cases:
// retry is the cursor to ask instead when the page cannot be used as it
// is, and atBottom says the walk reached the chain's first transaction.
func (u *segmentUnit) fetch(ctx context.Context, it *Iteration, g store.Segment, cursor string) (pg hiro.V3Page, atBottom bool, retry string, err error) {
	r := it.run
	pg, err = u.page(ctx, it, cursor)
	h, m, i, perr := hiro.ParseCursor(cursor)
	rowCursor := perr == nil && (m != 0 || i != 0) // names a transaction, not the top of a block
	switch {
	case errors.Is(err, hiro.ErrCursorNotFound) && rowCursor:
		// Older servers answer 404 when the row under the cursor left the
		// canonical chain: walk its block again from the top (a row seen
		// twice replaces its stored copy).
		r.log.Info("cursor not found; walking its block again from the top", "cursor", cursor, "segment", segmentLabel(g))
		return pg, false, hiro.BlockTopCursor(h), nil
	case errors.Is(err, hiro.ErrCursorNotFound):
		return pg, true, "", nil // nothing at or below the top of a block: the chain's bottom
	case errors.Is(err, hiro.ErrMalformed):
		// The client retried it: the server keeps sending a bad page
		// here. Give up on the segment, not on the run.
		return pg, false, "", &UnverifiedError{Unit: segmentLabel(g), Start: g.MinBurn, End: g.MaxBurn, Attempts: 1,
			Detail: fmt.Sprintf("the page at cursor %q: %v", cursor, err)}
	case err != nil:
		return pg, false, "", err
	case rowCursor && pg.Current != "" && pg.Current != cursor:
		// The real API answers 200 and goes on below a row that left the
		// chain: the page then starts elsewhere, and rows of the block's
		// new version above it would be missed.
		r.log.Info("the row under the cursor left the chain; walking its block again from the top",
			"cursor", cursor, "served_from", pg.Current, "segment", segmentLabel(g))
		return pg, false, hiro.BlockTopCursor(h), nil
	case perr == nil && m == 0 && i == 0 && pg.Current == cursor:
		// H:0:0 matched a transaction (a microblock's first, before
		// Nakamoto) instead of standing for the top of block H: the page
		// would miss the rest of H. Start at the top of H+1; rows above the
		// segment are dropped when absorbed.
		r.log.Warn("the server read cursor H:0:0 as a transaction, not as the top of block H; starting one block higher", "cursor", cursor)
		return pg, false, hiro.BlockTopCursor(h + 1), nil
	}
	return pg, false, "", nil
}

// endsAboveLo says whether a page ends the walk (no next cursor, an empty
// page, a 404 at the top of a block) before it reached the segment's
// lowest height. Only the chain's bottom ends a walk so: the heights
// between would count as holding nothing, and their stored rows would be
// deleted. The only segment that may reach the bottom is the lowest one,
// planned from height 0 when the horizon starts before the chain; a server
// that ends any other walk above its Lo cannot be believed.
func endsAboveLo(g store.Segment, pg hiro.V3Page, atBottom bool) bool {
	if g.Lo <= 0 || !(atBottom || pg.Next == "") {
		return false
	}
	n := len(pg.Txs)
	return atBottom || n == 0 || pg.Txs[n-1].BlockHeight > g.Lo
}

// absorb keeps the page's rows that belong to the segment (canonical, in
// its heights) and moves the segment's state past the page: started,
// counters, the burn-time range of its rows, how far down it is
// reconciled, its next cursor, and whether it is done. When cellLo is above
// the segment's bottom, the walk restarts at the top of the cell below it:
// rows under cellLo are left for that walk, whose pages then start where
// every plan's do, so the raw cache serves them again.
func absorb(g *store.Segment, pg hiro.V3Page, atBottom bool, cellLo int64) []chain.Tx {
	kept := pg.Txs[:0:0]
	below, restart := false, false
	for _, t := range pg.Txs {
		switch {
		case t.BlockHeight < g.Lo:
			below = true
		case t.BlockHeight < cellLo:
			restart = true
		case !t.Canonical: // a canonical list never serves these; never stored
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
	if cellLo > g.Lo && !atBottom && (restart || (nerr == nil && nextHeight < cellLo)) {
		// Every height from cellLo up is complete; the cell below starts
		// at its own top.
		g.Reconciled = min(g.Reconciled, cellLo-1)
		g.NextCursor = hiro.BlockTopCursor(cellLo - 1)
		return kept
	}
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
	return kept
}

// walkEstimate extrapolates, for the progress estimate, the pages a walk
// needs from the heights it has covered so far.
type walkEstimate struct {
	run                           *run
	walked, estimate, startHeight int64
}

func (e *walkEstimate) update(g store.Segment, kept []chain.Tx) {
	e.walked++
	if e.walked == 1 {
		e.run.unitsOpened.Add(1)
		e.startHeight = g.TopHeight
		if len(kept) > 0 {
			e.startHeight = kept[0].BlockHeight
		}
	}
	n := e.walked
	if !g.Done && len(kept) > 0 {
		cur := kept[len(kept)-1].BlockHeight
		n += e.walked * (cur - g.Lo + 1) / max(e.startHeight-cur+1, 1)
	}
	e.run.pagesKnown.Add(n - e.estimate)
	e.estimate = n
}

// page gets one page: from the raw cache when the segment is final, else
// from the API (caching it when every row on it is final).
func (u *segmentUnit) page(ctx context.Context, it *Iteration, cursor string) (hiro.V3Page, error) {
	u.lastHit = false
	if cursor == "" && u.newest != nil {
		pg := *u.newest
		u.newest = nil
		return pg, nil
	}
	use := u.useCache(it, cursor)
	key := V3CacheKey(cursor)
	pg, body, hit, err := cachedPage(it, key, use,
		func(b []byte) (hiro.V3Page, error) {
			pg, err := hiro.DecodeV3Page(b, hiro.PageLimit)
			if err == nil {
				err = cachedPageFits(pg, cursor)
			}
			return pg, err
		},
		func() (hiro.V3Page, []byte, error) { return u.api.Transactions(ctx, cursor) })
	if err != nil {
		return hiro.V3Page{}, err
	}
	u.lastHit = hit
	if !hit && use && allFinal(pg, it.Bounds.FinalEdge) {
		cachePut(it, key, body)
	}
	return pg, nil
}

// cachedPageFits checks a cached page against the cursor it is kept under:
// it has rows, and starts at the cursor's row, or at or below the top of
// the cursor's block. A file holding another cursor's page (a copy gone
// wrong) is deleted and fetched again; kept, a page of another row would
// send the walk back to the top of its block, to read it again, for ever.
func cachedPageFits(pg hiro.V3Page, cursor string) error {
	if len(pg.Txs) == 0 {
		return errors.New("cached page has no rows")
	}
	h, m, i, err := hiro.ParseCursor(cursor)
	if err != nil {
		return nil // the newest page is never cached
	}
	if rowCursor := m != 0 || i != 0; rowCursor && pg.Current != cursor {
		return fmt.Errorf("cached page starts at %s, not at its cursor %s", pg.Current, cursor)
	}
	if first := pg.Txs[0].BlockHeight; first > h {
		return fmt.Errorf("cached page starts at height %d, above its cursor %s", first, cursor)
	}
	return nil
}

// useCache tells whether the page at cursor may come from the raw cache and
// go to it: the segment is final, the cursor is not the newest page, and no
// re-check reopened its heights.
func (u *segmentUnit) useCache(it *Iteration, cursor string) bool {
	return u.g.Final && cursor != "" && !overlaps(it.run.uncached.heights, u.g.Lo, segTop(u.g))
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
