package backfill

import (
	"context"
	"math"
	"reflect"
	"sync"
	"testing"

	"github.com/stxwallets/walletcache/internal/store"
)

func TestPlan(t *testing.T) {
	b := Bounds{HorizonStart: 1050, FinalEdge: 1250, TailEnd: 1420}
	covered := func(id, s, e int64) store.Window {
		return store.Window{ID: id, Start: s, End: e, Verified: true, Final: true}
	}
	tests := []struct {
		name       string
		windows    []store.Window
		skip       []store.Span
		final      []store.Span
		tail       []store.Span
		reach      int64
		wantResume []int64
		wantDrop   int
	}{
		{
			name:  "fresh: one final gap from the grid before the horizon, cut at the final edge",
			final: []store.Span{{Start: 1000, End: 1250}},
			tail:  []store.Span{{Start: 1251, End: 1420}},
			reach: math.MinInt64,
		},
		{
			name:    "covered windows are left out; a gap wholly before the horizon is not planned",
			windows: []store.Window{covered(1, 1050, 1099), covered(2, 1200, 1250)},
			final:   []store.Span{{Start: 1100, End: 1199}},
			tail:    []store.Span{{Start: 1251, End: 1420}},
			reach:   1100,
		},
		{
			name: "provisional and failed windows are dropped; half-done final resumed",
			windows: []store.Window{
				covered(1, 1000, 1099),
				{ID: 2, Start: 1100, End: 1199, Final: true},                  // half-done final: resume
				{ID: 3, Start: 1200, End: 1299, Verified: true, Final: false}, // provisional: drop
				{ID: 4, Start: 1300, End: 1310, Final: true},                  // was final, now past the edge: drop
			},
			final:      []store.Span{{Start: 1200, End: 1250}},
			tail:       []store.Span{{Start: 1251, End: 1420}},
			reach:      1200,
			wantResume: []int64{2},
			wantDrop:   2,
		},
		{
			name:    "everything covered leaves only the tail; old history stays",
			windows: []store.Window{covered(1, 500, 900), covered(2, 900, 1250)},
			tail:    []store.Span{{Start: 1251, End: 1420}},
		},
		{
			name:    "spans given up on are neither planned nor resumed",
			windows: []store.Window{{ID: 2, Start: 1100, End: 1199, Final: true}},
			skip:    []store.Span{{Start: 1100, End: 1199}, {Start: 1300, End: 1350}},
			final:   []store.Span{{Start: 1000, End: 1099}, {Start: 1200, End: 1250}},
			tail:    []store.Span{{Start: 1251, End: 1299}, {Start: 1351, End: 1420}},
			reach:   math.MinInt64,
		},
		{
			name:    "the first gap reaches back to the last window held before it",
			windows: []store.Window{covered(1, 500, 899), covered(2, 1150, 1250)},
			final:   []store.Span{{Start: 1000, End: 1149}},
			tail:    []store.Span{{Start: 1251, End: 1420}},
			reach:   900,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := Plan(b, tt.windows, 100, tt.skip)
			if len(l.Drop) != tt.wantDrop {
				t.Fatalf("dropped %v, want %d", l.Drop, tt.wantDrop)
			}
			if !reflect.DeepEqual(l.Final, tt.final) || !reflect.DeepEqual(l.Tail, tt.tail) {
				t.Fatalf("final %v tail %v, want %v and %v", l.Final, l.Tail, tt.final, tt.tail)
			}
			if len(l.Final) > 0 && l.Reach != tt.reach {
				t.Fatalf("reach %d, want %d", l.Reach, tt.reach)
			}
			var resumed []int64
			for _, p := range l.Resume {
				if !p.Resume {
					t.Fatalf("resumed window %d not marked Resume", p.ID)
				}
				resumed = append(resumed, p.ID)
			}
			if !reflect.DeepEqual(resumed, tt.wantResume) {
				t.Fatalf("resumed %v, want %v", resumed, tt.wantResume)
			}
		})
	}
}

