package wallets

import (
	"fmt"
	"strings"
)

// statement is one step of Compute. A check is a query returning one
// boolean: false means the integer wallet keys are not exact on this data,
// and Compute starts again with string keys.
type statement struct {
	name, sql string
	check     bool
}

// userTxWhere selects the activity events (docs/metrics.md, "wallets and
// first-seen"): user transactions signed by a standard principal, any
// status, inside the history window. The window is expressed on block_time
// itself, so DuckDB can skip row groups with its zone maps; with
// `SET TimeZone='UTC'`, DATE → TIMESTAMPTZ is midnight UTC.
func userTxWhere(p Period) string {
	return fmt.Sprintf(`canonical
  AND tx_type IN ('token_transfer', 'contract_call', 'smart_contract')
  AND position('.' IN sender_address) = 0
  AND block_time >= %s::TIMESTAMPTZ
  AND block_time <  (%s + 1)::TIMESTAMPTZ`, sqlDate(p.HistoryStart), sqlDate(p.DataEndDate))
}

// Expressions shared by the statements over `transactions`.
const (
	// dayNumber is the UTC day of block_time as days since 1970-01-01. It is
	// integer arithmetic on the instant: the TIMESTAMPTZ → DATE cast goes
	// through the ICU calendar and costs ten times more per row.
	dayNumber = `(epoch_us(block_time) // 86400000000)::INTEGER`
	// chainOrder orders txs by time, ties broken in chain order (block
	// height, then position in the block): one HUGEINT, so arg_min keeps a
	// small numeric state that DuckDB can spill, unlike a struct key. The
	// low 64 bits are assembled in BIGINT arithmetic (heights stay far
	// below 2^31, so they are never negative) and widened once: HUGEINT
	// shifts per row cost more than the aggregation they feed. The time is
	// placed above them by multiplying by 2^64 and adding, not by `<<` and
	// `|`: the same value for a low part in [0, 2^64), and DuckDB's checked
	// HUGEINT shift costs about 0.2 CPU-s more per 10 M rows than its
	// multiplication.
	chainOrder = `(epoch_us(block_time)::HUGEINT * 18446744073709551616 + ((block_height << 32) | tx_index))`
)

// keyHash is the SQL of a principal's integer key, a format with the column
// as its one argument. Tests replace it with a colliding one to exercise the
// string-key fallback.
var keyHash = "hash(%s)"

func keyOf(col string) string { return fmt.Sprintf(keyHash, col) }

// keys returns how recv_first (r) joins wallet_first (f), and the
// wallet_first column that wallet_stats' key k holds: the hashes, or the
// addresses and wid on the string-key path.
func keys(hashKeys bool) (joinKey, walletKey string) {
	if hashKeys {
		return "r.h = f.h", "h"
	}
	return "r.wallet = f.wallet", "wid"
}

