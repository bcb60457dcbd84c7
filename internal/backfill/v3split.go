package backfill

import (
	"context"
	"fmt"
	"math"
	"sync"

	"github.com/stxwallets/walletcache/internal/hiro"
	"github.com/stxwallets/walletcache/internal/store"
)

// Splitting on demand. An iteration plans its segments; when a worker
// finds none left to start while others still walk, it takes the lower
// part of the walk with the most left (work stealing): the walk keeps
// [H, its top] and a new segment [its lo, H-1] is walked from the top of
// H-1. H is at or below the height the walk is about to fetch, so the walk
// has kept no row below H, and the walk ends as it passes below H, exactly
// as at a planned cut.
//
// Raw-cache keys: a final walk is split only on a fixed grid of heights
// (splitGrid, a fraction of the cell; a cell boundary when one is close, as
// walks restart there anyway), and the new walk's first cursor is the top
// of H-1. A later walk over the same heights that finds its own next page
// missing from the cache and the top of such a grid height in it restarts
// there (restartAt), so a rebuild reads the pages a split walk cached and
// sends no request for them. A walk reading the raw cache is never split:
// it needs no network, and a walk started at an arbitrary grid height could
// miss the cache.
//
// Ordering: every write of a segment's row in the iteration (page commits,
// runs of cached pages, splits) holds writeMu, and writes the segment's lo
// as the latest split left it; a page queued before a split therefore
// never writes the old lo back. A split is durable (the shortened segment
// and the new one, in one transaction) before either walk commits another
// page. A kill before that transaction leaves the old segment whole: its
// walk resumes at its cursor and walks the heights the new one would have.

// minSplitPages is the least a split must give the idle worker, in pages
// (estimated): each split costs about half a page (the walk's last page is
// partly below H) and a walk's first page costs a round trip.
const minSplitPages = 4

// splitGrid is the spacing of the heights a final walk may be split at, for
// a cell of cell heights: fine enough to balance the last walks of a short
// run, coarse enough that a later walk checks few heights for a cached top.
func splitGrid(cell int64) int64 {
	if cell <= 0 {
		return 1
	}
	return max(cell/16, 1)
}

// walkSet is what the walks of one iteration share for splitting.
type walkSet struct {
	run     *run
	api     CursorAPI
	commits *committer[segCommit]
	// runs writes the walks' runs of cached pages, many in one
	// transaction when several are queued.
	runs    *committer[cachedRun]
	cell    int64
	workers int
	// chainStart estimates the chain's first height (see segPlanInput):
	// heights below it hold nothing to walk, and are not split off.
	chainStart int64

	// writeMu orders every write of a segment's row in the iteration;
	// committed is each segment's row as the database holds it.
	writeMu   sync.Mutex
	committed map[int64]store.Segment

	mu     sync.Mutex // guards nextID, walks and every walkState
	moved  *sync.Cond // on mu: a walk read a page or ended
	nextID int64
	walks  map[int64]*walkState
}

// walkState is the part of a walk the other workers may read or change.
type walkState struct {
	lo      int64 // the segment's lowest height; a split raises it
	at      int64 // the height of the cursor the walk fetches next; -1 before it knows (an open walk's first page)
	top     int64 // where the walk started, for its rows per height
	rows    int64 // rows the walk kept
	final   bool
	cached  bool // its last page came from the raw cache
	fetched bool // it has read a page: before, it might be about to read the cache
	running bool
}

// newWalkSet registers the iteration's planned segments (as the database
// holds them) and the next free segment id; the caller sets commits and
// runs before any walk starts.
func newWalkSet(r *run, api CursorAPI, active []store.Segment, nextID, chainStart int64) *walkSet {
	w := &walkSet{run: r, api: api, cell: r.cfg.SegmentCell, workers: r.cfg.Concurrency, chainStart: chainStart,
		committed: map[int64]store.Segment{}, nextID: nextID, walks: map[int64]*walkState{}}
	w.moved = sync.NewCond(&w.mu)
	for _, g := range active {
		w.committed[g.ID] = g
		w.nextID = max(w.nextID, g.ID+1)
	}
	return w
}

// unit makes the unit that walks g.
func (w *walkSet) unit(g store.Segment) *segmentUnit {
	return &segmentUnit{api: w.api, g: g, commits: w.commits, cell: w.cell, walks: w}
}

