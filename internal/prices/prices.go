// Package prices keeps the daily STX/USD close in the `prices` table and
// builds the forward-filled price panel the dashboards value transactions
// with (docs/metrics.md, "STX/USD price").
//
// Sources are CoinGecko's market_chart endpoint or a `date,price_usd` CSV
// file. A source is read only when the stored series does not cover the
// requested days (missing at the start or stale at the end) or when
// ForceRefresh is set, and never when Offline is set. A missing or failing source never fails the caller:
// the USD columns stay empty and Status.Reason says why, for the page.
package prices

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Source names accepted in Config.Source (dashboards.prices.source).
const (
	SourceCoinGecko = "coingecko"
	SourceCSV       = "csv"
	SourceNone      = "none"
)

// PanelTable is the TEMP table Prepare builds: one row per day of the
// requested range with columns price_date DATE, price_usd DOUBLE (NULL when
// unknown), source_date DATE (the observed day the value comes from) and
// is_filled BOOLEAN.
const PanelTable = "price_panel"

// MaxFillDays is how far a price is carried forward over missing days; later
// days stay NULL so they show up in txs_missing_price.
const MaxFillDays = 7

// DefaultTimeout bounds one HTTP request to the price source.
const DefaultTimeout = 30 * time.Second

// Config selects and parameterises the price source.
type Config struct {
	// Source is coingecko, csv or none; empty means none.
	Source string
	// BaseURL is the CoinGecko API root, e.g. https://api.coingecko.com.
	BaseURL string
	// CoinID is CoinGecko's coin id; empty means "blockstack" (STX).
	CoinID string
	// CSVPath is the date,price_usd file when Source is csv.
	CSVPath string
	// ForceRefresh reads the source even when the stored series covers the
	// requested days.
	ForceRefresh bool
	// Offline never asks the network (BACKFILL_OFFLINE): a coingecko
	// series is used as stored, with its missing days unpriced.
	Offline bool
	// Client is the HTTP client; nil means one with Timeout.
	Client *http.Client
	// Timeout applies when Client is nil; 0 means DefaultTimeout.
	Timeout time.Duration
	// Now is the clock (fetched_at, the days parameter); nil means time.Now.
	Now func() time.Time
}

func (c Config) now() time.Time {
	if c.Now != nil {
		return c.Now().UTC()
	}
	return time.Now().UTC()
}

func (c Config) source() string {
	if c.Source == "" {
		return SourceNone
	}
	return c.Source
}

// Status reports what Prepare did and what the panel holds.
type Status struct {
	Source string
	// Available is true when at least one day of the range has a price
	// (observed or filled), so USD values can be computed.
	Available bool
	// Reason explains, in one sentence for the page, why USD values are
	// missing (Available false) or incomplete (some days unpriced).
	Reason string
	// Refreshed is true when the source was read in this run.
	Refreshed bool
	// NotFetched is true when the stored series lacked days but the source
	// was not asked for them (Config.Offline).
	NotFetched bool
	// Stored is the number of daily prices written to the table in this run.
	Stored int
	// Days, Observed, Filled and Unpriced count the panel's days: observed
	// that day, forward-filled, or without a price.
	Days, Observed, Filled, Unpriced int
	// FirstPriced and LastPriced bound the days that have a price (zero
	// when none).
	FirstPriced, LastPriced time.Time
}

// Point is one daily close: the STX/USD price at the end of UTC day Date.
type Point struct {
	Date  time.Time // midnight UTC
	Price float64
}

