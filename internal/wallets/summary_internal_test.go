package wallets

import (
	"context"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/stxwallets/walletcache/internal/wallets/walletstest"
)

// TestSummaryCountsBadPicks proves the consistency guard of the summary: a
// fetched first tx that is not the one the wallet's aggregate chose (as when
// a writer changes the table between the statements) is counted, whether it
// changed or went missing.
func TestSummaryCountsBadPicks(t *testing.T) {
	ctx := context.Background()
	gen := walletstest.Small(3)
	db := walletstest.NewDB(t)
	if err := walletstest.Load(ctx, db, walletstest.Generate(gen)); err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	now := gen.Start.AddDate(0, 0, gen.Days+1)
	cfg := Config{Windows: []int{30}, Now: func() time.Time { return now }}
	p, err := ResolvePeriod(ctx, conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Compute(ctx, conn, p, cfg); err != nil {
		t.Fatal(err)
	}
	badPicks := func() int64 {
		t.Helper()
		var wallets, active, txs, near, nonce, bad int64
		if err := conn.QueryRowContext(ctx, summarySQL(p, true)).Scan(&wallets, &active, &txs, &near, &nonce, &bad); err != nil {
			t.Fatal(err)
		}
		return bad
	}
	if n := badPicks(); n != 0 {
		t.Fatalf("%d bad picks right after Compute, want 0", n)
	}
	for i, change := range []string{
		`UPDATE picked_txs SET block_time = block_time + INTERVAL 1 SECOND WHERE rid = (SELECT min(rid) FROM picked_txs)`,
		`DELETE FROM picked_txs WHERE rid = (SELECT max(rid) FROM picked_txs)`,
	} {
		if _, err := conn.ExecContext(ctx, change); err != nil {
			t.Fatal(err)
		}
		if n, want := badPicks(), int64(i+1); n != want {
			t.Errorf("after %q: %d bad picks, want %d", change, n, want)
		}
	}
}
