package backfill_test

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/backfill"
	"github.com/stxwallets/walletcache/internal/chain"
	"github.com/stxwallets/walletcache/internal/hiro"
	"github.com/stxwallets/walletcache/internal/hirosim"
	"github.com/stxwallets/walletcache/internal/seed"
	"github.com/stxwallets/walletcache/internal/seed/pgtest"
	"github.com/stxwallets/walletcache/internal/store"
)

// BenchmarkSeedLoad loads a seed of SEED_LOAD_ROWS generated transactions
// (default 1,000,000) from PostgreSQL through the backfill into DuckDB, then
// loads the same rows exported as CSV with DuckDB's own read_csv into a
// fresh table, and reports both speeds and their ratio:
//
//	SEED_LOAD_ROWS=10000000 go test -run '^$' -bench SeedLoad -benchtime 1x -timeout 60m ./internal/backfill/
func BenchmarkSeedLoad(b *testing.B) {
	rows := int64(1_000_000)
	if v := os.Getenv("SEED_LOAD_ROWS"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		rows = n
	}
	// About 20k transactions a day, like mainnet, over as many days as rows need.
	days := max(1, int(math.Ceil(float64(rows)/20_000)))
	cfg := hirosim.Config{Seed: 7, Now: time.Now().UTC().Truncate(time.Minute), History: time.Duration(days) * 24 * time.Hour,
		TxPerTenure: 140, MaxAmount: math.MaxInt64, PlausibleFees: true}
	srv := pgtest.Shared(b)
	db := srv.NewDB(b)
	srv.Load(b, db, pgtest.Chain{Txs: func(yield func(chain.Tx) bool) { hirosim.Generate(cfg, yield) }})
	sim := hirosim.New(cfg)
	url := sim.Start()
	b.Cleanup(sim.Close)
	for b.Loop() {
		b.StopTimer()
		dir := b.TempDir()
		st, err := store.Open(context.Background(), filepath.Join(dir, "w.duckdb"), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		r, err := seed.OpenPostgres(context.Background(), srv.URL(db, srv.Password), seed.SchemaAuto)
		if err != nil {
			b.Fatal(err)
		}
		client, err := hiro.New(hiro.Options{BaseURL: url, RequestsPerMinute: 1e6, RequestsPerSecond: 1e5, Concurrency: 4,
			Timeout: 10 * time.Second, MaxRetries: 3, MaxWait: time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		cfg := backfill.Config{Store: st, V3: backfill.NewV3(client), API: backfill.SourceV3, Seed: backfill.NewSeed(r),
			TargetDays: days + 1, Settle: 2 * time.Hour, Window: time.Hour, MaxPages: 100_000, Concurrency: 4, Stall: time.Minute, LogEvery: time.Minute,
			Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))}
		b.StartTimer()
		start := time.Now()
		sum, err := backfill.Run(context.Background(), cfg)
		seedTime := time.Since(start)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		r.Close()
		var stored int64
		if err := st.DB().QueryRow(`SELECT count(*) FROM transactions`).Scan(&stored); err != nil {
			b.Fatal(err)
		}
		csvPath := filepath.Join(dir, "txs.csv")
		if _, err := st.DB().Exec(fmt.Sprintf(`COPY transactions TO '%s' (HEADER)`, csvPath)); err != nil {
			b.Fatal(err)
		}
		readCSV := timeReadCSV(b, dir, csvPath)
		st.Close()
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		seedRate := float64(stored) / sum.SeedElapsed.Seconds()
		csvRate := float64(stored) / readCSV.Seconds()
		b.ReportMetric(seedRate, "seed_rows/s")
		b.ReportMetric(csvRate, "read_csv_rows/s")
		b.ReportMetric(seedRate/csvRate, "ratio")
		b.ReportMetric(float64(ru.Maxrss)/1024, "peak_rss_MB")
		b.Logf("%d rows (%d seed windows): seed %.0f rows/s in %s (the whole run with the API's tail %s), read_csv %.0f rows/s in %s: %.2fx; peak RSS %d MB",
			stored, sum.SeedWindows, seedRate, sum.SeedElapsed.Round(time.Millisecond), seedTime.Round(time.Millisecond),
			csvRate, readCSV.Round(time.Millisecond), seedRate/csvRate, ru.Maxrss/1024)
		b.StartTimer()
	}
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