func TestTile(t *testing.T) {
	got := tile(store.Span{Start: 1050, End: 1250}, 100)
	want := []store.Span{{Start: 1050, End: 1099}, {Start: 1100, End: 1199}, {Start: 1200, End: 1250}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("tile: %v, want %v", got, want)
	}
}

// The sizing rule: on a one-hour grid with a cap of 5,000 rows (sized for
// 3,500), windows span whole cells, hold about the target at
// the density given, grow at most eightfold over the span that density was
// measured on, share the rest of the gap evenly, and span four cells when
// nothing is known.
func TestSizerEnd(t *testing.T) {
	const h = 3600
	z := newSizer(h, 5000)
	perHour := func(rows float64, span int64) rate { return rate{perSecond: rows / h, span: span} }
	tests := []struct {
		name         string
		start, gapTo int64
		r            rate
		end          int64
		after        int
	}{
		{"unknown density: four cells", 0, 100 * h, rate{}, 4*h - 1, 0},
		{"unknown density from mid-cell: the cell and three more", h / 2, 100 * h, rate{}, 4*h - 1, 0},
		{"unknown density, short gap: all of it", 0, 3*h + 10, rate{}, 3*h + 10, 0},
		// 720 rows an hour: 4 cells hold 2,880, 5 would pass the target.
		{"20k a day: four hours", 4 * h, 22*h + h/2, perHour(720, 4*h), 8*h - 1, 4},
		{"denser: two hours", 0, 48*h - 1, perHour(1500, 4*h), 2*h - 1, 23},
		{"denser than a cell may hold: one cell", 0, 48*h - 1, perHour(6000, 4*h), h - 1, 47},
		{"empty span measured: grows eightfold", 0, 1000 * h, perHour(0, 4*h), 32*h - 1, 31},
		{"sparse: grows eightfold at most", 0, 1000 * h, perHour(10, 2*h), 16*h - 1, 62},
		{"the rest fits one window: to the gap's end", 10 * h, 14*h + 77, perHour(720, 5*h), 14*h + 77, 0},
		// 6 cells of 720 need 2 windows: 3 and 3, not 4 and 2.
		{"the rest is shared evenly", 0, 6*h - 1, perHour(720, 5*h), 3*h - 1, 1},
		// 5 cells: 3,600 rows need 2 windows of 3 and 2 cells, not 4 and 1.
		{"the rest is shared evenly, rounded up", 0, 5*h - 1, perHour(720, 5*h), 3*h - 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			end, after := z.end(tt.start, tt.gapTo, tt.r)
			if end != tt.end || after != tt.after {
				t.Fatalf("end %d (%.2f h), after %d; want %d (%.2f h), after %d",
					end, float64(end+1)/h, after, tt.end, float64(tt.end+1)/h, tt.after)
			}
			if rows := tt.r.perSecond * float64(end-tt.start+1); tt.r.known() && end-floorTo(tt.start, h) >= h && rows > float64(z.target) {
				t.Fatalf("a window of %.0f rows, above the target %d", rows, z.target)
			}
		})
	}
}

// A first page that reveals more rows than the cap cuts the window back to
// what its exact density says holds the target; one at or below the cap,
// or of one cell, is paged as it is.
func TestSizerShrink(t *testing.T) {
	const h = 3600
	z := newSizer(h, 5000)
	tests := []struct {
		name       string
		start, end int64
		total      int64
		want       int64
		cut        bool
	}{
		{"at the cap: paged as it is", 0, 8*h - 1, 5000, 8*h - 1, false},
		// 12,000 rows in 8 hours: 1,500 an hour, 2 cells hold 3,000.
		{"above the cap: cut to two cells", 0, 8*h - 1, 12000, 2*h - 1, true},
		{"a cut keeps the grid when the window starts mid-cell", h / 2, 8*h - 1, 20000, h - 1, true},
		{"one cell cannot be cut", 0, h - 1, 9000, h - 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			end, cut := z.shrink(tt.start, tt.end, tt.total)
			if end != tt.want || cut != tt.cut {
				t.Fatalf("shrink: %d %v, want %d %v", end, cut, tt.want, tt.cut)
			}
		})
	}
	if small := newSizer(h, 500); small.cap != 500 || small.target != 300 {
		t.Fatalf("a cap of 500 rows: %+v, want the target at 300", small)
	}
	if def := newSizer(h, 0); def.cap != DefaultWindowRows {
		t.Fatalf("no cap given: %+v, want DefaultWindowRows", def)
	}
}

