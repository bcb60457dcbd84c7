package store

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/chain"
)

// randomTxID is a tx_id of 32 random bytes.
func randomTxID(r *rand.Rand) string {
	return fmt.Sprintf("0x%016x%016x%016x%016x", r.Uint64(), r.Uint64(), r.Uint64(), r.Uint64())
}

// txKey in Go and txKeySQL in DuckDB give every tx_id the same key, and
// txKey refuses any string whose key digits are not a tx_id's.
func TestTxKeyMatchesSQL(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	r := rand.New(rand.NewPCG(1, 2))
	ids := []string{"0x" + fmt.Sprintf("%064d", 0), "0xffffffffffffffff" + fmt.Sprintf("%048d", 7)}
	for range 200 {
		ids = append(ids, randomTxID(r))
	}
	for _, id := range ids {
		want, ok := txKey(id)
		if !ok {
			t.Fatalf("txKey(%q) refused a tx_id", id)
		}
		var got uint64
		q := `SELECT ` + txKeySQL + ` FROM (SELECT ? AS tx_id)`
		if err := s.DB().QueryRow(q, id).Scan(&got); err != nil || got != want {
			t.Fatalf("%s: SQL key %x (%v), Go key %x", id, got, err, want)
		}
	}
	id := ids[2]
	for _, bad := range []string{"", "a", "0x12", "0X" + id[2:], id[:10] + "g" + id[11:], id[:17] + "A" + id[18:], id + "0", "1x" + id[2:]} {
		if _, ok := txKey(bad); ok {
			t.Errorf("txKey(%q) accepted a string that is no tx_id", bad)
		}
	}
}

// The set holds every key added once, finds no other, and keeps doing so
// across merges of its delta into the main array (forced often here), in
// a set loaded from a table as in an empty one.
func TestKeySet(t *testing.T) {
	t.Parallel()
	check := func(t *testing.T, k *keySet, in map[uint64]bool, r *rand.Rand) {
		t.Helper()
		if k.n != len(in) {
			t.Fatalf("set holds %d keys, want %d", k.n, len(in))
		}
		for key := range in {
			if !k.has(key) {
				t.Fatalf("key %x added but not found", key)
			}
		}
		for range 50_000 {
			// Only the top 48 bits count: keys that differ below them are one.
			if key := r.Uint64() &^ 0xffff; !in[key] && k.has(key) {
				t.Fatalf("key %x never added was found", key)
			}
		}
	}
	fill := func(k *keySet, in map[uint64]bool, r *rand.Rand, n int) {
		for range n {
			key := r.Uint64()
			switch r.IntN(10) {
			case 0:
				key &= 0xffff_ffff_ffff // many in bucket 0
			case 1:
				key |= 0xffff << 48 // and in the last
			}
			key &^= 0xffff // the set keeps 48 bits
			had := k.add(key)
			if had != in[key] {
				t.Fatalf("add(%x) said had=%v, want %v", key, had, in[key])
			}
			if !k.add(key) { // twice is once
				t.Fatalf("add(%x) twice: not had", key)
			}
			in[key] = true
		}
	}
	t.Run("empty", func(t *testing.T) {
		t.Parallel()
		r := rand.New(rand.NewPCG(3, 4))
		k := newKeySet(0)
		defer k.release()
		k.mergeAt = 997
		in := map[uint64]bool{}
		fill(k, in, r, 50_000)
		if k.merges < 40 {
			t.Fatalf("%d merges, want the delta merged about every thousand keys", k.merges)
		}
		check(t, k, in, r)
	})
	t.Run("loaded", func(t *testing.T) {
		t.Parallel()
		r := rand.New(rand.NewPCG(7, 8))
		s := openTemp(t)
		in := map[uint64]bool{}
		var ids []string
		for range 20_000 {
			id := randomTxID(r)
			key, _ := txKey(id)
			ids, in[key&^0xffff] = append(ids, id), true
		}
		ids = append(ids, ids[:100]...) // a tx_id stored twice is one key
		for _, id := range ids[:50] {   // and so are two that share their first 12 hex digits
			ids = append(ids, id[:14]+"f"+id[15:])
		}
		if _, err := s.DB().Exec(`INSERT INTO transactions (tx_id, tx_type, tx_status, block_height, block_hash, block_time, burn_block_height, burn_block_time, tx_index, sender_address, nonce, fee_rate, sponsored, canonical)
SELECT unnest(?::VARCHAR[]), 'coinbase', 'success', 1, '0x', now(), 1, now(), 0, 'SP', 0, 0, false, true`, ids); err != nil {
			t.Fatal(err)
		}
		k, err := loadKeySet(context.Background(), s.DB())
		if err != nil {
			t.Fatal(err)
		}
		defer k.release()
		check(t, k, in, r)
		k.mergeAt = 1009
		fill(k, in, r, 30_000)
		if k.merges < 25 {
			t.Fatalf("%d merges into the loaded set, want the delta merged about every thousand keys", k.merges)
		}
		check(t, k, in, r)
	})
}