// start registers a walk about to fetch its first page at cursor.
func (w *walkSet) start(g store.Segment, cursor string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	at := cursorHeight(cursor)
	w.walks[g.ID] = &walkState{lo: g.Lo, at: at, top: at, final: g.Final, running: true}
}

// stop marks a walk as ended (done, out of budget or failed).
func (w *walkSet) stop(id int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if s := w.walks[id]; s != nil {
		s.running = false
	}
	w.moved.Broadcast()
}

// absorb runs absorbOne on g under the lock, with g's lo raised to what
// the latest split left, and publishes where the walk goes next.
func (w *walkSet) absorb(g *store.Segment, absorbOne func() int, cached bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	defer w.moved.Broadcast()
	s := w.walks[g.ID]
	g.Lo = max(g.Lo, s.lo)
	n := absorbOne()
	s.rows += int64(n)
	s.cached, s.fetched = cached, true
	s.at = -1
	if !g.Done {
		s.at = cursorHeight(g.NextCursor)
		if s.top < 0 {
			s.top = g.TopHeight
		}
	}
}

// lo is segment id's lowest height as the latest split left it (or lo).
func (w *walkSet) lo(id, lo int64) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if s := w.walks[id]; s != nil {
		return max(lo, s.lo)
	}
	return lo
}

// write runs do, a write of the segments' rows, under writeMu: each
// segment is first given its current lo, and once written it is what
// committed holds.
func (w *walkSet) write(segs []*store.Segment, do func() error) error {
	w.writeMu.Lock()
	defer w.writeMu.Unlock()
	for _, g := range segs {
		g.Lo = w.lo(g.ID, g.Lo)
	}
	if err := do(); err != nil {
		return err
	}
	for _, g := range segs {
		w.committed[g.ID] = *g
	}
	return nil
}

// more is forEachThen's more: it splits the walk with the most left, as
// soon as that gives the idle worker enough to do, and returns the unit of
// the new segment; false once no walk is running. Waiting (rather than
// giving up) matters when the plan has fewer units than workers: no walk
// can be split before it has read a page.
func (w *walkSet) more() (Unit, bool) {
	for {
		if !w.waitSplittable() {
			return nil, false
		}
		if u, ok := w.split(); ok {
			return u, true
		}
	}
}

// waitSplittable waits until a walk can be split (true) or none is
// running (false).
func (w *walkSet) waitSplittable() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		if _, _, ok := w.pickSplit(); ok {
			return true
		}
		if !w.anyRunning() {
			return false
		}
		w.moved.Wait()
	}
}

// split splits the walk pickSplit chooses, if any still fits: the new lo
// is published and saved, with the new segment, before any row of the walk
// is written again (writeMu, then mu).
func (w *walkSet) split() (Unit, bool) {
	w.writeMu.Lock()
	defer w.writeMu.Unlock()
	w.mu.Lock()
	id, h, ok := w.pickSplit()
	if !ok {
		w.mu.Unlock()
		return nil, false
	}
	s := w.walks[id]
	oldLo := s.lo
	s.lo = h
	g := store.Segment{ID: w.nextID, RunID: w.run.runID, Lo: oldLo, Hi: h - 1, Final: s.final, Attempt: 1, Reconciled: h - 1}
	w.nextID++
	w.walks[g.ID] = &walkState{lo: g.Lo, at: g.Hi, top: g.Hi, final: g.Final, running: true}
	w.mu.Unlock()

	orig := w.committed[id]
	orig.Lo = h
	if err := w.run.cfg.Store.SaveSegments(context.Background(), []store.Segment{orig, g}, nil); err != nil {
		// The walk may already have ended at h: the run stops, and the
		// next one plans the heights below h (no segment holds them).
		w.stop(g.ID)
		return failedUnit{fmt.Errorf("split segment %s at height %d: %w", segmentLabel(orig), h, err)}, true
	}
	w.committed[id], w.committed[g.ID] = orig, g
	r := w.run
	r.mu.Lock()
	r.state.UnitsPlanned++
	r.mu.Unlock()
	r.log.Debug("split a walk for an idle worker", "segment", segmentLabel(orig), "new", segmentLabel(g))
	return w.unit(g), true
}

// anyRunning tells whether a walk is still running; the caller holds mu.
func (w *walkSet) anyRunning() bool {
	for _, s := range w.walks {
		if s.running {
			return true
		}
	}
	return false
}

