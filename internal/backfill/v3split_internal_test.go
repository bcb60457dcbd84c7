package backfill

import (
	"context"
	"sync"
	"testing"
)

// The walk split is the one with the most left, at a height it has not
// reached, on the grid for a final walk (a cell boundary when one is near),
// and only when the idle worker gets enough of it; walks reading the raw
// cache or that have read no page are never split.
func TestPickSplit(t *testing.T) {
	const cell = 1600 // grid 100
	walk := func(lo, at, top, rows int64, final bool) *walkState {
		return &walkState{lo: lo, at: at, top: top, rows: rows, final: final, fetched: true, running: true}
	}
	tests := []struct {
		name  string
		walks map[int64]*walkState
		id, h int64 // h 0: no split
	}{
		// The walk keeps an even share of all that is left (123 pages, 4
		// workers: 31); the idle worker takes the other 88 pages, from 2224
		// down, moved to the grid.
		{"the busiest keeps an even share, the split is on the grid", map[int64]*walkState{
			1: walk(0, 2999, 3199, 400, true), // 2 rows a height: 119 pages left
			2: walk(3200, 3300, 3500, 400, true),
		}, 1, 2200},
		{"a cell boundary when near", map[int64]*walkState{
			1: walk(0, 2000, 3199, 2400, true), // 80 pages left, 60 given: 1500, near 1600
			2: walk(4800, 4801, 4900, 200, true),
		}, 1, 1600},
		{"a grid height when no cell boundary is near", map[int64]*walkState{
			1: walk(0, 2000, 3199, 2400, true), // 80 pages left, 40 given: 1005
			2: walk(5000, 7000, 7100, 200, true),
		}, 1, 1000},
		{"a provisional walk anywhere", map[int64]*walkState{
			1: walk(0, 2003, 2203, 400, false),
		}, 1, 1503},
		{"too little for the idle worker", map[int64]*walkState{
			1: walk(0, 299, 499, 400, true), // 12 pages left each: nothing beyond an even share
			2: walk(500, 799, 999, 400, true),
			3: walk(1000, 1299, 1499, 400, true),
			4: walk(1500, 1799, 1999, 400, true),
		}, 0, 0},
		{"never a walk reading the raw cache", map[int64]*walkState{
			1: {lo: 0, at: 2999, top: 3199, rows: 400, final: true, fetched: true, cached: true, running: true},
		}, 0, 0},
		{"never a walk that has read no page", map[int64]*walkState{
			1: {lo: 0, at: 2999, top: 2999, final: true, running: true},
			2: walk(3200, 3300, 3500, 400, true),
		}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &walkSet{cell: cell, workers: 4, walks: tt.walks}
			id, h, ok := w.pickSplit()
			if !ok {
				id, h = 0, 0
			}
			if id != tt.id || h != tt.h {
				t.Fatalf("split walk %d at %d, want walk %d at %d", id, h, tt.id, tt.h)
			}
		})
	}
	if h := gridNear(1500, 0, 3000, cell); h != 1600 {
		t.Errorf("gridNear(1500) = %d, want the cell boundary 1600", h)
	}
	if h := gridNear(1040, 0, 3000, cell); h != 1000 {
		t.Errorf("gridNear(1040) = %d, want the grid height 1000", h)
	}
	if h := gridNear(40, 0, 60, cell); h != 0 {
		t.Errorf("gridNear(40) in (0, 60] = %d, want none (0)", h)
	}
}

// A worker that finds no item left asks more, runs what it gets, and stops
// when more has nothing.
func TestForEachThenAsksForMore(t *testing.T) {
	var mu sync.Mutex
	var ran []int
	extra := []int{10, 11}
	more := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if len(extra) == 0 {
			return 0, false
		}
		x := extra[0]
		extra = extra[1:]
		return x, true
	}
	all, err := forEachThen(context.Background(), 2, []int{1, 2, 3}, &pageBudget{left: 100}, more, func(_ context.Context, x int) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		ran = append(ran, x)
		return true, nil
	})
	if err != nil || !all || len(ran) != 5 {
		t.Fatalf("ran %v (all %v, err %v), want the 3 items and the 2 more", ran, all, err)
	}
}

// An item more hands out runs even when the budget ran out meanwhile: it
// is already part of the work (a split walk counts as running until its
// unit returns), and leaving it would leave the other workers waiting.
func TestForEachThenRunsWhatMoreMade(t *testing.T) {
	t.Parallel()
	budget := &pageBudget{left: 1}
	var mu sync.Mutex
	var ran []int
	made := false
	more := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if made {
			return 0, false
		}
		made = true
		// The budget runs out between the split and its run: the last
		// page goes, and a take that fails marks it spent.
		budget.take()
		budget.take()
		return 9, true
	}
	_, err := forEachThen(context.Background(), 1, nil, budget, more, func(_ context.Context, x int) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		ran = append(ran, x)
		return false, errBudget
	})
	if err != nil || len(ran) != 1 || ran[0] != 9 {
		t.Fatalf("ran %v (err %v), want the item more made", ran, err)
	}
}
