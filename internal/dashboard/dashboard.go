// Package dashboard builds the wallet dashboards (docs/metrics.md): one CSV
// per panel, the first-seen wallets parquet file and a single self-contained
// index.html with a chart for every panel.
//
// The numbers come from internal/wallets (metric SQL, run inside DuckDB) and
// internal/prices (the STX/USD panel); this package only writes them out.
// Every output is deterministic for a given database, Options.Now and
// Options.BuiltAt, and every file is written to a temporary name and renamed,
// so a reader never sees half a file.
package dashboard

import (
	"context"
	"database/sql"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/stxwallets/walletcache/internal/atomicfile"
	"github.com/stxwallets/walletcache/internal/chain"
	"github.com/stxwallets/walletcache/internal/prices"
	"github.com/stxwallets/walletcache/internal/wallets"
)

// IndexFile is the page's file name under Options.Dir.
const IndexFile = "index.html"

// DefaultTopAcquisition is how many first-transaction entry points the
// acquisition panel lists.
const DefaultTopAcquisition = 15

// Range is a span of time, both ends inclusive (a missing coverage range).
type Range = chain.TimeRange

// Coverage is what the backfill verified; the page shows it so a reader knows
// whether the history behind the charts is complete.
type Coverage struct {
	Known         bool // false: not reported (the page says so)
	Percent       float64
	TargetDays    int
	MissingRanges []Range
}

// Options configures one build.
type Options struct {
	// Dir is paths.dashboards_dir: index.html and panels/*.csv go here.
	Dir string
	// FirstSeenParquet is paths.first_seen_parquet (required).
	FirstSeenParquet string
	// Windows (dashboards.wallet_windows, at least one) and MaxDays
	// (dashboards.wallet_max_days) parameterise the metrics.
	Windows []int
	MaxDays int
	// Now is the clock that decides whether the newest day is today (and so
	// partial); nil means time.Now.
	Now func() time.Time
	// BuiltAt is printed on the page; zero means Now() to the second.
	BuiltAt time.Time
	// Coverage is shown in the page header.
	Coverage Coverage
	// Prices selects the STX/USD source (dashboards.prices and
	// backfill.force_refresh).
	Prices prices.Config
	// TopAcquisition limits the acquisition panel; 0 means
	// DefaultTopAcquisition.
	TopAcquisition int
	// Logf, when set, receives one line per finished stage with its
	// duration (for progress logs and performance work).
	Logf func(format string, args ...any)
	// MemoryLimit, e.g. "1.2GB", is DuckDB's memory_limit while Build
	// runs; the previous value is restored afterwards. DuckDB's default is
	// 80 % of the machine's RAM, and it uses what it may: on 10 M
	// transactions a build peaks near 6 GB RSS unlimited, at 1.4–1.9 GB
	// with "1.2GB" (it spills to its temp directory instead). Empty leaves the
	// database's setting alone. The setting is per database, so it also
	// applies to other connections of the process while Build runs; the
	// restored value is the one DuckDB reports, rounded to 0.1 of its unit
	// (e.g. "2.7 GiB").
	MemoryLimit string
}

// PanelFile is one written panel CSV.
type PanelFile struct {
	Name string // e.g. "daily_wallets"
	Path string
	Rows int // data rows, without the header
}

// Result reports what Build wrote.
type Result struct {
	Dir              string
	Index            string // path of index.html
	FirstSeenParquet string
	ParquetRows      int64
	Panels           []PanelFile
	// Period holds the data's date range (HistoryStart … DataEndDate) and
	// data_end_date.
	Period        wallets.Period
	Wallets       int64 // first-seen rows (incl. receive-only principals)
	ActiveWallets int64 // wallets that signed a user tx in range
	UserTxs       int64
	Prices        prices.Status
}

