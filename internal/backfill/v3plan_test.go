package backfill

import (
	"math"
	"sort"
	"testing"

	"github.com/stxwallets/walletcache/internal/store"
)

// checkPartition fails unless the segments are disjoint and, together,
// cover every height of every range with no hole.
func checkPartition(t *testing.T, segs []store.Segment, ranges []heightRange) {
	t.Helper()
	sorted := append([]store.Segment(nil), segs...)
	sort.Slice(sorted, func(a, b int) bool { return sorted[a].Lo < sorted[b].Lo })
	for i, g := range sorted {
		if !g.Open && g.Hi < g.Lo {
			t.Fatalf("segment %d is empty: [%d, %d]", g.ID, g.Lo, g.Hi)
		}
		if i > 0 && sorted[i-1].Open {
			t.Fatalf("segment %d lies above the open segment %d", g.ID, sorted[i-1].ID)
		}
		if i > 0 && g.Lo <= sorted[i-1].Hi {
			t.Fatalf("segments %d and %d overlap", sorted[i-1].ID, g.ID)
		}
	}
	covered := func(h int64) bool {
		for _, g := range sorted {
			if g.Contains(h) {
				return true
			}
		}
		return false
	}
	for _, r := range ranges {
		top := r.hi
		if r.open {
			top = r.lo + 5000
		}
		for h := r.lo; h <= top; h++ {
			if !covered(h) {
				t.Fatalf("height %d of range %+v is in no segment: %+v", h, r, sorted)
			}
		}
	}
}

func TestPlanSegments(t *testing.T) {
	done := func(id, lo, hi int64) store.Segment {
		return store.Segment{ID: id, Lo: lo, Hi: hi, Final: true, Started: true, Done: true, Attempt: 1}
	}
	partial := func(id, lo, hi int64) store.Segment {
		return store.Segment{ID: id, Lo: lo, Hi: hi, Final: true, Started: true, NextCursor: "1500:2147483647:3", Attempt: 1, Reconciled: 1500}
	}
	type want struct {
		lo, hi    int64
		open, fin bool
	}
	tests := []struct {
		name       string
		in         segPlanInput
		add        []want
		drop       []int64
		activeIDs  []int64 // expected active, highest first
		partitions bool
	}{
		{
			name: "fresh: cut at the final edge, split by share of heights, open at the top",
			in: segPlanInput{ranges: []heightRange{{lo: 1000, open: true}}, finalBelow: 1800, tipHeight: 1999,
				pieces: 4, minHeights: 10, nextID: 1},
			add: []want{{1000, 1265, false, true}, {1266, 1532, false, true}, {1533, 1799, false, true}, {1800, 0, true, false}},
		},
		{
			name: "a small range is not cut below minHeights",
			in: segPlanInput{ranges: []heightRange{{lo: 1000, open: true}}, finalBelow: 1000, tipHeight: 1050,
				pieces: 16, minHeights: 100, nextID: 1},
			add: []want{{1000, 0, true, false}},
		},
		{
			name: "existing segments that overlap are kept whole, the rest filled, strangers dropped",
			in: segPlanInput{
				ranges:     []heightRange{{lo: 1200, hi: 1700}, {lo: 1900, open: true}},
				existing:   []store.Segment{done(7, 1100, 1399), partial(8, 1400, 1599), done(9, 500, 600)},
				finalBelow: 1900, tipHeight: 2099, pieces: 3, minHeights: 10, nextID: 20,
			},
			add:       []want{{1600, 1700, false, true}, {1900, 0, true, false}},
			drop:      []int64{9},
			activeIDs: []int64{21, 20, 8},
		},
		{
			name: "ranges joined by an existing segment merge",
			in: segPlanInput{
				ranges:     []heightRange{{lo: 1000, hi: 1150}, {lo: 1250, hi: 1400}},
				existing:   []store.Segment{done(3, 1100, 1299)},
				finalBelow: 2000, tipHeight: 3000, pieces: 2, minHeights: 10, nextID: 4,
			},
			add:       []want{{1000, 1099, false, true}, {1300, 1400, false, true}},
			activeIDs: []int64{5, 4},
		},
		{
			name: "a range from the bottom is split from the chain's start; the lowest walk still starts at 0",
			in: segPlanInput{ranges: []heightRange{{lo: 0, open: true}}, finalBelow: 1300, tipHeight: 1399,
				chainStart: 1000, pieces: 4, minHeights: 10, nextID: 1},
			add: []want{{0, 1099, false, true}, {1100, 1199, false, true}, {1200, 1299, false, true}, {1300, 0, true, false}},
		},
		{
			name: "a cut rounded to the chain's start makes no walk below it",
			in: segPlanInput{ranges: []heightRange{{lo: 0, open: true}}, finalBelow: 2300, tipHeight: 2399,
				chainStart: 1000, pieces: 8, minHeights: 10, nextID: 1, cell: 500},
			add: []want{{0, 1499, false, true}, {1500, 1999, false, true}, {2000, 2299, false, true}, {2300, 0, true, false}},
		},
		{
			name: "an open segment not yet started is kept: no second open one",
			in: segPlanInput{
				ranges:     []heightRange{{lo: 1000, open: true}},
				existing:   []store.Segment{{ID: 5, Lo: 1500, Open: true, Attempt: 1, Reconciled: store.OpenTop}},
				finalBelow: 1400, tipHeight: 1600, pieces: 2, minHeights: 10, nextID: 6,
			},
			add:       []want{{1000, 1199, false, true}, {1200, 1399, false, true}, {1400, 1499, false, false}},
			activeIDs: []int64{5, 8, 7, 6},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := planSegments(tt.in)
			if len(plan.add) != len(tt.add) {
				t.Fatalf("added %+v, want %d segments", plan.add, len(tt.add))
			}
			for i, g := range plan.add {
				w := tt.add[i]
				if g.Lo != w.lo || g.Open != w.open || (!w.open && g.Hi != w.hi) || g.Final != w.fin {
					t.Fatalf("segment %d = %+v, want %+v", i, g, w)
				}
				if g.ID != tt.in.nextID+int64(i) || g.Done || g.Started || g.Attempt != 1 {
					t.Fatalf("segment %d is not a fresh one: %+v", i, g)
				}
				if want := g.Hi; g.Open && g.Reconciled != store.OpenTop || !g.Open && g.Reconciled != want {
					t.Fatalf("segment %d reconciled mark %d", i, g.Reconciled)
				}
			}
			if len(plan.drop) != len(tt.drop) || (len(tt.drop) > 0 && plan.drop[0] != tt.drop[0]) {
				t.Fatalf("dropped %v, want %v", plan.drop, tt.drop)
			}
			if tt.activeIDs != nil {
				var ids []int64
				for _, g := range plan.active {
					ids = append(ids, g.ID)
				}
				if len(ids) != len(tt.activeIDs) {
					t.Fatalf("active %v, want %v", ids, tt.activeIDs)
				}
				for i := range ids {
					if ids[i] != tt.activeIDs[i] {
						t.Fatalf("active %v, want %v", ids, tt.activeIDs)
					}
				}
			}
			kept := append([]store.Segment(nil), plan.add...)
			for _, g := range tt.in.existing {
				dropped := false
				for _, id := range plan.drop {
					dropped = dropped || id == g.ID
				}
				if !dropped {
					kept = append(kept, g)
				}
			}
			checkPartition(t, kept, tt.in.ranges)
		})
	}
}

