package dashboard_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stxwallets/walletcache/internal/chain"
	"github.com/stxwallets/walletcache/internal/dashboard"
	"github.com/stxwallets/walletcache/internal/hirosim"
	"github.com/stxwallets/walletcache/internal/prices"
	"github.com/stxwallets/walletcache/internal/wallets"
	"github.com/stxwallets/walletcache/internal/wallets/walletstest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

var windows = []int{15, 30, 60, 90}

// simChain is a hostile 150-day hirosim chain whose last day is "today".
func simChain(t testing.TB, seed int64) ([]chain.Tx, time.Time) {
	t.Helper()
	now := time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)
	var txs []chain.Tx
	hirosim.Generate(hirosim.Config{Seed: seed, Now: now, History: 150 * 24 * time.Hour, TxPerTenure: 1.5, Hostile: true},
		func(tx chain.Tx) bool { txs = append(txs, tx); return true })
	if len(txs) < 10000 {
		t.Fatalf("hirosim generated only %d txs", len(txs))
	}
	return txs, now
}

func day(t time.Time) time.Time { return t.UTC().Truncate(24 * time.Hour) }

// TestBuildMatchesIndependentReference builds the dashboards from a
// simulated chain and checks the panel files against metrics computed in Go
// straight from the same rows.
func TestBuildMatchesIndependentReference(t *testing.T) {
	txs, now := simChain(t, 42)
	db := loadChain(t, txs)
	first := day(txs[0].BlockTime)
	// Snapshots for every day but a 3-day hole (closes of first+39 … first+41).
	skip := map[time.Time]bool{}
	for i := 40; i < 43; i++ {
		skip[first.AddDate(0, 0, i)] = true
	}
	srv := newGecko(t, first.AddDate(0, 0, -5), day(now), skip)
	out := t.TempDir()
	res, err := dashboard.Build(context.Background(), db, dashboard.Options{
		Dir: out, FirstSeenParquet: filepath.Join(out, "cache", "first_seen_wallets.parquet"),
		Windows: windows, Now: func() time.Time { return now },
		Prices: prices.Config{Source: prices.SourceCoinGecko, BaseURL: srv.URL},
	})
	if err != nil {
		t.Fatal(err)
	}
	end := walletstest.DataEnd(txs, now)
	if !res.Period.DataEndDate.Equal(end) || !res.Period.HistoryStart.Equal(first) || !end.Equal(day(now).AddDate(0, 0, -1)) {
		t.Fatalf("period %s..%s, want %s..%s", res.Period.HistoryStart, res.Period.DataEndDate, first, end)
	}
	ref := walletstest.Compute(txs, first, end, windows)

	if got, want := res.ParquetRows, int64(len(ref.FirstSeen)+len(ref.ReceiveOnly)); got != want {
		t.Errorf("parquet rows = %d, want %d", got, want)
	}
	if _, err := os.Stat(res.FirstSeenParquet); err != nil {
		t.Errorf("parquet: %v", err)
	}
	for _, name := range panelNames {
		pf, ok := panel(res, name)
		if !ok {
			t.Fatalf("no panel %s in result", name)
		}
		_, rows := readCSV(t, pf.Path)
		if len(rows) != pf.Rows || len(rows) == 0 {
			t.Errorf("panel %s: %d rows in file, %d reported", name, len(rows), pf.Rows)
		}
	}

	// Daily wallets.
	_, daily := readCSV(t, filepath.Join(out, "panels", "daily_wallets.csv"))
	dates := ref.Dates()
	if len(daily) != len(dates) {
		t.Fatalf("daily rows %d, want %d", len(daily), len(dates))
	}
	var cum int64
	for i, r := range daily {
		w := ref.Daily[dates[i]]
		cum += w.New
		want := fmt.Sprintf("%s %d %d %d %d %d %d", dates[i].Format(time.DateOnly), w.Active, w.New, w.Returning, cum, w.WAU, w.MAU)
		got := strings.Join([]string{r["date"], r["active_wallets"], r["new_wallets"], r["returning_wallets"], r["cumulative_wallets"], r["wau_7d"], r["mau_30d"]}, " ")
		if got != want {
			t.Fatalf("daily row %d = %s, want %s", i, got, want)
		}
		if r["fees_stx"] != wallets.FormatMicroSTX(strconv.FormatUint(ref.DailyFeesSum[dates[i]], 10)) {
			t.Fatalf("%s fees_stx %s, want %d µSTX", r["date"], r["fees_stx"], ref.DailyFeesSum[dates[i]])
		}
	}

	// Cohort sizes and observed cells.
	_, cohorts := readCSV(t, filepath.Join(out, "panels", "cohort_retention.csv"))
	sizes := map[time.Time]int64{}
	for _, r := range cohorts {
		c, _ := time.Parse(time.DateOnly, r["cohort_week"])
		k, _ := strconv.Atoi(r["week_index"])
		sizes[c], _ = strconv.ParseInt(r["cohort_size"], 10, 64)
		if c.AddDate(0, 0, 7*k+6).After(end) {
			if r["active_wallets"] != "" || r["retention"] != "" {
				t.Fatalf("unobserved cell %v week %d not empty: %v", c, k, r)
			}
			continue
		}
		if want := strconv.FormatInt(ref.Retention[c][k], 10); r["active_wallets"] != want {
			t.Fatalf("cohort %s week %d active %s, want %s", r["cohort_week"], k, r["active_wallets"], want)
		}
	}
	if fmt.Sprint(sizes) != fmt.Sprint(ref.CohortSizes) || len(sizes) < 15 {
		t.Errorf("cohort sizes %v, want %v", sizes, ref.CohortSizes)
	}

	// Value-window eligibility.
	_, vws := readCSV(t, filepath.Join(out, "panels", "value_windows.csv"))
	for i, r := range vws {
		n := windows[i]
		want := fmt.Sprintf("%d %d %d", n, ref.Eligible[n], ref.Censored[n])
		if got := r["window_days"] + " " + r["eligible_wallets"] + " " + r["censored_wallets"]; got != want {
			t.Errorf("value window = %s, want %s", got, want)
		}
		if r["fees_usd_mean"] == "" || r["txs_missing_price"] == "" {
			t.Errorf("window %d: USD columns empty although prices are available: %v", n, r)
		}
	}

	// Funnels.
	_, steps := readCSV(t, filepath.Join(out, "panels", "funnel.csv"))
	got := map[string][]string{}
	for _, r := range steps {
		got[r["funnel"]] = append(got[r["funnel"]], r["wallets"])
	}
	for name, want := range map[string][]int64{
		"activation_depth_30d": ref.Activation[:], "active_strict_90d": ref.Strict[:], "active_bracket_90d": ref.Bracket[:],
	} {
		if strings.Join(got[name], " ") != strings.Trim(fmt.Sprint(want), "[]") {
			t.Errorf("funnel %s = %v, want %v", name, got[name], want)
		}
	}

	// Prices: one row per day of the data, the hole forward-filled.
	_, ps := readCSV(t, filepath.Join(out, "panels", "prices.csv"))
	if len(ps) != len(dates) {
		t.Fatalf("prices rows %d, want %d", len(ps), len(dates))
	}
	for i, r := range ps {
		d := dates[i]
		filled := skip[d.AddDate(0, 0, 1)]
		want := strconv.FormatFloat(geckoPrice(d.AddDate(0, 0, 1)), 'f', -1, 64)
		if filled {
			want = strconv.FormatFloat(geckoPrice(first.AddDate(0, 0, 39)), 'f', -1, 64) // close of first+38
		}
		if r["date"] != d.Format(time.DateOnly) || r["price_usd"] != want || r["is_filled"] != strconv.FormatBool(filled) {
			t.Fatalf("prices row %v, want %s %s filled=%v", r, d.Format(time.DateOnly), want, filled)
		}
	}
}

