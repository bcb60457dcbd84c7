// Package smoke runs fast consistency checks over built dashboard artifacts
// (`mage smoke`, alias smoke-notebook): the panel CSVs, the
// first-seen parquet file and index.html.
//
// It reads the files only; it never opens the database and reads the parquet
// file with parquet-go, an implementation independent of the DuckDB that
// wrote it. Each check reports pass or fail with one line of detail naming
// the numbers; Check returns a *FailedError when any check failed.
package smoke

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Inputs locates the artifacts.
type Inputs struct {
	// Dir is the dashboards directory (index.html, panels/*.csv).
	Dir string
	// FirstSeenParquet is the first-seen wallets file
	// (paths.first_seen_parquet; required).
	FirstSeenParquet string
	// Windows are the configured value windows; when set, value_windows.csv
	// must hold exactly these.
	Windows []int
}

// Result is the outcome of one check.
type Result struct {
	Name   string
	OK     bool
	Detail string // one line: the numbers behind the verdict
}

// Report lists every check in the order run.
type Report struct {
	Checks []Result
}

// Failed returns the failing checks.
func (r Report) Failed() []Result {
	var out []Result
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, c)
		}
	}
	return out
}

// String renders one line per check: "PASS name: detail".
func (r Report) String() string {
	var b strings.Builder
	for _, c := range r.Checks {
		verdict := "PASS"
		if !c.OK {
			verdict = "FAIL"
		}
		fmt.Fprintf(&b, "%s %s: %s\n", verdict, c.Name, c.Detail)
	}
	return b.String()
}

// FailedError is returned by Check when at least one check failed.
type FailedError struct{ Failed []Result }

// Error lists the failed checks with their numbers.
func (e *FailedError) Error() string {
	parts := make([]string, len(e.Failed))
	for i, c := range e.Failed {
		parts[i] = c.Name + " (" + c.Detail + ")"
	}
	return fmt.Sprintf("smoke: %d check(s) failed: %s", len(e.Failed), strings.Join(parts, "; "))
}

// table is a CSV panel: header plus rows keyed by column name.
type table struct {
	path   string
	header []string
	rows   []map[string]string
	err    error
}

func (t *table) has(cols ...string) []string {
	var missing []string
	for _, c := range cols {
		if !slices.Contains(t.header, c) {
			missing = append(missing, c)
		}
	}
	return missing
}

func readTable(path string) *table {
	t := &table{path: path}
	f, err := os.Open(path)
	if err != nil {
		t.err = err
		return t
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.err = fmt.Errorf("%s: %w", path, err)
		return t
	}
	if len(recs) == 0 {
		t.err = fmt.Errorf("%s: no header row", path)
		return t
	}
	t.header = recs[0]
	for _, r := range recs[1:] {
		m := make(map[string]string, len(r))
		for i, h := range t.header {
			if i < len(r) {
				m[h] = r[i]
			}
		}
		t.rows = append(t.rows, m)
	}
	return t
}

// required columns per panel (docs/metrics.md); the names are the contract.
var required = []struct {
	name string
	cols []string
}{
	{"daily_wallets", []string{"date", "active_wallets", "new_wallets", "returning_wallets", "cumulative_wallets", "wau_7d", "mau_30d", "user_txs", "fees_stx"}},
	{"cohort_retention", []string{"cohort_week", "cohort_size", "week_index", "active_wallets", "retention"}},
	{"funnel", []string{"funnel", "step_order", "step", "wallets", "eligible_wallets", "conversion_from_start", "conversion_from_previous"}},
	{"value_windows", []string{"window_days", "eligible_wallets", "censored_wallets", "fees_stx_mean", "fees_stx_median", "fees_stx_p90", "fees_usd_mean", "stx_sent_mean", "stx_sent_usd_mean", "txs_missing_price"}},
	{"prices", []string{"date", "price_usd", "is_filled"}},
}

// textColumns are the CSV columns that are not numbers.
var textColumns = map[string]bool{
	"date": true, "cohort_week": true, "source_date": true, "is_filled": true, "funnel": true, "step": true,
	"first_tx_type": true, "first_contract_id": true, "first_function_name": true,
}

