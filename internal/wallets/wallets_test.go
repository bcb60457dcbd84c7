package wallets_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/stxwallets/walletcache/internal/chain"
	"github.com/stxwallets/walletcache/internal/wallets"
	"github.com/stxwallets/walletcache/internal/wallets/walletstest"
)

type fixture struct {
	db   *sql.DB
	conn *sql.Conn
	txs  []chain.Tx
	now  time.Time
}

// newFixture loads a generated chain into a scratch database. now is the
// clock: the day after the generator's last (partial) day unless today is set.
func newFixture(t *testing.T, cfg walletstest.Config, today bool) *fixture {
	t.Helper()
	ctx := context.Background()
	db := walletstest.NewDB(t)
	txs := walletstest.Generate(cfg)
	if err := walletstest.Load(ctx, db, txs); err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	last := cfg.Start.AddDate(0, 0, cfg.Days-1)
	now := last.Add(30 * time.Hour) // the last day is over
	if today {
		now = last.Add(12 * time.Hour) // the last day is today
	}
	return &fixture{db: db, conn: conn, txs: txs, now: now}
}

// testWindows are the value windows of tests that do not vary them.
var testWindows = []int{15, 30, 60, 90}

func (f *fixture) compute(t *testing.T, cfg wallets.Config) (wallets.Summary, wallets.Panels) {
	t.Helper()
	ctx := context.Background()
	cfg.Now = func() time.Time { return f.now }
	p, err := wallets.ResolvePeriod(ctx, f.conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := wallets.Compute(ctx, f.conn, p, cfg)
	if err != nil {
		t.Fatal(err)
	}
	panels, err := wallets.ReadPanels(ctx, f.conn, 0)
	if err != nil {
		t.Fatal(err)
	}
	return s, panels
}

func TestMetricsMatchIndependentReference(t *testing.T) {
	for _, tc := range []struct {
		name    string
		today   bool // the generator's last day is "today" (partial)
		maxDays int
	}{
		{"last day is today", true, 0},
		{"last day is over", false, 0},
		{"wallet_max_days 100", true, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gen := walletstest.Small(7)
			f := newFixture(t, gen, tc.today)
			windows := []int{15, 30, 60, 90}
			s, panels := f.compute(t, wallets.Config{Windows: windows, MaxDays: tc.maxDays})

			end := walletstest.DataEnd(f.txs, f.now)
			start := gen.Start
			if tc.maxDays > 0 {
				start = end.AddDate(0, 0, -(tc.maxDays - 1))
			}
			if !s.Period.DataEndDate.Equal(end) || !s.Period.HistoryStart.Equal(start) {
				t.Fatalf("period %s..%s, want %s..%s", s.Period.HistoryStart, s.Period.DataEndDate, start, end)
			}
			ref := walletstest.Compute(f.txs, start, end, windows)

			if got, want := s.ActiveWallets, int64(len(ref.FirstSeen)); got != want {
				t.Errorf("active wallets = %d, want %d", got, want)
			}
			if got, want := s.Wallets, int64(len(ref.FirstSeen)+len(ref.ReceiveOnly)); got != want {
				t.Errorf("first-seen rows = %d, want %d", got, want)
			}
			if s.UserTxs != ref.UserTxs {
				t.Errorf("user txs = %d, want %d", s.UserTxs, ref.UserTxs)
			}
			checkFirstTxs(t, s, panels.Acquisition, ref)
			checkDaily(t, panels.Daily, ref)
			checkCohorts(t, panels.Cohorts, ref)
			checkValues(t, panels.Values, ref, windows)
			checkFunnels(t, panels.Funnel, ref)
		})
	}
}