// tinyChain is the golden-file chain: small, hostile, from the package's
// own generator so the goldens only change when this package does.
func tinyChain() ([]chain.Tx, walletstest.Config) {
	cfg := walletstest.Config{Seed: 20250101, Start: walletstest.Date(2025, 1, 6), Days: 110, Wallets: 260,
		LastDayHours: 6, Hostile: true, PreexistingShare: 0.1}
	return walletstest.Generate(cfg), cfg
}

func goldenOptions(t *testing.T, cfg walletstest.Config, out string) dashboard.Options {
	last := cfg.Start.AddDate(0, 0, cfg.Days-1)
	now := last.Add(8 * time.Hour)
	skip := map[time.Time]bool{}
	for i := 50; i < 60; i++ { // a 10-day hole: 7 filled days, then 3 without a price
		skip[cfg.Start.AddDate(0, 0, i)] = true
	}
	srv := newGecko(t, cfg.Start, last, skip)
	return dashboard.Options{
		Dir: out, FirstSeenParquet: filepath.Join(out, "first_seen_wallets.parquet"), Windows: windows, Now: func() time.Time { return now },
		BuiltAt: time.Date(2025, 4, 25, 8, 15, 0, 0, time.UTC),
		Coverage: dashboard.Coverage{Known: true, Percent: 98.6, TargetDays: 365, MissingRanges: []dashboard.Range{
			{Start: time.Date(2025, 2, 3, 4, 0, 0, 0, time.UTC), End: time.Date(2025, 2, 3, 9, 30, 0, 0, time.UTC)},
		}},
		Prices: prices.Config{Source: prices.SourceCoinGecko, BaseURL: srv.URL},
	}
}