// statements returns the DDL that builds every metric table, in order.
//
// With hashKeys, wallets are joined and grouped by hash(wallet), a UBIGINT,
// instead of by their 41-character string: the per-wallet-day GROUP BY then
// reads transactions once with integer keys and never probes a string hash
// table with 10 M rows. That is exact only while no two principals share a
// hash, so the check statements prove it on the data (distinct hashes per
// table, and equal strings wherever two tables are joined on the hash);
// Compute falls back to string keys when one fails.
func statements(p Period, priceTable string, hashKeys bool) []statement {
	start, end := sqlDate(p.HistoryStart), sqlDate(p.DataEndDate)
	lastFullWeek := sqlDate(p.LastFullWeek)
	joinKey, walletKey := keys(hashKeys)
	// wid numbers the wallets for the string-key path's joins and
	// groupings. The hash-key path never reads it, and numbering rows is a
	// streaming window that runs the end of the wallet grouping on one
	// thread, so there it is NULL.
	wid := "NULL::INTEGER"
	if !hashKeys {
		wid = "(row_number() OVER ())::INTEGER"
	}

	// Prices: a LEFT JOIN on the panel, or a typed NULL when there is none, so
	// every USD expression below degrades to NULL instead of 0.
	priceJoin := "LEFT JOIN (SELECT NULL::DATE AS price_date, NULL::DOUBLE AS price_usd) p ON false"
	if priceTable != "" {
		priceJoin = "LEFT JOIN " + priceTable + " p ON p.price_date = DATE '1970-01-01' + e.dn AND p.price_usd IS NOT NULL"
	}
	return []statement{
		// Per wallet: first-seen (min block_time, any status), the
		// acquisition tx's row (its details are fetched by rowid below),
		// first success, last tx. wid is an integer id for the string-key
		// path's joins and groupings (NULL on the hash-key path); no output
		// depends on its values. dn0 is the first-seen UTC day as days since
		// 1970-01-01.
		{name: "wallet_first", sql: fmt.Sprintf(`
CREATE OR REPLACE TEMP TABLE wallet_first AS
SELECT wallet, %[3]s AS h, %[4]s AS wid,
       (epoch_us(first_seen_at) // 86400000000)::INTEGER AS dn0,
       * EXCLUDE (wallet)
FROM (
    SELECT sender_address                                          AS wallet,
           min(block_time)                                         AS first_seen_at,
           arg_min(rowid, %[2]s)                                   AS first_row,
           min(block_time) FILTER (WHERE tx_status = 'success')    AS first_success_at,
           max(block_time)                                         AS last_sent_at,
           count(*)                                                AS lifetime_txs
    FROM transactions
    WHERE %[1]s
    GROUP BY sender_address
)`, userTxWhere(p), chainOrder, keyOf("wallet"), wid)},

		{name: "wallet keys unique", sql: `SELECT count(DISTINCT h) = count(*) FROM wallet_first`, check: true},

		// One row per activity event, in one sort by (wallet, day): its
		// day index, and the wallet's previous active day on the first
		// event of each wallet-day. Every metric below reads this table.
		walletEventsSQL(p, hashKeys),

		// Per wallet, everything the per-wallet panels need from its
		// events, in one GROUP BY: active days (first-seen table), the
		// funnel inputs and the value-window sums.
		{name: "wallet_stats", sql: walletStatsSQL(p.Windows, priceJoin, priceTable != "")},

		// Daily new / returning / active plus trailing 7- and 30-day distinct
		// active wallets. The rolling counts use disjoint coverage intervals:
		// a wallet active on day t covers the windows ending t … t+W−1; the
		// part not already covered by its previous active day p is
		// [max(t, p+W), t+W−1]. Summing +1 at each interval's start and −1
		// the day after its end over a date spine counts each wallet once
		// per window in O(rows), instead of joining every day with its
		// 30-day neighbourhood. Every wallet-day's interval ends on t+W−1,
		// so the −1s on day d are the active wallets of day d−W: only the
		// starts are grouped.
		// A wallet-day is the first event of its (wallet, day), the row
		// with new_day; its prev is the wallet's previous active day.
		// The wallet-day has a successful tx when that first event is one
		// (the sort puts successes first within a day).
		{name: "daily_wallets", sql: fmt.Sprintf(`
CREATE OR REPLACE TEMP TABLE daily_wallets AS
WITH spine AS (
    SELECT range::DATE AS d FROM range(%[1]s, %[2]s + 1, INTERVAL 1 DAY)
),
agg AS (
    SELECT DATE '1970-01-01' + dn                             AS d,
           count(*) FILTER (WHERE new_day)                    AS active_wallets,
           count(*) FILTER (WHERE new_day AND day_idx = 0)    AS new_wallets,
           count(*) FILTER (WHERE new_day AND day_idx > 0)    AS returning_wallets,
           count(*) FILTER (WHERE new_day AND ok)             AS active_wallets_success_only,
           count(*)                                           AS user_txs,
           sum(fee_micro)                                     AS fee_micro
    FROM wallet_events
    GROUP BY dn
),
lagged AS (SELECT dn, prev FROM wallet_events WHERE new_day),
starts AS (
    SELECT greatest(dn, coalesce(prev + 7, dn))  AS dn, 1 AS e7, 0 AS e30 FROM lagged
    UNION ALL
    SELECT greatest(dn, coalesce(prev + 30, dn)),       0,       1        FROM lagged
),
evd AS (
    SELECT DATE '1970-01-01' + dn AS d, sum(e7) AS e7, sum(e30) AS e30 FROM starts GROUP BY dn
)
SELECT s.d                                                         AS date,
       coalesce(a.active_wallets, 0)                               AS active_wallets,
       coalesce(a.new_wallets, 0)                                  AS new_wallets,
       coalesce(a.returning_wallets, 0)                            AS returning_wallets,
       sum(coalesce(a.new_wallets, 0)) OVER w                      AS cumulative_wallets,
       sum(coalesce(e.e7, 0) - coalesce(a7.active_wallets, 0)) OVER w   AS wau_7d,
       sum(coalesce(e.e30, 0) - coalesce(a30.active_wallets, 0)) OVER w AS mau_30d,
       coalesce(a.user_txs, 0)                                     AS user_txs,
       coalesce(a.fee_micro, 0)::HUGEINT                           AS fee_micro,
       coalesce(a.active_wallets_success_only, 0)                  AS active_wallets_success_only
FROM spine s
LEFT JOIN agg a USING (d)
LEFT JOIN evd e USING (d)
LEFT JOIN agg a7 ON a7.d + 7 = s.d
LEFT JOIN agg a30 ON a30.d + 30 = s.d
WINDOW w AS (ORDER BY s.d ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)`, start, end)},

		// Weekly cohort retention, long form. A cell (c, k) is observed only
		// when week c+k ended on or before data_end_date; otherwise it is
		// NULL, never 0. Cohorts whose own week is incomplete (at either end
		// of the data) are dropped. A wallet counts once in week c+k: on its
		// first active day of that week, the one whose previous active day
		// lies in an earlier week (or that has none). Weeks are numbered
		// (days since 1970-01-01 + 3) // 7, which starts them on Mondays
		// (1970-01-01 was a Thursday), so no DISTINCT over wallet-weeks and
		// no date_trunc per row is needed.
		{name: "cohort_retention", sql: fmt.Sprintf(`
CREATE OR REPLACE TEMP TABLE cohort_retention AS
WITH ww AS (
    SELECT (dn - day_idx + 3) // 7 AS cw,
           (dn + 3) // 7           AS aw,
           (prev + 3) // 7         AS pw
    FROM wallet_events
    WHERE new_day
),
hits AS (
    SELECT DATE '1970-01-01' + (cw * 7 - 3)::INT AS cohort_week,
           (aw - cw)::INT                        AS week_index,
           count(*)                              AS active_wallets
    FROM ww
    WHERE pw IS NULL OR pw < aw
    GROUP BY ALL
),
sizes AS (
    SELECT date_trunc('week', DATE '1970-01-01' + dn0)::DATE AS cohort_week, count(*) AS cohort_size
    FROM wallet_first
    GROUP BY cohort_week
),
sized AS (
    -- a cohort week must lie wholly inside [history start, data end]: the
    -- first week is partial when the data does not start on a Monday
    SELECT * FROM sizes WHERE cohort_week <= %[1]s AND cohort_week >= %[3]s
),
kmax AS (
    SELECT least(%[2]d, coalesce((%[1]s - min(cohort_week)) // 7, 0))::INT AS k FROM sized
),
grid AS (
    SELECT s.cohort_week, s.cohort_size, r.range::INT AS week_index
    FROM sized s, kmax, range(0, kmax.k + 1) r
)
SELECT g.cohort_week,
       g.cohort_size,
       g.week_index,
       CASE WHEN g.cohort_week + 7 * g.week_index <= %[1]s
            THEN coalesce(h.active_wallets, 0) END                          AS active_wallets,
       CASE WHEN g.cohort_week + 7 * g.week_index <= %[1]s
            THEN coalesce(h.active_wallets, 0)::DOUBLE / g.cohort_size END  AS retention
FROM grid g
LEFT JOIN hits h USING (cohort_week, week_index)`, lastFullWeek, p.MaxWeekIndex, start)},

		// Every later statement reads the per-wallet tables; dropping the
		// 10 M events here leaves their memory to the first-seen joins.
		{name: "drop wallet_events", sql: `DROP TABLE wallet_events`},

		// Funnels (docs/metrics.md, "funnels"): A = activation depth within
		// day index 0…29 (eligible when the 30-day window is observed);
		// C = activity in the brackets [1–14], [15–29], [30–59], [60–89]
		// (eligible when the 90-day window is observed), as a strict funnel
		// and, separately, as bracket retention, which is not a funnel.
		{name: "funnel", sql: fmt.Sprintf(`
CREATE OR REPLACE TEMP TABLE funnel AS
WITH fw AS (SELECT * FROM wallet_stats),
a AS (SELECT * FROM fw WHERE first_seen_date + 29 <= %[1]s),
c AS (SELECT * FROM fw WHERE first_seen_date + 89 <= %[1]s),
steps AS (
    SELECT 'activation_depth_30d' AS funnel, 0 AS step_order, 'first tx (day 0)' AS step,
           count(*) AS wallets, count(*) AS eligible_wallets FROM a
    UNION ALL SELECT 'activation_depth_30d', 1, '>=2 txs in days 0-29',
           count(*) FILTER (WHERE txs_30d >= 2), count(*) FROM a
    UNION ALL SELECT 'activation_depth_30d', 2, '>=5 txs in days 0-29',
           count(*) FILTER (WHERE txs_30d >= 5), count(*) FROM a
    UNION ALL SELECT 'activation_depth_30d', 3, '>=10 txs in days 0-29',
           count(*) FILTER (WHERE txs_30d >= 10), count(*) FROM a
    UNION ALL SELECT 'active_strict_90d', 0, 'first tx (day 0)', count(*), count(*) FROM c
    UNION ALL SELECT 'active_strict_90d', 1, 'active days 1-14 (by day 15)',
           count(*) FILTER (WHERE b1), count(*) FROM c
    UNION ALL SELECT 'active_strict_90d', 2, '+ active days 15-29 (by day 30)',
           count(*) FILTER (WHERE b1 AND b2), count(*) FROM c
    UNION ALL SELECT 'active_strict_90d', 3, '+ active days 30-59 (by day 60)',
           count(*) FILTER (WHERE b1 AND b2 AND b3), count(*) FROM c
    UNION ALL SELECT 'active_strict_90d', 4, '+ active days 60-89 (by day 90)',
           count(*) FILTER (WHERE b1 AND b2 AND b3 AND b4), count(*) FROM c
    UNION ALL SELECT 'active_bracket_90d', 0, 'first tx (day 0)', count(*), count(*) FROM c
    UNION ALL SELECT 'active_bracket_90d', 1, 'active days 1-14',
           count(*) FILTER (WHERE b1), count(*) FROM c
    UNION ALL SELECT 'active_bracket_90d', 2, 'active days 15-29',
           count(*) FILTER (WHERE b2), count(*) FROM c
    UNION ALL SELECT 'active_bracket_90d', 3, 'active days 30-59',
           count(*) FILTER (WHERE b3), count(*) FROM c
    UNION ALL SELECT 'active_bracket_90d', 4, 'active days 60-89',
           count(*) FILTER (WHERE b4), count(*) FROM c
)
SELECT funnel, step_order, step, wallets, eligible_wallets,
       CASE WHEN eligible_wallets > 0 THEN wallets::DOUBLE / eligible_wallets END AS conversion_from_start,
       -- bracket retention is independent per bracket, so it has no step-to-step conversion
       CASE WHEN funnel <> 'active_bracket_90d'
            THEN wallets::DOUBLE / nullif(lag(wallets) OVER (PARTITION BY funnel ORDER BY step_order), 0)
       END AS conversion_from_previous
FROM steps`, end)},

		// Aggregates over eligible (complete-window) wallets only; right-
		// censored wallets are counted, never zero-filled. Means include zeros.
		// STX means divide an exact integer sum once, so they are exact and
		// independent of summation order. The per-wallet sums of every window
		// are columns of wallet_stats (day index 0 … N−1; USD values each day
		// at its own price, docs/metrics.md, "value windows"), so one scan of
		// it with a filter per window computes every window.
		{name: "value_windows", sql: valueWindowsSQL(p.Windows, end, priceTable != "")},

		// The first-seen view needs only the active days of the wide per-
		// wallet table; keeping the rest would take memory from the parquet
		// file's sort.
		{name: "wallet_active_days", sql: `
CREATE OR REPLACE TEMP TABLE wallet_active_days AS SELECT k, active_days FROM wallet_stats`},
		{name: "drop wallet_stats", sql: `DROP TABLE wallet_stats`},

		// First successful STX transfer to each standard principal ("first
		// funded", docs/metrics.md, "wallets and first-seen") and its sender.
		// The sender is kept in the aggregate: it is read for the filter
		// anyway, and its state only changes when an earlier transfer turns
		// up, while fetching 2 M funder rows by rowid would scan the table
		// again.
		{name: "recv_first", sql: fmt.Sprintf(`
CREATE OR REPLACE TEMP TABLE recv_first AS
SELECT token_transfer_recipient_address                            AS wallet,
       %[3]s AS h,
       min(block_time)                                             AS first_received_at,
       arg_min(sender_address, %[2]s)                              AS first_funder
FROM transactions
WHERE %[1]s
  AND tx_type = 'token_transfer' AND tx_status = 'success'
  AND token_transfer_recipient_address IS NOT NULL
  AND position('.' IN token_transfer_recipient_address) = 0
GROUP BY token_transfer_recipient_address`, userTxWhere(p), chainOrder, keyOf("token_transfer_recipient_address"))},

		{name: "recipient keys unique", sql: `SELECT count(DISTINCT h) = count(*) FROM recv_first`, check: true},
		// Equal hashes on both sides must be the same principal, or the full
		// join below would pair two different wallets.
		{name: "joined keys equal", sql: `
SELECT count(*) = 0 FROM wallet_first f JOIN recv_first r ON r.h = f.h WHERE r.wallet <> f.wallet`, check: true},

		// The few rows whose details the first-seen table shows, fetched by
		// rowid instead of carrying wide strings through the aggregates.
		{name: "picked_txs", sql: `
CREATE OR REPLACE TEMP TABLE picked_txs AS
SELECT rowid                                                       AS rid,
       tx_id, tx_type, tx_status, block_time,
       coalesce(contract_call_contract_id, smart_contract_contract_id) AS contract_id,
       contract_call_function_name                                 AS function_name,
       nonce, sponsored, sender_address
FROM transactions
WHERE rowid IN (SELECT first_row FROM wallet_first)`},

		// first_seen_wallets (docs/metrics.md, "wallets and first-seen"): one
		// row per standard principal seen as sender or as a successful STX
		// recipient. It is a view: its wide rows (tx ids, contract ids,
		// addresses) are only needed by the parquet file, whose COPY sorts
		// them straight from these joins; materialising 2.5 M of them first
		// would cost as much as the sort and push the other tables to disk.
		// The counts Compute and the acquisition panel read from it touch
		// only the narrow columns, so DuckDB computes only those.
		{name: "first_seen_wallets", sql: fmt.Sprintf(`
CREATE OR REPLACE TEMP VIEW first_seen_wallets AS
SELECT coalesce(f.wallet, r.wallet)                                AS wallet,
       f.first_seen_at,
       DATE '1970-01-01' + f.dn0                                   AS first_seen_date,
       date_trunc('week',  DATE '1970-01-01' + f.dn0)::DATE        AS cohort_week,
       date_trunc('month', DATE '1970-01-01' + f.dn0)::DATE        AS cohort_month,
       a.tx_id                                                     AS first_tx_id,
       a.tx_type                                                   AS first_tx_type,
       a.tx_status                                                 AS first_tx_status,
       a.contract_id                                               AS first_contract_id,
       a.function_name                                             AS first_function_name,
       a.nonce                                                     AS first_nonce,
       a.sponsored                                                 AS first_sponsored,
       f.first_success_at,
       f.last_sent_at,
       coalesce(f.lifetime_txs, 0)                                 AS lifetime_txs,
       coalesce(d.active_days, 0)                                  AS lifetime_active_days,
       r.first_received_at,
       r.first_funder,
       least(f.first_seen_at, r.first_received_at)                 AS first_any_at,
       f.wallet IS NULL                                            AS receive_only,
       coalesce(f.dn0, (epoch_us(r.first_received_at) // 86400000000)::INTEGER)
           < %[1]d + 30                                            AS near_history_start,
       f.wid,
       -- consistency guard: the fetched rows must be the ones aggregated
       f.wallet IS NOT NULL AND (a.sender_address IS DISTINCT FROM f.wallet
           OR a.block_time IS DISTINCT FROM f.first_seen_at)       AS _bad_pick
FROM wallet_first f
FULL OUTER JOIN recv_first r ON %[2]s
LEFT JOIN picked_txs a ON a.rid = f.first_row
LEFT JOIN wallet_active_days d ON d.k = f.%[3]s`, p.HistoryStart.Unix()/86400, joinKey, walletKey)},

		// Acquisition entry points: which tx first brought wallets in (the
		// "first function" segmentation, docs/metrics.md, "acquisition").
		// Contract ids and function names are chain data, i.e. untrusted text.
		// The wallets that signed a tx are the rows of wallet_first, each
		// with its first tx in picked_txs (the first-seen view's rows that
		// are not receive-only), so the wide view is not computed for it.
		{name: "acquisition", sql: `
CREATE OR REPLACE TEMP TABLE acquisition AS
SELECT a.tx_type       AS first_tx_type,
       a.contract_id   AS first_contract_id,
       a.function_name AS first_function_name,
       count(*) AS wallets,
       count(*)::DOUBLE / sum(count(*)) OVER () AS share
FROM wallet_first f
LEFT JOIN picked_txs a ON a.rid = f.first_row
GROUP BY ALL`},
	}
}

