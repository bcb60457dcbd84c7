package dashboard_test

import (
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/stxwallets/walletcache/internal/chain"
	"github.com/stxwallets/walletcache/internal/dashboard"
	"github.com/stxwallets/walletcache/internal/wallets/walletstest"
)

// panelNames are the panel CSV names (without .csv) every build must write
// and the page must show, in page order; acquisition is an extra panel
// beyond the five the dashboards promise.
var panelNames = []string{"daily_wallets", "cohort_retention", "funnel", "value_windows", "prices", "acquisition"}

// panel returns the panel file called name from a build result, or false.
func panel(r dashboard.Result, name string) (dashboard.PanelFile, bool) {
	for _, p := range r.Panels {
		if p.Name == name {
			return p, true
		}
	}
	return dashboard.PanelFile{}, false
}

// loadChain puts txs into a scratch database.
func loadChain(t testing.TB, txs []chain.Tx) *sql.DB {
	t.Helper()
	db := walletstest.NewDB(t)
	if err := walletstest.Load(context.Background(), db, txs); err != nil {
		t.Fatal(err)
	}
	return db
}

// geckoPrice is the stand-in's deterministic snapshot price at 00:00 of s.
func geckoPrice(s time.Time) float64 {
	d := float64(s.Unix() / 86400)
	return math.Round((1.1+0.35*math.Sin(d/23)+0.08*math.Sin(d/3.1))*1e4) / 1e4
}

// newGecko serves CoinGecko's market_chart for [first, last] snapshots,
// skipping the given days, with a trailing intraday "now" point.
func newGecko(t testing.TB, first, last time.Time, skip map[time.Time]bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v3/coins/blockstack/market_chart" {
			http.NotFound(w, r)
			return
		}
		var pts [][2]float64
		for s := first; !s.After(last); s = s.AddDate(0, 0, 1) {
			if !skip[s] {
				pts = append(pts, [2]float64{float64(s.UnixMilli()), geckoPrice(s)})
			}
		}
		pts = append(pts, [2]float64{float64(last.Add(11 * time.Hour).UnixMilli()), 123})
		json.NewEncoder(w).Encode(map[string]any{"prices": pts})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// readCSV returns the header and rows of a panel file.
func readCSV(t testing.TB, path string) ([]string, []map[string]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(recs) == 0 {
		t.Fatalf("%s: empty file", path)
	}
	var rows []map[string]string
	for _, r := range recs[1:] {
		m := map[string]string{}
		for i, h := range recs[0] {
			m[h] = r[i]
		}
		rows = append(rows, m)
	}
	return recs[0], rows
}
