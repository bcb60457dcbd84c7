package backfill

import (
	"math"
	"sort"

	"github.com/stxwallets/walletcache/internal/store"
)

// The v3 source cannot filter on time, so its work is planned in block
// heights and its proof is turned back into time (coverage, the windows
// table and status are time based and shared with v1).
//
// The bound that connects the two: every transaction carries its tenure's
// burn_block_time, burn heights only grow with Stacks heights, but a
// Bitcoin block may be stamped earlier than its parent, by less than the
// settle margin S. So a transaction above height H has a burn time greater
// than (the largest burn time at or below H) − S, and one below height L a
// burn time smaller than (the smallest burn time at or above L) + S. An
// unbroken walk over the heights [L, H] whose rows' burn times span
// [m, M] therefore holds every transaction with a burn time in
// [m + S, M − S]; [m + S, FinalEdge] when the walk started at the chain tip
// after the tip was read (anything newer than the walk is newer than
// FinalEdge); and from −∞ when it reached the first transaction of the chain.

// heightRange is a range of block heights to walk for one coverage gap.
type heightRange struct {
	lo, hi int64
	open   bool // reaches the chain tip; hi is unused
}

func (h heightRange) top() int64 {
	if h.open {
		return math.MaxInt64
	}
	return h.hi
}

func segTop(g store.Segment) int64 {
	if g.Open {
		return math.MaxInt64
	}
	return g.Hi
}

// segPlanInput is what planSegments needs.
type segPlanInput struct {
	ranges   []heightRange   // what the coverage gaps need walked
	existing []store.Segment // segments still valid (other runs' provisional ones already removed)
	// finalBelow: heights below it hold only final rows.
	finalBelow int64
	tipHeight  int64
	// chainStart estimates the chain's first height: a range that reaches
	// the bottom of the chain (lo 0) is split as if it started there, so
	// no walk is spent on heights that do not exist. The lowest segment
	// still starts at 0 and walks to the real bottom.
	chainStart int64
	pieces     int   // how many segments to have walking in parallel, about
	minHeights int64 // smallest segment worth its own walk, in heights
	// cell, when > 0, aligns final work on a fixed height grid: ranges grow
	// to whole cells and the cuts between final segments fall on multiples
	// of cell, so a later plan's walks start where an earlier plan's did and
	// their raw-cache pages repeat. Only the cell that holds the final edge
	// is cut at the edge itself (it is final, and resumes across runs).
	cell   int64
	nextID int64
	runID  int64
}

// segPlan is the segment plan of one iteration.
type segPlan struct {
	add    []store.Segment // new segments
	drop   []int64         // existing segments no range needs
	active []store.Segment // segments to walk (not done), highest first
}

// planSegments turns height ranges into segments that partition them, with
// no gap and no overlap. Existing segments that overlap a range are kept
// whole (a done one is not walked again, a started one resumes at its
// cursor) and the range grows to hold them; the rest of each range is cut
// into new segments: at finalBelow (so final and provisional rows never
// share a segment), and evenly by height into about in.pieces walks. The
// topmost new segment of the range that reaches the tip is open.
func planSegments(in segPlanInput) segPlan {
	if in.cell > 0 {
		in.ranges = append([]heightRange(nil), in.ranges...)
		for i, r := range in.ranges {
			in.ranges[i].lo = floorTo(r.lo, in.cell)
			if !r.open {
				in.ranges[i].hi = floorTo(r.hi, in.cell) + in.cell - 1
			}
		}
	}
	clusters, absorbed := clusterRanges(in.ranges, in.existing)
	// Heights above the tip hold nothing final.
	in.finalBelow = min(in.finalBelow, in.tipHeight+1)
	var out segPlan
	for j, g := range in.existing {
		if !absorbed[j] {
			out.drop = append(out.drop, g.ID)
		}
	}
	parts, kept := holes(clusters, in.finalBelow)
	out.active = kept
	out.add = cutParts(parts, in, len(kept))
	out.active = append(out.active, out.add...)
	sort.SliceStable(out.active, func(a, b int) bool { return out.active[a].Lo > out.active[b].Lo })
	return out
}

// cluster is a height range to walk with the existing segments it absorbed.
type cluster struct {
	lo, top int64 // top is MaxInt64 when open
	segs    []store.Segment
}