// walletEventsSQL builds wallet_events: one row per activity event with
// its wallet's key k, its UTC day dn, day_idx (0 on the first-seen day),
// whether it succeeded, its fee and STX sent, and prev, the day of the
// wallet's event before it in (day, success first) order. new_day marks the
// first event of each wallet-day; there prev is the previous active day.
//
// One window sort of the events replaces grouping them by (wallet, day)
// and then sorting the wallet-days for their previous day: nearly every
// event is its own wallet-day (10 M events, 8.3 M wallet-days in the
// benchmark), so the hash aggregate cost as much as the sort and the sort
// was needed anyway. With hashKeys the key is the sender's hash, proven
// distinct per address by the wallet_first check; otherwise every event is
// joined to its wallet by string first and keyed by wid.
func walletEventsSQL(p Period, hashKeys bool) statement {
	key, from := keyOf("t.sender_address"), "transactions t"
	if !hashKeys {
		key, from = "f.wid", "transactions t\n    JOIN wallet_first f ON f.wallet = t.sender_address"
	}
	return statement{name: "wallet_events", sql: fmt.Sprintf(`
CREATE OR REPLACE TEMP TABLE wallet_events AS
SELECT *, prev IS DISTINCT FROM dn AS new_day
FROM (
    SELECT k, dn, (dn - first_value(dn) OVER w)::INTEGER AS day_idx, lag(dn) OVER w AS prev,
           ok, fee_micro, sent_micro
    FROM (
        SELECT %[2]s AS k,
               %[3]s AS dn,
               t.tx_status = 'success'                             AS ok,
               t.fee_rate                                          AS fee_micro,
               CASE WHEN t.tx_type = 'token_transfer' AND t.tx_status = 'success'
                    THEN t.token_transfer_amount END               AS sent_micro
        FROM %[4]s
        WHERE %[1]s
    )
    WINDOW w AS (PARTITION BY k ORDER BY dn, ok DESC)
)`, userTxWhere(p), key, dayNumber, from)}
}