// Build computes every panel from db and writes the dashboards. It needs a
// writable database only to store newly fetched prices; metric tables are
// TEMP tables on one connection and are dropped before it returns.
// wallets.ErrNoData is returned (wrapped) when there is nothing to chart.
func Build(ctx context.Context, db *sql.DB, opts Options) (res Result, err error) {
	now, top, err := opts.normalise()
	if err != nil {
		return res, err
	}
	res.Dir, res.Index, res.FirstSeenParquet = opts.Dir, filepath.Join(opts.Dir, IndexFile), opts.FirstSeenParquet
	defer func() {
		// DuckDB reports an interrupted query as its own error; make a
		// cancelled build recognisable with errors.Is(err, context.Canceled).
		if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
	}()
	stageStart := time.Now()
	stage := func(name string) {
		if opts.Logf != nil {
			opts.Logf("dashboards: %s in %s", name, time.Since(stageStart).Round(time.Millisecond))
		}
		stageStart = time.Now()
	}

	conn, closeSession, err := openSession(ctx, db, opts)
	if err != nil {
		return res, fmt.Errorf("build dashboards: %w", err)
	}
	defer func() {
		if cerr := closeSession(); err == nil && cerr != nil {
			err = fmt.Errorf("build dashboards: clean up: %w", cerr)
		}
	}()

	// Stage 1: the period and the prices the metrics are computed over.
	wcfg := wallets.Config{Windows: opts.Windows, MaxDays: opts.MaxDays, Now: now, Logf: opts.Logf}
	period, err := wallets.ResolvePeriod(ctx, conn, wcfg)
	if err != nil {
		return res, fmt.Errorf("build dashboards: %w", err)
	}
	res.Period = period
	stage("period")
	pstatus, err := prices.Prepare(ctx, conn, opts.Prices, period.HistoryStart, period.DataEndDate)
	if err != nil {
		return res, fmt.Errorf("build dashboards: %w", err)
	}
	res.Prices = pstatus
	stage("prices")
	if pstatus.Available {
		wcfg.PriceTable = prices.PanelTable
	}
	// Stage 2: the metric tables, and the panels read from them.
	summary, err := wallets.Compute(ctx, conn, period, wcfg)
	if err != nil {
		return res, fmt.Errorf("build dashboards: %w", err)
	}
	res.Wallets, res.ActiveWallets, res.UserTxs = summary.Wallets, summary.ActiveWallets, summary.UserTxs
	stage("metric tables")
	panels, err := wallets.ReadPanels(ctx, conn, top)
	if err != nil {
		return res, fmt.Errorf("build dashboards: %w", err)
	}
	priceDays, err := prices.ReadPanel(ctx, conn)
	if err != nil {
		return res, fmt.Errorf("build dashboards: %w", err)
	}
	stage("read panels")
	// Stage 3: the files.
	if res.Panels, err = writePanels(opts.Dir, panels, priceDays); err != nil {
		return res, fmt.Errorf("build dashboards: %w", err)
	}
	stage("panel csv")
	if err := writeFirstSeen(ctx, conn, opts.FirstSeenParquet); err != nil {
		return res, fmt.Errorf("build dashboards: %w", err)
	}
	res.ParquetRows = summary.Wallets
	stage("first-seen parquet")
	html, err := renderPage(pageInput{opts: opts, summary: summary, panels: panels, prices: priceDays, pstatus: pstatus})
	if err != nil {
		return res, fmt.Errorf("build dashboards: %w", err)
	}
	if err := atomicfile.Write(res.Index, html, 0o644); err != nil {
		return res, fmt.Errorf("build dashboards: %w", err)
	}
	stage("index.html")
	return res, nil
}

// normalise checks the options a build needs and fills the ones with a
// natural default (the clock, the build time, the acquisition cut-off).
func (o *Options) normalise() (now func() time.Time, top int, err error) {
	if o.Dir == "" {
		return nil, 0, errors.New("build dashboards: no output directory (paths.dashboards_dir)")
	}
	if o.FirstSeenParquet == "" {
		return nil, 0, errors.New("build dashboards: no first-seen parquet path (paths.first_seen_parquet)")
	}
	now = o.Now
	if now == nil {
		now = time.Now
	}
	if o.BuiltAt.IsZero() {
		o.BuiltAt = now().UTC().Truncate(time.Second)
	}
	if o.Prices.Now == nil {
		o.Prices.Now = now
	}
	top = o.TopAcquisition
	if top <= 0 {
		top = DefaultTopAcquisition
	}
	return now, top, nil
}