// checkFirstTxs compares what is counted from each wallet's first tx (the
// summary's nonce and history-start counts, the acquisition panel) with the
// reference's first txs.
func checkFirstTxs(t *testing.T, s wallets.Summary, acq []wallets.AcquisitionRow, ref *walletstest.Reference) {
	t.Helper()
	var nonce, near int64
	type entry struct{ txType, contract, function string }
	want := map[entry]int64{}
	for _, tx := range ref.FirstTx {
		if tx.Nonce > 0 {
			nonce++
		}
		if tx.BlockTime.Before(ref.HistoryStart.AddDate(0, 0, 30)) {
			near++
		}
		contract := tx.ContractCallContractID
		if contract == "" {
			contract = tx.SmartContractContractID
		}
		want[entry{tx.TxType, contract, tx.ContractCallFunctionName}]++
	}
	if s.NonceAboveZero != nonce || s.NearHistoryStart != near {
		t.Errorf("first txs with nonce > 0 = %d, near history start = %d; want %d, %d", s.NonceAboveZero, s.NearHistoryStart, nonce, near)
	}
	got := map[entry]int64{}
	for _, a := range acq {
		got[entry{a.TxType, a.ContractID.String, a.FunctionName.String}] = a.Wallets
		if wantShare := float64(a.Wallets) / float64(len(ref.FirstTx)); math.Abs(a.Share-wantShare) > 1e-12 {
			t.Errorf("acquisition %v share = %v, want %v", a, a.Share, wantShare)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("acquisition = %v, want %v", got, want)
	}
}

func checkDaily(t *testing.T, rows []wallets.DailyRow, ref *walletstest.Reference) {
	t.Helper()
	dates := ref.Dates()
	if len(rows) != len(dates) {
		t.Fatalf("daily rows = %d, want %d (one per day %s..%s)", len(rows), len(dates), ref.HistoryStart, ref.DataEnd)
	}
	var cum int64
	for i, r := range rows {
		want := ref.Daily[dates[i]]
		cum += want.New
		got := walletstest.RefDay{Active: r.ActiveWallets, New: r.NewWallets, Returning: r.ReturningWallets, WAU: r.WAU7d, MAU: r.MAU30d}
		if !r.Date.Equal(dates[i]) || got != want || r.CumulativeWallets != cum {
			t.Fatalf("day %s: got %+v cum %d, want %s %+v cum %d", r.Date.Format(time.DateOnly), got,
				r.CumulativeWallets, dates[i].Format(time.DateOnly), want, cum)
		}
		if r.FeesMicro != fmt.Sprint(ref.DailyFeesSum[dates[i]]) {
			t.Fatalf("day %s: fees %s µSTX, want %d", r.Date.Format(time.DateOnly), r.FeesMicro, ref.DailyFeesSum[dates[i]])
		}
		if r.ActiveSuccessOnly > r.ActiveWallets {
			t.Fatalf("day %s: success-only active %d > active %d", r.Date.Format(time.DateOnly), r.ActiveSuccessOnly, r.ActiveWallets)
		}
	}
	if cum == 0 {
		t.Fatal("reference has no new wallets; the fixture is too small to test anything")
	}
}

func checkCohorts(t *testing.T, cells []wallets.CohortCell, ref *walletstest.Reference) {
	t.Helper()
	seen := map[time.Time]bool{}
	observed := 0
	for _, c := range cells {
		if c.CohortWeek.Weekday() != time.Monday {
			t.Fatalf("cohort %s is not a Monday", c.CohortWeek)
		}
		want, ok := ref.CohortSizes[c.CohortWeek]
		if !ok {
			t.Fatalf("cohort %s should have been dropped (incomplete or empty)", c.CohortWeek.Format(time.DateOnly))
		}
		if c.CohortSize != want {
			t.Fatalf("cohort %s size %d, want %d", c.CohortWeek.Format(time.DateOnly), c.CohortSize, want)
		}
		seen[c.CohortWeek] = true
		cellEnd := c.CohortWeek.AddDate(0, 0, 7*c.WeekIndex+6)
		if cellEnd.After(ref.DataEnd) {
			if c.Active.Valid || c.Retention.Valid {
				t.Fatalf("cohort %s week %d ends %s after data end %s but is not NULL", c.CohortWeek.Format(time.DateOnly),
					c.WeekIndex, cellEnd.Format(time.DateOnly), ref.DataEnd.Format(time.DateOnly))
			}
			continue
		}
		observed++
		wantActive := ref.Retention[c.CohortWeek][c.WeekIndex]
		if !c.Active.Valid || c.Active.Int64 != wantActive {
			t.Fatalf("cohort %s week %d active %v, want %d", c.CohortWeek.Format(time.DateOnly), c.WeekIndex, c.Active, wantActive)
		}
		if c.Retention.Float64 != float64(wantActive)/float64(want) {
			t.Fatalf("cohort %s week %d retention %v, want %d/%d", c.CohortWeek.Format(time.DateOnly), c.WeekIndex, c.Retention.Float64, wantActive, want)
		}
		if c.WeekIndex == 0 && c.Retention.Float64 != 1 {
			t.Fatalf("cohort %s week 0 retention %v, want 1", c.CohortWeek.Format(time.DateOnly), c.Retention.Float64)
		}
	}
	if len(seen) != len(ref.CohortSizes) {
		t.Fatalf("%d cohorts, want %d", len(seen), len(ref.CohortSizes))
	}
	if observed < 20 {
		t.Fatalf("only %d observed retention cells; fixture too small", observed)
	}
}

func checkValues(t *testing.T, vs []wallets.ValueWindow, ref *walletstest.Reference, windows []int) {
	t.Helper()
	if len(vs) != len(windows) {
		t.Fatalf("%d value windows, want %d", len(vs), len(windows))
	}
	prev := int64(math.MaxInt64)
	for i, v := range vs {
		n := windows[i]
		if v.WindowDays != n || v.EligibleWallets != ref.Eligible[n] || v.CensoredWallets != ref.Censored[n] {
			t.Fatalf("window %d: eligible %d censored %d, want window %d eligible %d censored %d",
				v.WindowDays, v.EligibleWallets, v.CensoredWallets, n, ref.Eligible[n], ref.Censored[n])
		}
		if v.Wallets != v.EligibleWallets+v.CensoredWallets {
			t.Fatalf("window %d: wallets %d != eligible+censored", n, v.Wallets)
		}
		if v.EligibleWallets > prev {
			t.Fatalf("window %d: eligible wallets grew from %d to %d", n, prev, v.EligibleWallets)
		}
		prev = v.EligibleWallets
		if v.EligibleWallets == 0 {
			if v.FeesSTXMean.Valid {
				t.Fatalf("window %d: mean %v with no eligible wallet", n, v.FeesSTXMean)
			}
			continue
		}
		want := float64(ref.FeesMicro[n]) / float64(ref.Eligible[n]) / 1e6
		if !v.FeesSTXMean.Valid || v.FeesSTXMean.Float64 != want {
			t.Fatalf("window %d: fees mean %v STX, want %v", n, v.FeesSTXMean, want)
		}
		if v.FeesUSDMean.Valid || v.TxsMissingPrice.Valid || v.STXSentUSDMean.Valid {
			t.Fatalf("window %d: USD values without prices: %+v", n, v)
		}
		if !(v.FeesSTXMedian.Float64 <= v.FeesSTXP90.Float64) {
			t.Fatalf("window %d: median %v > p90 %v", n, v.FeesSTXMedian, v.FeesSTXP90)
		}
	}
	if ref.Eligible[15] == 0 || ref.Censored[90] == 0 {
		t.Fatal("fixture must have eligible 15-day and censored 90-day wallets")
	}
}

func checkFunnels(t *testing.T, steps []wallets.FunnelStep, ref *walletstest.Reference) {
	t.Helper()
	want := map[string][]int64{
		"activation_depth_30d": ref.Activation[:],
		"active_strict_90d":    ref.Strict[:],
		"active_bracket_90d":   ref.Bracket[:],
	}
	got := map[string][]int64{}
	for _, s := range steps {
		if s.StepOrder != len(got[s.Funnel]) {
			t.Fatalf("funnel %s: step %d out of order", s.Funnel, s.StepOrder)
		}
		got[s.Funnel] = append(got[s.Funnel], s.Wallets)
		if s.EligibleWallets != want[s.Funnel][0] {
			t.Fatalf("funnel %s step %d: eligible %d, want %d", s.Funnel, s.StepOrder, s.EligibleWallets, want[s.Funnel][0])
		}
		switch {
		case s.StepOrder == 0 && s.ConversionFromPrevious.Valid:
			t.Fatalf("funnel %s step 0 has a conversion from previous", s.Funnel)
		case s.Funnel == "active_bracket_90d" && s.ConversionFromPrevious.Valid:
			t.Fatalf("bracket retention is not a funnel but has conversion_from_previous")
		}
	}
	for name, w := range want {
		if fmt.Sprint(got[name]) != fmt.Sprint(w) {
			t.Errorf("funnel %s = %v, want %v", name, got[name], w)
		}
		for i := 1; name != "active_bracket_90d" && i < len(got[name]); i++ {
			if got[name][i] > got[name][i-1] {
				t.Errorf("funnel %s grows at step %d: %v", name, i, got[name])
			}
		}
	}
	if ref.Activation[0] == 0 || ref.Strict[0] == 0 || ref.Activation[1] == 0 {
		t.Fatal("fixture must have wallets eligible for both funnels")
	}
}

func TestValueWindowsWithPrices(t *testing.T) {
	ctx := context.Background()
	gen := walletstest.Small(11)
	f := newFixture(t, gen, false)
	// Price every day except the first ten (missing: counted, valued 0).
	_, err := f.conn.ExecContext(ctx, `
CREATE TEMP TABLE test_prices AS
SELECT range::DATE AS price_date, 0.5 + (hash(range) % 1000) / 1000.0 AS price_usd
FROM range(DATE '2025-01-11', DATE '2025-12-31', INTERVAL 1 DAY)`)
	if err != nil {
		t.Fatal(err)
	}
	prices := map[time.Time]float64{}
	rows, err := f.conn.QueryContext(ctx, `SELECT strftime(price_date, '%Y-%m-%d'), price_usd FROM test_prices`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var d string
		var p float64
		if err := rows.Scan(&d, &p); err != nil {
			t.Fatal(err)
		}
		day, _ := time.Parse(time.DateOnly, d)
		prices[day] = p
	}
	rows.Close()

	s, panels := f.compute(t, wallets.Config{Windows: []int{30}, PriceTable: "test_prices"})
	ref := walletstest.Compute(f.txs, s.Period.HistoryStart, s.Period.DataEndDate, []int{30})

	// Independent USD: each tx valued at its own day's price, per eligible wallet.
	var usd float64
	var missing int64
	for _, tx := range f.txs {
		fs, ok := ref.FirstSeen[tx.SenderAddress]
		d := tx.BlockTime.UTC().Truncate(24 * time.Hour)
		if !ok || tx.TxType == "coinbase" || tx.TxType == "tenure_change" || d.After(ref.DataEnd) {
			continue
		}
		fsd := fs.UTC().Truncate(24 * time.Hour)
		if fsd.AddDate(0, 0, 29).After(ref.DataEnd) || d.Sub(fsd) >= 30*24*time.Hour {
			continue
		}
		if p, ok := prices[d]; ok {
			usd += float64(tx.FeeRate) / 1e6 * p
		} else {
			missing++
		}
	}
	v := panels.Values[0]
	want := usd / float64(ref.Eligible[30])
	if !v.FeesUSDMean.Valid || math.Abs(v.FeesUSDMean.Float64-want) > 1e-9*want {
		t.Errorf("fees_usd_mean = %v, want %v", v.FeesUSDMean, want)
	}
	if !v.TxsMissingPrice.Valid || v.TxsMissingPrice.Int64 != missing || missing == 0 {
		t.Errorf("txs_missing_price = %v, want %d (> 0)", v.TxsMissingPrice, missing)
	}
	if !v.STXSentUSDMean.Valid || !v.FeesUSDMedian.Valid {
		t.Errorf("USD columns missing with prices: %+v", v)
	}
}

func TestResolvePeriod(t *testing.T) {
	ctx := context.Background()
	day := func(m time.Month, d int) time.Time { return walletstest.Date(2025, m, d) }
	tx := func(at time.Time) chain.Tx {
		return chain.Tx{TxID: at.String(), TxType: "token_transfer", TxStatus: "success", BlockTime: at, BlockHash: "0x01",
			BurnBlockTime: at, SenderAddress: "SP1", TokenTransferRecipientAddress: "SP2", Canonical: true}
	}
	cases := []struct {
		name            string
		first, last     time.Time // block times loaded
		now             time.Time
		maxDays         int
		wantStart       time.Time
		wantEnd         time.Time
		wantLastFullWk  time.Time
		wantErrNoData   bool
		wantErrContains string
	}{
		{name: "newest day is today: dropped", first: day(3, 3).Add(5 * time.Hour), last: day(3, 20).Add(time.Hour),
			now: day(3, 20).Add(2 * time.Hour), wantStart: day(3, 3), wantEnd: day(3, 19), wantLastFullWk: day(3, 10)},
		{name: "newest day is over: kept", first: day(3, 3), last: day(3, 16).Add(23 * time.Hour),
			now: day(3, 20), wantStart: day(3, 3), wantEnd: day(3, 16), wantLastFullWk: day(3, 10)},
		{name: "clock behind the data", first: day(3, 3), last: day(3, 16),
			now: day(3, 10).Add(time.Hour), wantStart: day(3, 3), wantEnd: day(3, 9), wantLastFullWk: day(3, 3)},
		{name: "max days cuts the start", first: day(1, 1), last: day(3, 16),
			now: day(4, 1), maxDays: 10, wantStart: day(3, 7), wantEnd: day(3, 16), wantLastFullWk: day(3, 10)},
		{name: "max days longer than history", first: day(3, 1), last: day(3, 16),
			now: day(4, 1), maxDays: 365, wantStart: day(3, 1), wantEnd: day(3, 16), wantLastFullWk: day(3, 10)},
		{name: "only today", first: day(3, 20).Add(time.Hour), last: day(3, 20).Add(2 * time.Hour),
			now: day(3, 20).Add(3 * time.Hour), wantErrNoData: true},
		{name: "negative max days", first: day(3, 1), last: day(3, 2), now: day(4, 1), maxDays: -1,
			wantErrContains: "wallet_max_days"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db := walletstest.NewDB(t)
			if err := walletstest.Load(ctx, db, []chain.Tx{tx(tc.first), tx(tc.last)}); err != nil {
				t.Fatal(err)
			}
			p, err := wallets.ResolvePeriod(ctx, db, wallets.Config{Windows: testWindows, MaxDays: tc.maxDays, Now: func() time.Time { return tc.now }})
			switch {
			case tc.wantErrNoData:
				if !errors.Is(err, wallets.ErrNoData) {
					t.Fatalf("err = %v, want ErrNoData", err)
				}
				return
			case tc.wantErrContains != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErrContains) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.wantErrContains)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if !p.HistoryStart.Equal(tc.wantStart) || !p.DataEndDate.Equal(tc.wantEnd) || !p.LastFullWeek.Equal(tc.wantLastFullWk) {
				t.Errorf("period = %s..%s last full week %s, want %s..%s / %s",
					p.HistoryStart.Format(time.DateOnly), p.DataEndDate.Format(time.DateOnly), p.LastFullWeek.Format(time.DateOnly),
					tc.wantStart.Format(time.DateOnly), tc.wantEnd.Format(time.DateOnly), tc.wantLastFullWk.Format(time.DateOnly))
			}
		})
	}
}

