package seed_test

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/jackc/pgx/v5"

	"github.com/stxwallets/walletcache/internal/benchenv"
	"github.com/stxwallets/walletcache/internal/chain"
	"github.com/stxwallets/walletcache/internal/hirosim"
	"github.com/stxwallets/walletcache/internal/seed"
	"github.com/stxwallets/walletcache/internal/seed/pgtest"
)

// The benchmarks share one database of benchRows generated transactions
// (SEED_BENCH_ROWS, default 1,000,000), its pg_dump archive and its CSV
// export, built once per test binary. Run them with
//
//	go test -run '^$' -bench . -benchtime 3x ./internal/seed/
var (
	benchOnce sync.Once
	benchDB   string
	benchDump string
	benchCSV  string
	benchN    int64
	benchErr  string
)

func benchSetup(b *testing.B) *pgtest.Server {
	b.Helper()
	srv := pgtest.Shared(b)
	benchOnce.Do(func() {
		start := time.Now()
		want := benchenv.Int(b, "SEED_BENCH_ROWS", 1_000_000)
		db := "bench"
		srv.Exec(b, "postgres", "CREATE DATABASE "+db)
		cfg := hirosim.Config{Seed: 1, Now: simNow, History: 120 * 24 * time.Hour, TxPerBlock: 4}
		n := 0
		txs := func(yield func(chain.Tx) bool) {
			hirosim.Generate(cfg, func(tx chain.Tx) bool {
				if !pgtest.Representable(tx) {
					return true
				}
				n++
				return n <= want && yield(tx)
			})
		}
		loaded := srv.Load(b, db, pgtest.Chain{Txs: txs, TrapEvery: 1000, AboveTip: 10})
		benchDB, benchN = db, loaded.Canonical
		b.Logf("loaded %d rows (+%d traps) in %s", loaded.Canonical, loaded.Traps, time.Since(start).Round(time.Millisecond))

		start = time.Now()
		dir := srv.Socket // removed with the server when the binary ends
		benchDump = srv.Dump(b, db, dir)
		b.Logf("pg_dump -Fc in %s", time.Since(start).Round(time.Millisecond))
		benchCSV = filepath.Join(dir, "txs.csv")
		if err := exportCSV(srv.URL(db, srv.Password), benchCSV); err != nil {
			benchErr = err.Error()
		}
	})
	if benchErr != "" {
		b.Fatal(benchErr)
	}
	return srv
}

// exportCSV writes the seed's rows with COPY ... TO STDOUT (FORMAT csv).
func exportCSV(url, path string) error {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	cols := "tx_id, tx_index, block_hash, block_height, block_time, burn_block_height, burn_block_time, type_id, status, nonce, " +
		"fee_rate, sponsored, sponsor_address, sender_address, token_transfer_recipient_address, token_transfer_amount, " +
		"token_transfer_memo, contract_call_contract_id, contract_call_function_name, smart_contract_contract_id"
	_, err = conn.PgConn().CopyTo(ctx, f, "COPY (SELECT "+cols+" FROM stacks_blockchain_api.txs WHERE canonical AND microblock_canonical "+
		"AND block_height <= (SELECT block_height FROM stacks_blockchain_api.chain_tip)) TO STDOUT (FORMAT csv, HEADER)")
	if err != nil {
		return err
	}
	return f.Close()
}

// reportScan runs scan once per iteration and reports rows/s, the largest
// heap seen during the scans (sampled every 16 batches) and peak RSS.
func reportScan(b *testing.B, scan func(fn func([]chain.Tx) error) (int64, error)) {
	var total int64
	var heap uint64
	batches := 0
	sample := func(batch []chain.Tx) error {
		if batches++; batches%16 == 0 {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			heap = max(heap, m.HeapInuse)
		}
		return nil
	}
	cpu0 := cpuTime()
	for b.Loop() {
		n, err := scan(sample)
		if err != nil {
			b.Fatal(err)
		}
		if n != benchN {
			b.Fatalf("scan gave %d rows, want %d", n, benchN)
		}
		total += n
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(heap)/(1<<20), "scanHeap-MB")
	reportCPU(b, cpu0, total)
	reportRSS(b)
}

// cpuTime is this process's user+system CPU time. On a shared machine it
// is steadier than wall time; it leaves out the PostgreSQL server and
// pg_restore, which run in other processes.
func cpuTime() time.Duration {
	var u syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &u)
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}

