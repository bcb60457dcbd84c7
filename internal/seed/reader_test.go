package seed_test

import (
	"cmp"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/chain"
	"github.com/stxwallets/walletcache/internal/hirosim"
	"github.com/stxwallets/walletcache/internal/seed"
	"github.com/stxwallets/walletcache/internal/seed/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var simNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newSim is a small chain with every transaction type, failures, sponsored
// transactions and amounts beyond 2^53.
func newSim(seedN int64) *hirosim.Sim {
	return hirosim.New(hirosim.Config{Seed: seedN, Now: simNow, History: 8 * time.Hour, TxPerBlock: 1.5})
}

// storable keeps the rows a PostgreSQL bigint can hold (see
// pgtest.Representable), checking some beyond 2^53 remain.
func storable(t *testing.T, txs []chain.Tx) []chain.Tx {
	t.Helper()
	out := slices.DeleteFunc(slices.Clone(txs), func(tx chain.Tx) bool { return !pgtest.Representable(tx) })
	if !slices.ContainsFunc(out, func(tx chain.Tx) bool { return tx.TokenTransferAmount > 1<<53 || tx.FeeRate > 1<<53 }) {
		t.Fatal("no amount beyond 2^53 left in the truth")
	}
	return out
}

// preNakamoto gives the first n rows a block time equal to their burn block
// time, which pgtest.Load writes as block_time 0 (as the API stores
// pre-Nakamoto blocks), so the reader's fallback is exercised.
func preNakamoto(txs []chain.Tx, n int) []chain.Tx {
	for i := range min(n, len(txs)) {
		txs[i].BlockTime = txs[i].BurnBlockTime
	}
	return txs
}

// window is the truth's rows with burn_block_time in [from, to].
func window(txs []chain.Tx, from, to time.Time) []chain.Tx {
	return slices.DeleteFunc(slices.Clone(txs), func(tx chain.Tx) bool {
		return tx.BurnBlockTime.Before(from) || tx.BurnBlockTime.After(to)
	})
}

// collect runs a scan and returns its rows sorted like the ground truth.
func collect(t *testing.T, r seed.Reader, start, end int64) []chain.Tx {
	t.Helper()
	var got []chain.Tx
	n, err := r.Scan(context.Background(), start, end, func(b []chain.Tx) error {
		if len(b) == 0 || len(b) > seed.BatchSize {
			t.Errorf("batch of %d rows", len(b))
		}
		got = append(got, b...)
		return nil
	})
	if err != nil {
		t.Fatalf("%s scan: %v", r.Kind(), err)
	}
	if n != int64(len(got)) {
		t.Fatalf("%s scan returned count %d for %d rows", r.Kind(), n, len(got))
	}
	slices.SortStableFunc(got, func(a, b chain.Tx) int {
		return cmp.Or(cmp.Compare(a.BlockHeight, b.BlockHeight), cmp.Compare(a.TxIndex, b.TxIndex))
	})
	return got
}

// sameRows compares every column of every row.
func sameRows(t *testing.T, what string, got, want []chain.Tx) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, want %d", what, len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%s: row %d differs\ngot  %+v\nwant %+v", what, i, got[i], want[i])
		}
	}
}

// checkTip compares a reader's tip with the simulator's.
func checkTip(t *testing.T, tip seed.Tip, sim *hirosim.Sim, truth []chain.Tx, schema string) {
	t.Helper()
	st := sim.Tip()
	if tip.Height != st.Height || tip.Hash != st.Hash || !tip.BurnBlockTime.Equal(st.BurnTime) || tip.BurnBlockHeight != st.BurnHeight {
		t.Errorf("tip = %+v, simulator tip %+v", tip, st)
	}
	if tip.Schema != schema || tip.Migration != pgtest.Migrations[len(pgtest.Migrations)-1] {
		t.Errorf("tip schema %q migration %q", tip.Schema, tip.Migration)
	}
	i := slices.IndexFunc(truth, func(x chain.Tx) bool { return x.BlockHeight >= st.Height-seed.AnchorDepth })
	if a := truth[i]; tip.Anchor.Height != a.BlockHeight || tip.Anchor.Hash != a.BlockHash || !tip.Anchor.BurnBlockTime.Equal(a.BurnBlockTime) {
		t.Errorf("anchor = %+v, want block %d %s", tip.Anchor, a.BlockHeight, a.BlockHash)
	}
}

