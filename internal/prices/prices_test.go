package prices_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/stxwallets/walletcache/internal/prices"
	"github.com/stxwallets/walletcache/internal/wallets/walletstest"
)

func d(m time.Month, day int) time.Time { return walletstest.Date(2025, m, day) }

func TestParseMarketChart(t *testing.T) {
	ms := func(t time.Time) int64 { return t.UnixMilli() }
	cases := []struct {
		name    string
		body    string
		want    map[string]float64
		wantErr string
	}{
		{
			name: "daily snapshots shift to the previous day and the now point is dropped",
			body: fmt.Sprintf(`{"prices":[[%d,1.5],[%d,1.75],[%d,2.0],[%d,9.99]],"market_caps":[],"total_volumes":[]}`,
				ms(d(3, 1)), ms(d(3, 2)), ms(d(3, 3)), ms(d(3, 3).Add(14*time.Hour+3*time.Minute))),
			want: map[string]float64{"2025-02-28": 1.5, "2025-03-01": 1.75, "2025-03-02": 2.0},
		},
		{
			name: "unsorted input, slightly late snapshot, intraday point skipped",
			body: fmt.Sprintf(`{"prices":[[%d,2.0],[%d,1.5],[%d,7.0],[%d,3.0]]}`,
				ms(d(3, 3).Add(90*time.Second)), ms(d(3, 2)), ms(d(3, 2).Add(6*time.Hour)), ms(d(3, 4))),
			want: map[string]float64{"2025-03-01": 1.5, "2025-03-02": 2.0, "2025-03-03": 3.0},
		},
		{
			name: "two points for one day: the one nearest midnight wins",
			body: fmt.Sprintf(`{"prices":[[%d,1.1],[%d,1.2],[%d,5]]}`,
				ms(d(3, 2).Add(30*time.Minute)), ms(d(3, 2)), ms(d(3, 3))),
			want: map[string]float64{"2025-03-01": 1.2, "2025-03-02": 5},
		},
		{
			name: "non-positive prices are dropped",
			body: fmt.Sprintf(`{"prices":[[%d,0],[%d,-1],[%d,0.8]]}`, ms(d(3, 2)), ms(d(3, 3)), ms(d(3, 4))),
			want: map[string]float64{"2025-03-03": 0.8},
		},
		{name: "empty array", body: `{"prices":[]}`, want: map[string]float64{}},
		{name: "no prices key", body: `{"error":"coin not found"}`, wantErr: `no "prices" array`},
		{name: "not json", body: `<html>`, wantErr: "decode market_chart"},
		{name: "bad pair", body: `{"prices":[[1]]}`, wantErr: "want [ms, price]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pts, err := prices.ParseMarketChart(strings.NewReader(tc.body))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]float64{}
			for i, p := range pts {
				got[p.Date.Format(time.DateOnly)] = p.Price
				if i > 0 && !pts[i-1].Date.Before(p.Date) {
					t.Errorf("points not strictly ordered at %d", i)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestReadCSV(t *testing.T) {
	cases := []struct {
		name, body, wantErr string
		want                int
	}{
		{name: "ok", body: "date,price_usd\n2025-03-01,1.5\n2025-03-03, 2.25\n\n", want: 2},
		{name: "bom and case", body: "\ufeffDate,Price_USD\n2025-03-01,1.5\n", want: 1},
		{name: "bad header", body: "day,close\n2025-03-01,1\n", wantErr: "line 1: header"},
		{name: "bad date", body: "date,price_usd\n2025-03-01,1\n03/02/2025,1\n", wantErr: "line 3: date"},
		{name: "bad price", body: "date,price_usd\n2025-03-01,abc\n", wantErr: "line 2: price_usd"},
		{name: "negative price", body: "date,price_usd\n2025-03-01,-2\n", wantErr: "not a positive number"},
		{name: "duplicate date", body: "date,price_usd\n2025-03-01,1\n2025-03-01,2\n", wantErr: "repeats line 2"},
		{name: "short row", body: "date,price_usd\n2025-03-01\n", wantErr: "line 2: want date,price_usd"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "p.csv")
			if err := os.WriteFile(path, []byte(tc.body), 0o644); err != nil {
				t.Fatal(err)
			}
			pts, err := prices.ReadCSV(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(pts) != tc.want {
				t.Fatalf("got %d points, err %v; want %d", len(pts), err, tc.want)
			}
		})
	}
	if _, err := prices.ReadCSV(""); err == nil || !strings.Contains(err.Error(), "no csv path") {
		t.Errorf("empty path: err = %v", err)
	}
}

// gecko is a CoinGecko market_chart stand-in serving a daily snapshot at
// 00:00 UTC for every day in [first, last] (price = 1 + day-of-year/100)
// except the skip days, plus a trailing intraday "now" point.
type gecko struct {
	first, last time.Time
	skip        map[time.Time]bool
	status      int
	hits        atomic.Int32
	lastQuery   atomic.Value
}

func (g *gecko) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.hits.Add(1)
	g.lastQuery.Store(r.URL.Path + "?" + r.URL.RawQuery)
	if g.status != 0 {
		http.Error(w, `{"error":"rate limited"}`, g.status)
		return
	}
	if r.URL.Path != "/api/v3/coins/blockstack/market_chart" {
		http.NotFound(w, r)
		return
	}
	var pts [][2]float64
	for s := g.first; !s.After(g.last); s = s.AddDate(0, 0, 1) {
		if !g.skip[s] {
			pts = append(pts, [2]float64{float64(s.UnixMilli()), snapPrice(s)})
		}
	}
	pts = append(pts, [2]float64{float64(g.last.Add(13 * time.Hour).UnixMilli()), 99})
	json.NewEncoder(w).Encode(map[string]any{"prices": pts, "market_caps": [][2]float64{}, "total_volumes": [][2]float64{}})
}

// snapPrice is the price of the snapshot taken at 00:00 of s.
func snapPrice(s time.Time) float64 { return 1 + float64(s.YearDay())/100 }

type env struct {
	conn *sql.Conn
	srv  *httptest.Server
	g    *gecko
	cfg  prices.Config
}

func newEnv(t *testing.T, g *gecko) *env {
	t.Helper()
	db := walletstest.NewDB(t)
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	now := d(4, 1).Add(15 * time.Hour)
	return &env{conn: conn, srv: srv, g: g, cfg: prices.Config{
		Source: prices.SourceCoinGecko, BaseURL: srv.URL, Now: func() time.Time { return now }, Timeout: 5 * time.Second,
	}}
}

func TestPrepareCoinGeckoFetchCacheAndFill(t *testing.T) {
	ctx := context.Background()
	// Snapshots 2025-03-01 … 2025-04-01; the snapshots of 03-11 … 03-20 are
	// missing, so closes of 03-10 … 03-19 are missing (a 10-day gap).
	skip := map[time.Time]bool{}
	for s := d(3, 11); !s.After(d(3, 20)); s = s.AddDate(0, 0, 1) {
		skip[s] = true
	}
	e := newEnv(t, &gecko{first: d(3, 1), last: d(4, 1), skip: skip})

	// The range starts before the first close (02-28): no back-fill.
	st, err := prices.Prepare(ctx, e.conn, e.cfg, d(2, 25), d(3, 30))
	if err != nil {
		t.Fatal(err)
	}
	if !st.Available || !st.Refreshed || e.g.hits.Load() != 1 {
		t.Fatalf("status %+v, hits %d: want a fetch and prices", st, e.g.hits.Load())
	}
	q, _ := e.g.lastQuery.Load().(string)
	if !strings.Contains(q, "vs_currency=usd") || !strings.Contains(q, "interval=daily") || !strings.Contains(q, "days=37") {
		t.Errorf("query %q: want vs_currency=usd, interval=daily, days=37 (2025-02-25 to 2025-04-01 15:00 + 2)", q)
	}
	panel, err := prices.ReadPanel(ctx, e.conn)
	if err != nil {
		t.Fatal(err)
	}
	if len(panel) != 34 || !panel[0].Date.Equal(d(2, 25)) || !panel[33].Date.Equal(d(3, 30)) {
		t.Fatalf("panel has %d days %v..%v, want 34 days 2025-02-25..2025-03-30", len(panel), panel[0].Date, panel[len(panel)-1].Date)
	}
	byDay := map[time.Time]prices.Day{}
	for _, p := range panel {
		byDay[p.Date] = p
	}
	check := func(day time.Time, wantPrice float64, filled bool) {
		t.Helper()
		p := byDay[day]
		if wantPrice == 0 {
			if p.PriceUSD.Valid || p.IsFilled {
				t.Errorf("%s: price %v filled %v, want NULL", day.Format(time.DateOnly), p.PriceUSD, p.IsFilled)
			}
			return
		}
		if !p.PriceUSD.Valid || p.PriceUSD.Float64 != wantPrice || p.IsFilled != filled {
			t.Errorf("%s: price %v filled %v, want %v filled %v", day.Format(time.DateOnly), p.PriceUSD, p.IsFilled, wantPrice, filled)
		}
	}
	check(d(2, 25), 0, false)                   // before the first close: never back-filled
	check(d(2, 28), snapPrice(d(3, 1)), false)  // the 03-01 00:00 snapshot is the close of 02-28
	check(d(3, 9), snapPrice(d(3, 10)), false)  // last close before the gap
	check(d(3, 10), snapPrice(d(3, 10)), true)  // filled day 1
	check(d(3, 16), snapPrice(d(3, 10)), true)  // filled day 7
	check(d(3, 17), 0, false)                   // day 8: beyond the cap
	check(d(3, 20), snapPrice(d(3, 21)), false) // observed again
	check(d(3, 30), snapPrice(d(3, 31)), false) // the now point never became a price
	if st.Observed+st.Filled+st.Unpriced != 34 || st.Filled != 7 || st.Unpriced != 3+3 {
		t.Errorf("counts %+v: want 7 filled, 6 unpriced (3 before the first close, 3 past the cap)", st)
	}
	if !strings.Contains(st.Reason, "6 of 34 days") {
		t.Errorf("reason %q should say 6 of 34 days are unpriced", st.Reason)
	}

	// Stored rows: every observed close, with source and fetched_at.
	var n int
	var src string
	if err := e.conn.QueryRowContext(ctx, `SELECT count(*), any_value(source) FROM prices`).Scan(&n, &src); err != nil {
		t.Fatal(err)
	}
	if n != 32-10 || src != "coingecko" {
		t.Errorf("stored %d rows from %q, want 22 from coingecko", n, src)
	}

	// Same range again: the series covers it, so no request.
	if st, err = prices.Prepare(ctx, e.conn, e.cfg, d(2, 28), d(3, 30)); err != nil || st.Refreshed || e.g.hits.Load() != 1 {
		t.Fatalf("second run: status %+v err %v hits %d: want no request", st, err, e.g.hits.Load())
	}
	// A later end is stale: fetched again.
	if st, err = prices.Prepare(ctx, e.conn, e.cfg, d(2, 28), d(4, 1)); err != nil || !st.Refreshed || e.g.hits.Load() != 2 {
		t.Fatalf("stale run: status %+v err %v hits %d: want a request", st, err, e.g.hits.Load())
	}
	// force_refresh always fetches.
	cfg := e.cfg
	cfg.ForceRefresh = true
	if st, err = prices.Prepare(ctx, e.conn, cfg, d(2, 28), d(3, 30)); err != nil || !st.Refreshed || e.g.hits.Load() != 3 {
		t.Fatalf("forced run: status %+v err %v hits %d: want a request", st, err, e.g.hits.Load())
	}
}

func TestPrepareFailingOrMissingSourceLeavesUSDEmpty(t *testing.T) {
	ctx := context.Background()
	csvPath := filepath.Join(t.TempDir(), "bad.csv")
	os.WriteFile(csvPath, []byte("date,price_usd\n2025-03-01,oops\n"), 0o644)
	cases := []struct {
		name       string
		mutate     func(*env, *prices.Config)
		wantReason string
	}{
		{"http 429", func(e *env, c *prices.Config) { e.g.status = http.StatusTooManyRequests }, "HTTP 429 Too Many Requests"},
		{"none", func(e *env, c *prices.Config) { c.Source = prices.SourceNone }, "No price source"},
		{"empty source means none", func(e *env, c *prices.Config) { c.Source = "" }, "No price source"},
		{"unknown", func(e *env, c *prices.Config) { c.Source = "kraken" }, `Unknown price source "kraken"`},
		{"bad base url", func(e *env, c *prices.Config) { c.BaseURL = "::nope" }, "not an absolute URL"},
		{"unreachable", func(e *env, c *prices.Config) { c.BaseURL = "http://127.0.0.1:1" }, "(cannot reach 127.0.0.1:1 (connection refused: nothing listens there): check the network"},
		{"bad csv", func(e *env, c *prices.Config) { c.Source, c.CSVPath = prices.SourceCSV, csvPath }, "line 2: price_usd"},
		{"no prices in range", func(e *env, c *prices.Config) { e.g.first, e.g.last = d(1, 1), d(1, 5) }, "has no STX/USD price for 2025-03-01 to 2025-03-10"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, &gecko{first: d(2, 1), last: d(4, 1)})
			cfg := e.cfg
			tc.mutate(e, &cfg)
			st, err := prices.Prepare(ctx, e.conn, cfg, d(3, 1), d(3, 10))
			if err != nil {
				t.Fatalf("Prepare failed: %v (a price problem must not fail the build)", err)
			}
			if st.Available || !strings.Contains(st.Reason, tc.wantReason) {
				t.Fatalf("status %+v: want unavailable with reason containing %q", st, tc.wantReason)
			}
			panel, err := prices.ReadPanel(ctx, e.conn)
			if err != nil || len(panel) != 10 {
				t.Fatalf("panel %d rows err %v, want 10 empty days", len(panel), err)
			}
			for _, p := range panel {
				if p.PriceUSD.Valid {
					t.Fatalf("%s has price %v with an unavailable source", p.Date, p.PriceUSD)
				}
			}
		})
	}
}

// A failing refresh must not fall back to stale stored rows.
func TestPrepareFailureIgnoresStaleRows(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, &gecko{first: d(3, 1), last: d(3, 10)})
	if st, err := prices.Prepare(ctx, e.conn, e.cfg, d(3, 1), d(3, 8)); err != nil || !st.Available {
		t.Fatalf("first run: %+v %v", st, err)
	}
	e.g.status = http.StatusBadGateway
	st, err := prices.Prepare(ctx, e.conn, e.cfg, d(3, 1), d(3, 20))
	if err != nil || st.Available || !strings.Contains(st.Reason, "HTTP 502") {
		t.Fatalf("status %+v err %v: want unavailable because of HTTP 502", st, err)
	}
}

