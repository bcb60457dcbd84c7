package backfill

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/hirosim"
)

// BenchmarkWindowSizing cuts a month of the simulator's chains, from 5,000
// to 70,000 transactions a day, into windows by the sizing rule (v1size.go)
// without a server: each window's total is counted from the chain, a window
// over the cap is cut back as a run would cut it. It reports the requests
// beyond the rows' minimum (partial last pages and cuts) and how often a
// window is cut back.
//
//	go test -run '^$' -bench WindowSizing -benchtime 1x ./internal/backfill/
func BenchmarkWindowSizing(b *testing.B) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, perBlock := range []float64{0.3, 0.55, 1.15, 2.2, 4} {
		sim := hirosim.New(hirosim.Config{Seed: 42, Now: now, History: 30 * 24 * time.Hour, BlockInterval: 5 * time.Second, TxPerBlock: perBlock})
		var times []int64
		for _, x := range sim.All() {
			times = append(times, x.BurnBlockTime.Unix())
		}
		sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
		count := func(a, b int64) int64 {
			i := sort.Search(len(times), func(k int) bool { return times[k] >= a })
			j := sort.Search(len(times), func(k int) bool { return times[k] > b })
			return int64(j - i)
		}
		start, end := floorTo(times[0], 3600)+3600, times[len(times)-1]-7200
		perDay := float64(count(start, end)) / (float64(end-start) / 86400)
		b.Run(fmt.Sprintf("%.0fk_a_day", perDay/1000), func(b *testing.B) {
			z := newSizer(3600, 0)
			var pages, cuts, windows, rows int64
			for range b.N {
				pages, cuts, windows, rows = 0, 0, 0, 0
				r := rate{}
				for cur := start; cur <= end; {
					e, _ := z.end(cur, end, r)
					total := count(cur, e)
					for range maxCuts {
						cut, ok := z.shrink(cur, e, total)
						if !ok {
							break
						}
						cuts++
						e, total = cut, count(cur, cut)
					}
					pages += pagesFor(total)
					rows += total
					windows++
					r = rateOf(total, cur, e)
					cur = e + 1
				}
			}
			least := pagesFor(rows)
			b.ReportMetric(100*float64(pages+cuts-least)/float64(least), "extra_requests_%")
			b.ReportMetric(100*float64(cuts)/float64(windows), "cut_%")
			b.ReportMetric(float64(rows)/float64(windows)/50, "pages/window")
		})
	}
}
