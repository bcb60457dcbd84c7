package store

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/chain"
)

// at is a transaction at a block height with a burn time.
func at(id string, height, burn int64) chain.Tx {
	t := tx(id, burn, 1)
	t.BlockHeight = height
	return t
}

func storedIDs(t *testing.T, s *Store) []string {
	t.Helper()
	rows, err := s.DB().Query(`SELECT tx_id FROM transactions ORDER BY tx_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func equalIDs(a []string, b ...string) bool {
	sort.Strings(b)
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A segment's pages commit with its state; heights the walk has passed
// below are reconciled page by page (rows there it did not see are
// deleted), and the heights it has not passed yet are left alone, also
// across a "kill" (a fresh read of the segment) between pages.
func TestCommitSegmentPagesReconciles(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	// Stale rows a provisional walk left: 'old12' above, 'old10' in the
	// middle, 'keep8' below the segment, 'old9' at the segment's bottom.
	if _, err := s.CommitPages(ctx, []Page{{WindowID: 99, Attempt: 1, Txs: []chain.Tx{
		at("old12", 12, 500), at("old10", 10, 500), at("old9", 9, 500), at("keep8", 8, 500)}}}); err != nil {
		t.Fatal(err)
	}
	g := Segment{ID: 1, RunID: 1, Lo: 9, Open: true, Attempt: 1, Reconciled: OpenTop}
	if err := s.SaveSegments(ctx, []Segment{g}, nil); err != nil {
		t.Fatal(err)
	}
	// Page 1: heights 11 and the top of 10; the next page starts in 10.
	g.Started, g.TopHeight, g.NextCursor, g.Reconciled, g.Pages, g.Rows = true, 11, "10:2147483647:0", 10, 1, 2
	g.MinBurn, g.MaxBurn, g.HasRows = 500, 600, true
	rows, deleted, err := s.CommitSegmentPages(ctx, []SegmentPage{{Segment: g, Txs: []chain.Tx{at("a11", 11, 600), at("b10", 10, 500)}}})
	if err != nil || rows != 2 || deleted != 1 {
		t.Fatalf("page 1: rows %d deleted %d %v", rows, deleted, err)
	}
	if ids := storedIDs(t, s); !equalIDs(ids, "a11", "b10", "old10", "old9", "keep8") {
		t.Fatalf("after page 1: %v (old12 must go, height 10 is not passed yet)", ids)
	}
	// A kill here: the state on disk resumes the walk.
	segs, err := s.Segments(ctx)
	if err != nil || len(segs) != 1 || segs[0].NextCursor != "10:2147483647:0" || segs[0].Reconciled != 10 ||
		!segs[0].Open || segs[0].TopHeight != 11 || segs[0].Done || segs[0].MinBurn != 500 || !segs[0].HasRows {
		t.Fatalf("segment on disk %+v %v", segs, err)
	}
	// Page 2: the rest of 10, all of 9, and rows below the segment: done.
	g = segs[0]
	g.Done, g.NextCursor, g.Reconciled, g.Pages, g.Rows = true, "", 8, 2, 4
	rows, deleted, err = s.CommitSegmentPages(ctx, []SegmentPage{{Segment: g, Txs: []chain.Tx{at("c10", 10, 500), at("d9", 9, 500)}}})
	if err != nil || rows != 2 || deleted != 2 {
		t.Fatalf("page 2: rows %d deleted %d %v", rows, deleted, err)
	}
	if ids := storedIDs(t, s); !equalIDs(ids, "a11", "b10", "c10", "d9", "keep8") {
		t.Fatalf("after page 2: %v", ids)
	}
	var seen int
	if err := s.DB().QueryRow(`SELECT count(*) FROM segment_seen`).Scan(&seen); err != nil || seen != 0 {
		t.Fatalf("seen rows left after the segment finished: %d %v", seen, err)
	}
}

// Only heights the walk passed are reconciled, and a fixed segment never
// touches heights above its own.
func TestCommitSegmentPagesFixedSegment(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	if _, err := s.CommitPages(ctx, []Page{{WindowID: 99, Attempt: 1, Txs: []chain.Tx{at("above21", 21, 1), at("stale19", 19, 1), at("stale15", 15, 1)}}}); err != nil {
		t.Fatal(err)
	}
	g := Segment{ID: 4, RunID: 1, Lo: 10, Hi: 20, Final: true, Attempt: 1, Reconciled: 20}
	if err := s.SaveSegments(ctx, []Segment{g}, nil); err != nil {
		t.Fatal(err)
	}
	g.Started, g.TopHeight, g.NextCursor, g.Reconciled = true, 20, "16:2147483647:3", 16
	if _, deleted, err := s.CommitSegmentPages(ctx, []SegmentPage{{Segment: g, Txs: []chain.Tx{at("x20", 20, 1), at("x17", 17, 1)}}}); err != nil || deleted != 1 {
		t.Fatalf("deleted %d %v", deleted, err)
	}
	if ids := storedIDs(t, s); !equalIDs(ids, "above21", "x20", "x17", "stale15") {
		t.Fatalf("stored %v", ids)
	}
	// Dropping a segment forgets it and what it saw; rows stay.
	if err := s.SaveSegments(ctx, nil, []int64{4}); err != nil {
		t.Fatal(err)
	}
	segs, _ := s.Segments(ctx)
	var seen int
	_ = s.DB().QueryRow(`SELECT count(*) FROM segment_seen`).Scan(&seen)
	if len(segs) != 0 || seen != 0 || len(storedIDs(t, s)) != 4 {
		t.Fatalf("after drop: %d segments, %d seen", len(segs), seen)
	}
}

// A batch that meets a stored row (its block walked again from the top)
// replaces the stored copy: each tx_id once, the new copy.
func TestCommitSegmentPagesMeetsStoredRow(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	g := Segment{ID: 5, RunID: 1, Lo: 10, Hi: 20, Final: true, Attempt: 1, Reconciled: 20}
	if err := s.SaveSegments(ctx, []Segment{g}, nil); err != nil {
		t.Fatal(err)
	}
	g.Started, g.TopHeight, g.NextCursor, g.Reconciled = true, 20, "17:2147483647:0", 17
	if _, _, err := s.CommitSegmentPages(ctx, []SegmentPage{{Segment: g, Txs: []chain.Tx{at("x20", 20, 1), at("x18", 18, 1)}}}); err != nil {
		t.Fatal(err)
	}
	// The block of x18 walked again from the top, x18 served with another
	// amount, next to a new row.
	again := at("x18", 18, 1)
	again.TokenTransferAmount = 9
	g.NextCursor, g.Reconciled = "15:2147483647:0", 15
	rows, _, err := s.CommitSegmentPages(ctx, []SegmentPage{{Segment: g, Txs: []chain.Tx{again, at("x16", 16, 1)}}})
	if err != nil || rows != 2 {
		t.Fatalf("batch meeting a stored row: %d rows, %v", rows, err)
	}
	var n int
	var amount uint64
	if err := s.DB().QueryRow(`SELECT count(*), sum(CASE WHEN tx_id = 'x18' THEN token_transfer_amount END) FROM transactions`).Scan(&n, &amount); err != nil || n != 3 || amount != 9 {
		t.Fatalf("%d rows, amount of x18 %d (%v): want 3 rows and the new copy", n, amount, err)
	}
	segs, err := s.Segments(ctx)
	if err != nil || len(segs) != 1 || segs[0].Reconciled != 15 {
		t.Fatalf("segment %+v %v", segs, err)
	}
}

// Proven spans become verified, final windows that count what is stored;
// rows in a span outside the heights that prove it are not canonical and
// go; replaced window records go with their bookkeeping.
func TestRecordWindows(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	if _, err := s.CommitPages(ctx, []Page{{WindowID: 5, Attempt: 1, Txs: []chain.Tx{
		at("a", 100, 1000), at("b", 101, 1000), at("c", 102, 1500), at("d", 103, 2100),
		at("stray", 400, 1200), // a fork's leftover: burn time inside, height outside
	}}}); err != nil {
		t.Fatal(err)
	}
	half := Window{ID: 5, Start: 1000, End: 1999, Source: "v1", Attempt: 1, Final: true}
	if err := s.BeginAttempt(ctx, half); err != nil {
		t.Fatal(err)
	}
	deleted, err := s.RecordWindows(ctx, "v3", []ProvenSpan{
		{Span: Span{Start: 1000, End: 1499}, Lo: 100, Hi: 110},
		{Span: Span{Start: 1500, End: 1999}, Lo: 100, Hi: 110},
		{Span: Span{Start: 2000, End: 2999}, Lo: 100, Hi: 110},
	}, []Window{half})
	if err != nil || deleted != 1 {
		t.Fatalf("deleted %d %v", deleted, err)
	}
	ws, err := s.Windows(ctx)
	if err != nil || len(ws) != 3 {
		t.Fatalf("windows %+v %v", ws, err)
	}
	for i, want := range []int64{2, 1, 1} {
		w := ws[i]
		if !w.Covered() || w.Source != "v3" || w.APITotal != want || w.StoredRows != want || w.VerifiedAt.IsZero() || time.Since(w.VerifiedAt) > time.Minute {
			t.Fatalf("window %d = %+v, want %d rows", i, w, want)
		}
	}
	if ids := storedIDs(t, s); !equalIDs(ids, "a", "b", "c", "d") {
		t.Fatalf("stored %v", ids)
	}
	var pages int
	if err := s.DB().QueryRow(`SELECT count(*) FROM window_seen WHERE window_id = 5`).Scan(&pages); err != nil || pages != 0 {
		t.Fatalf("bookkeeping of the replaced window left: %d %v", pages, err)
	}
}

// CommitSegmentRuns, the bulk commit of cached pages, reconciles exactly as
// CommitSegmentPages does, alone or mixed with it on either side of a page
// boundary inside a block: a row seen on one side is never deleted by the
// other, and nothing is left in segment_seen once the walk is done.
func TestCommitSegmentRunsAgreesWithCommitSegmentPages(t *testing.T) {
	t.Parallel()
	type commit func(s *Store, g Segment, before int64, txs []chain.Tx) (int, int64, error)
	paged := func(s *Store, g Segment, _ int64, txs []chain.Tx) (int, int64, error) {
		return s.CommitSegmentPages(context.Background(), []SegmentPage{{Segment: g, Txs: txs}})
	}
	bulk := func(s *Store, g Segment, before int64, txs []chain.Tx) (int, int64, error) {
		return s.CommitSegmentRuns(context.Background(), []SegmentRun{{Segment: g, Before: before, Txs: txs}})
	}
	for _, tc := range []struct {
		name         string
		first, later commit
	}{
		{"bulk, bulk", bulk, bulk},
		{"paged, bulk", paged, bulk},
		{"bulk, paged", bulk, paged},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := openTemp(t)
			if _, err := s.CommitPages(ctx, []Page{{WindowID: 99, Attempt: 1, Txs: []chain.Tx{
				at("above21", 21, 1), at("stale19", 19, 1), at("stale15", 15, 1), at("keep9", 9, 1)}}}); err != nil {
				t.Fatal(err)
			}
			g := Segment{ID: 4, RunID: 1, Lo: 10, Hi: 20, Final: true, Attempt: 1, Reconciled: 20}
			if err := s.SaveSegments(ctx, []Segment{g}, nil); err != nil {
				t.Fatal(err)
			}
			// Page 1: heights 20 down to the top of 15; the next page starts in 15.
			g.Started, g.TopHeight, g.NextCursor, g.Reconciled, g.Pages, g.Rows = true, 20, "15:2147483647:0", 15, 1, 2
			if n, _, err := tc.first(s, g, 20, []chain.Tx{at("a18", 18, 1), at("b15", 15, 1), at("a18", 18, 1)}); err != nil || n != 2 {
				t.Fatalf("page 1: %d rows, %v", n, err)
			}
			if ids := storedIDs(t, s); !equalIDs(ids, "above21", "a18", "b15", "stale15", "keep9") {
				t.Fatalf("after page 1: %v (stale19 goes; height 15 is not passed yet)", ids)
			}
			// Page 2: the rest of 15 and everything down to 10: done.
			g.Done, g.NextCursor, g.Reconciled, g.Pages, g.Rows = true, "", 9, 2, 4
			_, deleted, err := tc.later(s, g, 15, []chain.Tx{at("c15", 15, 1), at("d10", 10, 1)})
			if err != nil || deleted != 1 {
				t.Fatalf("page 2: deleted %d, %v", deleted, err)
			}
			if ids := storedIDs(t, s); !equalIDs(ids, "above21", "a18", "b15", "c15", "d10", "keep9") {
				t.Fatalf("after page 2: %v", ids)
			}
			var seen int
			if err := s.DB().QueryRow(`SELECT count(*) FROM segment_seen`).Scan(&seen); err != nil || seen != 0 {
				t.Fatalf("seen rows left after the walk: %d %v", seen, err)
			}
			segs, err := s.Segments(ctx)
			if err != nil || len(segs) != 1 || !segs[0].Done || segs[0].Reconciled != 9 || segs[0].Pages != 2 {
				t.Fatalf("segment %+v %v", segs, err)
			}
		})
	}
}

// CommitSegmentRuns writes runs of several segments in one call: straight
// into an empty table (recording the seen ids of the height a walk stands
// on), and through the staging table when a row's tx_id is already stored
// at another height, with the same result.
func TestCommitSegmentRunsOfManySegments(t *testing.T) {
	t.Parallel()
	for _, stored := range []bool{false, true} {
		t.Run(fmt.Sprintf("tx_id stored elsewhere %v", stored), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := openTemp(t)
			if stored {
				if _, err := s.CommitPages(ctx, []Page{{WindowID: 99, Attempt: 1, Txs: []chain.Tx{at("moved", 55, 1)}}}); err != nil {
					t.Fatal(err)
				}
			}
			a := Segment{ID: 1, RunID: 1, Lo: 10, Hi: 20, Final: true, Attempt: 1, Reconciled: 20}
			b := Segment{ID: 2, RunID: 1, Lo: 30, Hi: 40, Final: true, Attempt: 1, Reconciled: 40}
			if err := s.SaveSegments(ctx, []Segment{a, b}, nil); err != nil {
				t.Fatal(err)
			}
			a1 := a
			a1.Started, a1.TopHeight, a1.NextCursor, a1.Reconciled, a1.Pages, a1.Rows = true, 20, "15:2147483647:0", 15, 1, 2
			// a's heights hold nothing: the rows go straight in, unless
			// "moved" is stored (at 55) already.
			n, _, err := s.CommitSegmentRuns(ctx, []SegmentRun{{Segment: a1, Before: 20, Txs: []chain.Tx{at("a18", 18, 1), at("moved", 16, 1), at("a15", 15, 1)}}})
			if err != nil || n != 3 {
				t.Fatalf("first run: %d rows, %v", n, err)
			}
			var seen []string
			rows, err := s.DB().Query(`SELECT tx_id FROM segment_seen WHERE segment_id = 1`)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					t.Fatal(err)
				}
				seen = append(seen, id)
			}
			rows.Close()
			if !equalIDs(seen, "a15") {
				t.Fatalf("seen after the first run: %v (only the height the walk stands on)", seen)
			}
			// One call: the rest of a, all of b.
			a2 := a1
			a2.Done, a2.NextCursor, a2.Reconciled, a2.Pages, a2.Rows = true, "", 9, 3, 4
			b1 := b
			b1.Started, b1.TopHeight, b1.Done, b1.Reconciled, b1.Pages, b1.Rows = true, 40, true, 29, 1, 2
			b2 := b1 // a second run of the same segment in the same call
			b2.Pages, b2.Rows = 2, 3
			n, deleted, err := s.CommitSegmentRuns(ctx, []SegmentRun{
				{Segment: a2, Before: 15, Txs: []chain.Tx{at("a15b", 15, 1), at("a12", 12, 1)}},
				{Segment: b1, Before: 40, Txs: []chain.Tx{at("b33", 33, 1), at("b31", 31, 1)}},
				{Segment: b2, Before: 29, Txs: []chain.Tx{at("b31", 31, 1)}},
			})
			if err != nil || n != 4 || deleted != 0 {
				t.Fatalf("second call: %d rows, %d deleted, %v", n, deleted, err)
			}
			if ids := storedIDs(t, s); !equalIDs(ids, "a12", "a15", "a15b", "a18", "b31", "b33", "moved") {
				t.Fatalf("stored %v", ids)
			}
			var h int64
			if err := s.DB().QueryRow(`SELECT block_height FROM transactions WHERE tx_id = 'moved'`).Scan(&h); err != nil || h != 16 {
				t.Fatalf("moved row at height %d, %v", h, err)
			}
			var left int
			if err := s.DB().QueryRow(`SELECT count(*) FROM segment_seen`).Scan(&left); err != nil || left != 0 {
				t.Fatalf("seen rows left after the walks: %d %v", left, err)
			}
			segs, err := s.Segments(ctx)
			if err != nil || len(segs) != 2 || !segs[0].Done || segs[0].Reconciled != 9 || !segs[1].Done || segs[1].Pages != 2 {
				t.Fatalf("segments %+v %v", segs, err)
			}
		})
	}
}
