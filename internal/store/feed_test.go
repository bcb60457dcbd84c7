package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/chain"
	"github.com/stxwallets/walletcache/internal/hirosim"
)

// allColumns reads the whole transactions table, every column as text, by
// tx_id.
func allColumns(t *testing.T, s *Store) [][]string {
	t.Helper()
	rows, err := s.DB().Query(`SELECT COLUMNS(*)::VARCHAR FROM transactions ORDER BY tx_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]string
	for rows.Next() {
		vals := make([]*string, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = "NULL"
			if v != nil {
				row[i] = *v
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// The row feed (seed loads) and the Appender (page commits) store the same
// rows identically, every column, across many chunks and every kind of
// transaction, NULLs and amounts up to 2^64-1 included.
func TestFeedAndAppenderAgree(t *testing.T) {
	t.Parallel()
	cfg := hirosim.Config{Seed: 3, Now: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), History: 36 * time.Hour, TxPerTenure: 60}
	var txs []chain.Tx
	hirosim.Generate(cfg, func(tx chain.Tx) bool { txs = append(txs, tx); return true })
	big := tx("0xffff", txs[0].BurnBlockTime.Unix(), math.MaxUint64)
	txs = append(txs, big)
	if len(txs) < 5000 {
		t.Fatalf("only %d generated rows: the test wants several chunks", len(txs))
	}
	ctx := context.Background()
	paged := openTemp(t)
	if _, err := paged.CommitPages(ctx, []Page{{WindowID: 1, Attempt: 1, APITotal: int64(len(txs)), Txs: txs}}); err != nil {
		t.Fatal(err)
	}
	fed := openTemp(t)
	l, err := fed.BeginSeedLoad(ctx, Span{Start: 0, End: math.MaxInt32}, false)
	if err != nil {
		t.Fatal(err)
	}
	err = l.Write(ctx, func(put func([]chain.Tx) error) error {
		for i := 0; i < len(txs); i += 1000 { // batches that straddle chunks
			if err := put(txs[i:min(i+1000, len(txs))]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		l.Abort()
		t.Fatal(err)
	}
	res, err := l.Finish(ctx, "postgres", []SeedWindow{{Window: Window{ID: 1, Start: 0, End: math.MaxInt32, Attempt: 1}, SeedCount: int64(len(txs))}})
	if err != nil || res.Rows != int64(len(txs)) || !res.Verified[0] {
		t.Fatalf("finish: %+v %v", res, err)
	}
	want, got := allColumns(t, paged), allColumns(t, fed)
	if len(got) != len(txs) || !reflect.DeepEqual(got, want) {
		for i := range min(len(got), len(want)) {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("row %d differs:\n feed     %v\n appender %v", i, got[i], want[i])
			}
		}
		t.Fatalf("feed stored %d rows, appender %d, generated %d", len(got), len(want), len(txs))
	}
}

// A producer that fails part-way fails the load with its own error, and
// nothing it handed over is stored; the store takes the next load.
func TestFeedProducerFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTemp(t)
	boom := errors.New("the seed's connection dropped")
	for _, stage := range []bool{false, true} {
		t.Run(fmt.Sprintf("stage=%v", stage), func(t *testing.T) {
			l, err := s.BeginSeedLoad(ctx, Span{Start: 100, End: 199}, stage)
			if err != nil {
				t.Fatal(err)
			}
			err = l.Write(ctx, func(put func([]chain.Tx) error) error {
				for i := range 5000 {
					if err := put([]chain.Tx{tx(fmt.Sprintf("0x%04d", i), 150, 1)}); err != nil {
						return err
					}
				}
				return boom
			})
			l.Abort()
			if !errors.Is(err, boom) {
				t.Fatalf("err %v, want the producer's", err)
			}
			if got := storedIDs(t, s); len(got) != 0 {
				t.Fatalf("%d rows stored after a failed load", len(got))
			}
		})
	}
	if _, err := seedLoad(t, s, Span{Start: 100, End: 199}, false, []chain.Tx{tx("a", 100, 1)},
		[]SeedWindow{{Window: Window{ID: 1, Start: 100, End: 199, Attempt: 1}, SeedCount: 1}}); err != nil {
		t.Fatal(err)
	}
}

// A direct load that meets a tx_id stored outside its span is refused with
// ErrSeedConflict once its rows are in, and Abort leaves nothing of it.
func TestSeedLoadConflictIsRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTemp(t)
	stored := fmt.Sprintf("0x%064d", 1)
	ws := []SeedWindow{{Window: Window{ID: 1, Start: 100, End: 199, Attempt: 1}, SeedCount: 1}}
	if _, err := seedLoad(t, s, Span{Start: 100, End: 199}, false, []chain.Tx{tx(stored, 100, 1)}, ws); err != nil {
		t.Fatal(err)
	}
	l, err := s.BeginSeedLoad(ctx, Span{Start: 300, End: 1 << 30}, false)
	if err != nil {
		t.Fatal(err)
	}
	err = l.Write(ctx, func(put func([]chain.Tx) error) error {
		batch := make([]chain.Tx, 1000)
		for i := range batch {
			batch[i] = tx(fmt.Sprintf("0x%064d", 1000+i), 400, 1)
		}
		batch[500] = tx(stored, 300, 1)
		return put(batch)
	})
	l.Abort()
	if !errors.Is(err, ErrSeedConflict) {
		t.Fatalf("err %v, want ErrSeedConflict", err)
	}
	if got := storedIDs(t, s); len(got) != 1 {
		t.Fatalf("%d rows stored after a refused load", len(got))
	}
}

// A feed leaves nothing of its rows behind once its statement is done: the
// heap does not grow with the number of feeds a database has run.
func TestFeedsDoNotAccumulate(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	feed := func(k int) {
		conn, err := s.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, `CREATE OR REPLACE TEMP TABLE st AS SELECT * FROM transactions LIMIT 0`); err != nil {
			t.Fatal(err)
		}
		rows := make([]chain.Tx, 20_000)
		for i := range rows {
			rows[i] = tx(fmt.Sprintf("0x%064d", k*100_000+i), 400, 1)
		}
		if _, _, err := s.feedRows(ctx, conn, "st", func(put func([]chain.Tx) error) error { return put(rows) }); err != nil {
			t.Fatal(err)
		}
	}
	feed(0)
	base := heap()
	for k := 1; k <= 20; k++ {
		feed(k)
	}
	// 20 feeds of 20k rows each held about 5 MB of chunks apiece before.
	if grown := int64(heap()) - int64(base); grown > 20<<20 {
		t.Fatalf("the heap grew by %d MB over 20 feeds", grown>>20)
	}
}
