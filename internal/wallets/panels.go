package wallets

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// DailyRow is one UTC day of the wallet growth panel.
type DailyRow struct {
	Date              time.Time
	ActiveWallets     int64 // distinct wallets that signed ≥1 user tx that day
	NewWallets        int64 // first_seen_date = Date
	ReturningWallets  int64 // active with first_seen_date < Date
	CumulativeWallets int64 // running sum of NewWallets from HistoryStart
	WAU7d             int64 // distinct active wallets in Date−6 … Date
	MAU30d            int64 // distinct active wallets in Date−29 … Date
	UserTxs           int64
	// FeesMicro is the exact sum of fee_rate (µSTX) of the day's user txs, as
	// a decimal string (the sum is a HUGEINT in DuckDB).
	FeesMicro string
	// ActiveSuccessOnly counts wallets with ≥1 successful user tx (the
	// success_only variant of daily active wallets, docs/metrics.md,
	// "daily wallets").
	ActiveSuccessOnly int64
}

// CohortCell is one (cohort week, week index) cell of the retention matrix.
type CohortCell struct {
	CohortWeek time.Time // Monday
	CohortSize int64
	WeekIndex  int
	// Active and Retention are NULL when week CohortWeek+WeekIndex is not
	// fully observed (it ends after data_end_date).
	Active    sql.NullInt64
	Retention sql.NullFloat64
}

// FunnelStep is one step of one funnel.
type FunnelStep struct {
	Funnel                 string
	StepOrder              int
	Step                   string
	Wallets                int64
	EligibleWallets        int64
	ConversionFromStart    sql.NullFloat64
	ConversionFromPrevious sql.NullFloat64 // NULL for step 0 and for bracket retention
}

// ValueWindow aggregates one value window over eligible wallets. USD fields
// and TxsMissingPrice are NULL without prices; every mean is NULL when no
// wallet is eligible.
type ValueWindow struct {
	WindowDays      int
	Wallets         int64 // eligible + censored: every wallet first seen in the period
	EligibleWallets int64 // first_seen_date + N − 1 ≤ data_end_date
	CensoredWallets int64
	FeesSTXMean     sql.NullFloat64
	FeesSTXMedian   sql.NullFloat64
	FeesSTXP90      sql.NullFloat64
	FeesUSDMean     sql.NullFloat64
	FeesUSDMedian   sql.NullFloat64
	STXSentMean     sql.NullFloat64
	STXSentMedian   sql.NullFloat64
	STXSentUSDMean  sql.NullFloat64
	TxsMissingPrice sql.NullInt64
	RepeatRate      sql.NullFloat64 // share of eligible wallets with ≥2 txs in the window
}

// AcquisitionRow counts wallets by the tx that first brought them in.
// Contract id and function name are untrusted chain text.
type AcquisitionRow struct {
	TxType       string
	ContractID   sql.NullString
	FunctionName sql.NullString
	Wallets      int64
	Share        float64
}

// Panels holds every panel read back from the TEMP tables.
type Panels struct {
	Daily       []DailyRow
	Cohorts     []CohortCell
	Funnel      []FunnelStep
	Values      []ValueWindow
	Acquisition []AcquisitionRow
}

// ReadPanels reads every panel from the tables Compute built on conn. The
// acquisition list keeps the topAcquisition largest entry points (0 = all).
func ReadPanels(ctx context.Context, conn *sql.Conn, topAcquisition int) (Panels, error) {
	var p Panels
	var err error
	if p.Daily, err = readDaily(ctx, conn); err != nil {
		return p, err
	}
	if p.Cohorts, err = readCohorts(ctx, conn); err != nil {
		return p, err
	}
	if p.Funnel, err = readFunnel(ctx, conn); err != nil {
		return p, err
	}
	if p.Values, err = readValues(ctx, conn); err != nil {
		return p, err
	}
	if p.Acquisition, err = readAcquisition(ctx, conn, topAcquisition); err != nil {
		return p, err
	}
	return p, nil
}

// query runs q and calls scan for each row, wrapping errors with what.
func query(ctx context.Context, conn *sql.Conn, what, q string, scan func(*sql.Rows) error) error {
	rows, err := conn.QueryContext(ctx, q)
	if err != nil {
		return fmt.Errorf("read %s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return fmt.Errorf("read %s: %w", what, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read %s: %w", what, err)
	}
	return nil
}

func parseDate(s string) (time.Time, error) { return time.Parse(dateFmt, s) }

func readDaily(ctx context.Context, conn *sql.Conn) ([]DailyRow, error) {
	var out []DailyRow
	err := query(ctx, conn, "daily_wallets", `
SELECT strftime(date, '%Y-%m-%d'), active_wallets, new_wallets, returning_wallets,
       cumulative_wallets, wau_7d, mau_30d, user_txs, fee_micro::VARCHAR,
       active_wallets_success_only
FROM daily_wallets ORDER BY date`, func(r *sql.Rows) error {
		var d DailyRow
		var date string
		if err := r.Scan(&date, &d.ActiveWallets, &d.NewWallets, &d.ReturningWallets,
			&d.CumulativeWallets, &d.WAU7d, &d.MAU30d, &d.UserTxs, &d.FeesMicro,
			&d.ActiveSuccessOnly); err != nil {
			return err
		}
		var err error
		d.Date, err = parseDate(date)
		out = append(out, d)
		return err
	})
	return out, err
}