// Offline (BACKFILL_OFFLINE), CoinGecko is never asked: the stored series
// values what it covers, the page says why later days are unpriced, and an
// empty store leaves USD empty.
func TestPrepareOfflineSendsNoRequest(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, &gecko{first: d(3, 1), last: d(3, 10)})
	if st, err := prices.Prepare(ctx, e.conn, e.cfg, d(3, 1), d(3, 8)); err != nil || !st.Available || e.g.hits.Load() != 1 {
		t.Fatalf("online run: %+v %v, hits %d", st, err, e.g.hits.Load())
	}
	cfg := e.cfg
	cfg.Offline = true
	cfg.ForceRefresh = true // offline wins over force_refresh
	st, err := prices.Prepare(ctx, e.conn, cfg, d(3, 1), d(3, 20))
	if err != nil || e.g.hits.Load() != 1 {
		t.Fatalf("offline run: %v, hits %d: want no request", err, e.g.hits.Load())
	}
	// Closes stored up to 03-09; 03-10 … 03-16 are filled, 03-17 … 03-20 unpriced.
	if !st.Available || !st.NotFetched || st.Refreshed || st.Filled != 7 || st.Unpriced != 4 {
		t.Fatalf("offline status %+v: want the stored series, 7 filled and 4 unpriced days", st)
	}
	if !strings.HasPrefix(st.Reason, "BACKFILL_OFFLINE is set, so the coingecko price source was not asked") ||
		!strings.Contains(st.Reason, "4 of 20 days have no STX/USD price") {
		t.Fatalf("reason %q: want the offline note, then the unpriced days", st.Reason)
	}

	empty := newEnv(t, &gecko{first: d(3, 1), last: d(3, 10)})
	cfg = empty.cfg
	cfg.Offline = true
	st, err = prices.Prepare(ctx, empty.conn, cfg, d(3, 1), d(3, 5))
	if err != nil || empty.g.hits.Load() != 0 || st.Available || !strings.Contains(st.Reason, "was not asked") {
		t.Fatalf("offline, nothing stored: %+v %v, hits %d: want no request and no USD", st, err, empty.g.hits.Load())
	}
}

