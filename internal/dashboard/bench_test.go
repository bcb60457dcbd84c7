package dashboard_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/dashboard"
	"github.com/stxwallets/walletcache/internal/prices"
	"github.com/stxwallets/walletcache/internal/wallets/walletstest"
)

// genSQL fills `transactions` with n rows over 365 days (plus a partial
// 366th) in one INSERT … SELECT over range(), using hash() for deterministic
// pseudo-randomness. 20 txs per block, a tenure every 10 blocks opening with
// tenure_change + coinbase. The sender is heavy-tailed: wallet id =
// floor((W·f + 1000) · u³) for the row's time fraction f and a uniform u, so
// a few old wallets send most txs while new ids keep appearing all year.
const genSQL = `
INSERT INTO transactions
WITH base AS (
    SELECT i,
           i // 20                                            AS height,
           (i % 20)::INTEGER                                  AS txi,
           (i // 20) % 10 = 0 AND i % 20 < 2                  AS system,
           (i // 20)::DOUBLE / ({{N}} // 20)                  AS f,
           (hash(i * 8 + 1) % 1000000) / 1e6                  AS u,
           hash(i * 8 + 2) % 100                              AS ty,
           hash(i * 8 + 3) % 100                              AS st,
           hash(i * 8 + 4)                                    AS h4,
           hash(i * 8 + 5)                                    AS h5
    FROM range({{N}}) t(i)
),
rows AS (
    SELECT *,
           TIMESTAMPTZ '2025-01-01 00:00:00+00' + to_seconds((f * 366 * 86400)::BIGINT) AS bt,
           CASE WHEN system THEN -1 ELSE floor(({{W}} * f + 1000) * u * u * u)::BIGINT END AS wid
    FROM base
)
SELECT '0x' || md5(i::VARCHAR) || md5((i + 1)::VARCHAR)                             AS tx_id,
       CASE WHEN system THEN (CASE WHEN txi = 0 THEN 'tenure_change' ELSE 'coinbase' END)
            WHEN ty < 47 THEN 'token_transfer' WHEN ty < 92 THEN 'contract_call'
            ELSE 'smart_contract' END                                                AS tx_type,
       CASE WHEN system OR st < 90 THEN 'success' WHEN st < 97 THEN 'abort_by_response'
            ELSE 'abort_by_post_condition' END                                       AS tx_status,
       height + 3000000                                                              AS block_height,
       '0x' || md5(('b' || height)::VARCHAR)                                         AS block_hash,
       bt                                                                            AS block_time,
       height // 10 + 900000                                                         AS burn_block_height,
       bt                                                                            AS burn_block_time,
       txi                                                                           AS tx_index,
       CASE WHEN system THEN 'SP1MINER00000000000000000000000000000' || (height % 7)
            ELSE 'SP' || upper(substr(md5(wid::VARCHAR) || md5((wid + 7)::VARCHAR), 1, 39)) END AS sender_address,
       (h5 % 5000)::BIGINT                                                           AS nonce,
       (180 + (h4 % 1500) * (h4 % 1500))::UBIGINT                                    AS fee_rate,
       h5 % 50 = 0                                                                   AS sponsored,
       CASE WHEN h5 % 50 = 0 THEN 'SP3SPONSOR0000000000000000000000000000' END        AS sponsor_address,
       CASE WHEN NOT system AND ty < 47 THEN
            'SP' || upper(substr(md5((h4 % {{R}})::VARCHAR) || md5((h4 % {{R}} + 7)::VARCHAR), 1, 39)) END AS token_transfer_recipient_address,
       CASE WHEN NOT system AND ty < 47 THEN (h5 % 1000000000000)::UBIGINT END     AS token_transfer_amount,
       CASE WHEN NOT system AND ty < 47 THEN '0x' END                                AS token_transfer_memo,
       CASE WHEN NOT system AND ty BETWEEN 47 AND 91 THEN
            'SP2C2YFP12AJZB4MABJBAJ55XECVS7E4PMMZ89YZR.app-' || (h4 % 400) END       AS contract_call_contract_id,
       CASE WHEN NOT system AND ty BETWEEN 47 AND 91 THEN 'fn-' || (h5 % 25) END    AS contract_call_function_name,
       CASE WHEN NOT system AND ty >= 92 THEN 'SP2C2YFP12AJZB4MABJBAJ55XECVS7E4PMMZ89YZR.c-' || i END AS smart_contract_contract_id,
       true                                                                          AS canonical
FROM rows`