func TestPostgresMatchesTruth(t *testing.T) {
	t.Parallel()
	srv := pgtest.Shared(t)
	sim := newSim(5)
	truth := preNakamoto(storable(t, sim.All()), 500)
	cases := []struct {
		name, schema, open string
		prepare            string // SQL run after the load
	}{
		{"hiro schema, auto", "stacks_blockchain_api", "auto", ""},
		{"public schema, auto", "public", "", ""},
		{"hiro schema, named", "stacks_blockchain_api", "stacks_blockchain_api", ""},
		{"no blocks table", "stacks_blockchain_api", "auto", "DROP TABLE stacks_blockchain_api.blocks"},
		{"empty blocks table", "stacks_blockchain_api", "auto", "DELETE FROM stacks_blockchain_api.blocks"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := srv.NewDB(t)
			loaded := srv.Load(t, db, pgtest.Chain{Schema: tc.schema, Txs: slices.Values(truth), TrapEvery: 7, AboveTip: 3})
			if loaded.Traps < 10 {
				t.Fatalf("only %d trap rows", loaded.Traps)
			}
			if tc.prepare != "" {
				srv.Exec(t, db, tc.prepare)
			}
			ctx := context.Background()
			r, err := seed.OpenPostgres(ctx, srv.URL(db, srv.Password), tc.open)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if r.Kind() != "postgres" {
				t.Errorf("kind %q", r.Kind())
			}
			tip, _ := r.Tip(ctx)
			checkTip(t, tip, sim, truth, tc.schema)
			sameRows(t, "all rows", collect(t, r, math.MinInt64, math.MaxInt64), truth)

			from, to := simNow.Add(-5*time.Hour), simNow.Add(-2*time.Hour)
			want := window(truth, from, to)
			if len(want) != len(storable(t, sim.GroundTruth(from, to))) || len(want) == 0 {
				t.Fatalf("window has %d rows", len(want))
			}
			sameRows(t, "window", collect(t, r, from.Unix(), to.Unix()), want)
			n, err := r.Count(ctx, from.Unix(), to.Unix())
			if err != nil || n != int64(len(want)) {
				t.Fatalf("Count = %d, %v; want %d", n, err, len(want))
			}
		})
	}
}