// Check runs every check. The error is a *FailedError when a check failed,
// or a context error.
func Check(ctx context.Context, in Inputs) (Report, error) {
	var rep Report
	add := func(name string, ok bool, format string, args ...any) {
		rep.Checks = append(rep.Checks, Result{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
	}
	if in.FirstSeenParquet == "" {
		return rep, errors.New("smoke checks: no first-seen parquet path (paths.first_seen_parquet)")
	}
	tables := map[string]*table{}
	var problems, counts []string
	for _, p := range required {
		t := readTable(filepath.Join(in.Dir, "panels", p.name+".csv"))
		tables[p.name] = t
		switch {
		case t.err != nil:
			problems = append(problems, t.err.Error())
		case len(t.has(p.cols...)) > 0:
			problems = append(problems, fmt.Sprintf("%s.csv lacks columns %s", p.name, strings.Join(t.has(p.cols...), ", ")))
		case len(t.rows) == 0 && p.name == "cohort_retention":
			// Judged below, against how long the data is.
		case len(t.rows) == 0:
			problems = append(problems, p.name+".csv has no data rows")
		}
		counts = append(counts, fmt.Sprintf("%s %d", p.name, len(t.rows)))
	}
	if c := tables["cohort_retention"]; c.err == nil && len(c.header) > 0 && len(c.rows) == 0 {
		first, last := dataDays(tables["daily_wallets"])
		if week, ok := completeWeek(first, last); ok {
			problems = append(problems, fmt.Sprintf("cohort_retention.csv has no data rows, though the data holds the complete cohort week of %s", week.Format(time.DateOnly)))
		} else {
			add("cohort weeks", true, "cohort_retention.csv is empty because no cohort week is complete yet: the data covers %s .. %s, and a cohort needs a whole Monday–Sunday week inside it",
				dayOrDash(first), dayOrDash(last))
		}
	}
	if len(problems) > 0 {
		add("panel files", false, "%s", strings.Join(problems, "; "))
	} else {
		add("panel files", true, "every panel has its columns and rows: %s", strings.Join(counts, ", "))
	}
	usable := func(name string) bool { t := tables[name]; return t.err == nil && len(t.rows) > 0 }
	if err := ctx.Err(); err != nil {
		return rep, err
	}

	daily, cohorts, funnel, values := tables["daily_wallets"], tables["cohort_retention"], tables["funnel"], tables["value_windows"]
	var newWallets int64
	var lastDay time.Time
	if usable("daily_wallets") {
		checkDaily(daily, add)
		for _, r := range daily.rows {
			newWallets += atoi(r["new_wallets"])
			if d, err := time.Parse(time.DateOnly, r["date"]); err == nil && d.After(lastDay) {
				lastDay = d
			}
		}
	}
	if usable("cohort_retention") {
		checkWeekZero(cohorts, add)
		if !lastDay.IsZero() {
			checkCensoring(cohorts, lastDay, add)
		}
	}
	if usable("value_windows") && usable("daily_wallets") {
		checkValueWindows(values, newWallets, in.Windows, add)
	}
	if usable("funnel") {
		checkFunnel(funnel, add)
	}
	checkNumbers(in.Dir, tables, add)

	pq, err := readParquet(in.FirstSeenParquet)
	if err != nil {
		add("first-seen parquet", false, "%v", err)
	} else {
		checkParquet(pq, add)
		if usable("daily_wallets") {
			add("new wallets = first-seen wallets", pq.senders == newWallets,
				"Σ new_wallets %d, parquet wallets that signed a tx %d", newWallets, pq.senders)
		}
		if usable("cohort_retention") {
			checkCohortSizes(cohorts, pq, add)
		}
	}
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	checkIndex(filepath.Join(in.Dir, "index.html"), add)

	if f := rep.Failed(); len(f) > 0 {
		return rep, &FailedError{Failed: f}
	}
	return rep, nil
}

// dataDays is the first and last date of the daily panel; zero when it
// has none.
func dataDays(daily *table) (first, last time.Time) {
	if daily == nil || daily.err != nil {
		return first, last
	}
	for _, r := range daily.rows {
		d, err := time.Parse(time.DateOnly, r["date"])
		if err != nil {
			continue
		}
		if first.IsZero() || d.Before(first) {
			first = d
		}
		if d.After(last) {
			last = d
		}
	}
	return first, last
}

// completeWeek finds a Monday-to-Sunday week that lies inside the data,
// before its last day (which may be partial): a cohort that must have a
// row in cohort_retention.csv (docs/metrics.md, section 4).
func completeWeek(first, last time.Time) (time.Time, bool) {
	if first.IsZero() {
		return time.Time{}, false
	}
	monday := first.AddDate(0, 0, (8-int(first.Weekday()))%7)
	return monday, monday.AddDate(0, 0, 6).Before(last)
}

func dayOrDash(d time.Time) string {
	if d.IsZero() {
		return "-"
	}
	return d.Format(time.DateOnly)
}

type addFunc func(name string, ok bool, format string, args ...any)

func atoi(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

func checkDaily(t *table, add addFunc) {
	bad := 0
	first := ""
	for _, r := range t.rows {
		a, n, ret := atoi(r["active_wallets"]), atoi(r["new_wallets"]), atoi(r["returning_wallets"])
		if a != n+ret {
			if bad == 0 {
				first = fmt.Sprintf("%s: active %d ≠ new %d + returning %d", r["date"], a, n, ret)
			}
			bad++
		}
	}
	if bad > 0 {
		add("active = new + returning", false, "%d of %d days break it; first %s", bad, len(t.rows), first)
		return
	}
	add("active = new + returning", true, "holds on all %d days", len(t.rows))
}

func checkWeekZero(t *table, add addFunc) {
	cohorts, bad := 0, ""
	for _, r := range t.rows {
		if r["week_index"] != "0" {
			continue
		}
		cohorts++
		ret, err := strconv.ParseFloat(r["retention"], 64)
		if bad == "" && (err != nil || ret != 1 || r["active_wallets"] != r["cohort_size"]) {
			bad = fmt.Sprintf("cohort %s: week 0 retention %q, active %s of %s", r["cohort_week"], r["retention"], r["active_wallets"], r["cohort_size"])
		}
	}
	switch {
	case bad != "":
		add("week 0 retention = 100 %", false, "%s", bad)
	case cohorts == 0:
		add("week 0 retention = 100 %", false, "no week-0 row in cohort_retention.csv")
	default:
		add("week 0 retention = 100 %", true, "all %d cohorts", cohorts)
	}
}

// checkCensoring: a cell is filled exactly when its week ended by the last
// day of the data, and retention is in [0, 1].
func checkCensoring(t *table, lastDay time.Time, add addFunc) {
	observed, blank := 0, 0
	for _, r := range t.rows {
		c, err := time.Parse(time.DateOnly, r["cohort_week"])
		k := atoi(r["week_index"])
		if err != nil {
			add("retention cells observed only when complete", false, "cohort_week %q is not a date", r["cohort_week"])
			return
		}
		complete := !c.AddDate(0, 0, int(7*k+6)).After(lastDay)
		filled := r["retention"] != ""
		if complete != filled || (filled && r["active_wallets"] == "") {
			add("retention cells observed only when complete", false,
				"cohort %s week %d ends %s (data ends %s) but retention is %q",
				r["cohort_week"], k, c.AddDate(0, 0, int(7*k+6)).Format(time.DateOnly), lastDay.Format(time.DateOnly), r["retention"])
			return
		}
		if filled {
			if v, err := strconv.ParseFloat(r["retention"], 64); err != nil || v < 0 || v > 1 {
				add("retention cells observed only when complete", false, "cohort %s week %d retention %q is not in [0, 1]", r["cohort_week"], k, r["retention"])
				return
			}
			observed++
		} else {
			blank++
		}
	}
	add("retention cells observed only when complete", true, "%d observed cells, %d blank after %s", observed, blank, lastDay.Format(time.DateOnly))
}

func checkValueWindows(t *table, wallets int64, windows []int, add addFunc) {
	var got []int
	for _, r := range t.rows {
		w := int(atoi(r["window_days"]))
		got = append(got, w)
		e, c := atoi(r["eligible_wallets"]), atoi(r["censored_wallets"])
		if e+c != wallets {
			add("eligible + censored = wallets", false, "%d-day window: eligible %d + censored %d = %d, want %d wallets (Σ new_wallets)", w, e, c, e+c, wallets)
			return
		}
	}
	if len(windows) > 0 {
		want := slices.Clone(windows)
		slices.Sort(want)
		want = slices.Compact(want)
		if !slices.Equal(got, want) {
			add("eligible + censored = wallets", false, "windows %v in value_windows.csv, configured %v", got, want)
			return
		}
	}
	add("eligible + censored = wallets", true, "%d windows %v, %d wallets each", len(got), got, wallets)
}

func checkFunnel(t *table, add addFunc) {
	prev := map[string]int64{}
	for _, r := range t.rows {
		f, w, e := r["funnel"], atoi(r["wallets"]), atoi(r["eligible_wallets"])
		if w > e {
			add("funnels within eligible", false, "%s step %s: %d wallets > %d eligible", f, r["step_order"], w, e)
			return
		}
		if p, ok := prev[f]; ok && !strings.Contains(f, "bracket") && w > p {
			add("funnels within eligible", false, "%s step %s grows from %d to %d", f, r["step_order"], p, w)
			return
		}
		prev[f] = w
	}
	add("funnels within eligible", true, "%d funnels, steps never exceed eligible wallets and strict funnels never grow", len(prev))
}

var svgNumber = regexp.MustCompile(`\s(?:x|y|x1|y1|x2|y2|width|height|cx|cy|r|d|viewBox)="[^"]*(?:NaN|Inf)`)

// checkNumbers: every numeric CSV cell parses and is finite; no SVG
// coordinate is NaN or Inf.
func checkNumbers(dir string, tables map[string]*table, add addFunc) {
	cells := 0
	names := make([]string, 0, len(tables))
	for n := range tables {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, extra := range []string{"acquisition"} {
		if t := readTable(filepath.Join(dir, "panels", extra+".csv")); t.err == nil {
			tables[extra] = t
			names = append(names, extra)
		}
	}
	for _, n := range names {
		t := tables[n]
		for i, r := range t.rows {
			for _, col := range t.header {
				v := r[col]
				if textColumns[col] || v == "" {
					continue
				}
				cells++
				f, err := strconv.ParseFloat(v, 64)
				if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
					add("no NaN/Inf", false, "%s.csv row %d column %s = %q", n, i+1, col, v)
					return
				}
			}
		}
	}
	page, err := os.ReadFile(filepath.Join(dir, "index.html"))
	if err == nil {
		if m := svgNumber.Find(page); m != nil {
			add("no NaN/Inf", false, "index.html has a non-finite coordinate: %s", m)
			return
		}
	}
	add("no NaN/Inf", true, "%d numeric CSV cells and the page's SVG coordinates are finite", cells)
}

func checkParquet(pq *parquetWallets, add addFunc) {
	switch {
	case pq.rows == 0:
		add("first-seen parquet: one row per wallet", false, "%s has no rows", pq.path)
	case pq.nulls > 0:
		add("first-seen parquet: one row per wallet", false, "%d rows without a wallet", pq.nulls)
	case pq.duplicate != "":
		add("first-seen parquet: one row per wallet", false, "wallet %s appears more than once (%d rows, %d distinct wallets)", pq.duplicate, pq.rows, pq.distinct)
	default:
		add("first-seen parquet: one row per wallet", true, "%d rows, %d distinct wallets (%d signed a tx, %d receive-only)", pq.rows, pq.distinct, pq.senders, pq.rows-pq.senders)
	}
}

func checkCohortSizes(t *table, pq *parquetWallets, add addFunc) {
	csvSizes := map[string]int64{}
	for _, r := range t.rows {
		csvSizes[r["cohort_week"]] = atoi(r["cohort_size"])
	}
	var sum, want int64
	weeks := make([]string, 0, len(csvSizes))
	for w, n := range csvSizes {
		sum += n
		want += pq.cohorts[w]
		weeks = append(weeks, w)
	}
	slices.Sort(weeks)
	for _, w := range weeks {
		if csvSizes[w] != pq.cohorts[w] {
			add("cohort sizes = first-seen wallets", false, "cohort %s: size %d in cohort_retention.csv, %d wallets in the parquet file", w, csvSizes[w], pq.cohorts[w])
			return
		}
	}
	if len(weeks) == 0 || sum != want {
		add("cohort sizes = first-seen wallets", false, "cohort sizes sum to %d, parquet has %d wallets in those %d weeks", sum, want, len(weeks))
		return
	}
	add("cohort sizes = first-seen wallets", true, "%d cohorts %s – %s sum to %d wallets, as in the parquet file", len(weeks), weeks[0], weeks[len(weeks)-1], sum)
}

var panelNames = []string{"daily_wallets", "cohort_retention", "funnel", "value_windows", "prices"}

func checkIndex(path string, add addFunc) {
	page, err := os.ReadFile(path)
	if err != nil {
		add("index.html names every panel", false, "%v", err)
		return
	}
	s := string(page)
	var missing []string
	for _, p := range panelNames {
		if !strings.Contains(s, `data-panel="`+p+`"`) || !strings.Contains(s, "panels/"+p+".csv") {
			missing = append(missing, p)
		}
	}
	charts := strings.Count(s, `<figure class="chart`)
	switch {
	case len(missing) > 0:
		add("index.html names every panel", false, "no section for %s", strings.Join(missing, ", "))
	case charts == 0:
		add("index.html names every panel", false, "the page has no chart")
	default:
		add("index.html names every panel", true, "%d panels, %d charts, %d bytes", len(panelNames), charts, len(page))
	}
}

// errNoColumn is returned when the parquet file lacks a needed column.
var errNoColumn = errors.New("column missing")
