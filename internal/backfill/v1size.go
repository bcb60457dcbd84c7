package backfill

import (
	"math"
	"sort"

	"github.com/stxwallets/walletcache/internal/store"
)

// How v1 windows are sized. Every window ends with a partial page, so a
// run sends about half a page more than its rows need per window: windows
// of a few pages (an hour of a busy chain) waste several per cent of the
// requests, and windows of 50 to 100 pages under one per cent. Deep offsets
// are slow on the server (it counts and skips every row before the
// offset), so a window is kept to DefaultWindowRows rows, an offset that
// PostgreSQL skips through its burn-time index in milliseconds. A gap is
// therefore cut into windows one after the other, each sized by the
// density the window before it revealed with its first page (or, for the
// first of a gap, by the windows stored around it).
const (
	// DefaultWindowRows is the most rows a v1 window is planned to hold
	// when Config.WindowRows is 0: its deepest page starts below this.
	DefaultWindowRows = 15000
	// targetShare is the share of the row cap a window is sized for: the
	// headroom absorbs a window denser than the one before it, which
	// would otherwise cost a request to cut. On a month of the simulator's
	// bursty chains (6,000 to 73,000 transactions a day, BenchmarkWindowSizing)
	// the requests beyond what the rows need, cuts included, were:
	//
	//	cap \ share  0.6          0.7          0.8
	//	5,000        0.93–1.20 %  0.70–1.09 %  0.94–1.32 %
	//	6,000        0.71–0.99 %  0.67–0.96 %  0.53–0.96 %
	//	7,500        0.59–0.80 %  0.46–0.77 %  0.56–0.78 %
	//	10,000       0.44–0.63 %  0.38–0.56 %  0.26–0.68 %
	//	15,000       0.26–0.35 %  0.23–0.36 %  0.20–0.42 %
	//
	// The waste is almost all partial last pages, so it falls with the
	// pages a window holds (180 on average at 15,000 × 0.6 against 105 at
	// 7,500 × 0.7); a larger share cuts more windows back (up to 30 % of
	// them at 15,000 × 0.8).
	targetShare = 0.6
	// headCells is how many grid cells the first window of a gap spans
	// when nothing is known of the density around it: four hours on the
	// default grid, about 3,300 rows at 20,000 transactions a day; a chain
	// dense enough to overflow it costs the one request of a cut.
	headCells = 4
	// growth bounds a window to this many times the span its density was
	// measured on: a few rows over a short span say little about a long one.
	growth = 8
	// densityReach is how far from a gap stored windows still say how
	// dense it is.
	densityReach = 7 * 24 * 3600
	// densitySample is how much stored time an estimate wants, nearest
	// first, before it stops looking farther.
	densitySample = 12 * 3600
)

// sizer decides how far v1 windows reach.
type sizer struct {
	grid   int64 // seconds of a grid cell (backfill.window_minutes)
	target int64 // rows a window is sized to hold
	cap    int64 // rows above which a new window is cut before it is paged
}

func newSizer(grid, windowRows int64) sizer {
	if windowRows <= 0 {
		windowRows = DefaultWindowRows
	}
	return sizer{grid: grid, target: max(1, int64(float64(windowRows)*targetShare)), cap: windowRows}
}

// rate is a density estimate: rows per second, measured over span seconds.
// A zero span means nothing is known.
type rate struct {
	perSecond float64
	span      int64
}

func (r rate) known() bool { return r.span > 0 }

// rateOf is the density a window's total shows.
func rateOf(total, start, end int64) rate {
	return rate{perSecond: float64(max(total, 0)) / float64(end-start+1), span: end - start + 1}
}

// end is the last second of the window that starts at start in a gap that
// ends at gapEnd, and about how many windows the gap needs after it (0
// when the density is unknown). A
// window ends on the grid (the last one at the gap's end), spans whole
// cells (the first from the one holding start), is sized to hold target
// rows at density r, and the rest of the gap is shared evenly so that its
// last window is not a sliver. Unknown density gives headCells cells.
func (z sizer) end(start, gapEnd int64, r rate) (end int64, after int) {
	first := floorTo(start, z.grid)
	cells := (gapEnd - first + z.grid) / z.grid // cells the rest of the gap touches
	k := int64(headCells)
	if r.known() {
		// n: cells that hold the target at this density (at least one; a
		// density of zero allows any span). growth bounds k below.
		n := int64(math.MaxInt32)
		if cellRows := r.perSecond * float64(z.grid); cellRows > 0 {
			n = max(1, int64(float64(z.target)/cellRows))
		}
		// m: windows the rest of the gap needs; k cells each share it
		// evenly, and a rest that holds no more than the target is one
		// window, however its cells fall.
		m := max(1, int64(math.Ceil(r.perSecond*float64(gapEnd-start+1)/float64(z.target))))
		k = cells
		if m > 1 {
			k = min(n, (cells+m-1)/m)
		}
		k = min(k, max(1, growth*r.span/z.grid))
	}
	if k >= cells {
		return gapEnd, 0
	}
	if !r.known() {
		return first + k*z.grid - 1, 0 // no forecast without a density
	}
	return first + k*z.grid - 1, int((cells - 1) / k) // ceil((cells-k)/k)
}

// shrink is the end a window [start, end] is cut back to when its first
// page says it holds total rows, more than the cap: sized by that exact
// density, the rest of it left to the next window. ok is false when the
// window cannot be cut (one cell or less).
func (z sizer) shrink(start, end, total int64) (int64, bool) {
	if total <= z.cap {
		return end, false
	}
	r := rateOf(total, start, end)
	r.span = math.MaxInt32 // the total is exact: no growth bound applies
	e, _ := z.end(start, end, r)
	return e, e < end
}

// densityNear estimates the density around t from the stored windows whose
// rows are counted (verified, or with the API's total), nearest first,
// until densitySample seconds (or two cells) are seen; windows farther
// than densityReach are not asked.
func densityNear(windows []store.Window, t, grid int64) rate {
	type known struct {
		dist, rows, secs int64
	}
	var ks []known
	for _, w := range windows {
		rows := w.StoredRows
		if !w.Verified || rows < 0 {
			rows = w.APITotal
		}
		if rows < 0 || w.End < w.Start {
			continue
		}
		var d int64
		switch {
		case t < w.Start:
			d = w.Start - t
		case t > w.End:
			d = t - w.End
		}
		if d <= densityReach {
			ks = append(ks, known{d, rows, w.End - w.Start + 1})
		}
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i].dist < ks[j].dist })
	var rows, secs int64
	for _, k := range ks {
		rows += k.rows
		secs += k.secs
		if secs >= max(densitySample, 2*grid) {
			break
		}
	}
	if secs == 0 {
		return rate{}
	}
	return rate{perSecond: float64(rows) / float64(secs), span: secs}
}