// benchDB returns a DuckDB file holding n generated transactions. With
// BENCH_DB_DIR set, the file is kept there and reused by later runs.
func benchDB(b *testing.B, n, walletsN int) string {
	b.Helper()
	dir := os.Getenv("BENCH_DB_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, fmt.Sprintf("bench-%d-v1.duckdb", n))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	start := time.Now()
	db, err := sql.Open("duckdb", path+".tmp")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := walletstest.Migrate(ctx, db); err != nil {
		b.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, strings.NewReplacer("{{N}}", strconv.Itoa(n), "{{W}}", strconv.Itoa(walletsN),
		"{{R}}", strconv.Itoa(2*walletsN)).Replace(genSQL)); err != nil {
		b.Fatalf("generate %d rows: %v", n, err)
	}
	if _, err := db.ExecContext(ctx, "CHECKPOINT"); err != nil {
		b.Fatal(err)
	}
	db.Close()
	if err := os.Rename(path+".tmp", path); err != nil {
		b.Fatal(err)
	}
	b.Logf("generated %d rows in %s", n, time.Since(start).Round(time.Second))
	return path
}

// procStatus reads a kB value (VmHWM, VmRSS) from /proc/self/status.
func procStatus(key string) (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), key+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s not in /proc/self/status", key)
}

// BenchmarkBuild10M builds the dashboards from a 10-million-transaction
// database, opened cold. It reports seconds per build and the process's
// peak RSS during the builds (VmHWM, reset before timing through
// /proc/self/clear_refs, so generating the table does not count).
//
//	go test -run '^$' -bench BenchmarkBuild10M -benchtime 1x ./internal/dashboard/
//
// Options.MemoryLimit is BENCH_MEMORY_LIMIT (default 1.2GB; "none" leaves
// DuckDB's default of 80 % of RAM). BENCH_DB_DIR keeps the generated
// database between runs.
func BenchmarkBuild10M(b *testing.B) {
	const n, walletsN = 10_000_000, 1_500_000
	path := benchDB(b, n, walletsN)
	db, err := sql.Open("duckdb", path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	limit := os.Getenv("BENCH_MEMORY_LIMIT")
	if limit == "" {
		limit = "1.2GB"
	} else if limit == "none" {
		limit = ""
	}
	var rows int64
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM transactions").Scan(&rows); err != nil || rows != n {
		b.Fatalf("table has %d rows (%v), want %d", rows, err, n)
	}
	clearRefs := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	cpu0 := cpuSeconds()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC) // the 366th day is "today"
	var res dashboard.Result
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		out := b.TempDir()
		res, err = dashboard.Build(ctx, db, dashboard.Options{Dir: out, FirstSeenParquet: filepath.Join(out, "first_seen_wallets.parquet"), Windows: windows, MaxDays: 365, Now: func() time.Time { return now },
			BuiltAt: now, Prices: prices.Config{Source: prices.SourceNone}, Logf: stageLog, MemoryLimit: limit})
		if err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(elapsed.Seconds()/float64(b.N), "s/build")
	// CPU seconds are the figure to compare when other jobs share the cores.
	b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s/build")
	if hwm, err := procStatus("VmHWM"); err == nil {
		b.ReportMetric(float64(hwm)/1024, "peak-RSS-MB")
		if clearRefs != nil {
			b.Logf("could not reset the peak RSS (%v): it includes opening the database", clearRefs)
		}
	}
	b.ReportMetric(float64(res.ActiveWallets), "wallets")
	b.ReportMetric(float64(res.UserTxs), "user-txs")
}

// stageLog prints the build's stage lines to stderr as they happen: b.Logf
// holds them until the end and truncates a long log.
func stageLog(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