func reportCPU(b *testing.B, since time.Duration, rows int64) {
	if rows > 0 {
		b.ReportMetric(float64((cpuTime()-since).Microseconds())/float64(rows), "cpu-µs/row")
	}
}

func reportRSS(b *testing.B) {
	var self syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	b.ReportMetric(float64(self.Maxrss)/1024, "peakRSS-MB") // of the whole binary, setup included
}

func openBenchPostgres(b *testing.B, srv *pgtest.Server) *seed.Postgres {
	r, err := seed.OpenPostgres(context.Background(), srv.URL(benchDB, srv.Password), "auto")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	return r
}

// BenchmarkPostgresScan is the reader as shipped: the binary protocol.
func BenchmarkPostgresScan(b *testing.B) {
	srv := benchSetup(b)
	r := openBenchPostgres(b, srv)
	reportScan(b, func(fn func([]chain.Tx) error) (int64, error) {
		return r.Scan(context.Background(), math.MinInt64, math.MaxInt64, fn)
	})
}

// BenchmarkPostgresCopyText is the alternative: COPY text through CopyTo.
func BenchmarkPostgresCopyText(b *testing.B) {
	srv := benchSetup(b)
	r := openBenchPostgres(b, srv)
	reportScan(b, func(fn func([]chain.Tx) error) (int64, error) {
		return seed.ScanCopyText(r, context.Background(), math.MinInt64, math.MaxInt64, fn)
	})
}

// BenchmarkArchiveScan reads the pg_dump archive through pg_restore.
func BenchmarkArchiveScan(b *testing.B) {
	benchSetup(b)
	r, err := seed.OpenArchive(context.Background(), benchDump, seed.ArchiveOptions{})
	if err != nil {
		b.Fatal(err)
	}
	reportScan(b, func(fn func([]chain.Tx) error) (int64, error) {
		return r.Scan(context.Background(), math.MinInt64, math.MaxInt64, fn)
	})
}

// BenchmarkDuckDBReadCSV is the yardstick: DuckDB loading the same rows
// from the CSV that COPY ... TO wrote.
func BenchmarkDuckDBReadCSV(b *testing.B) {
	benchSetup(b)
	connector, err := duckdb.NewConnector(filepath.Join(b.TempDir(), "bench.duckdb"), nil)
	if err != nil {
		b.Fatal(err)
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	ctx := context.Background()
	var total int64
	cpu0 := cpuTime()
	for b.Loop() {
		if _, err := db.ExecContext(ctx, "DROP TABLE IF EXISTS t"); err != nil {
			b.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, "CREATE TABLE t AS SELECT * FROM read_csv('"+strings.ReplaceAll(benchCSV, "'", "''")+"', header = true)"); err != nil {
			b.Fatal(err)
		}
		var n int64
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != benchN {
			b.Fatalf("read_csv loaded %d rows (%v), want %d", n, err, benchN)
		}
		total += n
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "rows/s")
	reportCPU(b, cpu0, total)
	reportRSS(b)
}

// BenchmarkPostgresScanDaily scans the same rows one UTC day at a time, as
// a backfill of day windows would: each query is an index range scan of
// txs_burn_block_time_index with a small sort, plus Count for verification.
func BenchmarkPostgresScanDaily(b *testing.B) {
	srv := benchSetup(b)
	r := openBenchPostgres(b, srv)
	ctx := context.Background()
	var first, last int64 = math.MaxInt64, math.MinInt64
	if _, err := r.Scan(ctx, math.MinInt64, math.MaxInt64, func(batch []chain.Tx) error {
		for _, t := range batch {
			first, last = min(first, t.BurnBlockTime.Unix()), max(last, t.BurnBlockTime.Unix())
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	reportScan(b, func(fn func([]chain.Tx) error) (int64, error) {
		var total int64
		for day := first - first%86400; day <= last; day += 86400 {
			n, err := r.Scan(ctx, day, day+86399, fn)
			if err != nil {
				return total, err
			}
			c, err := r.Count(ctx, day, day+86399)
			if err != nil || c != n {
				return total, fmt.Errorf("day %d: count %d (%v), scan %d", day, c, err, n)
			}
			total += n
		}
		return total, nil
	})
}