// openSession takes one connection for the whole build, in UTC and within
// the memory limit. closeSession drops the TEMP tables (they hold memory)
// and restores the session before the connection goes back to the pool.
func openSession(ctx context.Context, db *sql.DB, opts Options) (conn *sql.Conn, closeSession func() error, err error) {
	conn, err = db.Conn(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("get a connection: %w", err)
	}
	var restore func()
	closeSession = func() error {
		cleanup := context.WithoutCancel(ctx)
		derr := wallets.Drop(cleanup, conn)
		if _, e := conn.ExecContext(cleanup, "DROP TABLE IF EXISTS temp."+prices.PanelTable); e != nil && derr == nil {
			derr = fmt.Errorf("drop price panel: %w", e)
		}
		if _, e := conn.ExecContext(cleanup, "RESET TimeZone"); e != nil && derr == nil {
			derr = fmt.Errorf("reset time zone: %w", e)
		}
		if restore != nil {
			restore()
		}
		return errors.Join(derr, conn.Close())
	}
	if _, err := conn.ExecContext(ctx, "SET TimeZone = 'UTC'"); err != nil {
		_ = closeSession()
		return nil, nil, fmt.Errorf("set time zone: %w", err)
	}
	if opts.MemoryLimit != "" {
		if restore, err = setMemoryLimit(ctx, conn, opts.MemoryLimit); err != nil {
			_ = closeSession()
			return nil, nil, err
		}
	}
	return conn, closeSession, nil
}

// writePanels writes panels/*.csv, one file a panel.
func writePanels(dir string, panels wallets.Panels, priceDays []prices.Day) ([]PanelFile, error) {
	if err := os.MkdirAll(filepath.Join(dir, "panels"), 0o755); err != nil {
		return nil, err
	}
	var out []PanelFile
	for _, t := range panelTables(panels, priceDays) {
		path := filepath.Join(dir, "panels", t.name+".csv")
		if err := writeCSV(path, t.header, t.rows); err != nil {
			return nil, err
		}
		out = append(out, PanelFile{Name: t.name, Path: path, Rows: len(t.rows)})
	}
	return out, nil
}

// writeFirstSeen writes the first-seen wallets parquet, atomically.
func writeFirstSeen(ctx context.Context, conn *sql.Conn, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteNamed(path, 0o644, func(tmp string) error {
		return wallets.CopyFirstSeenParquet(ctx, conn, tmp)
	})
}

type csvTable struct {
	name   string
	header []string
	rows   [][]string
}

// Number formats in the CSVs: counts as integers; ratios with the shortest
// exact representation; STX and USD amounts with 6 decimals (µSTX precision);
// NULL as an empty cell.
func nf(v sql.NullFloat64, prec int) string {
	if !v.Valid {
		return ""
	}
	return strconv.FormatFloat(v.Float64, 'f', prec, 64)
}

func ni(v sql.NullInt64) string {
	if !v.Valid {
		return ""
	}
	return strconv.FormatInt(v.Int64, 10)
}

func i64(v int64) string { return strconv.FormatInt(v, 10) }

func ns(v sql.NullString) string {
	if !v.Valid {
		return ""
	}
	return v.String
}

