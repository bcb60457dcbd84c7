package tasks

import (
	"fmt"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/benchenv"
	"github.com/stxwallets/walletcache/internal/hirosim"
)

// BenchmarkBackfillRateLimited runs a whole backfill against the simulator
// limited to 5 requests/s with 400 ms latency, the policy's per-second
// budget far above it so the client must learn the lower limit from the
// headers, once per source (v1 time windows, v3 cursor walk) on the same
// chain. It reports wall time over the ideal (pages / 5 per second),
// requests per page and per stored transaction, and pages over the minimum
// a perfect pager needs (ceil(rows/50)). v3 also stores the settle margin
// of history below the horizon that its proof needs, so it stores (and
// pages) a little more than v1.
//
// BENCH_DAYS sets the horizon (default 7 days, about 9 minutes a source
// at 5 requests/s). The requests every run sends whatever its length (the
// tip, the chain check, the newest transaction or the v3 height lookups: 3
// for v1, 4 for v3) are 0.8 to 1.1 % of the 374 pages of a day, the whole
// allowance, and 0.1 % of a week's 2,600: a week measures the rate a long
// backfill keeps, BENCH_DAYS=1 mostly that per-run cost.
//
//	go test ./tasks -run '^$' -bench BackfillRateLimited -benchtime 1x -timeout 60m
//	BENCH_DAYS=1 go test ./tasks -run '^$' -bench BackfillRateLimited -benchtime 1x
func BenchmarkBackfillRateLimited(b *testing.B) {
	days := benchenv.Int(b, "BENCH_DAYS", 7)
	for _, api := range sources {
		b.Run(api, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				history := time.Duration(days)*24*time.Hour + 2*time.Hour
				cfg := hirosim.Config{Seed: 42, History: history, BlockInterval: 5 * time.Second, TxPerBlock: 1}
				e := newBenchEnv(b, cfg)
				e.useSource(api, fmt.Sprintf("horizon:\n  target_days: %d\n  settle_minutes: 120", days))
				e.sim.SetFaults(hirosim.Faults{PerSecond: 5, Latency: 400 * time.Millisecond})
				start := time.Now()
				sum, err := e.backfill()
				wall := time.Since(start)
				if err != nil || sum.Coverage.Percent != 100 || sum.Source != api {
					b.Fatalf("backfill: %v coverage %.2f source %s", err, sum.Coverage.Percent, sum.Source)
				}
				stored := int64(len(e.stored()))
				ideal := time.Duration(float64(sum.Pages) / 5 * float64(time.Second))
				minPages := (stored + 49) / 50
				b.ReportMetric(wall.Seconds(), "wall_s")
				b.ReportMetric(wall.Seconds()/ideal.Seconds(), "wall/ideal")
				b.ReportMetric(float64(sum.Requests)/float64(sum.Pages), "requests/page")
				b.ReportMetric(float64(sum.Requests)/float64(stored), "requests/tx")
				b.ReportMetric(float64(sum.Pages)/float64(minPages), "pages/min_pages")
				b.ReportMetric(float64(sum.Pages), "pages")
				b.ReportMetric(float64(sum.Requests), "requests")
				b.ReportMetric(float64(sum.Throttled), "429s")
				b.ReportMetric(float64(stored), "rows")
			}
		})
	}
}