// walletStatsSQL builds wallet_stats: one row per wallet with its active
// days, the funnel inputs and, per value window N, sums over day index
// 0 … N−1. It reads wallet_events once, grouped by wallet, with one
// filtered aggregate per window and measure (instead of joining every event
// to every window).
//
// USD values each day at its own price before summing (docs/metrics.md,
// "value windows"; every event is valued at its day's price), in exact
// integer arithmetic: the price is taken in
// units of 1e-8 USD and multiplied by the exact µSTX amount, so every USD
// sum is a HUGEINT in units of 1e-14 USD. Floating-point sums would depend on the order
// DuckDB's threads add them in, and the output must be reproducible; the
// rounding of the price to 1e-8 USD is far below any source's precision.
// With prices, a day without one contributes 0 USD and is counted in
// txs_missing_price (the USD sum is understated, and says by how much);
// without prices every USD value is NULL.
func walletStatsSQL(windows []int, priceJoin string, withPrices bool) string {
	var aggs []string
	for _, w := range windows {
		in := fmt.Sprintf("day_idx < %d", w)
		aggs = append(aggs,
			fmt.Sprintf("count(*) FILTER (WHERE %s) AS txs_%d", in, w),
			fmt.Sprintf("coalesce(sum(fee_micro) FILTER (WHERE %s), 0)::HUGEINT AS fee_%d", in, w),
			fmt.Sprintf("coalesce(sum(sent_micro) FILTER (WHERE %s), 0)::HUGEINT AS sent_%d", in, w))
		if withPrices {
			aggs = append(aggs,
				fmt.Sprintf("coalesce(sum(fee_micro * price_e8) FILTER (WHERE %s), 0)::HUGEINT AS fee_usd_%d", in, w),
				fmt.Sprintf("coalesce(sum(sent_micro * price_e8) FILTER (WHERE %s), 0)::HUGEINT AS sent_usd_%d", in, w),
				fmt.Sprintf("count(*) FILTER (WHERE %s AND price_e8 IS NULL) AS missing_%d", in, w))
		}
	}
	return fmt.Sprintf(`
CREATE OR REPLACE TEMP TABLE wallet_stats AS
WITH wd AS (
    SELECT e.k, e.dn, e.day_idx, e.new_day, e.fee_micro::HUGEINT AS fee_micro, e.sent_micro::HUGEINT AS sent_micro,
           round(p.price_usd * 1e8)::HUGEINT AS price_e8
    FROM wallet_events e
    %s
)
SELECT k,
       count(*) FILTER (WHERE new_day)                   AS active_days,
       DATE '1970-01-01' + min(dn - day_idx)             AS first_seen_date,
       -- funnels (docs/metrics.md, "funnels")
       count(*) FILTER (WHERE day_idx < 30)              AS txs_30d,
       bool_or(day_idx BETWEEN  1 AND 14)                AS b1,
       bool_or(day_idx BETWEEN 15 AND 29)                AS b2,
       bool_or(day_idx BETWEEN 30 AND 59)                AS b3,
       bool_or(day_idx BETWEEN 60 AND 89)                AS b4,
       %s
FROM wd
GROUP BY k`, priceJoin, strings.Join(aggs, ",\n       "))
}

