package backfill_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/backfill"
	"github.com/stxwallets/walletcache/internal/benchenv"
	"github.com/stxwallets/walletcache/internal/chain"
	"github.com/stxwallets/walletcache/internal/hiro"
	"github.com/stxwallets/walletcache/internal/hirosim"
	"github.com/stxwallets/walletcache/internal/rawcache"
	"github.com/stxwallets/walletcache/internal/seed"
	"github.com/stxwallets/walletcache/internal/seed/pgtest"
	"github.com/stxwallets/walletcache/internal/store"
)

// BenchmarkSeedLoad loads a seed of SEED_LOAD_ROWS generated transactions
// (default 1,000,000) from PostgreSQL through the backfill into DuckDB, then
// loads the same rows exported as CSV with DuckDB's own read_csv into a
// fresh table, and reports both speeds, their ratio and the load's peak RSS:
//
//	SEED_LOAD_ROWS=10000000 go test -run '^$' -bench SeedLoad -benchtime 1x -timeout 90m ./internal/backfill/
//
// SEED_LOAD_SOURCE=archive seeds from a pg_dump -Fc archive of the same
// database instead, with pg_restore and no server (the dump is made first).
//
// The backfill runs in a process of its own (this test binary started
// again, see backfillChild), as `mage backfill` would, so its peak RSS is
// the product's alone, not the simulator's that serves the API's tail.
// SEED_LOAD_CPUPROFILE=<file> writes that process's CPU profile.
func BenchmarkSeedLoad(b *testing.B) {
	rows := int64(benchenv.Int(b, "SEED_LOAD_ROWS", 1_000_000))
	// About 20k transactions a day, like mainnet, over as many days as rows need.
	days := max(1, int(math.Ceil(float64(rows)/20_000)))
	cfg := seedBenchChain(days)
	srv := pgtest.Shared(b)
	db := srv.NewDB(b)
	srv.Load(b, db, pgtest.Chain{Txs: func(yield func(chain.Tx) bool) { hirosim.Generate(cfg, yield) }})
	seedEnv := childPG + "=" + srv.URL(db, srv.Password)
	if os.Getenv("SEED_LOAD_SOURCE") == "archive" {
		seedEnv = childArchive + "=" + srv.Dump(b, db, "")
	}
	sim := hirosim.New(cfg)
	url := sim.Start()
	b.Cleanup(sim.Close)
	for b.Loop() {
		b.StopTimer()
		dir := b.TempDir()
		dbPath := filepath.Join(dir, "w.duckdb")
		b.StartTimer()
		res := runBackfillChild(b, url, dbPath, backfill.SourceV3, days, seedEnv) // the child inherits SEED_LOAD_CPUPROFILE
		b.StopTimer()
		peakMB := res.PeakRSSKB / 1024
		st, err := store.Open(context.Background(), dbPath, store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		stored := res.Rows
		csvPath := filepath.Join(dir, "txs.csv")
		if _, err := st.DB().Exec(fmt.Sprintf(`COPY transactions TO '%s' (HEADER)`, csvPath)); err != nil {
			b.Fatal(err)
		}
		st.Close()
		readCSV := timeReadCSV(b, dir, csvPath)
		seedRate := float64(stored) / res.SeedElapsed.Seconds()
		csvRate := float64(stored) / readCSV.Seconds()
		b.ReportMetric(seedRate, "seed_rows/s")
		b.ReportMetric(csvRate, "read_csv_rows/s")
		b.ReportMetric(seedRate/csvRate, "ratio")
		b.ReportMetric(float64(peakMB), "seed_peak_rss_MB")
		b.Logf("%d rows (%d seed windows): seed %.0f rows/s in %s (the whole run with the API's tail %s), read_csv %.0f rows/s in %s: %.2fx; the backfill process's peak RSS %d MB; load average %s",
			stored, res.SeedWindows, seedRate, res.SeedElapsed.Round(time.Millisecond), res.Elapsed.Round(time.Millisecond),
			csvRate, readCSV.Round(time.Millisecond), seedRate/csvRate, peakMB, benchenv.LoadAverage())
		b.StartTimer()
	}
}

// seedBenchChain is the generated chain of the seed benchmark: about 20k
// transactions a day over days.
func seedBenchChain(days int) hirosim.Config {
	return hirosim.Config{Seed: 7, Now: time.Now().UTC().Truncate(time.Minute), History: time.Duration(days) * 24 * time.Hour,
		TxPerTenure: 140, MaxAmount: math.MaxInt64, PlausibleFees: true}
}

// childEnv set makes this test binary run backfillChild instead of its
// tests (from TestMain); the other variables configure that backfill.
const (
	childEnv     = "BACKFILL_BENCH_CHILD"
	childAPI     = "BACKFILL_CHILD_API"     // the simulator's URL
	childDB      = "BACKFILL_CHILD_DB"      // the database file
	childDays    = "BACKFILL_CHILD_DAYS"    // days of history the chain holds
	childSource  = "BACKFILL_CHILD_SOURCE"  // v1 or v3
	childPG      = "BACKFILL_CHILD_PG"      // a PostgreSQL seed's URL, or empty
	childArchive = "BACKFILL_CHILD_ARCHIVE" // an archive seed's file, or empty
	childRaw     = "BACKFILL_CHILD_RAW"     // the raw cache's folder, or empty: none
)

// childResult is what backfillChild prints as its last line.
type childResult struct {
	SeedElapsed time.Duration
	Elapsed     time.Duration
	SeedWindows int
	Rows        int64
	PeakRSSKB   int64 // the child's VmHWM, store closed; 0 where /proc lacks it
}

// runBackfillChild runs one backfill in a process of its own (see
// backfillChild): source against the simulator at url, into dbPath, with
// extra environment (a seed, a profile). Its peak RSS is the child's own
// high-water mark. The rusage of a waited child is no good here: Linux also
// counts the memory of this process, which the child shares until its
// exec, and this process grows with every read_csv of the seed benchmark
// (its second iteration read 1,100 MB for a child whose own peak was
// 544 MB).
func runBackfillChild(b *testing.B, url, dbPath, source string, days int, extra ...string) childResult {
	b.Helper()
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(append(os.Environ(), childEnv+"=1", childAPI+"="+url, childDB+"="+dbPath,
		childDays+"="+strconv.Itoa(days), childSource+"="+source), extra...)
	child.Stderr = os.Stderr
	out, err := child.Output()
	if err != nil {
		b.Fatalf("backfill process: %v", err)
	}
	var res childResult
	if err := json.Unmarshal(out[bytes.LastIndexByte(bytes.TrimSpace(out), '\n')+1:], &res); err != nil {
		b.Fatalf("backfill process printed %q: %v", out, err)
	}
	if res.PeakRSSKB == 0 {
		res.PeakRSSKB = child.ProcessState.SysUsage().(*syscall.Rusage).Maxrss
	}
	return res
}

// backfillChild is the backfill of runBackfillChild in its own process. It
// prints a childResult.
func backfillChild() error {
	res, err := childBackfill()
	if err != nil {
		return err
	}
	// Read after the store's Close, whose checkpoint is part of the load.
	res.PeakRSSKB = benchenv.PeakRSSKB()
	return json.NewEncoder(os.Stdout).Encode(res)
}

// childBackfill runs the backfill of backfillChild and closes what it
// opened: the API source from its environment against the simulator, with
// the seed it names (none when neither seed variable is set).
func childBackfill() (childResult, error) {
	ctx := context.Background()
	days, err := strconv.Atoi(os.Getenv(childDays))
	if err != nil {
		return childResult{}, err
	}
	st, err := store.Open(ctx, os.Getenv(childDB), store.Options{})
	if err != nil {
		return childResult{}, err
	}
	defer st.Close()
	client, err := hiro.New(hiro.Options{BaseURL: os.Getenv(childAPI), RequestsPerMinute: 1e6, RequestsPerSecond: 1e5, Concurrency: 4,
		Timeout: 10 * time.Second, MaxRetries: 3, MaxWait: time.Minute})
	if err != nil {
		return childResult{}, err
	}
	cfg := backfill.Config{Store: st, API: os.Getenv(childSource),
		TargetDays: days + 1, Settle: 2 * time.Hour, Window: time.Hour, MaxPages: 100_000, Concurrency: 4, Stall: time.Minute, LogEvery: time.Minute,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))}
	if dir := os.Getenv(childRaw); dir != "" {
		cfg.Cache = rawcache.New(dir)
	}
	if cfg.API == backfill.SourceV1 {
		cfg.V1 = backfill.NewV1(client)
	} else {
		cfg.V3 = backfill.NewV3(client)
	}
	if pg, archive := os.Getenv(childPG), os.Getenv(childArchive); pg != "" || archive != "" {
		r, err := seed.Open(ctx, seed.Config{PostgresURL: pg, ArchiveDump: archive})
		if err != nil {
			return childResult{}, err
		}
		defer r.Close()
		cfg.Seed = backfill.NewSeed(r)
	}
	if path := os.Getenv("SEED_LOAD_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return childResult{}, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return childResult{}, err
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	sum, err := backfill.Run(ctx, cfg)
	if err != nil {
		return childResult{}, err
	}
	res := childResult{SeedElapsed: sum.SeedElapsed, Elapsed: time.Since(start), SeedWindows: sum.SeedWindows}
	err = st.DB().QueryRowContext(ctx, `SELECT count(*) FROM transactions`).Scan(&res.Rows)
	return res, err
}

// timeReadCSV loads csvPath into a fresh database with DuckDB's read_csv
// and returns how long that took.
func timeReadCSV(b *testing.B, dir, csvPath string) time.Duration {
	st, err := store.Open(context.Background(), filepath.Join(dir, "csv.duckdb"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	start := time.Now()
	if _, err := st.DB().Exec(fmt.Sprintf(`INSERT INTO transactions SELECT * FROM read_csv('%s', header = true)`, csvPath)); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}
