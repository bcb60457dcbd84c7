package backfill_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/backfill"
	"github.com/stxwallets/walletcache/internal/benchenv"
	"github.com/stxwallets/walletcache/internal/hirosim"
)

// yearRows is a year of mainnet at about 20k transactions a day, the
// horizon the peak RSS is projected to.
const yearRows = 365 * 20_000

// BenchmarkBackfillPeakRSS runs a whole backfill from an unlimited
// simulator (about 20k transactions a day) in a process of its own, for v1
// and for v3, at each horizon of BENCH_RSS_DAYS (a comma-separated list of
// days, default "5,20"), and reports that process's peak RSS at each
// (peak_rss_MB_<days>d), the largest as peak_rss_MB, how it grows with the
// rows stored (MB_per_M_rows, between the smallest and the largest
// horizon) and what that growth makes of a year (year_MB, 7.3M rows).
// The backfill keeps a raw cache, as the product's does by default:
//
//	go test -run '^$' -bench BackfillPeakRSS -benchtime 1x ./internal/backfill/
//	BENCH_RSS_DAYS=5,20,60 go test -run '^$' -bench BackfillPeakRSS -benchtime 1x -timeout 60m ./internal/backfill/
//
// The peak is the child's own high-water mark, read after it closed the
// store (its closing checkpoint included), so it is the product's alone,
// not the simulator's.
func BenchmarkBackfillPeakRSS(b *testing.B) {
	horizons := benchenv.Ascending(b, "BENCH_RSS_DAYS", []int{5, 20})
	for _, source := range []string{backfill.SourceV1, backfill.SourceV3} {
		b.Run(source, func(b *testing.B) {
			for b.Loop() {
				var rows, peakMB []float64
				for _, days := range horizons {
					b.StopTimer()
					sim := hirosim.New(seedBenchChain(days))
					url := sim.Start()
					dir := b.TempDir()
					dbPath := filepath.Join(dir, "w.duckdb")
					b.StartTimer()
					res := runBackfillChild(b, url, dbPath, source, days, childRaw+"="+filepath.Join(dir, "raw"))
					b.StopTimer()
					sim.Close()
					mb := float64(res.PeakRSSKB) / 1024
					rows, peakMB = append(rows, float64(res.Rows)), append(peakMB, mb)
					b.ReportMetric(mb, fmt.Sprintf("peak_rss_MB_%dd", days))
					b.Logf("%s, %d days: %d rows in %s, peak RSS %.0f MB; load average %s",
						source, days, res.Rows, res.Elapsed.Round(time.Millisecond), mb, benchenv.LoadAverage())
					b.StartTimer()
				}
				last := len(horizons) - 1
				b.ReportMetric(peakMB[last], "peak_rss_MB")
				if last > 0 && rows[last] > rows[0] {
					perRow := (peakMB[last] - peakMB[0]) / (rows[last] - rows[0])
					b.ReportMetric(perRow*1e6, "MB_per_M_rows")
					b.ReportMetric(peakMB[last]+perRow*(yearRows-rows[last]), "year_MB")
				}
			}
		})
	}
}