// valueWindowsSQL builds value_windows, one row per window N, from
// wallet_stats in one pass: every aggregate is filtered to the wallets whose
// window is complete (first_seen_date + N − 1 ≤ data_end_date) and reads
// that window's columns. Without prices the USD columns are typed NULLs, so
// their aggregates are NULL rather than 0.
//
// The fee median and 90th percentile of a window are one quantile_cont over
// a list of both: a quantile aggregate collects every eligible wallet's
// value before selecting, and the list form collects them once for both
// (the same order statistics, so the same doubles).
func valueWindowsSQL(windows []int, end string, withPrices bool) string {
	var aggs, rows []string
	for _, w := range windows {
		feesUSD, sentUSD, missing := "NULL::HUGEINT", "NULL::HUGEINT", "NULL::BIGINT"
		if withPrices {
			feesUSD, sentUSD, missing = fmt.Sprintf("fee_usd_%d", w), fmt.Sprintf("sent_usd_%d", w), fmt.Sprintf("missing_%d", w)
		}
		in := fmt.Sprintf("FILTER (WHERE first_seen_date + %d <= %s)", w-1, end)
		aggs = append(aggs, fmt.Sprintf(`count(*) %[1]s AS eligible_%[2]d,
           count(*) FILTER (WHERE NOT (first_seen_date + %[3]d <= %[4]s)) AS censored_%[2]d,
           sum(fee_%[2]d) %[1]s AS fee_sum_%[2]d,
           sum(sent_%[2]d) %[1]s AS sent_sum_%[2]d,
           quantile_cont(fee_%[2]d::DOUBLE / 1e6, [0.5, 0.9]) %[1]s AS fees_stx_q_%[2]d,
           sum(%[5]s) %[1]s AS fees_usd_e14_sum_%[2]d,
           quantile_cont(%[5]s::DOUBLE / 1e14, 0.5) %[1]s AS fees_usd_median_%[2]d,
           quantile_cont(sent_%[2]d::DOUBLE / 1e6, 0.5) %[1]s AS stx_sent_median_%[2]d,
           sum(%[6]s) %[1]s AS sent_usd_e14_sum_%[2]d,
           sum(%[7]s) %[1]s AS txs_missing_price_%[2]d,
           avg((txs_%[2]d >= 2)::INT) %[1]s AS repeat_rate_%[2]d`, in, w, w-1, end, feesUSD, sentUSD, missing))
		rows = append(rows, fmt.Sprintf(`SELECT %[1]d AS window_days,
       wallets,
       eligible_%[1]d                                                AS eligible_wallets,
       censored_%[1]d                                                AS censored_wallets,
       fee_sum_%[1]d::DOUBLE / nullif(eligible_%[1]d, 0) / 1e6        AS fees_stx_mean,
       fees_stx_q_%[1]d[1]                                           AS fees_stx_median,
       fees_stx_q_%[1]d[2]                                           AS fees_stx_p90,
       fees_usd_e14_sum_%[1]d::DOUBLE / nullif(eligible_%[1]d, 0) / 1e14 AS fees_usd_mean,
       fees_usd_median_%[1]d                                         AS fees_usd_median,
       sent_sum_%[1]d::DOUBLE / nullif(eligible_%[1]d, 0) / 1e6       AS stx_sent_mean,
       stx_sent_median_%[1]d                                         AS stx_sent_median,
       sent_usd_e14_sum_%[1]d::DOUBLE / nullif(eligible_%[1]d, 0) / 1e14 AS stx_sent_usd_mean,
       CASE WHEN eligible_%[1]d > 0 THEN txs_missing_price_%[1]d END  AS txs_missing_price,
       repeat_rate_%[1]d                                             AS repeat_rate
FROM agg`, w))
	}
	return fmt.Sprintf(`
CREATE OR REPLACE TEMP TABLE value_windows AS
WITH agg AS (
    SELECT count(*) AS wallets,
           %s
    FROM wallet_stats
)
%s`, strings.Join(aggs, ",\n           "), strings.Join(rows, "\nUNION ALL\n"))
}