// Random plans, fed back as the existing segments of the next plan the
// way iterations do, always partition every range.
func TestPlanSegmentsPartitionsAcrossIterations(t *testing.T) {
	var existing []store.Segment
	next := int64(1)
	tip := int64(3000)
	for iter := 0; iter < 30; iter++ {
		lo := int64(1000 + (iter*137)%900)
		ranges := []heightRange{{lo: lo, open: true}}
		if iter%3 == 0 {
			ranges = append(ranges, heightRange{lo: 200 + int64(iter*7), hi: 400 + int64(iter*11)})
		}
		plan := planSegments(segPlanInput{ranges: ranges, existing: existing, finalBelow: tip - 200, tipHeight: tip,
			pieces: 8, minHeights: 20, nextID: next})
		next += int64(len(plan.add))
		var kept []store.Segment
		for _, g := range append(existing, plan.add...) {
			dropped := false
			for _, id := range plan.drop {
				dropped = dropped || id == g.ID
			}
			if !dropped {
				kept = append(kept, g)
			}
		}
		checkPartition(t, kept, ranges)
		// Walk some: mark every other active segment done; the open one
		// becomes fixed at the tip it started from, as iterationV3 does.
		existing = existing[:0]
		for i, g := range kept {
			if i%2 == 0 {
				g.Done, g.Started = true, true
			}
			if g.Open && g.Done {
				g.Open, g.Hi = false, tip
			}
			existing = append(existing, g)
		}
		tip += 40
	}
}

