package hirosim

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/chain"
)

// BenchmarkGenerate measures streaming generation (transactions per second
// is the number to watch; the aim is about 1M in a few seconds).
func BenchmarkGenerate(b *testing.B) {
	cfg := Config{Seed: 1, Now: testNow, History: 7 * 24 * time.Hour, TxPerBlock: 2}
	n := 0
	for b.Loop() {
		Generate(cfg, func(chain.Tx) bool { n++; return true })
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "tx/s")
}

// BenchmarkNew measures building a served chain in memory.
func BenchmarkNew(b *testing.B) {
	cfg := Config{Seed: 1, Now: testNow, History: 7 * 24 * time.Hour, TxPerBlock: 2}
	n := 0
	for b.Loop() {
		n += int(New(cfg).Tip().TxCount)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "tx/s")
}

func benchmarkHandler(b *testing.B, path func(s *Sim, i int) string) {
	s := New(Config{Seed: 1, Now: testNow, History: 3 * 24 * time.Hour, TxPerBlock: 2})
	h := s.Handler()
	i := 0
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path(s, i), nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("%s: %d %s", path(s, i), rec.Code, rec.Body)
		}
		i++
	}
}

// BenchmarkV1WindowPage is one page of a day-wide v1 window, the backfill's
// main request.
func BenchmarkV1WindowPage(b *testing.B) {
	end := testNow.Add(-24 * time.Hour).Unix()
	benchmarkHandler(b, func(_ *Sim, i int) string {
		return fmt.Sprintf("/extended/v1/tx?limit=50&order=asc&offset=%d&start_time=%d&end_time=%d", (i%100)*50, end-86400, end)
	})
}

// BenchmarkV3CursorPage is one page of a v3 cursor walk.
func BenchmarkV3CursorPage(b *testing.B) {
	benchmarkHandler(b, func(s *Sim, i int) string {
		h := s.Tip().Height - int64(i%10000)
		return fmt.Sprintf("/extended/v3/transactions?limit=50&cursor=%d:0:0", h)
	})
}
