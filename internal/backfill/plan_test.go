package backfill

import (
	"testing"

	"github.com/stxwallets/walletcache/internal/store"
)

func TestPlan(t *testing.T) {
	b := Bounds{HorizonStart: 1050, FinalEdge: 1250, TailEnd: 1420}
	covered := func(id, s, e int64) store.Window {
		return store.Window{ID: id, Start: s, End: e, Verified: true, Final: true}
	}
	tests := []struct {
		name     string
		windows  []store.Window
		want     []planSpan // planned windows in order
		wantFin  []bool
		wantDrop int
	}{
		{
			name:    "fresh: cut on the grid (the first window too) and at the final edge, final first",
			want:    []planSpan{{1000, 1099}, {1100, 1199}, {1200, 1250}, {1251, 1299}, {1300, 1399}, {1400, 1420}},
			wantFin: []bool{true, true, true, false, false, false},
		},
		{
			name:    "covered windows are skipped, gaps planned",
			windows: []store.Window{covered(1, 1050, 1099), covered(2, 1200, 1250)},
			want:    []planSpan{{1100, 1199}, {1251, 1299}, {1300, 1399}, {1400, 1420}},
			wantFin: []bool{true, false, false, false},
		},
		{
			name: "provisional and failed windows are dropped and planned afresh; half-done final resumed",
			windows: []store.Window{
				covered(1, 1000, 1099),
				{ID: 2, Start: 1100, End: 1199, Final: true},                  // half-done final: resume
				{ID: 3, Start: 1200, End: 1299, Verified: true, Final: false}, // provisional: drop
			},
			want:     []planSpan{{1100, 1199}, {1200, 1250}, {1251, 1299}, {1300, 1399}, {1400, 1420}},
			wantFin:  []bool{true, true, false, false, false},
			wantDrop: 1,
		},
		{
			name:    "a gap wholly before the horizon is not planned",
			windows: []store.Window{covered(1, 1050, 1250)},
			want:    []planSpan{{1251, 1299}, {1300, 1399}, {1400, 1420}},
			wantFin: []bool{false, false, false},
		},
		{
			name:    "everything covered leaves only the tail",
			windows: []store.Window{covered(1, 900, 1250)},
			want:    []planSpan{{1251, 1299}, {1300, 1399}, {1400, 1420}},
			wantFin: []bool{false, false, false},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, drop := Plan(b, tt.windows, 100, 10)
			if len(drop) != tt.wantDrop {
				t.Fatalf("dropped %d, want %d", len(drop), tt.wantDrop)
			}
			if len(plan) != len(tt.want) {
				t.Fatalf("planned %v", plan)
			}
			ids := map[int64]bool{}
			for i, p := range plan {
				if (planSpan{p.Start, p.End}) != tt.want[i] || p.Final != tt.wantFin[i] {
					t.Fatalf("window %d = [%d,%d] final=%v, want %v final=%v", i, p.Start, p.End, p.Final, tt.want[i], tt.wantFin[i])
				}
				if ids[p.ID] {
					t.Fatalf("id %d planned twice", p.ID)
				}
				ids[p.ID] = true
			}
		})
	}
}

// planSpan is a planned window's bounds, as the tables above write them.
type planSpan struct{ start, end int64 }