func TestProvenSpans(t *testing.T) {
	const S, FE = 100, 100_000
	seg := func(lo, hi, minB, maxB int64) store.Segment {
		return store.Segment{Lo: lo, Hi: hi, Done: true, HasRows: true, MinBurn: minB, MaxBurn: maxB}
	}
	notDone := func(g store.Segment) store.Segment { g.Done = false; return g }
	open := func(g store.Segment) store.Segment { g.Open, g.Hi = true, 0; return g }
	bottom := func(g store.Segment) store.Segment { g.Bottom = true; return g }
	empty := func(g store.Segment) store.Segment { g.HasRows = false; return g }
	span := func(s, e, lo, hi int64) store.ProvenSpan {
		return store.ProvenSpan{Span: store.Span{Start: s, End: e}, Lo: lo, Hi: hi}
	}
	tests := []struct {
		name string
		segs []store.Segment
		want []store.ProvenSpan
	}{
		{"one run: min + S .. max - S", []store.Segment{seg(200, 299, 5000, 9000), seg(100, 199, 1000, 5500)},
			[]store.ProvenSpan{span(1100, 8900, 100, 299)}},
		{"a segment not done splits the runs", []store.Segment{seg(100, 199, 1000, 5000), notDone(seg(200, 299, 5000, 9000)), seg(300, 399, 9000, 12000)},
			[]store.ProvenSpan{span(1100, 4900, 100, 199), span(9100, 11900, 300, 399)}},
		{"heights that do not touch split the runs", []store.Segment{seg(100, 199, 1000, 5000), seg(201, 299, 5000, 9000)},
			[]store.ProvenSpan{span(1100, 4900, 100, 199), span(5100, 8900, 201, 299)}},
		{"burn times out of order inside a run", []store.Segment{seg(100, 199, 3000, 4000), seg(200, 299, 2500, 6000)},
			[]store.ProvenSpan{span(2600, 5900, 100, 299)}},
		{"an open top proves up to the final edge", []store.Segment{seg(100, 199, 1000, 5000), open(seg(200, 0, 5000, 200_000))},
			[]store.ProvenSpan{span(1100, FE, 100, math.MaxInt64)}},
		{"the bottom of the chain proves from the start of time", []store.Segment{bottom(empty(seg(0, 99, 0, 0))), seg(100, 199, 1000, 5000)},
			[]store.ProvenSpan{span(math.MinInt64, 4900, 0, 199)}},
		{"too short to prove anything", []store.Segment{seg(100, 199, 1000, 1150)}, nil},
		{"no rows and no bottom proves nothing", []store.Segment{empty(seg(100, 199, 0, 0))}, nil},
		{"a fixed run never proves past the final edge", []store.Segment{seg(100, 199, 1000, FE+5000)},
			[]store.ProvenSpan{span(1100, FE, 100, 199)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := provenSpans(tt.segs, S, FE)
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("span %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestNewWindows(t *testing.T) {
	horizon := store.Span{Start: 1050, End: 1450}
	p := func(s, e int64) store.ProvenSpan {
		return store.ProvenSpan{Span: store.Span{Start: s, End: e}, Lo: 7, Hi: 9}
	}
	windows := []store.Window{
		{ID: 1, Start: 1100, End: 1199, Verified: true, Final: true}, // covered (v1): stays
		{ID: 2, Start: 1200, End: 1299, Final: true},                 // half-done: replaced
		{ID: 3, Start: 1400, End: 1499, Verified: true},              // provisional: not overlapped below
		{ID: 4, Start: 900, End: 999, Verified: true, Final: true},   // old history
	}
	spans, drop := newWindows([]store.ProvenSpan{p(math.MinInt64, 1320), p(1340, 1380)}, windows, horizon, 100)
	want := []store.Span{{Start: 1050, End: 1099}, {Start: 1200, End: 1299}, {Start: 1300, End: 1320}, {Start: 1340, End: 1380}}
	if len(spans) != len(want) {
		t.Fatalf("spans %+v, want %+v", spans, want)
	}
	for i := range want {
		if spans[i].Span != want[i] || spans[i].Lo != 7 || spans[i].Hi != 9 {
			t.Fatalf("span %d = %+v, want %+v", i, spans[i], want[i])
		}
	}
	if len(drop) != 1 || drop[0].ID != 2 {
		t.Fatalf("dropped %+v, want window 2", drop)
	}
	// Nothing new when the proof lies inside covered windows.
	if spans, drop := newWindows([]store.ProvenSpan{p(1110, 1190)}, windows, horizon, 100); len(spans)+len(drop) != 0 {
		t.Fatalf("spans %+v drop %+v", spans, drop)
	}
}

// With a cell, final segments start and end on cell boundaries (only the
// one ending at the final edge is cut there), whatever the parallelism, so
// different plans' walks start at the same heights.
func TestPlanSegmentsOnTheCellGrid(t *testing.T) {
	t.Parallel()
	const cell = 500
	for _, pieces := range []int{2, 3, 4, 7, 16} {
		plan := planSegments(segPlanInput{
			ranges:     []heightRange{{lo: 1050, hi: 1300}, {lo: 1730, open: true}},
			finalBelow: 4321, tipHeight: 5000, pieces: pieces, minHeights: 10, nextID: 1, cell: cell,
		})
		for _, g := range plan.add {
			if !g.Final {
				continue
			}
			if g.Lo%cell != 0 {
				t.Errorf("pieces %d: final segment %d..%d starts off the grid", pieces, g.Lo, g.Hi)
			}
			if (g.Hi+1)%cell != 0 && g.Hi != 4320 {
				t.Errorf("pieces %d: final segment %d..%d ends off the grid", pieces, g.Lo, g.Hi)
			}
		}
	}
}
