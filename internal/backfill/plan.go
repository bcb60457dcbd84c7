package backfill

import (
	"context"
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

// Plan decides which windows to fetch: every part of [HorizonStart, TailEnd]
// not covered by a verified final window, oldest first, cut at multiples of
// grid seconds and at FinalEdge so that final and provisional ranges never
// share a window. A final window left half-done by an earlier run is resumed
// as it is; anything provisional is planned afresh, because it must be
// fetched from the API again anyway. drop lists window records to forget.
func Plan(b Bounds, windows []store.Window, grid int64, nextID int64) (plan []Planned, drop []store.Window) {
	var keep []store.Window
	for _, w := range windows {
		switch {
		case w.Covered():
			keep = append(keep, w)
		case !w.Verified && w.Final && w.End <= b.FinalEdge && w.End >= b.HorizonStart:
			// Half-done final window: its committed pages stay valid.
			keep = append(keep, w)
			plan = append(plan, Planned{Window: w, Resume: true})
		case w.End < b.HorizonStart && w.Verified:
			// Old history outside the horizon: keep the record, fetch nothing.
			keep = append(keep, w)
		default:
			drop = append(drop, w)
		}
	}
	sort.Slice(keep, func(i, j int) bool { return keep[i].Start < keep[j].Start })

	// The first window starts on the grid too, before the horizon: the
	// horizon's start moves with the clock, and a window cut there would
	// have raw-cache keys no later run asks for again.
	cursor := floorTo(b.HorizonStart, grid)
	emitGap := func(from, to int64) {
		for from <= to {
			end := min(to, (from/grid+1)*grid-1) // next grid boundary
			if from <= b.FinalEdge && end > b.FinalEdge {
				end = b.FinalEdge
			}
			if end < b.HorizonStart { // wholly before the horizon: nothing to cover
				from = end + 1
				continue
			}
			plan = append(plan, Planned{Window: store.Window{
				ID: nextID, Start: from, End: end, Attempt: 1,
				APITotal: -1, StoredRows: -1, Final: end <= b.FinalEdge,
			}})
			nextID++
			from = end + 1
		}
	}
	for _, w := range keep {
		if w.End < cursor {
			continue
		}
		if w.Start > cursor {
			emitGap(cursor, min(w.Start-1, b.TailEnd))
		}
		cursor = max(cursor, w.End+1)
	}
	if cursor <= b.TailEnd {
		emitGap(cursor, b.TailEnd)
	}
	sort.SliceStable(plan, func(i, j int) bool {
		// Final windows first (they are what coverage counts), oldest first.
		if plan[i].Final != plan[j].Final {
			return plan[i].Final
		}
		return plan[i].Start < plan[j].Start
	})
	return plan, drop
}

// planWindows runs Plan for an iteration, numbering new windows after the
// stored ones.
func planWindows(ctx context.Context, it *Iteration) ([]Planned, []store.Window, error) {
	nextID, err := it.run.cfg.Store.NextWindowID(ctx)
	if err != nil {
		return nil, nil, err
	}
	plan, drop := Plan(it.Bounds, it.Windows, int64(it.run.cfg.Window.Seconds()), nextID)
	return plan, drop, nil
}
