package store

import (
	"context"
	"errors"
	"testing"

	"github.com/stxwallets/walletcache/internal/chain"
)

func seedLoad(t *testing.T, s *Store, sp Span, stage bool, txs []chain.Tx, ws []SeedWindow) (SeedResult, error) {
	t.Helper()
	ctx := context.Background()
	l, err := s.BeginSeedLoad(ctx, sp, stage)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Write(ctx, func(put func([]chain.Tx) error) error { return put(txs) }); err != nil {
		l.Abort()
		return SeedResult{}, err
	}
	return l.Finish(ctx, "postgres", ws)
}

// A first load appends straight into the table; a load over stored rows
// stages, deletes the rows the seed does not hold, and keeps each tx once;
// every window is verified against the seed's count, or left unverified.
func TestSeedLoad(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ws := []SeedWindow{
		{Window: Window{ID: 1, Start: 100, End: 199, Attempt: 1}, SeedCount: 2},
		{Window: Window{ID: 2, Start: 200, End: 299, Attempt: 1}, SeedCount: 1},
	}
	res, err := seedLoad(t, s, Span{Start: 100, End: 299}, false, []chain.Tx{tx("a", 100, 1), tx("b", 150, 2), tx("c", 250, 3)}, ws)
	if err != nil || res.Rows != 3 || !res.Verified[0] || !res.Verified[1] {
		t.Fatalf("first load: %+v %v", res, err)
	}
	// Again over the stored rows: "b" left the chain, "d" is new, and the
	// second window's count says 2 while the seed hands out 1 row.
	ws[1].SeedCount = 2
	res, err = seedLoad(t, s, Span{Start: 100, End: 299}, false, []chain.Tx{tx("a", 100, 1), tx("d", 120, 4), tx("c", 250, 3)}, ws)
	if err != nil || res.Deleted != 1 || !res.Verified[0] || res.Verified[1] || res.Stored[1] != 1 {
		t.Fatalf("second load: %+v %v", res, err)
	}
	if got := storedIDs(t, s); !equalIDs(got, "a", "c", "d") {
		t.Fatalf("stored %v, want a c d", got)
	}
	wins, err := s.Windows(context.Background())
	if err != nil || len(wins) != 2 || !wins[0].Covered() || wins[1].Covered() || wins[0].Source != "postgres" {
		t.Fatalf("windows %+v %v", wins, err)
	}
}

// A direct load that meets a tx_id stored outside its span writes nothing
// and says so, so the caller loads again through staging.
func TestSeedLoadConflict(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ws := []SeedWindow{{Window: Window{ID: 1, Start: 100, End: 199, Attempt: 1}, SeedCount: 1}}
	if _, err := seedLoad(t, s, Span{Start: 100, End: 199}, false, []chain.Tx{tx("a", 100, 1)}, ws); err != nil {
		t.Fatal(err)
	}
	ws = []SeedWindow{{Window: Window{ID: 2, Start: 300, End: 399, Attempt: 1}, SeedCount: 2}}
	_, err := seedLoad(t, s, Span{Start: 300, End: 399}, false, []chain.Tx{tx("a", 300, 1), tx("e", 310, 1)}, ws)
	if !errors.Is(err, ErrSeedConflict) {
		t.Fatalf("err %v, want ErrSeedConflict", err)
	}
	if got := storedIDs(t, s); len(got) != 1 {
		t.Fatalf("stored %v after a refused load", got)
	}
	res, err := seedLoad(t, s, Span{Start: 300, End: 399}, true, []chain.Tx{tx("a", 300, 1), tx("e", 310, 1)}, ws)
	if err != nil || !res.Verified[0] {
		t.Fatalf("staged load: %+v %v", res, err)
	}
}