// clusterRanges grows the ranges to hold every existing segment that
// overlaps them (kept whole: a done one is not walked again, a started one
// resumes at its cursor) and merges ranges that then overlap. absorbed[j]
// tells whether existing[j] is kept.
func clusterRanges(ranges []heightRange, existing []store.Segment) ([]cluster, []bool) {
	var cl []cluster
	for _, r := range ranges {
		if r.open || r.hi >= r.lo {
			cl = append(cl, cluster{lo: r.lo, top: r.top()})
		}
	}
	absorbed := make([]bool, len(existing))
	for changed := true; changed; {
		changed = false
		for i := range cl {
			for j, g := range existing {
				if absorbed[j] || g.Lo > cl[i].top || segTop(g) < cl[i].lo {
					continue
				}
				absorbed[j], changed = true, true
				cl[i].lo, cl[i].top = min(cl[i].lo, g.Lo), max(cl[i].top, segTop(g))
				cl[i].segs = append(cl[i].segs, g)
			}
		}
		sort.Slice(cl, func(a, b int) bool { return cl[a].lo < cl[b].lo })
		var merged []cluster
		for _, c := range cl {
			if n := len(merged); n > 0 && c.lo <= merged[n-1].top {
				merged[n-1].top = max(merged[n-1].top, c.top)
				merged[n-1].segs = append(merged[n-1].segs, c.segs...)
				changed = true
				continue
			}
			merged = append(merged, c)
		}
		cl = merged
	}
	return cl, absorbed
}

// part is a hole of a cluster: heights no kept segment covers, all final
// or all provisional.
type part struct {
	lo, hi int64 // hi = MaxInt64: open at the top
	final  bool
}

// holes returns the parts of the clusters no kept segment covers, cut at
// finalBelow, and the kept segments still to walk.
func holes(clusters []cluster, finalBelow int64) (parts []part, active []store.Segment) {
	addHole := func(lo, hi int64) {
		if lo < finalBelow {
			parts = append(parts, part{lo, min(hi, finalBelow-1), true})
		}
		if hi >= finalBelow {
			parts = append(parts, part{max(lo, finalBelow), hi, false})
		}
	}
	for _, c := range clusters {
		sort.Slice(c.segs, func(a, b int) bool { return c.segs[a].Lo < c.segs[b].Lo })
		next := c.lo
		for _, g := range c.segs {
			if g.Lo > next {
				addHole(next, g.Lo-1)
			}
			if !g.Done {
				active = append(active, g)
			}
			if segTop(g) == math.MaxInt64 {
				next = math.MaxInt64
				break
			}
			next = max(next, g.Hi+1)
		}
		if next != math.MaxInt64 && next <= c.top {
			addHole(next, c.top)
		}
	}
	return parts, active
}

// cutParts cuts the parts into new segments: the pieces of parallelism
// not taken by the activeKept segments are shared among the parts by
// height span, counted from the chain's start; the topmost new segment of
// a part open at the top is open.
func cutParts(parts []part, in segPlanInput, activeKept int) []store.Segment {
	from := func(p part) int64 {
		if p.hi != math.MaxInt64 {
			return min(max(p.lo, in.chainStart), p.hi)
		}
		return max(p.lo, min(in.chainStart, in.tipHeight))
	}
	span := func(p part) int64 {
		hi := p.hi
		if hi == math.MaxInt64 {
			hi = max(in.tipHeight, p.lo)
		}
		return hi - from(p) + 1
	}
	var total int64
	for _, p := range parts {
		total += span(p)
	}
	avail := max(in.pieces-activeKept, len(parts), 1)
	id := in.nextID
	var add []store.Segment
	for _, p := range parts {
		s := span(p)
		n := int64(math.Round(float64(avail) * float64(s) / float64(max(total, 1))))
		n = max(1, min(n, s/max(in.minHeights, 1)))
		open := p.hi == math.MaxInt64
		base := from(p)
		cuts := make([]int64, 0, n+1) // the lo of each piece, then the part's end + 1
		for k := int64(0); k < n; k++ {
			c := base + s*k/n
			if k == 0 {
				c = p.lo
			} else if in.cell > 0 && p.final {
				c = floorTo(c+in.cell/2, in.cell) // the nearest cell boundary
			}
			if k > 0 && c <= base {
				// Rounded down to the chain's start or below: a piece
				// there would hold no block, yet cost a request.
				continue
			}
			if len(cuts) == 0 || c > cuts[len(cuts)-1] {
				cuts = append(cuts, c)
			}
		}
		end := base + s
		if len(cuts) > 1 && cuts[len(cuts)-1] >= end {
			cuts = cuts[:len(cuts)-1]
		}
		cuts = append(cuts, end)
		for k := 0; k+1 < len(cuts); k++ {
			lo, top := cuts[k], cuts[k+1]-1
			g := store.Segment{ID: id, RunID: in.runID, Lo: lo, Hi: top, Final: p.final, Attempt: 1, Reconciled: top}
			if open && k == len(cuts)-2 {
				g.Open, g.Hi, g.Final, g.Reconciled = true, 0, false, store.OpenTop
			}
			id++
			add = append(add, g)
		}
	}
	return add
}