// pickSplit chooses the walk to split and the height to split it at; the
// caller holds mu. Pages left are estimated from each walk's rows per
// height so far. The new segment gets what the busiest walk has beyond an
// even share of all that is left, so that the walks end about together.
func (w *walkSet) pickSplit() (id, h int64, ok bool) {
	var rows, heights float64
	for _, s := range w.walks {
		if s.at >= 0 && s.top >= s.at {
			rows += float64(s.rows)
			heights += float64(s.top - s.at + 1)
		}
	}
	if heights == 0 {
		return 0, 0, false
	}
	density := rows / heights // rows per height, all walks
	left := func(s *walkState) float64 {
		d := density
		if n := s.top - s.at + 1; s.rows > 0 && n >= 100 {
			d = float64(s.rows) / float64(n)
		}
		return float64(s.at-max(s.lo, w.chainStart)+1) * d / float64(hiro.PageLimit)
	}
	var total, best float64
	bestID := int64(-1)
	for sid, s := range w.walks {
		if !s.running || s.at < 0 {
			continue
		}
		p := left(s)
		total += p
		if s.fetched && !s.cached && p > best {
			best, bestID = p, sid
		}
	}
	if bestID < 0 {
		return 0, 0, false
	}
	give := best - total/float64(max(w.workers, 1))
	if give < minSplitPages {
		return 0, 0, false
	}
	s := w.walks[bestID]
	lo := max(s.lo, w.chainStart)
	h = lo + int64(math.Round(float64(s.at-lo+1)*give/best))
	if s.final && w.cell > 0 {
		h = gridNear(h, lo, s.at, w.cell)
	}
	if h <= lo || h > s.at {
		return 0, 0, false
	}
	return bestID, h, true
}

// gridNear moves h onto the split grid within (lo, at]: to a cell boundary
// when one is within a quarter cell (walks restart there anyway, so the
// split costs no page), else to the nearest grid height. It returns lo
// when the range holds no grid height.
func gridNear(h, lo, at, cell int64) int64 {
	in := func(x int64) bool { return x > lo && x <= at }
	if c := floorTo(h+cell/2, cell); in(c) && absInt(c-h) <= cell/4 {
		return c
	}
	g := splitGrid(cell)
	for _, c := range []int64{floorTo(h+g/2, g), floorTo(h, g), floorTo(h, g) + g} {
		if in(c) {
			return c
		}
	}
	return lo
}

func absInt(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// cursorHeight is the height of a cursor, -1 for "" (the newest page).
func cursorHeight(cursor string) int64 {
	h, _, _, err := hiro.ParseCursor(cursor)
	if err != nil {
		return -1
	}
	return h
}

// failedUnit is a unit that only reports an error (a split that could not
// be saved): the pool stops the run with it.
type failedUnit struct{ err error }

func (f failedUnit) Label() string                                 { return "split" }
func (f failedUnit) Final() bool                                   { return false }
func (f failedUnit) Run(context.Context, *Iteration) (bool, error) { return false, f.err }

// keyChecker is a raw cache that can tell whether it holds a page without
// reading it.
type keyChecker interface {
	Has(key string) (bool, error)
}

// restartAt returns the grid height B at which the walk should restart
// (at the top of B-1) instead of fetching next, the cursor after the page
// it fetched at cursor: when the raw cache lacks next's page but holds the
// top of B-1, a page of a walk a split started there. 0 when there is no
// such height. B lies in (next's height, cursor's height] and above the
// segment's lo, so every height from B up has been walked.
func (u *segmentUnit) restartAt(it *Iteration, g store.Segment, cursor, next string) int64 {
	r := it.run
	kc, ok := r.cfg.Cache.(keyChecker)
	if !ok || u.cell <= 0 || !u.useCache(it, cursor) || next == "" {
		return 0
	}
	from, to := cursorHeight(next), cursorHeight(cursor)
	if from < 0 || to < 0 {
		return 0
	}
	if has, err := kc.Has(V3CacheKey(next)); err != nil || has {
		return 0
	}
	grid := splitGrid(u.cell)
	const most = 64 // a page spans few grid heights; a sparse stretch is not searched far
	for b, n := floorTo(from, grid)+grid, 0; b <= to && n < most; b, n = b+grid, n+1 {
		if b <= g.Lo || b-1 > segTop(g) {
			continue
		}
		if has, err := kc.Has(V3CacheKey(hiro.BlockTopCursor(b - 1))); err == nil && has {
			return b
		}
	}
	return 0
}
