package backfill

import (
	"math"
	"sort"

	"github.com/stxwallets/walletcache/internal/store"
)

// Bounds fixes, for one iteration, which time the backfill must cover.
// All values are unix seconds of burn_block_time.
type Bounds struct {
	// HorizonStart is target_days before now: coverage starts here.
	HorizonStart int64
	// FinalEdge is the tip's burn_block_time minus the settle margin: a
	// window ending at or before it is final and never changes again.
	FinalEdge int64
	// TailEnd is how far provisional windows reach (the later of now and the
	// tip's burn time): every run fetches through the chain tip.
	TailEnd int64
}

// Horizon is the span coverage is measured on.
func (b Bounds) Horizon() store.Span { return store.Span{Start: b.HorizonStart, End: b.FinalEdge} }

// Planned is a window to fetch in this iteration.
type Planned struct {
	store.Window
	// Resume is true when the window's attempt has committed pages that are
	// still good (a final window interrupted mid-way).
	Resume bool
}

// Layout is what an iteration plans its windows from: the window records
// it resumes or forgets, and the gaps no window holds. How a gap is cut
// into windows depends on who fills it: the API sizes windows by the
// density it learns (v1size.go), a bulk load cuts them on the grid (tile).
type Layout struct {
	// Resume are the half-done final windows, to finish as they are.
	Resume []Planned
	// Final are the gaps of final time, oldest first: each ends at or
	// before FinalEdge and reaches into the horizon.
	Final []store.Span
	// Reach is how far back the first final gap could reach: its start is
	// only where the grid puts the horizon's start, and no window holds
	// the time before it down to Reach. A cached window may start there.
	Reach int64
	// Tail are the gaps of provisional time, after FinalEdge through
	// TailEnd, oldest first.
	Tail []store.Span
	// Drop are window records to forget.
	Drop []store.Window
}

// Plan lays out an iteration: every part of [HorizonStart, TailEnd] not
// held by a verified final window is a gap, cut at FinalEdge so that final
// and provisional time never share a window. A final window left half-done
// by an earlier run is resumed as it is; anything provisional is planned
// afresh, because it must be fetched from the API again anyway. skip are
// spans this run gave up on: they are neither resumed nor planned again.
func Plan(b Bounds, windows []store.Window, grid int64, skip []store.Span) Layout {
	var l Layout
	var held []store.Span // time a window record keeps out of the gaps
	for _, w := range windows {
		sp := store.Span{Start: w.Start, End: w.End}
		switch {
		case w.Covered():
			held = append(held, sp)
		case !w.Verified && w.Final && w.End <= b.FinalEdge && w.End >= b.HorizonStart:
			// Half-done final window: its committed pages stay valid.
			held = append(held, sp)
			if !overlaps(skip, w.Start, w.End) {
				l.Resume = append(l.Resume, Planned{Window: w, Resume: true})
			}
		case w.End < b.HorizonStart && w.Verified:
			// Old history outside the horizon: keep the record, fetch nothing.
			held = append(held, sp)
		default:
			l.Drop = append(l.Drop, w)
		}
	}
	held = append(held, skip...)
	sort.Slice(held, func(i, j int) bool { return held[i].Start < held[j].Start })

	// The first gap starts on the grid, before the horizon: the horizon's
	// start moves with the clock, and a window cut there would start at a
	// second no later run starts one at.
	cursor := floorTo(b.HorizonStart, grid)
	gap := func(from, to int64) {
		if from <= b.FinalEdge && b.FinalEdge >= b.HorizonStart {
			if end := min(to, b.FinalEdge); end >= b.HorizonStart {
				l.Final = append(l.Final, store.Span{Start: from, End: end})
			}
		}
		if to > b.FinalEdge {
			l.Tail = append(l.Tail, store.Span{Start: max(from, b.FinalEdge+1), End: to})
		}
	}
	for _, h := range held {
		if h.End < cursor {
			continue
		}
		if h.Start > cursor && cursor <= b.TailEnd {
			gap(cursor, min(h.Start-1, b.TailEnd))
		}
		cursor = max(cursor, h.End+1)
	}
	if cursor <= b.TailEnd {
		gap(cursor, b.TailEnd)
	}
	if first := floorTo(b.HorizonStart, grid); len(l.Final) > 0 {
		l.Reach = l.Final[0].Start
		if l.Reach == first {
			l.Reach = math.MinInt64
			for _, h := range held {
				if h.End < first {
					l.Reach = max(l.Reach, h.End+1)
				}
			}
		}
	}
	sort.Slice(l.Resume, func(i, j int) bool { return l.Resume[i].Start < l.Resume[j].Start })
	return l
}

// tile cuts a gap at the multiples of grid: the windows of a bulk load,
// whose size costs no request.
func tile(g store.Span, grid int64) []store.Span {
	var out []store.Span
	for from := g.Start; from <= g.End; {
		end := min(g.End, floorTo(from, grid)+grid-1)
		out = append(out, store.Span{Start: from, End: end})
		from = end + 1
	}
	return out
}

// without is gap minus the spans taken from it (disjoint, inside gap, by
// Start): what is left to plan.
func without(gap store.Span, taken []store.Span) []store.Span {
	var out []store.Span
	from := gap.Start
	for _, t := range taken {
		if t.Start > from {
			out = append(out, store.Span{Start: from, End: t.Start - 1})
		}
		from = max(from, t.End+1)
	}
	if from <= gap.End {
		out = append(out, store.Span{Start: from, End: gap.End})
	}
	return out
}