// provenSpans returns, for every maximal run of contiguous done segments,
// the burn-time span the run proves complete (see the comment at the top of
// this file) with the heights of the run. An open segment proves up to
// finalEdge, the FinalEdge of the iteration it was walked in; a run that
// reached the bottom of the chain proves from math.MinInt64.
func provenSpans(segs []store.Segment, settle, finalEdge int64) []store.ProvenSpan {
	sorted := append([]store.Segment(nil), segs...)
	sort.Slice(sorted, func(a, b int) bool { return sorted[a].Lo < sorted[b].Lo })
	var out []store.ProvenSpan
	for i := 0; i < len(sorted); {
		if !sorted[i].Done {
			i++
			continue
		}
		j := i + 1
		for j < len(sorted) && sorted[j].Done && !sorted[j-1].Open && sorted[j].Lo == sorted[j-1].Hi+1 {
			j++
		}
		run := sorted[i:j]
		i = j
		var minB, maxB int64 = math.MaxInt64, math.MinInt64
		for _, g := range run {
			if g.HasRows {
				minB, maxB = min(minB, g.MinBurn), max(maxB, g.MaxBurn)
			}
		}
		bottom, open := run[0].Bottom, run[len(run)-1].Open
		lower, upper := int64(math.MinInt64), finalEdge
		switch {
		case !bottom && minB == math.MaxInt64:
			continue // no rows and no bottom: nothing to bound from below
		case !bottom:
			lower = minB + settle
		}
		if !open {
			if maxB == math.MinInt64 {
				continue
			}
			upper = min(maxB-settle, finalEdge)
		}
		if upper >= lower {
			lo, hi := run[0].Lo, segTop(run[len(run)-1])
			if bottom {
				lo = 0 // nothing exists below the run
			}
			out = append(out, store.ProvenSpan{Span: store.Span{Start: lower, End: upper}, Lo: lo, Hi: hi})
		}
	}
	return out
}

// newWindows cuts the proven spans into window records: only the parts
// inside the horizon that no covered window holds yet (covered windows, v1
// ones included, stay as they are), cut at multiples of grid like v1's
// windows, each with the heights that prove it. drop lists the window
// records that are not covered and overlap a new window (a v1 window left
// half-done, a provisional one): the new windows replace them.
func newWindows(proven []store.ProvenSpan, windows []store.Window, horizon store.Span, grid int64) (spans []store.ProvenSpan, drop []store.Window) {
	var covered []store.Span
	for _, w := range windows {
		if w.Covered() {
			covered = append(covered, store.Span{Start: w.Start, End: w.End})
		}
	}
	sort.Slice(covered, func(a, b int) bool { return covered[a].Start < covered[b].Start })
	var p store.ProvenSpan
	emit := func(from, to int64) {
		for from <= to {
			end := min(to, (from/grid+1)*grid-1)
			spans = append(spans, store.ProvenSpan{Span: store.Span{Start: from, End: end}, Lo: p.Lo, Hi: p.Hi})
			from = end + 1
		}
	}
	for _, p = range proven {
		from, to := max(p.Start, horizon.Start), min(p.End, horizon.End)
		for _, c := range covered {
			if from > to {
				break
			}
			if c.End < from || c.Start > to {
				continue
			}
			if c.Start > from {
				emit(from, c.Start-1)
			}
			from = max(from, c.End+1)
		}
		if from <= to {
			emit(from, to)
		}
	}
	for _, w := range windows {
		if w.Covered() {
			continue
		}
		for _, s := range spans {
			if w.Start <= s.End && s.Start <= w.End {
				drop = append(drop, w)
				break
			}
		}
	}
	return spans, drop
}

// floorTo rounds h down to a multiple of step.
func floorTo(h, step int64) int64 {
	if h < 0 {
		return -((-h + step - 1) / step) * step
	}
	return h / step * step
}