func TestResolvePeriodEmptyTable(t *testing.T) {
	db := walletstest.NewDB(t)
	_, err := wallets.ResolvePeriod(context.Background(), db, wallets.Config{Windows: testWindows})
	if !errors.Is(err, wallets.ErrNoData) {
		t.Fatalf("err = %v, want ErrNoData", err)
	}
}

func TestConfigValidation(t *testing.T) {
	db := walletstest.NewDB(t)
	for _, ws := range [][]int{nil, {0}, {15, -3}, {4000}} {
		if _, err := wallets.ResolvePeriod(context.Background(), db, wallets.Config{Windows: ws}); err == nil ||
			!strings.Contains(err.Error(), "value window") {
			t.Errorf("windows %v: err = %v, want a value window error", ws, err)
		}
	}
}

func TestFormatMicroSTX(t *testing.T) {
	for in, want := range map[string]string{
		"0": "0.000000", "1": "0.000001", "999999": "0.999999", "1000000": "1.000000",
		"123456789": "123.456789", "-5": "-0.000005", "1152921504606846976": "1152921504606.846976",
		"": "",
	} {
		if got := wallets.FormatMicroSTX(in); got != want {
			t.Errorf("FormatMicroSTX(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestComputeTwiceReplacesTables guards the CREATE OR REPLACE semantics: a
// second Compute on the same connection (as a long-lived process would do)
// must not fail or mix results.
func TestComputeTwiceReplacesTables(t *testing.T) {
	f := newFixture(t, walletstest.Small(3), false)
	_, p1 := f.compute(t, wallets.Config{Windows: testWindows})
	_, p2 := f.compute(t, wallets.Config{Windows: testWindows, MaxDays: 40})
	if len(p2.Daily) != 40 || len(p1.Daily) <= 40 {
		t.Fatalf("daily rows %d then %d, want >40 then 40", len(p1.Daily), len(p2.Daily))
	}
	if err := wallets.Drop(context.Background(), f.conn); err != nil {
		t.Fatal(err)
	}
	if _, err := wallets.ReadPanels(context.Background(), f.conn, 0); err == nil {
		t.Fatal("panels still readable after Drop")
	}
}

// TestStringKeysMatchHashKeys proves the fallback path (string wallet keys,
// taken when two principals share a hash) builds the same tables as the
// hash-key path every build normally takes: the panels and every
// first-seen column.
func TestStringKeysMatchHashKeys(t *testing.T) {
	f := newFixture(t, walletstest.Small(11), false)
	ctx := context.Background()
	firstSeen := func() string {
		var s string
		err := f.conn.QueryRowContext(ctx, `
SELECT md5(string_agg(x::VARCHAR, '|' ORDER BY x.wallet))
FROM (SELECT * EXCLUDE (wid, _bad_pick) FROM first_seen_wallets) x`).Scan(&s)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	cfg := wallets.Config{Windows: testWindows, MaxDays: 60}
	_, hashPanels := f.compute(t, cfg)
	hashFirst := firstSeen()
	for _, tc := range []struct {
		name  string
		setup func(testing.TB)
	}{
		{"string keys", wallets.UseStringKeys},
		// Shared hashes must be detected, whichever check sees them first.
		{"10-bit keys", func(t testing.TB) { wallets.CollideKeys(t, 10) }},
		{"1-bit keys", func(t testing.TB) { wallets.CollideKeys(t, 1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.setup(t)
			_, panels := f.compute(t, cfg)
			if got := firstSeen(); got != hashFirst {
				t.Errorf("first_seen_wallets differ from the hash-key build")
			}
			if fmt.Sprint(panels) != fmt.Sprint(hashPanels) {
				t.Errorf("panels differ from the hash-key build:\n%v\n%v", panels, hashPanels)
			}
		})
	}
}
