package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
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

// With checkpoints deferred, a bulk load whose log would pass DuckDB's own
// threshold goes into the file at its commit, leaving no WAL for Close to
// write again; a later small load's log stays in the WAL until Close,
// which folds it in so that the file alone holds every committed row.
func TestBulkCommitCheckpointsAndCloseFoldsTheRest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "w.duckdb")
	s := openAt(t, path, Options{})
	defer func() { s.Close() }()
	if err := s.DeferCheckpoints(ctx); err != nil {
		t.Fatal(err)
	}
	rows := func(prefix string, n int, start int64) []chain.Tx {
		out := make([]chain.Tx, n)
		for i := range out {
			out[i] = tx(fmt.Sprintf("0x%s%062x", prefix, i), start+int64(i%1000), uint64(i))
		}
		return out
	}
	const bulk = 110_000 // about 19 MB of log, past DuckDB's 16 MB, in one row group
	ws := []SeedWindow{{Window: Window{ID: 1, Start: 1000, End: 1999, Attempt: 1}, SeedCount: bulk}}
	if res, err := seedLoad(t, s, Span{Start: 1000, End: 1999}, false, rows("aa", bulk, 1000), ws); err != nil || !res.Verified[0] {
		t.Fatalf("bulk load: %+v %v", res, err)
	}
	if wal := PendingWALBytes(path); wal != 0 {
		t.Fatalf("the bulk load's commit left a %d-byte WAL, want it checkpointed into the file", wal)
	}
	ws = []SeedWindow{{Window: Window{ID: 2, Start: 3000, End: 3999, Attempt: 1}, SeedCount: 10}}
	if res, err := seedLoad(t, s, Span{Start: 3000, End: 3999}, false, rows("bb", 10, 3000), ws); err != nil || !res.Verified[0] {
		t.Fatalf("small load: %+v %v", res, err)
	}
	if wal := PendingWALBytes(path); wal == 0 {
		t.Fatal("a ten-row load was checkpointed at its commit; want it in the WAL under the deferred threshold")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if wal := PendingWALBytes(path); wal != 0 {
		t.Fatalf("Close left a %d-byte WAL, want it folded into the file", wal)
	}
	s = openAt(t, path, Options{ReadOnly: true})
	var n int64
	if err := s.DB().QueryRow(`SELECT count(*) FROM transactions`).Scan(&n); err != nil || n != bulk+10 {
		t.Fatalf("%d rows after reopening (%v), want %d", n, err, bulk+10)
	}
	wins, err := s.Windows(ctx)
	if err != nil || len(wins) != 2 || !wins[0].Covered() || !wins[1].Covered() {
		t.Fatalf("windows after reopening: %+v %v", wins, err)
	}
}