func TestPrepareCSV(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, &gecko{})
	path := filepath.Join(t.TempDir(), "prices.csv")
	os.WriteFile(path, []byte("date,price_usd\n2025-03-01,1.25\n2025-03-02,1.5\n2025-03-04,2\n"), 0o644)
	cfg := prices.Config{Source: prices.SourceCSV, CSVPath: path}
	st, err := prices.Prepare(ctx, e.conn, cfg, d(3, 1), d(3, 4))
	if err != nil || !st.Available || st.Stored != 3 || st.Filled != 1 || st.Reason != "" {
		t.Fatalf("status %+v err %v: want 3 stored, 1 filled, no reason", st, err)
	}
	panel, _ := prices.ReadPanel(ctx, e.conn)
	if p := panel[2]; !p.IsFilled || p.PriceUSD.Float64 != 1.5 || !p.SourceDate.Time.Equal(d(3, 2)) {
		t.Errorf("2025-03-03 = %+v, want 1.5 filled from 2025-03-02", p)
	}
	if e.g.hits.Load() != 0 {
		t.Error("csv source made an HTTP request")
	}
}

func TestFetchTimeout(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(block)
	_, err := prices.FetchCoinGecko(context.Background(), prices.Config{BaseURL: srv.URL, Timeout: 50 * time.Millisecond}, d(3, 1))
	host := strings.TrimPrefix(srv.URL, "http://")
	if err == nil || err.Error() != "cannot reach "+host+" (no answer in time): check the network, or set dashboards.prices.source to csv or none" {
		t.Fatalf("err = %v, want a timeout naming the host and the way out", err)
	}
	var herr *prices.HTTPError
	if errors.As(err, &herr) {
		t.Fatal("a timeout is not an HTTP status error")
	}
}