// The key set read from the table holds every stored tx_id's key, so a
// store opened again on a database finds what an earlier process wrote.
func TestKeySetReadFromTable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(5, 6))
	var rows []chain.Tx
	for i := range 3000 {
		rows = append(rows, tx(randomTxID(r), int64(100+i%50), 1))
	}
	s := reopened(t, func(s *Store) {
		if _, err := s.CommitPages(ctx, []Page{{WindowID: 1, Attempt: 1, Txs: rows}}); err != nil {
			t.Fatal(err)
		}
	})
	set, err := s.keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if set.n != len(rows) {
		t.Fatalf("set read %d keys from %d rows", set.n, len(rows))
	}
	for _, row := range rows {
		if k, _ := txKey(row.TxID); !set.has(k) {
			t.Fatalf("%s is stored but its key was not read", row.TxID)
		}
	}
}

// A row written again replaces its stored copy wherever the copy is: at
// the same burn time, at another one (the row moved), and when the copy
// was written by an earlier process (the key set read from the table).
// A key left behind by a deleted row costs nothing but the lookup.
func TestReplaceStoredKeepsEveryTxIDOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(7, 8))
	same, moved, gone, fresh := randomTxID(r), randomTxID(r), randomTxID(r), randomTxID(r)
	s := reopened(t, func(s *Store) {
		if _, err := s.CommitPages(ctx, []Page{{WindowID: 1, Attempt: 1, Txs: []chain.Tx{tx(same, 100, 1), tx(moved, 110, 1), tx(gone, 120, 1)}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DB().Exec(`DELETE FROM transactions WHERE tx_id = ?`, gone); err != nil {
			t.Fatal(err)
		}
	})
	// The same row again and the deleted row back, near their old burn
	// times; then, alone in its batch, a row moved far from its copy, so
	// that only the delete over the whole table finds that copy.
	for _, batch := range [][]chain.Tx{{tx(same, 100, 5), tx(gone, 120, 5), tx(fresh, 130, 5)}, {tx(moved, 90_000, 5)}} {
		n, err := s.CommitPages(ctx, []Page{{WindowID: 2, Attempt: 1, Offset: int64(len(batch)), Txs: batch}})
		if err != nil || n != len(batch) {
			t.Fatalf("commit: %d rows, %v", n, err)
		}
	}
	got := map[string][2]int64{}
	rows, err := s.DB().Query(`SELECT tx_id, epoch(burn_block_time)::BIGINT, token_transfer_amount FROM transactions`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var at, amount int64
		if err := rows.Scan(&id, &at, &amount); err != nil {
			t.Fatal(err)
		}
		if _, dup := got[id]; dup {
			t.Fatalf("%s stored twice", id)
		}
		got[id] = [2]int64{at, amount}
	}
	want := map[string][2]int64{same: {100, 5}, moved: {90_000, 5}, gone: {120, 5}, fresh: {130, 5}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stored %v, want %v", got, want)
	}
}

// The migration to the table without a key keeps every row and column of
// a database written before it.
func TestMigrationDropsTheKeyAndKeepsRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := t.TempDir() + "/old.duckdb"
	old := openRaw(t, path)
	if _, err := old.Exec(`CREATE TABLE schema_version (version INTEGER NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
		t.Fatal(err)
	}
	for i, m := range migrations[:2] {
		if _, err := old.Exec(m); err != nil {
			t.Fatal(err)
		}
		if _, err := old.Exec(`INSERT INTO schema_version (version) VALUES (?)`, i+1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := old.Exec(`INSERT INTO transactions (tx_id, tx_type, tx_status, block_height, block_hash, block_time, burn_block_height,
  burn_block_time, tx_index, sender_address, nonce, fee_rate, sponsored, token_transfer_amount, canonical)
VALUES ('0xaa', 'token_transfer', 'success', 7, '0xbb', to_timestamp(100), 3, to_timestamp(100), 0, 'SP1', 1, 180, false, 18446744073709551615, true)`); err != nil {
		t.Fatal(err)
	}
	old.Close()
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var n int
	var amount uint64
	var when time.Time
	if err := s.DB().QueryRow(`SELECT count(*), max(token_transfer_amount), max(burn_block_time) FROM transactions`).Scan(&n, &amount, &when); err != nil || n != 1 || amount != 18446744073709551615 || when.Unix() != 100 {
		t.Fatalf("%d rows, amount %d, burn time %v after the migration (%v)", n, amount, when, err)
	}
	var keys int
	if err := s.DB().QueryRow(`SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'transactions' AND constraint_type IN ('PRIMARY KEY', 'UNIQUE')`).Scan(&keys); err != nil || keys != 0 {
		t.Fatalf("transactions has %d keys after the migration (%v)", keys, err)
	}
}

// reopened writes to a new database with write, closes it and returns it
// opened again, as the next process finds it.
func reopened(t *testing.T, write func(s *Store)) *Store {
	t.Helper()
	ctx := context.Background()
	path := t.TempDir() + "/reopened.duckdb"
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	write(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(ctx, path, Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openRaw opens path with the driver alone: no schema, no migrations.
func openRaw(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", path)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// The key set is read from committed rows, not through the transaction
// that first needs it: a first batch that deletes a row (a window's end
// before its pages) and then rolls back leaves that row in the set, so a
// later copy of it replaces it instead of doubling it.
func TestKeySetIgnoresARolledBackDelete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(9, 9))
	x, y := randomTxID(r), randomTxID(r)
	w := Window{ID: 1, Start: 0, End: 999, Source: "v1", Attempt: 1, Final: true}
	s := reopened(t, func(s *Store) {
		if _, err := s.CommitWindowOps(ctx, []WindowOp{{Begin: &w}, {Page: &Page{WindowID: 1, Attempt: 1, Txs: []chain.Tx{tx(x, 100, 1)}}}}); err != nil {
			t.Fatal(err)
		}
	})
	// The process's first batch: a new attempt of window 1 ends without
	// seeing x (deleting it), then a page of window 2, and the batch fails
	// at its end (the data version's table is missing).
	w.Attempt = 2
	if _, err := s.DB().Exec(`ALTER TABLE meta RENAME TO meta_away`); err != nil {
		t.Fatal(err)
	}
	_, err := s.CommitWindowOps(ctx, []WindowOp{{Begin: &w}, {Finish: &FinishOp{Window: w, APITotal: 0, Final: true}},
		{Page: &Page{WindowID: 2, Attempt: 1, Txs: []chain.Tx{tx(y, 2000, 1)}}}})
	if _, rerr := s.DB().Exec(`ALTER TABLE meta_away RENAME TO meta`); rerr != nil {
		t.Fatal(rerr)
	}
	if err == nil {
		t.Fatal("the batch did not fail")
	}
	w.Attempt = 3
	if _, err := s.CommitWindowOps(ctx, []WindowOp{{Begin: &w}, {Page: &Page{WindowID: 1, Attempt: 3, Txs: []chain.Tx{tx(x, 100, 2)}}}}); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.DB().QueryRow(`SELECT count(*) FROM transactions WHERE tx_id = ?`, x).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%s stored %d times (%v)", x, n, err)
	}
}

// A staged seed load over stored rows works under a backfill's memory
// limit: its set-based steps run with the limit lifted, and the limit is
// back afterwards.
func TestStagedSeedLoadUnderTheBackfillLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTemp(t)
	if err := s.BoundMemory(ctx); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(4, 4))
	rows := make([]chain.Tx, 300_000)
	for i := range rows {
		rows[i] = tx(randomTxID(r), 100+int64(i%86400), 1)
	}
	sp := Span{Start: 100, End: 100 + 86399}
	ws := []SeedWindow{{Window: Window{ID: 1, Start: sp.Start, End: sp.End, Attempt: 1}, SeedCount: int64(len(rows))}}
	if _, err := seedLoad(t, s, sp, false, rows, ws); err != nil {
		t.Fatal(err)
	}
	res, err := seedLoad(t, s, sp, true, rows, ws)
	if err != nil || res.Rows != int64(len(rows)) || !res.Verified[0] {
		t.Fatalf("staged load: %+v, %v", res.Rows, err)
	}
	var limit string
	if err := s.DB().QueryRow(`SELECT current_setting('memory_limit')`).Scan(&limit); err != nil || limit != "61.0 MiB" {
		t.Fatalf("memory limit after the load %q (%v), want the backfill's 64MB", limit, err)
	}
	if got := len(storedIDs(t, s)); got != len(rows) {
		t.Fatalf("%d rows stored, want %d", got, len(rows))
	}
}