// Prepare brings the stored series up to date for [from, to] (reading the
// source only when needed) and builds the PanelTable TEMP table on conn.
// Source problems end up in Status.Reason, not in the error; the error is
// for a database that cannot build the panel.
func Prepare(ctx context.Context, conn *sql.Conn, cfg Config, from, to time.Time) (Status, error) {
	from, to = day(from), day(to)
	st := Status{Source: cfg.source()}
	if to.Before(from) {
		return st, fmt.Errorf("price range %s..%s is empty", from.Format(time.DateOnly), to.Format(time.DateOnly))
	}
	var srcErr error
	switch st.Source {
	case SourceNone:
		st.Reason = "No price source is configured (dashboards.prices.source: none), so USD values are not shown."
	case SourceCoinGecko, SourceCSV:
		srcErr = refresh(ctx, conn, cfg, from, to, &st)
	default:
		st.Reason = fmt.Sprintf("Unknown price source %q (want coingecko, csv or none), so USD values are not shown.", st.Source)
	}
	if ctx.Err() != nil {
		return st, ctx.Err()
	}
	panelSource := st.Source
	if srcErr != nil || st.Reason != "" {
		// A failing source leaves USD empty, even if older rows are stored:
		// a partly refreshed series would silently undervalue recent days.
		panelSource = ""
	}
	if err := buildPanel(ctx, conn, panelSource, from, to); err != nil {
		return st, err
	}
	if err := panelStats(ctx, conn, &st); err != nil {
		return st, err
	}
	switch {
	case srcErr != nil:
		st.Available = false
		st.Reason = fmt.Sprintf("STX/USD prices are unavailable (%s), so USD values are not shown.", srcErr)
	case st.Reason != "":
		st.Available = false
	case st.Observed+st.Filled == 0:
		st.Available = false
		st.Reason = fmt.Sprintf("The %s price source has no STX/USD price for %s to %s, so USD values are not shown.",
			st.Source, from.Format(time.DateOnly), to.Format(time.DateOnly))
	default:
		st.Available = true
		if st.Unpriced > 0 {
			st.Reason = fmt.Sprintf("%d of %d days have no STX/USD price (none observed within %d days before), so USD values are understated; see txs_missing_price.",
				st.Unpriced, st.Days, MaxFillDays)
		}
	}
	if st.NotFetched {
		st.Reason = strings.TrimSpace("BACKFILL_OFFLINE is set, so the " + st.Source +
			" price source was not asked for the days the stored series lacks. " + st.Reason)
	}
	return st, nil
}

// refresh reads the source when the stored series is missing days at either
// end of [from, to], or always with ForceRefresh, and stores what it read.
func refresh(ctx context.Context, conn *sql.Conn, cfg Config, from, to time.Time, st *Status) error {
	var lo, hi sql.NullString
	err := conn.QueryRowContext(ctx, `
SELECT strftime(min(price_date), '%Y-%m-%d'), strftime(max(price_date), '%Y-%m-%d')
FROM prices WHERE source = ? AND price_date BETWEEN ?::DATE AND ?::DATE`,
		st.Source, from.Format(time.DateOnly), to.Format(time.DateOnly)).Scan(&lo, &hi)
	if err != nil {
		return fmt.Errorf("read stored prices: %w", err)
	}
	missing := !lo.Valid || lo.String > from.Format(time.DateOnly) // missing at the start
	stale := !hi.Valid || hi.String < to.Format(time.DateOnly)     // missing at the end
	if !cfg.ForceRefresh && !missing && !stale {
		return nil
	}
	if cfg.Offline && st.Source == SourceCoinGecko {
		st.NotFetched = missing || stale
		return nil
	}
	var pts []Point
	switch st.Source {
	case SourceCoinGecko:
		pts, err = FetchCoinGecko(ctx, cfg, from)
	case SourceCSV:
		pts, err = ReadCSV(cfg.CSVPath)
	}
	if err != nil {
		return err
	}
	st.Refreshed = true
	if len(pts) == 0 {
		return errors.New("the source returned no daily price")
	}
	n, err := Store(ctx, conn, pts, st.Source, cfg.now())
	st.Stored = n
	return err
}