// A scan hands out every row once (in the table's order: it sorts nothing),
// and fn's error stops it and leaves the reader unusable.
func TestPostgresScanAndStop(t *testing.T) {
	t.Parallel()
	srv := pgtest.Shared(t)
	db := srv.NewDB(t)
	truth := storable(t, newSim(6).All())
	srv.Load(t, db, pgtest.Chain{Txs: slices.Values(truth)})
	ctx := context.Background()
	r, err := seed.OpenPostgres(ctx, srv.URL(db, srv.Password), "auto")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	seen := map[string]int{}
	_, err = r.Scan(ctx, math.MinInt64, math.MaxInt64, func(b []chain.Tx) error {
		for _, tx := range b {
			seen[tx.TxID]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tx := range truth {
		if seen[tx.TxID] != 1 {
			t.Fatalf("%s handed out %d times, want once", tx.TxID, seen[tx.TxID])
		}
	}
	if len(seen) != len(truth) {
		t.Fatalf("%d rows handed out, want %d", len(seen), len(truth))
	}
	stop := errors.New("enough")
	n, err := r.Scan(ctx, math.MinInt64, math.MaxInt64, func([]chain.Tx) error { return stop })
	if !errors.Is(err, stop) || n != 0 {
		t.Fatalf("scan stopped by fn: %d, %v; want 0 and fn's error", n, err)
	}
	if _, err := r.Count(ctx, 0, math.MaxInt64); err == nil {
		t.Fatal("Count after a failed scan succeeded; want the reader reported unusable")
	}
}

// wantSetupError checks the kind, the one-sentence message and that no
// password leaks.
func wantSetupError(t *testing.T, err error, kind error, contains string, secrets ...string) {
	t.Helper()
	var se *seed.Error
	if !errors.As(err, &se) || !errors.Is(err, kind) {
		t.Fatalf("error %v (%T), want a *seed.Error of kind %v", err, err, kind)
	}
	msg := err.Error()
	if !strings.Contains(msg, contains) {
		t.Errorf("message %q lacks %q", msg, contains)
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("message spans lines: %q", msg)
	}
	for _, s := range secrets {
		for e := error(se); e != nil; e = errors.Unwrap(e) {
			if strings.Contains(e.Error(), s) {
				t.Errorf("error chain shows the password: %q", e.Error())
			}
		}
	}
}

func TestPostgresSetupErrors(t *testing.T) {
	t.Parallel()
	srv := pgtest.Shared(t)
	truth := storable(t, newSim(7).All())[:300]
	cases := []struct {
		name     string
		prepare  func(t *testing.T, db string)
		url      func(db string) string
		schema   string
		kind     error
		contains string
	}{
		{name: "wrong password", url: func(db string) string { return srv.URL(db, "Wr0ng-pass") },
			kind: seed.ErrAuth, contains: "rejected the password"},
		{name: "no password", url: func(db string) string { return srv.URL(db, "") },
			kind: seed.ErrAuth, contains: "password"},
		{name: "missing database", url: func(string) string { return srv.URL("nosuchdb", srv.Password) },
			kind: seed.ErrConnect, contains: `database "nosuchdb" does not exist`},
		{name: "unparsable url", url: func(string) string { return "postgres://postgres:" + srv.Password + "@localhost:notaport/db" },
			kind: seed.ErrConnect, contains: "is not a PostgreSQL connection string (want postgres://user:password@host:port/database): "},
		{name: "another scheme", url: func(string) string { return "mysql://u:" + srv.Password + "@localhost/db" },
			kind: seed.ErrConnect, contains: "is not a PostgreSQL connection string"},
		// One line, the network's reason once: pgx lists every address it
		// tried, each with the same dial error.
		{name: "nothing listening", url: func(string) string { return "postgres://u:" + srv.Password + "@127.0.0.1:1/db" },
			kind: seed.ErrConnect, contains: `cannot connect to PostgreSQL database "db" on 127.0.0.1:1 as user "u": connection refused: nothing listens there`},
		{name: "missing schema", schema: "stacks_api", kind: seed.ErrSchema, contains: `has no schema "stacks_api"`},
		{name: "auto finds no txs", prepare: func(t *testing.T, db string) {
			srv.Exec(t, db, "ALTER SCHEMA stacks_blockchain_api RENAME TO other")
		}, kind: seed.ErrSchema, contains: "no txs table in schema stacks_blockchain_api or public"},
		{name: "missing table", prepare: func(t *testing.T, db string) {
			srv.Exec(t, db, "DROP TABLE stacks_blockchain_api.chain_tip")
		}, kind: seed.ErrMissingTable, contains: "has no chain_tip table"},
		{name: "missing column", prepare: func(t *testing.T, db string) {
			srv.Exec(t, db, "ALTER TABLE stacks_blockchain_api.txs DROP COLUMN block_time")
		}, kind: seed.ErrMissingTable, contains: "table txs lacks column(s) block_time"},
		{name: "unsupported version", prepare: func(t *testing.T, db string) {
			srv.Exec(t, db, "DELETE FROM stacks_blockchain_api.pgmigrations")
			srv.Exec(t, db, "INSERT INTO stacks_blockchain_api.pgmigrations (name, run_on) VALUES ('"+
				strings.Join(pgtest.OldMigrations, "', now()), ('")+"', now())")
		}, kind: seed.ErrVersion, contains: "too old (newest migration 1710443563029_stacks_block_time)"},
		{name: "no pgmigrations", prepare: func(t *testing.T, db string) {
			srv.Exec(t, db, "DROP TABLE stacks_blockchain_api.pgmigrations")
		}, kind: seed.ErrVersion, contains: "no pgmigrations table"},
		{name: "empty chain_tip", prepare: func(t *testing.T, db string) {
			srv.Exec(t, db, "DELETE FROM stacks_blockchain_api.chain_tip")
		}, kind: seed.ErrMissingTable, contains: "chain_tip is empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := srv.NewDB(t)
			srv.Load(t, db, pgtest.Chain{Txs: slices.Values(truth)})
			if tc.prepare != nil {
				tc.prepare(t, db)
			}
			url := srv.URL(db, srv.Password)
			if tc.url != nil {
				url = tc.url(db)
			}
			r, err := seed.OpenPostgres(context.Background(), url, tc.schema)
			if err == nil {
				r.Close()
			}
			wantSetupError(t, err, tc.kind, tc.contains, srv.Password, "Wr0ng-pass")
		})
	}
}

// TestArchiveMatchesTruth dumps a database, stops its server and reads the
// dump: the same rows as the truth, traps excluded.
func TestArchiveMatchesTruth(t *testing.T) {
	t.Parallel()
	srv, err := pgtest.Start()
	if errors.Is(err, pgtest.ErrNoPostgres) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	sim := newSim(8)
	truth := preNakamoto(storable(t, sim.All()), 500)
	db := srv.NewDB(t)
	srv.Load(t, db, pgtest.Chain{Txs: slices.Values(truth), TrapEvery: 5, AboveTip: 2})
	dump := srv.Dump(t, db, "")
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	r, err := seed.OpenArchive(ctx, dump, seed.ArchiveOptions{Schema: "auto"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Kind() != "archive" {
		t.Errorf("kind %q", r.Kind())
	}
	tip, _ := r.Tip(ctx)
	checkTip(t, tip, sim, truth, "stacks_blockchain_api")
	sameRows(t, "all rows", collect(t, r, math.MinInt64, math.MaxInt64), truth)
	from, to := simNow.Add(-5*time.Hour), simNow.Add(-2*time.Hour)
	sameRows(t, "window", collect(t, r, from.Unix(), to.Unix()), window(truth, from, to))

	stop := errors.New("enough")
	if _, err := r.Scan(ctx, math.MinInt64, math.MaxInt64, func([]chain.Tx) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("scan stopped by fn: %v, want fn's error", err)
	}

	t.Run("missing schema", func(t *testing.T) {
		t.Parallel()
		_, err := seed.OpenArchive(ctx, dump, seed.ArchiveOptions{Schema: "public"})
		wantSetupError(t, err, seed.ErrSchema, `has no table data in schema "public" (txs data is in schema stacks_blockchain_api)`)
	})
}

func TestArchiveSetupErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pg17 := write("pg17.dump", "PGDMP\x01\x10\x00 rest of a PostgreSQL 17 archive", 0o644)
	sql := write("plain.sql", "--\n-- PostgreSQL database dump\n", 0o644)
	// old answers like pg_restore 15 on a PostgreSQL 17 archive; vague
	// says nothing about its release, so only its stderr can tell.
	old := write("pg_restore", `#!/bin/sh
case "$1" in
--version) echo "pg_restore (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" ;;
*) echo "pg_restore: error: unsupported version (1.16) in file header" >&2; exit 1 ;;
esac
`, 0o755)
	vague := write("pg_restore-vague", `#!/bin/sh
case "$1" in
--version) echo "pg_restore (custom build)" ;;
*) echo "pg_restore: error: unsupported version (1.16) in file header" >&2; exit 1 ;;
esac
`, 0o755)
	cases := []struct {
		name, path, pgRestore string
		kind                  error
		contains              string
	}{
		{"too old pg_restore", pg17, old, seed.ErrPgRestore,
			"pg_restore (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1) (" + old + ") is too old for " + pg17 +
				": the archive is format 1.16, which needs pg_restore from PostgreSQL 17 or newer"},
		{"too old pg_restore, known from stderr", pg17, vague, seed.ErrPgRestore,
			"pg_restore (custom build) (" + vague + ") is too old for " + pg17 +
				": the archive is format 1.16, which needs pg_restore from PostgreSQL 17 or newer"},
		{"pg_restore not found", pg17, filepath.Join(dir, "nope", "pg_restore"), seed.ErrPgRestore,
			"no pg_restore found (looked for " + filepath.Join(dir, "nope", "pg_restore") + "); install the PostgreSQL client 17 or newer"},
		{"missing file", filepath.Join(dir, "absent.dump"), old, seed.ErrArchive, "cannot be opened"},
		{"not a custom archive", sql, old, seed.ErrArchive, "is not a custom-format pg_dump archive"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := seed.OpenArchive(context.Background(), tc.path, seed.ArchiveOptions{PgRestore: tc.pgRestore})
			wantSetupError(t, err, tc.kind, tc.contains)
		})
	}
}

func TestOpenChoosesSeed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	missing := filepath.Join(t.TempDir(), "absent.dump")
	cases := []struct {
		name string
		cfg  seed.Config
		kind error // nil: no seed and no error
	}{
		{"nothing configured", seed.Config{}, nil},
		{"archive", seed.Config{ArchiveDump: missing}, seed.ErrArchive},
		{"postgres wins over archive", seed.Config{PostgresURL: "postgres://u:Secr3t@localhost:notaport/db", ArchiveDump: missing}, seed.ErrConnect},
	}
	for _, tc := range cases {
		r, err := seed.Open(ctx, tc.cfg)
		if tc.kind == nil {
			if r != nil || err != nil {
				t.Errorf("%s: got %v, %v; want no seed", tc.name, r, err)
			}
			continue
		}
		wantSetupError(t, err, tc.kind, "", "Secr3t")
	}
}