func readCohorts(ctx context.Context, conn *sql.Conn) ([]CohortCell, error) {
	var out []CohortCell
	err := query(ctx, conn, "cohort_retention", `
SELECT strftime(cohort_week, '%Y-%m-%d'), cohort_size, week_index, active_wallets, retention
FROM cohort_retention ORDER BY cohort_week, week_index`, func(r *sql.Rows) error {
		var c CohortCell
		var week string
		if err := r.Scan(&week, &c.CohortSize, &c.WeekIndex, &c.Active, &c.Retention); err != nil {
			return err
		}
		var err error
		c.CohortWeek, err = parseDate(week)
		out = append(out, c)
		return err
	})
	return out, err
}

func readFunnel(ctx context.Context, conn *sql.Conn) ([]FunnelStep, error) {
	var out []FunnelStep
	err := query(ctx, conn, "funnel", `
SELECT funnel, step_order, step, wallets, eligible_wallets, conversion_from_start, conversion_from_previous
FROM funnel
ORDER BY CASE funnel WHEN 'activation_depth_30d' THEN 0 WHEN 'active_strict_90d' THEN 1 ELSE 2 END, step_order`,
		func(r *sql.Rows) error {
			var f FunnelStep
			err := r.Scan(&f.Funnel, &f.StepOrder, &f.Step, &f.Wallets, &f.EligibleWallets,
				&f.ConversionFromStart, &f.ConversionFromPrevious)
			out = append(out, f)
			return err
		})
	return out, err
}

func readValues(ctx context.Context, conn *sql.Conn) ([]ValueWindow, error) {
	var out []ValueWindow
	err := query(ctx, conn, "value_windows", `
SELECT window_days, wallets, eligible_wallets, censored_wallets, fees_stx_mean, fees_stx_median,
       fees_stx_p90, fees_usd_mean, fees_usd_median, stx_sent_mean, stx_sent_median,
       stx_sent_usd_mean, txs_missing_price, repeat_rate
FROM value_windows ORDER BY window_days`, func(r *sql.Rows) error {
		var v ValueWindow
		err := r.Scan(&v.WindowDays, &v.Wallets, &v.EligibleWallets, &v.CensoredWallets,
			&v.FeesSTXMean, &v.FeesSTXMedian, &v.FeesSTXP90, &v.FeesUSDMean, &v.FeesUSDMedian,
			&v.STXSentMean, &v.STXSentMedian, &v.STXSentUSDMean, &v.TxsMissingPrice, &v.RepeatRate)
		out = append(out, v)
		return err
	})
	return out, err
}

func readAcquisition(ctx context.Context, conn *sql.Conn, top int) ([]AcquisitionRow, error) {
	q := `
SELECT first_tx_type, first_contract_id, first_function_name, wallets, share
FROM acquisition
ORDER BY wallets DESC, first_tx_type, first_contract_id NULLS FIRST, first_function_name NULLS FIRST`
	if top > 0 {
		q += fmt.Sprintf(" LIMIT %d", top)
	}
	var out []AcquisitionRow
	err := query(ctx, conn, "acquisition", q, func(r *sql.Rows) error {
		var a AcquisitionRow
		err := r.Scan(&a.TxType, &a.ContractID, &a.FunctionName, &a.Wallets, &a.Share)
		out = append(out, a)
		return err
	})
	return out, err
}

// FormatMicroSTX renders an exact integer amount of µSTX (decimal string,
// optionally negative) as STX with six decimals, without floating point.
func FormatMicroSTX(micro string) string {
	neg := strings.HasPrefix(micro, "-")
	digits := strings.TrimPrefix(micro, "-")
	if digits == "" {
		return ""
	}
	for len(digits) < 7 {
		digits = "0" + digits
	}
	s := digits[:len(digits)-6] + "." + digits[len(digits)-6:]
	if neg {
		s = "-" + s
	}
	return s
}

// CopyFirstSeenParquet writes first_seen_wallets to path as zstd-compressed
// parquet, one row per wallet, ordered by first_seen_at then wallet so the
// file is reproducible. The path is written as a SQL string literal with
// quotes doubled.
//
// zstd runs at level 1: on 2.5 M wallets DuckDB's default level 3 spends
// twice the CPU of writing the file uncompressed, for a file that is no
// smaller (tx ids and addresses are random hex; the rest compresses as well
// at level 1).
func CopyFirstSeenParquet(ctx context.Context, conn *sql.Conn, path string) error {
	q := `COPY (SELECT * EXCLUDE (wid, _bad_pick) FROM first_seen_wallets ORDER BY first_seen_at NULLS LAST, wallet)
TO '` + strings.ReplaceAll(path, "'", "''") + `' (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1)`
	if _, err := conn.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("write first-seen parquet %s: %w", path, err)
	}
	return nil
}
