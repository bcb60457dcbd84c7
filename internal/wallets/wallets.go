// Package wallets computes the wallet growth and value metrics of the
// dashboards inside DuckDB.
//
// Every metric is a SQL statement over the whole `transactions` table; Go
// only receives the small, already-aggregated panel rows. The intermediate
// relations (wallet_events, daily_wallets, ..., and the first_seen_wallets
// view over them) are TEMP, so they live only as long as the connection
// that built them and never change the database file: compute on one
// *sql.Conn, read the panels from the same connection, then Drop (or close
// the connection).
//
// The transactions are read three times: grouped per wallet (by string,
// which also proves the wallets' hashes distinct), sorted once by (wallet
// hash, UTC day) into the activity events, and grouped per recipient; one
// more scan fetches the 1 M acquisition rows. Every panel is then computed
// from the events (whose first row per wallet-day stands for the
// wallet-day) or from the per-wallet tables built from them; the wide
// first_seen_wallets view is computed only by the parquet file's COPY (the
// summary counts and the acquisition panel read the narrow tables behind it).
//
// The definitions, and every decision taken on them, are written down in
// docs/metrics.md.
package wallets

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"
)

// DefaultMaxWeekIndex caps the cohort retention matrix at week 52 (one year of
// weeks after the cohort week), which keeps the heatmap readable on long
// histories.
const DefaultMaxWeekIndex = 52

// ErrNoData is returned when the table holds no complete day of user
// transactions inside the history window, so there is nothing to chart.
var ErrNoData = errors.New("no complete UTC day of user transactions to build metrics from")

// Querier is what the read-only helpers need; *sql.DB, *sql.Conn and *sql.Tx
// all satisfy it.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Config selects the metric parameters.
type Config struct {
	// Windows are the value windows in days (dashboards.wallet_windows,
	// whose default lives in package policy). At least one is required;
	// each must be 1..3650; duplicates are dropped.
	Windows []int
	// MaxDays is dashboards.wallet_max_days: only the last MaxDays UTC days up
	// to and including data_end_date are used. 0 means all history.
	MaxDays int
	// MaxWeekIndex caps the cohort retention columns (week 0..MaxWeekIndex);
	// 0 means DefaultMaxWeekIndex.
	MaxWeekIndex int
	// Now is the clock that decides whether the newest day in the table is
	// "today" (and therefore partial). nil means time.Now.
	Now func() time.Time
	// PriceTable names a relation with columns (price_date DATE, price_usd
	// DOUBLE), one row per day, already filled (prices.BuildPanel makes
	// one). Empty means no prices: every USD column is NULL.
	PriceTable string
	// Logf, when set, receives one line per statement with its duration.
	Logf func(format string, args ...any)
}

