package tasks

import (
	"context"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/hirosim"
)

// BenchmarkBackfillRateLimited runs a whole backfill against the simulator
// limited to 5 requests/s with 400 ms latency, the policy left at its
// default 20/s so the client must learn the lower limit from the headers.
// It reports wall time over the ideal (pages / 5 per second), requests per
// page, and pages over the minimum a perfect pager needs (ceil(tx/50)).
//
//	go test ./tasks -run '^$' -bench BackfillRateLimited -benchtime 1x
func BenchmarkBackfillRateLimited(b *testing.B) {
	for i := 0; i < b.N; i++ {
		cfg := hirosim.Config{Seed: 42, History: 26 * time.Hour, BlockInterval: 5 * time.Second, TxPerBlock: 1}
		e := newBenchEnv(b, cfg)
		e.sim.SetFaults(hirosim.Faults{PerSecond: 5, Latency: 400 * time.Millisecond})
		start := time.Now()
		sum, err := RunBackfill(context.Background(), e.pol())
		wall := time.Since(start)
		if err != nil || sum.Coverage.Percent != 100 {
			b.Fatalf("backfill: %v coverage %.2f", err, sum.Coverage.Percent)
		}
		stored := int64(len(e.stored()))
		ideal := time.Duration(float64(sum.Pages) / 5 * float64(time.Second))
		minPages := (stored + 49) / 50
		b.ReportMetric(wall.Seconds(), "wall_s")
		b.ReportMetric(wall.Seconds()/ideal.Seconds(), "wall/ideal")
		b.ReportMetric(float64(sum.Requests)/float64(sum.Pages), "requests/page")
		b.ReportMetric(float64(sum.Pages)/float64(minPages), "pages/min_pages")
		b.ReportMetric(float64(sum.Pages), "pages")
		b.ReportMetric(float64(sum.Throttled), "429s")
		b.ReportMetric(float64(stored), "rows")
	}
}