func day(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// Store upserts points into `prices` with the given source and fetch time,
// in one multi-row statement per chunk (never row by row). A day already
// stored from another source is replaced: the table holds one price per day.
func Store(ctx context.Context, conn *sql.Conn, pts []Point, source string, fetchedAt time.Time) (int, error) {
	const chunk = 500
	n := 0
	for i := 0; i < len(pts); i += chunk {
		part := pts[i:min(i+chunk, len(pts))]
		q := "INSERT OR REPLACE INTO prices (price_date, price_usd, source, fetched_at) VALUES "
		args := make([]any, 0, 4*len(part))
		for j, p := range part {
			if j > 0 {
				q += ", "
			}
			q += "(?::DATE, ?, ?, ?::TIMESTAMPTZ)"
			args = append(args, p.Date.Format(time.DateOnly), p.Price, source, fetchedAt.UTC().Format(time.RFC3339Nano))
		}
		if _, err := conn.ExecContext(ctx, q, args...); err != nil {
			return n, fmt.Errorf("store %d prices: %w", len(part), err)
		}
		n += len(part)
	}
	return n, nil
}

// buildPanel creates PanelTable for [from, to] from the stored prices of
// source ("" = none: every price NULL). Fill: the last observed price at or
// before the day, if observed at most MaxFillDays earlier; never back-filled.
func buildPanel(ctx context.Context, conn *sql.Conn, source string, from, to time.Time) error {
	_, err := conn.ExecContext(ctx, fmt.Sprintf(`
CREATE OR REPLACE TEMP TABLE %[1]s AS
WITH obs AS (
    SELECT price_date, price_usd FROM prices
    WHERE source = ? AND price_date <= ?::DATE AND isfinite(price_usd) AND price_usd > 0
),
spine AS (
    SELECT range::DATE AS price_date
    FROM range(least(?::DATE, (SELECT min(price_date) FROM obs)), ?::DATE + 1, INTERVAL 1 DAY)
),
joined AS (
    SELECT s.price_date, o.price_usd AS obs_usd,
           CASE WHEN o.price_usd IS NOT NULL THEN s.price_date END AS obs_date
    FROM spine s LEFT JOIN obs o USING (price_date)
),
filled AS (
    SELECT price_date, obs_usd,
           last_value(obs_usd  IGNORE NULLS) OVER w AS ffill_usd,
           last_value(obs_date IGNORE NULLS) OVER w AS ffill_date
    FROM joined
    WINDOW w AS (ORDER BY price_date ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)
SELECT price_date,
       CASE WHEN price_date - ffill_date <= %[2]d THEN ffill_usd END  AS price_usd,
       CASE WHEN price_date - ffill_date <= %[2]d THEN ffill_date END AS source_date,
       coalesce(obs_usd IS NULL AND price_date - ffill_date BETWEEN 1 AND %[2]d, false) AS is_filled
FROM filled
WHERE price_date >= ?::DATE`, PanelTable, MaxFillDays),
		source, to.Format(time.DateOnly), from.Format(time.DateOnly), to.Format(time.DateOnly), from.Format(time.DateOnly))
	if err != nil {
		return fmt.Errorf("build price panel: %w", err)
	}
	return nil
}

func panelStats(ctx context.Context, conn *sql.Conn, st *Status) error {
	var first, last sql.NullString
	err := conn.QueryRowContext(ctx, `
SELECT count(*),
       count(*) FILTER (WHERE price_usd IS NOT NULL AND NOT is_filled),
       count(*) FILTER (WHERE is_filled),
       count(*) FILTER (WHERE price_usd IS NULL),
       strftime(min(price_date) FILTER (WHERE price_usd IS NOT NULL), '%Y-%m-%d'),
       strftime(max(price_date) FILTER (WHERE price_usd IS NOT NULL), '%Y-%m-%d')
FROM `+PanelTable).Scan(&st.Days, &st.Observed, &st.Filled, &st.Unpriced, &first, &last)
	if err != nil {
		return fmt.Errorf("read price panel counts: %w", err)
	}
	if first.Valid {
		st.FirstPriced, _ = time.Parse(time.DateOnly, first.String)
		st.LastPriced, _ = time.Parse(time.DateOnly, last.String)
	}
	return nil
}

// Day is one row of the price panel.
type Day struct {
	Date       time.Time
	PriceUSD   sql.NullFloat64
	SourceDate sql.NullTime // the observed day the price comes from
	IsFilled   bool
}

// ReadPanel returns PanelTable's rows in date order.
func ReadPanel(ctx context.Context, conn *sql.Conn) ([]Day, error) {
	rows, err := conn.QueryContext(ctx, `
SELECT strftime(price_date, '%Y-%m-%d'), price_usd, strftime(source_date, '%Y-%m-%d'), is_filled
FROM `+PanelTable+` ORDER BY price_date`)
	if err != nil {
		return nil, fmt.Errorf("read price panel: %w", err)
	}
	defer rows.Close()
	var out []Day
	for rows.Next() {
		var d Day
		var date string
		var src sql.NullString
		if err := rows.Scan(&date, &d.PriceUSD, &src, &d.IsFilled); err != nil {
			return nil, fmt.Errorf("read price panel: %w", err)
		}
		d.Date, _ = time.Parse(time.DateOnly, date)
		if src.Valid {
			t, _ := time.Parse(time.DateOnly, src.String)
			d.SourceDate = sql.NullTime{Time: t, Valid: true}
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read price panel: %w", err)
	}
	return out, nil
}