func (c Config) windows() ([]int, error) {
	ws := c.Windows
	if len(ws) == 0 {
		return nil, errors.New("no value windows given (dashboards.wallet_windows)")
	}
	out := make([]int, 0, len(ws))
	for _, w := range ws {
		if w < 1 || w > 3650 {
			return nil, fmt.Errorf("value window %d days: must be between 1 and 3650", w)
		}
		if !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (c Config) now() time.Time {
	if c.Now != nil {
		return c.Now().UTC()
	}
	return time.Now().UTC()
}

// Period is the time frame the metrics are computed over. All dates are UTC
// calendar days (time.Time at 00:00 UTC).
type Period struct {
	// TableFirstDate and TableLastDate are min/max(block_time)::DATE over all
	// canonical rows of the table (any tx type).
	TableFirstDate, TableLastDate time.Time
	// Today is the clock's UTC date when the period was resolved.
	Today time.Time
	// DataEndDate is the last complete UTC day: TableLastDate − 1 when
	// TableLastDate is Today (the day is still running), else TableLastDate.
	DataEndDate time.Time
	// HistoryStart is the first day used: the later of TableFirstDate and
	// DataEndDate − (MaxDays − 1).
	HistoryStart time.Time
	// LastFullWeek is the Monday of the last calendar week (Mon–Sun) that
	// ends on or before DataEndDate; cohorts after it are incomplete, and
	// so are cohorts whose Monday is before HistoryStart.
	LastFullWeek time.Time
	// Windows are the value windows in days, sorted.
	Windows []int
	// MaxWeekIndex is the last retention column.
	MaxWeekIndex int
}

// Days is the number of UTC days in [HistoryStart, DataEndDate].
func (p Period) Days() int { return int(p.DataEndDate.Sub(p.HistoryStart).Hours()/24) + 1 }

const dateFmt = "2006-01-02"

// sqlDate renders a date as a DuckDB DATE literal. The value comes from Go,
// never from data, so inlining it is safe and lets DuckDB prune row groups
// on block_time with its zone maps (a bound parameter would too, but not
// inside CREATE TABLE AS).
func sqlDate(t time.Time) string { return "DATE '" + t.UTC().Format(dateFmt) + "'" }

func truncDay(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// mondayOf returns the Monday that starts the ISO week containing d.
func mondayOf(d time.Time) time.Time {
	d = truncDay(d)
	off := (int(d.Weekday()) + 6) % 7 // Monday=0 … Sunday=6
	return d.AddDate(0, 0, -off)
}

// ResolvePeriod reads the table's date range and derives data_end_date and
// the history window (docs/metrics.md, "time frame"). It needs
// `SET TimeZone='UTC'` only for consistency with the rest; the dates it
// reads are computed in UTC explicitly.
func ResolvePeriod(ctx context.Context, q Querier, cfg Config) (Period, error) {
	ws, err := cfg.windows()
	if err != nil {
		return Period{}, err
	}
	if cfg.MaxDays < 0 {
		return Period{}, fmt.Errorf("wallet_max_days %d: must be 0 (all history) or positive", cfg.MaxDays)
	}
	var first, last sql.NullString
	// timezone('UTC', ts) turns the instant into a UTC wall-clock TIMESTAMP,
	// so the DATE does not depend on the session time zone; it is applied
	// after min/max, not to every row.
	err = q.QueryRowContext(ctx, `
SELECT strftime(timezone('UTC', min(block_time))::DATE, '%Y-%m-%d'),
       strftime(timezone('UTC', max(block_time))::DATE, '%Y-%m-%d')
FROM transactions WHERE canonical`).Scan(&first, &last)
	if err != nil {
		return Period{}, fmt.Errorf("read transaction date range: %w", err)
	}
	if !first.Valid || !last.Valid {
		return Period{}, fmt.Errorf("transactions table is empty: %w", ErrNoData)
	}
	p := Period{Windows: ws, MaxWeekIndex: cfg.MaxWeekIndex, Today: truncDay(cfg.now())}
	if p.MaxWeekIndex <= 0 {
		p.MaxWeekIndex = DefaultMaxWeekIndex
	}
	if p.TableFirstDate, err = time.Parse(dateFmt, first.String); err != nil {
		return Period{}, fmt.Errorf("parse first date %q: %w", first.String, err)
	}
	if p.TableLastDate, err = time.Parse(dateFmt, last.String); err != nil {
		return Period{}, fmt.Errorf("parse last date %q: %w", last.String, err)
	}
	p.DataEndDate = p.TableLastDate
	if !p.TableLastDate.Before(p.Today) {
		// The newest day is today (or, with a skewed clock, later): it is
		// still running, so it is dropped.
		p.DataEndDate = p.Today.AddDate(0, 0, -1)
		if p.TableLastDate.Before(p.DataEndDate) {
			p.DataEndDate = p.TableLastDate
		}
	}
	p.HistoryStart = p.TableFirstDate
	if cfg.MaxDays > 0 {
		if s := p.DataEndDate.AddDate(0, 0, -(cfg.MaxDays - 1)); s.After(p.HistoryStart) {
			p.HistoryStart = s
		}
	}
	if p.DataEndDate.Before(p.HistoryStart) {
		return p, fmt.Errorf("data ends %s, before its first complete day %s: %w",
			p.DataEndDate.Format(dateFmt), p.HistoryStart.Format(dateFmt), ErrNoData)
	}
	p.LastFullWeek = mondayOf(p.DataEndDate.AddDate(0, 0, 1)).AddDate(0, 0, -7)
	return p, nil
}

// firstSeenView is the one entry of Tables that is a view.
const firstSeenView = "first_seen_wallets"

// stringKeysOnly makes Compute use string wallet keys from the start, so
// tests can prove both paths equal to the reference.
var stringKeysOnly bool

// Tables are the TEMP tables Compute creates (some only while it runs), in
// creation order; first_seen_wallets is a TEMP view over the ones before it.
var Tables = []string{
	"wallet_first",
	"wallet_events",
	"wallet_stats",
	"daily_wallets",
	"cohort_retention",
	"funnel",
	"value_windows",
	"wallet_active_days",
	"recv_first",
	"picked_txs",
	"first_seen_wallets",
	"acquisition",
}

// Summary is what Compute reports about the tables it built.
type Summary struct {
	Period Period
	// Wallets is the number of rows of first_seen_wallets (one per standard
	// principal seen as sender or as a successful STX recipient).
	Wallets int64
	// ActiveWallets is the number of wallets that signed at least one user
	// tx in the period (the cohort population; not receive-only).
	ActiveWallets int64
	// UserTxs is the number of activity events (user txs) in the period.
	UserTxs int64
	// NearHistoryStart counts wallets first seen within 30 days of
	// HistoryStart: their "new" may be left-censored.
	NearHistoryStart int64
	// NonceAboveZero counts wallets whose first tx in the period has nonce
	// > 0, i.e. that certainly signed txs before HistoryStart: "new" here,
	// but not new on chain (left-censoring, docs/metrics.md, "wallets and
	// first-seen").
	NonceAboveZero int64
	// Prices tells whether USD columns were computed.
	Prices bool
}

// Compute builds every metric table as a TEMP table on conn for the given
// period (from ResolvePeriod with the same cfg). It replaces tables left by an
// earlier call on the same connection.
func Compute(ctx context.Context, conn *sql.Conn, p Period, cfg Config) (Summary, error) {
	if len(p.Windows) == 0 {
		return Summary{}, errors.New("compute wallet metrics: period has no value windows (use ResolvePeriod)")
	}
	if cfg.PriceTable != "" && !isIdent(cfg.PriceTable) {
		return Summary{}, fmt.Errorf("compute wallet metrics: price table %q is not a plain identifier", cfg.PriceTable)
	}
	if _, err := conn.ExecContext(ctx, `SET TimeZone = 'UTC'`); err != nil {
		return Summary{}, fmt.Errorf("set time zone: %w", err)
	}
	hashKeys := !stringKeysOnly
	for i, sts := 0, statements(p, cfg.PriceTable, hashKeys); i < len(sts); i++ {
		st := sts[i]
		start := time.Now()
		c0 := cpuSeconds()
		if st.check {
			if !hashKeys {
				continue // string keys are exact by construction
			}
			var ok bool
			if err := conn.QueryRowContext(ctx, st.sql).Scan(&ok); err != nil {
				return Summary{}, fmt.Errorf("check %s: %w", st.name, err)
			}
			if !ok {
				// Two principals share a hash: start over with string keys.
				if cfg.Logf != nil {
					cfg.Logf("wallets: %s: no, using string keys", st.name)
				}
				hashKeys, sts, i = false, statements(p, cfg.PriceTable, false), -1
			}
			continue
		}
		if _, err := conn.ExecContext(ctx, st.sql); err != nil {
			return Summary{}, fmt.Errorf("build %s: %w", st.name, err)
		}
		if cfg.Logf != nil {
			cfg.Logf("wallets: %s in %s (%.2f s CPU)", st.name, time.Since(start).Round(time.Millisecond), cpuSeconds()-c0)
		}
	}
	s := Summary{Period: p, Prices: cfg.PriceTable != ""}
	var bad int64
	err := conn.QueryRowContext(ctx, summarySQL(p, hashKeys)).Scan(&s.Wallets, &s.ActiveWallets, &s.UserTxs, &s.NearHistoryStart, &s.NonceAboveZero, &bad)
	if err != nil {
		return s, fmt.Errorf("count first-seen wallets: %w", err)
	}
	if bad > 0 {
		// The acquisition rows are fetched by rowid in a later statement;
		// a writer changing the table in between would break that.
		return s, fmt.Errorf("%d wallets' first transaction changed while the metrics were computed: "+
			"the transactions table was modified concurrently; build again", bad)
	}
	if s.ActiveWallets == 0 {
		return s, fmt.Errorf("no wallet signed a user tx between %s and %s: %w",
			p.HistoryStart.Format(dateFmt), p.DataEndDate.Format(dateFmt), ErrNoData)
	}
	return s, nil
}

// Drop removes the TEMP tables Compute created. Closing the connection does
// the same; Drop is for callers that keep the connection.
func Drop(ctx context.Context, conn *sql.Conn) error {
	for i := len(Tables) - 1; i >= 0; i-- {
		kind := "TABLE"
		if Tables[i] == firstSeenView {
			kind = "VIEW"
		}
		if _, err := conn.ExecContext(ctx, "DROP "+kind+" IF EXISTS temp."+Tables[i]); err != nil {
			return fmt.Errorf("drop %s: %w", Tables[i], err)
		}
	}
	return nil
}

func isIdent(s string) bool {
	for i, r := range s {
		ok := r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (i > 0 && r >= '0' && r <= '9')
		if !ok {
			return false
		}
	}
	return s != ""
}