// The density of a gap comes from the stored windows nearest to it, with
// their counts, until half a day of them is seen; far or uncounted windows
// say nothing.
func TestDensityNear(t *testing.T) {
	const h = 3600
	w := func(start, end, stored, api int64, verified bool) store.Window {
		return store.Window{Start: start, End: end, StoredRows: stored, APITotal: api, Verified: verified, Final: true}
	}
	tests := []struct {
		name    string
		windows []store.Window
		at      int64
		want    rate
	}{
		{"nothing stored", nil, 100 * h, rate{}},
		{"only uncounted windows", []store.Window{w(0, h-1, -1, -1, false)}, h, rate{}},
		{"too far away", []store.Window{w(0, h-1, 100, 100, true)}, 9 * 24 * h, rate{}},
		{"the nearest half day", []store.Window{
			w(0, 12*h-1, 12*7200, 12*7200, true), // far: not needed
			w(12*h, 18*h-1, 600, 600, true),
			w(24*h, 30*h-1, 1800, 1800, true),
		}, 20 * h, rate{perSecond: 2400.0 / (12 * h), span: 12 * h}},
		{"an unverified window's API total counts", []store.Window{w(0, 12*h-1, -1, 3600, false)}, 12 * h, rate{perSecond: 3600.0 / (12 * h), span: 12 * h}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := densityNear(tt.windows, tt.at, h); got != tt.want {
				t.Fatalf("density %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCachedV1Windows(t *testing.T) {
	keys := []string{
		"v1_100_199_o0_l50", "v1_100_199_o50_l50", "v1_100_199_o100_l50", // whole
		"v1_200_299_o0_l50", "v1_200_299_o100_l50", // a page missing between
		"v1_300_399_o50_l50",         // its first page missing
		"v1_400_399_o0_l50",          // impossible bounds
		"v1_500_599_o7_l50",          // not a page offset
		"v1_600_699_o0_l20",          // another page size
		"v3_3000000-0-0_l50",         // another source
		"v1_1000_1999_o0_l50_suffix", // not a key of ours
		"v1_100_199_o50_l50",         // a page with a copy in another folder
	}
	got, err := cachedV1WindowsOf(func(fn func(string)) error {
		for i := len(keys) - 1; i >= 0; i-- { // in no particular order
			fn(keys[i])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []cachedWindow{
		{Span: store.Span{Start: 100, End: 199}, pages: 3, whole: true},
		{Span: store.Span{Start: 200, End: 299}, pages: 2},
		{Span: store.Span{Start: 300, End: 399}, pages: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("cached windows %+v, want %+v", got, want)
	}
}

// Cached windows are planned where they fit wholly inside a gap, never
// overlapping, covering as much as they can (whole ones before one with a
// page missing); the rest of the gaps is left to plan.
func TestFitCached(t *testing.T) {
	c := func(s, e int64, whole bool) cachedWindow {
		return cachedWindow{Span: store.Span{Start: s, End: e}, pages: 1, whole: whole}
	}
	sp := func(s, e int64) store.Span { return store.Span{Start: s, End: e} }
	tests := []struct {
		name   string
		gaps   []store.Span
		reach  int64 // 0: the first gap's start
		cached []cachedWindow
		picked []store.Span
		rest   []store.Span
	}{
		{"no cache", []store.Span{sp(0, 999)}, 0, nil, nil, []store.Span{sp(0, 999)}},
		{"disjoint windows are all taken", []store.Span{sp(0, 999)}, 0,
			[]cachedWindow{c(100, 199, true), c(200, 499, true), c(700, 999, true)},
			[]store.Span{sp(100, 199), sp(200, 499), sp(700, 999)}, []store.Span{sp(0, 99), sp(500, 699)}},
		{"windows of two plans: the larger cover wins", []store.Span{sp(0, 999)}, 0,
			[]cachedWindow{c(0, 99, true), c(100, 199, true), c(50, 399, true), c(400, 999, true)},
			[]store.Span{sp(50, 399), sp(400, 999)}, []store.Span{sp(0, 49)}},
		{"whole windows before one with a page missing", []store.Span{sp(0, 999)}, 0,
			[]cachedWindow{c(0, 999, false), c(0, 499, true), c(500, 899, true)},
			[]store.Span{sp(0, 499), sp(500, 899)}, []store.Span{sp(900, 999)}},
		{"a window across a gap's end, or across two gaps, is not taken", []store.Span{sp(0, 499), sp(600, 999)}, 0,
			[]cachedWindow{c(400, 699, true), c(900, 1099, true), c(600, 899, true)},
			[]store.Span{sp(600, 899)}, []store.Span{sp(0, 499), sp(900, 999)}},
		// The first gap starts where the grid put the horizon's start (the
		// horizon starts at 30): a cached window may reach before it, down
		// to the end of the last window held, and time before the horizon
		// is no gap.
		{"the first gap reaches back", []store.Span{sp(0, 999)}, -200,
			[]cachedWindow{c(-300, 99, true), c(-100, 9, true), c(10, 499, true)},
			[]store.Span{sp(-100, 9), sp(10, 499)}, []store.Span{sp(500, 999)}},
		{"what the cache leaves before the horizon is no gap", []store.Span{sp(0, 999)}, 0,
			[]cachedWindow{c(20, 999, true)}, []store.Span{sp(20, 999)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := Layout{Final: tt.gaps, Reach: tt.reach}
			if tt.reach == 0 {
				l.Reach = tt.gaps[0].Start
			}
			picked, rest := fitCached(l, 30, tt.cached)
			var got []store.Span
			for _, p := range picked {
				got = append(got, p.Span)
			}
			if !reflect.DeepEqual(got, tt.picked) || !reflect.DeepEqual(rest, tt.rest) {
				t.Fatalf("picked %v rest %v, want %v and %v", got, rest, tt.picked, tt.rest)
			}
		})
	}
}

// Items may add items while they run: the pass ends when none is queued
// and none running could add one, and the budget stops the feed.
func TestForEachQueued(t *testing.T) {
	var mu sync.Mutex
	var seen []int
	var q *workQueue[int]
	do := func(_ context.Context, n int) (bool, error) {
		mu.Lock()
		seen = append(seen, n)
		mu.Unlock()
		if n%10 < 9 {
			q.push(n+1, false)
		}
		return true, nil
	}
	q = newWorkQueue([]int{0, 10, 20})
	ok, err := forEachQueued(context.Background(), 4, q, &pageBudget{left: 1}, nil, do)
	if err != nil || !ok || len(seen) != 30 {
		t.Fatalf("ok %v err %v, %d items run, want all 30", ok, err, len(seen))
	}

	seen = nil
	budget := &pageBudget{left: 1}
	q = newWorkQueue([]int{0})
	ok, err = forEachQueued(context.Background(), 2, q, budget, nil, func(ctx context.Context, n int) (bool, error) {
		budget.take() // the second take empties it
		budget.take()
		return do(ctx, n)
	})
	if err != nil || ok || len(seen) != 1 {
		t.Fatalf("with the budget gone: ok %v err %v, %d items run, want 1 and not all done", ok, err, len(seen))
	}
}
