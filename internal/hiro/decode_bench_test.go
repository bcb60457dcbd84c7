package hiro_test

import (
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/hiro"
	"github.com/stxwallets/walletcache/internal/hirosim"
)

// BenchmarkDecodeTxPage decodes one full v1 page of the simulator (50
// transactions at mainnet density) and reports the time per transaction:
// the CPU every fetched or cached page costs before the database.
//
//	go test -run '^$' -bench DecodeTxPage ./internal/hiro/
func BenchmarkDecodeTxPage(b *testing.B) {
	sim := hirosim.New(hirosim.Config{Seed: 1, History: 24 * time.Hour, TxPerTenure: 140})
	url := sim.Start()
	defer sim.Close()
	from := time.Now().Unix() - 20*3600
	resp, err := http.Get(url + "/extended/v1/tx?limit=50&offset=0&order=asc&start_time=" +
		strconv.FormatInt(from, 10) + "&end_time=" + strconv.FormatInt(from+3600, 10))
	if err != nil {
		b.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		b.Fatal(err)
	}
	if pg, err := hiro.DecodeTxPage(body); err != nil || len(pg.Txs) != hiro.PageLimit {
		b.Fatalf("page of %d rows: %v", len(pg.Txs), err)
	}
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := hiro.DecodeTxPage(body); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/hiro.PageLimit/1000, "µs/tx")
}