// summarySQL counts what Summary reports about first_seen_wallets from the
// narrow tables behind the view, without its wide joins: the view is one
// row per wallet_first row (a sender) plus one per recv_first row with no
// sender of the same key (receive-only), keys being unique on both sides;
// its sender rows' first-tx columns come from picked_txs.
func summarySQL(p Period, hashKeys bool) string {
	joinKey, _ := keys(hashKeys)
	return fmt.Sprintf(`
WITH senders AS (
    SELECT count(*)                                               AS active,
           coalesce(sum(f.lifetime_txs), 0)                       AS user_txs,
           count(*) FILTER (WHERE f.dn0 < %[1]d + 30)             AS near_history_start,
           count(*) FILTER (WHERE a.nonce > 0)                    AS nonce_above_zero,
           -- consistency guard: the fetched rows must be the ones aggregated
           count(*) FILTER (WHERE a.sender_address IS DISTINCT FROM f.wallet
                            OR a.block_time IS DISTINCT FROM f.first_seen_at) AS bad_picks
    FROM wallet_first f
    LEFT JOIN picked_txs a ON a.rid = f.first_row
)
SELECT active + (SELECT count(*) FROM recv_first r WHERE NOT EXISTS (SELECT 1 FROM wallet_first f WHERE %[2]s)),
       active, user_txs, near_history_start, nonce_above_zero, bad_picks
FROM senders`, p.HistoryStart.Unix()/86400, joinKey)
}