// TestGolden pins the rendered page and every panel file. Run with -update
// after an intended change and review the diff.
func TestGolden(t *testing.T) {
	txs, cfg := tinyChain()
	db := loadChain(t, txs)
	out := t.TempDir()
	res, err := dashboard.Build(context.Background(), db, goldenOptions(t, cfg, out))
	if err != nil {
		t.Fatal(err)
	}
	files := []string{dashboard.IndexFile}
	for _, p := range res.Panels {
		files = append(files, filepath.Join("panels", p.Name+".csv"))
	}
	for _, f := range files {
		got, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		golden := filepath.Join("testdata", "golden", f)
		if *update {
			os.MkdirAll(filepath.Dir(golden), 0o755)
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s: %s (run with -update if intended)", f, golden, firstDiff(got, want))
		}
	}
}

func firstDiff(got, want []byte) string {
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(gl) && i < len(wl); i++ {
		if gl[i] != wl[i] {
			return fmt.Sprintf("line %d:\n got: %.300s\nwant: %.300s", i+1, gl[i], wl[i])
		}
	}
	return fmt.Sprintf("got %d lines, want %d", len(gl), len(wl))
}

// TestDeterministic builds twice from the same database and compares every
// byte, including the parquet file.
func TestDeterministic(t *testing.T) {
	txs, cfg := tinyChain()
	db := loadChain(t, txs)
	var outs [2]string
	for i := range outs {
		outs[i] = t.TempDir()
		if _, err := dashboard.Build(context.Background(), db, goldenOptions(t, cfg, outs[i])); err != nil {
			t.Fatal(err)
		}
	}
	err := filepath.Walk(outs[0], func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(outs[0], path)
		a, _ := os.ReadFile(path)
		b, err := os.ReadFile(filepath.Join(outs[1], rel))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs between two builds (%v)", rel, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestHostileStringsEscaped: contract ids, function names and memos carry
// HTML and script; the page must show them as text, never as markup, and the
// CSV must carry them verbatim.
func TestHostileStringsEscaped(t *testing.T) {
	txs, cfg := tinyChain()
	db := loadChain(t, txs)
	out := t.TempDir()
	if _, err := dashboard.Build(context.Background(), db, goldenOptions(t, cfg, out)); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(out, dashboard.IndexFile))
	if err != nil {
		t.Fatal(err)
	}
	html := string(page)
	if n := strings.Count(strings.ToLower(html), "<script"); n != 1 {
		t.Errorf("%d <script> tags, want exactly the page's own one", n)
	}
	for _, raw := range []string{walletstest.HostileContractID, walletstest.HostileFunction, walletstest.HostileMemo,
		"<img", `alert("cid")</script>`, "</title><script"} {
		if strings.Contains(html, raw) {
			t.Errorf("page contains the raw hostile string %q", raw)
		}
	}
	// They are there, escaped: the acquisition table shows the top entry points.
	for _, esc := range []string{
		`SP3FBR2AGK5H9QBDH3EEN6DF8EK8JY7RX8QJ5SVTE.&lt;script&gt;alert(&#34;cid&#34;)&lt;/script&gt;`,
		`&#34;&gt;&lt;img src=x onerror=alert(&#39;fn&#39;)&gt;`,
	} {
		if !strings.Contains(html, esc) {
			t.Errorf("page does not show the escaped form %q", esc)
		}
	}
	_, acq := readCSV(t, filepath.Join(out, "panels", "acquisition.csv"))
	var sawContract, sawFn bool
	for _, r := range acq {
		sawContract = sawContract || r["first_contract_id"] == walletstest.HostileContractID
		sawFn = sawFn || r["first_function_name"] == walletstest.HostileFunction
	}
	if !sawContract || !sawFn {
		t.Errorf("acquisition.csv lost the hostile strings (contract %v, function %v)", sawContract, sawFn)
	}
}

// TestHostileSimulatorChain runs the escaping checks on hirosim's own
// hostile strings too (quotes and attributes, not only tags).
func TestHostileSimulatorChain(t *testing.T) {
	txs, now := simChain(t, 7)
	db := loadChain(t, txs)
	out := t.TempDir()
	if _, err := dashboard.Build(context.Background(), db, dashboard.Options{Dir: out, FirstSeenParquet: filepath.Join(out, "first_seen_wallets.parquet"),
		Windows: windows, Now: func() time.Time { return now }, TopAcquisition: 200}); err != nil {
		t.Fatal(err)
	}
	page, _ := os.ReadFile(filepath.Join(out, dashboard.IndexFile))
	html := string(page)
	if n := strings.Count(strings.ToLower(html), "<script"); n != 1 {
		t.Errorf("%d <script> tags, want 1", n)
	}
	for _, raw := range []string{`"onmouseover="`, "<i>c</i>", "<script>alert(1)"} {
		if strings.Contains(html, raw) {
			t.Errorf("page contains the raw hostile string %q", raw)
		}
	}
	if !strings.Contains(html, "&lt;script&gt;alert(1)&lt;/script&gt;") && !strings.Contains(html, "&lt;i&gt;c&lt;/i&gt;") &&
		!strings.Contains(html, "onmouseover=&#34;") {
		t.Error("no hostile simulator string reached the page; the test checks nothing")
	}
}

// TestSelfContained: nothing on the page refers to anything outside it.
func TestSelfContained(t *testing.T) {
	txs, cfg := tinyChain()
	db := loadChain(t, txs)
	out := t.TempDir()
	if _, err := dashboard.Build(context.Background(), db, goldenOptions(t, cfg, out)); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(out, dashboard.IndexFile))
	if err != nil {
		t.Fatal(err)
	}
	html := strings.ToLower(string(page))
	// Escaped text never holds a raw "<", so outside <script> and <style>
	// every "<" opens real markup: check the tags, not the (escaped) chain text.
	body := regexp.MustCompile(`(?s)<(script|style)>.*?</(script|style)>`).ReplaceAllString(html, "")
	for _, tag := range regexp.MustCompile(`<[^>]*>`).FindAllString(body, -1) {
		for _, re := range []string{`\ssrc\s*=`, `\shref\s*=`, `url\(`, `^<(link|iframe|img|object|embed|image|use|a|form|base|audio|video|source)\b`, `https?:`, `^<script\s`} {
			if regexp.MustCompile(re).MatchString(tag) {
				t.Errorf("tag %.120q refers outside the page (%s)", tag, re)
			}
		}
	}
	styles := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindAllStringSubmatch(html, -1)
	for _, st := range styles {
		if strings.Contains(st[1], "url(") || strings.Contains(st[1], "@import") || strings.Contains(st[1], "@font-face") {
			t.Error("inline style loads a resource")
		}
	}
	if !strings.Contains(html, `content-security-policy`) || !strings.Contains(html, `default-src 'none'`) {
		t.Error("page lacks its Content-Security-Policy")
	}
	// The panels the page must name.
	for _, p := range panelNames {
		if !strings.Contains(html, `data-panel="`+p+`"`) {
			t.Errorf("page has no %s panel", p)
		}
	}
}