// text neutralises a text cell for spreadsheets (the OWASP rule for CSV
// injection): a cell that starts with =, +, -, @, a tab or a carriage
// return is read as a formula by Excel, LibreOffice and Sheets, so it gets
// a leading single quote. Every cell of chain text (transaction types,
// contract ids, function names: whatever a deployer chose) passes through
// it; the panels' own labels are fixed text and numeric cells never do, so
// a negative number stays a number.
func text(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func panelTables(p wallets.Panels, days []prices.Day) []csvTable {
	daily := csvTable{name: "daily_wallets", header: []string{"date", "active_wallets", "new_wallets", "returning_wallets",
		"cumulative_wallets", "wau_7d", "mau_30d", "user_txs", "fees_stx", "active_wallets_success_only"}}
	for _, r := range p.Daily {
		daily.rows = append(daily.rows, []string{fmtDate(r.Date), i64(r.ActiveWallets), i64(r.NewWallets), i64(r.ReturningWallets),
			i64(r.CumulativeWallets), i64(r.WAU7d), i64(r.MAU30d), i64(r.UserTxs), wallets.FormatMicroSTX(r.FeesMicro),
			i64(r.ActiveSuccessOnly)})
	}
	cohorts := csvTable{name: "cohort_retention", header: []string{"cohort_week", "cohort_size", "week_index", "active_wallets", "retention"}}
	for _, c := range p.Cohorts {
		cohorts.rows = append(cohorts.rows, []string{fmtDate(c.CohortWeek), i64(c.CohortSize), strconv.Itoa(c.WeekIndex),
			ni(c.Active), nf(c.Retention, -1)})
	}
	funnel := csvTable{name: "funnel", header: []string{"funnel", "step_order", "step", "wallets", "eligible_wallets",
		"conversion_from_start", "conversion_from_previous"}}
	for _, s := range p.Funnel {
		funnel.rows = append(funnel.rows, []string{s.Funnel, strconv.Itoa(s.StepOrder), s.Step, i64(s.Wallets), i64(s.EligibleWallets),
			nf(s.ConversionFromStart, -1), nf(s.ConversionFromPrevious, -1)})
	}
	values := csvTable{name: "value_windows", header: []string{"window_days", "eligible_wallets", "censored_wallets",
		"fees_stx_mean", "fees_stx_median", "fees_stx_p90", "fees_usd_mean", "stx_sent_mean", "stx_sent_usd_mean",
		"txs_missing_price", "wallets", "fees_usd_median", "stx_sent_median", "repeat_rate"}}
	for _, v := range p.Values {
		values.rows = append(values.rows, []string{strconv.Itoa(v.WindowDays), i64(v.EligibleWallets), i64(v.CensoredWallets),
			nf(v.FeesSTXMean, 6), nf(v.FeesSTXMedian, 6), nf(v.FeesSTXP90, 6), nf(v.FeesUSDMean, 6), nf(v.STXSentMean, 6),
			nf(v.STXSentUSDMean, 6), ni(v.TxsMissingPrice), i64(v.Wallets), nf(v.FeesUSDMedian, 6), nf(v.STXSentMedian, 6),
			nf(v.RepeatRate, -1)})
	}
	pr := csvTable{name: "prices", header: []string{"date", "price_usd", "is_filled", "source_date"}}
	for _, d := range days {
		src := ""
		if d.SourceDate.Valid {
			src = fmtDate(d.SourceDate.Time)
		}
		pr.rows = append(pr.rows, []string{fmtDate(d.Date), nf(d.PriceUSD, -1), strconv.FormatBool(d.IsFilled), src})
	}
	acq := csvTable{name: "acquisition", header: []string{"first_tx_type", "first_contract_id", "first_function_name", "wallets", "share"}}
	for _, a := range p.Acquisition {
		acq.rows = append(acq.rows, []string{text(a.TxType), text(ns(a.ContractID)), text(ns(a.FunctionName)), i64(a.Wallets),
			strconv.FormatFloat(a.Share, 'f', -1, 64)})
	}
	return []csvTable{daily, cohorts, funnel, values, pr, acq}
}

// writeCSV replaces the file at path with a header line and rows.
func writeCSV(path string, header []string, rows [][]string) error {
	f, err := atomicfile.Create(path, 0o644)
	if err != nil {
		return err
	}
	defer f.Abort()
	w := csv.NewWriter(f)
	w.Write(header)
	w.WriteAll(rows) // flushes
	if err := w.Error(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Commit()
}

// setMemoryLimit sets DuckDB's memory_limit and returns a function that
// restores the previous value.
func setMemoryLimit(ctx context.Context, conn *sql.Conn, limit string) (func(), error) {
	var prev string
	if err := conn.QueryRowContext(ctx, "SELECT current_setting('memory_limit')").Scan(&prev); err != nil {
		return nil, fmt.Errorf("read memory_limit: %w", err)
	}
	// SET takes no bound parameters; the value is a config string, quoted.
	if _, err := conn.ExecContext(ctx, "SET memory_limit = '"+strings.ReplaceAll(limit, "'", "''")+"'"); err != nil {
		return nil, fmt.Errorf("set memory_limit %q: %w", limit, err)
	}
	return func() {
		conn.ExecContext(context.WithoutCancel(ctx), "SET memory_limit = '"+strings.ReplaceAll(prev, "'", "''")+"'")
	}, nil
}
