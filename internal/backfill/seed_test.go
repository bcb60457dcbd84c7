package backfill_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/backfill"
	"github.com/stxwallets/walletcache/internal/hirosim"
	"github.com/stxwallets/walletcache/internal/seed"
	"github.com/stxwallets/walletcache/internal/seed/pgtest"
)

// TestMain shares one PostgreSQL server among the seed tests, and runs
// more tests at once than there are cores unless -parallel says otherwise:
// these tests mostly wait on a local HTTP server and on DuckDB's fsyncs,
// not on the CPU.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" { // a benchmark's backfill process
		if err := backfillChild(); err != nil {
			fmt.Fprintln(os.Stderr, "backfill process:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		_ = flag.Set("test.parallel", strconv.Itoa(3*runtime.GOMAXPROCS(0)))
	}
	pgtest.Main(m)
}

// seedChain is a simulator whose amounts fit the API database's bigint
// columns, as the real chain's do.
func seedChain(t *testing.T, source string, seedN int64, now time.Time) *harness {
	return newHarnessOf(t, source, hirosim.Config{Seed: seedN, Now: now, MaxAmount: math.MaxInt64})
}

// The same chain loaded through the seed (PostgreSQL, or its pg_dump
// archive with no server running) plus the API's tail gives exactly the
// table the API alone gives, every column; the seed's trap rows
// (canonical = false, microblock_canonical = false, above the tip) are
// never stored; and the API is asked only for the tail.
func TestSeedAgreesWithTheAPI(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC().Truncate(time.Minute)
	// The API alone, for the request count to compare with.
	full := seedChain(t, backfill.SourceV3, 501, now)
	full.mustRun()
	fullPages := full.listRequests()
	for _, kind := range []string{"postgres", "archive"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			h := seedChain(t, backfill.SourceV3, 501, now)
			var srv *pgtest.Server
			if kind == "postgres" {
				srv = pgtest.Shared(t)
			} else {
				var err error
				if srv, err = pgtest.Start(); errors.Is(err, pgtest.ErrNoPostgres) {
					t.Skip(err)
				} else if err != nil {
					t.Fatal(err)
				}
			}
			db := srv.NewDB(t)
			loaded := srv.Load(t, db, pgtest.Chain{Txs: slices.Values(h.sim.All()), TrapEvery: 7, AboveTip: 5})
			if loaded.Traps == 0 {
				t.Fatal("no trap rows were loaded")
			}
			var r seed.Reader
			var err error
			if kind == "postgres" {
				r, err = seed.OpenPostgres(context.Background(), srv.URL(db, srv.Password), seed.SchemaAuto)
			} else {
				dump := srv.Dump(t, db, "")
				if err := srv.Stop(); err != nil {
					t.Fatal(err)
				}
				r, err = seed.OpenArchive(context.Background(), dump, seed.ArchiveOptions{})
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close() })
			h.cfg.Seed = backfill.NewSeed(r)
			sum := h.mustRun()
			h.exact()
			if sum.Seed != kind || sum.SeedWindows == 0 {
				t.Fatalf("seed %q filled %d windows", sum.Seed, sum.SeedWindows)
			}
			share := float64(sum.SeedSeconds) / float64(sum.Coverage.Horizon.Seconds())
			pages := h.listRequests()
			t.Logf("%s seed: %d windows, %.1f%% of the horizon; the API sent %d list requests (alone: %d)",
				kind, sum.SeedWindows, 100*share, pages, fullPages)
			if share < 0.9 || pages > fullPages/4 {
				t.Fatalf("the seed filled %.1f%% of the horizon and the API sent %d of %d list requests: the API did more than the tail",
					100*share, pages, fullPages)
			}
		})
	}
}

// A seed of another chain is refused before anything is written.
func TestSeedOfAnotherChain(t *testing.T) {
	t.Parallel()
	srv := pgtest.Shared(t)
	other := hirosim.New(hirosim.Config{Seed: 999, History: chainDays * 24 * time.Hour, BlockInterval: time.Minute, TxPerBlock: 1, MaxAmount: math.MaxInt64})
	db := srv.NewDB(t)
	srv.Load(t, db, pgtest.Chain{Txs: slices.Values(other.All())})
	r, err := seed.OpenPostgres(context.Background(), srv.URL(db, srv.Password), seed.SchemaAuto)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	h := seedChain(t, backfill.SourceV3, 502, time.Time{})
	h.cfg.Seed = backfill.NewSeed(r)
	_, err = backfill.Run(context.Background(), h.cfg)
	var mismatch *backfill.ChainMismatchError
	if !errors.As(err, &mismatch) {
		t.Fatalf("err %v, want the seed's chain refused", err)
	}
	var n int
	if err := h.st.DB().QueryRow(`SELECT count(*) FROM transactions`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d rows written (%v)", n, err)
	}
}