func TestNoPriceSource(t *testing.T) {
	txs, cfg := tinyChain()
	db := loadChain(t, txs)
	out := t.TempDir()
	opts := goldenOptions(t, cfg, out)
	opts.Prices = prices.Config{Source: prices.SourceNone}
	res, err := dashboard.Build(context.Background(), db, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Prices.Available || res.Prices.Reason == "" {
		t.Fatalf("prices status %+v, want unavailable with a reason", res.Prices)
	}
	_, vws := readCSV(t, filepath.Join(out, "panels", "value_windows.csv"))
	for _, r := range vws {
		for _, c := range []string{"fees_usd_mean", "stx_sent_usd_mean", "txs_missing_price", "fees_usd_median"} {
			if r[c] != "" {
				t.Errorf("window %s: %s = %q without prices", r["window_days"], c, r[c])
			}
		}
		if r["fees_stx_mean"] == "" {
			t.Errorf("window %s: STX columns must not depend on prices", r["window_days"])
		}
	}
	_, ps := readCSV(t, filepath.Join(out, "panels", "prices.csv"))
	if len(ps) != res.Period.Days() {
		t.Errorf("prices.csv has %d rows, want one per day (%d)", len(ps), res.Period.Days())
	}
	for _, r := range ps {
		if r["price_usd"] != "" || r["is_filled"] != "false" {
			t.Fatalf("prices row %v without a source", r)
		}
	}
	page, _ := os.ReadFile(filepath.Join(out, dashboard.IndexFile))
	if !strings.Contains(string(page), "No price source is configured") {
		t.Error("page does not say why USD values are missing")
	}
}

func TestBuildErrors(t *testing.T) {
	ctx := context.Background()
	db := walletstest.NewDB(t)
	if _, err := dashboard.Build(ctx, db, dashboard.Options{}); err == nil || !strings.Contains(err.Error(), "output directory") {
		t.Errorf("no dir: err = %v", err)
	}
	out := t.TempDir()
	if _, err := dashboard.Build(ctx, db, dashboard.Options{Dir: out}); err == nil || !strings.Contains(err.Error(), "first-seen parquet") {
		t.Errorf("no parquet path: err = %v", err)
	}
	empty := dashboard.Options{Dir: out, FirstSeenParquet: filepath.Join(out, "fs.parquet"), Windows: windows}
	if _, err := dashboard.Build(ctx, db, empty); !errors.Is(err, wallets.ErrNoData) {
		t.Errorf("empty table: err = %v, want ErrNoData", err)
	}
	txs, cfg := tinyChain()
	db = loadChain(t, txs)
	opts := goldenOptions(t, cfg, t.TempDir())
	opts.Windows = []int{0}
	if _, err := dashboard.Build(ctx, db, opts); err == nil || !strings.Contains(err.Error(), "value window 0") {
		t.Errorf("bad window: err = %v", err)
	}
}

func TestMemoryLimitIsRestored(t *testing.T) {
	ctx := context.Background()
	txs, cfg := tinyChain()
	db := loadChain(t, txs)
	// 2 GiB prints exactly ("2.0 GiB"); DuckDB reports other values rounded
	// to 0.1 of a unit, which is also what Build restores.
	if _, err := db.ExecContext(ctx, "SET memory_limit = '2GiB'"); err != nil {
		t.Fatal(err)
	}
	var before string
	db.QueryRowContext(ctx, "SELECT current_setting('memory_limit')").Scan(&before)
	opts := goldenOptions(t, cfg, t.TempDir())
	var during string
	opts.MemoryLimit = "700MB"
	opts.Logf = func(format string, args ...any) {
		if during == "" {
			db.QueryRowContext(ctx, "SELECT current_setting('memory_limit')").Scan(&during)
		}
	}
	if _, err := dashboard.Build(ctx, db, opts); err != nil {
		t.Fatal(err)
	}
	var after string
	db.QueryRowContext(ctx, "SELECT current_setting('memory_limit')").Scan(&after)
	if after != before || during == before || during == "" {
		t.Errorf("memory_limit before %q, during %q, after %q: want it changed during the build and restored", before, during, after)
	}
	opts.MemoryLimit = "lots"
	if _, err := dashboard.Build(ctx, db, opts); err == nil || !strings.Contains(err.Error(), "memory_limit") {
		t.Errorf("bad limit: err = %v", err)
	}
}

func TestBuildCancelled(t *testing.T) {
	txs, cfg := tinyChain()
	db := loadChain(t, txs)
	for _, when := range []string{"before", "during"} {
		t.Run(when, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			opts := goldenOptions(t, cfg, t.TempDir())
			if when == "before" {
				cancel()
			} else {
				opts.Logf = func(string, ...any) { cancel() } // after the first stage
			}
			_, err := dashboard.Build(ctx, db, opts)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
			if _, err := os.Stat(filepath.Join(opts.Dir, dashboard.IndexFile)); err == nil {
				t.Error("a cancelled build published index.html")
			}
		})
	}
	// The pooled connection is clean afterwards: a normal build works.
	if _, err := dashboard.Build(context.Background(), db, goldenOptions(t, cfg, t.TempDir())); err != nil {
		t.Fatal(err)
	}
}
